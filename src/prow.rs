//! Prow's contracts: webhook validation and events, `/help`, and the job-result channels
//! (Deck, Pub/Sub, Gangway, GCS) and Tide's config. Ingress only parses and enqueues.

pub mod crier;
pub mod deck;
pub mod gangway;
pub mod gcs;
pub mod help;
pub mod hmac;
pub mod junit;
pub mod pubsub;
pub mod push;
pub mod sources;
pub mod tide;
pub mod webhook;
