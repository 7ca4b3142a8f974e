//! GitHub, reached only through [`client::Client`]: a concrete reqwest client with
//! injectable endpoints, retries, rate-limit pacing and dry-run.

pub mod client;
pub mod types;
