//! The pure core: plain functions over our own types. No async, no I/O, no clock (time is
//! a parameter); it imports only `model` and its siblings, so it is table-tested alone.

pub mod announce;
pub mod command;
pub mod culprit;
pub mod detector;
pub mod figures;
pub mod gate;
pub mod scopes;
pub mod tide;
