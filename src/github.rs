//! GitHub, reached only through [`client::Client`]: a concrete reqwest client with
//! injectable endpoints, retries, rate-limit pacing and dry-run. `fake` is a stateful
//! in-memory GitHub over HTTP that tests, `simulate` and benchmarks run the client against;
//! it exists only with the `fake` cargo feature (and in the library's unit tests).

pub mod client;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod types;

pub use client::{Client, ClientOptions, GithubError};
