//! The shared test harness under its old name: everything lives in `tests/common`; a test
//! file written against `mod support;` gets the same items.
#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports, reason = "each test binary uses a different part")]
pub use common::*;
