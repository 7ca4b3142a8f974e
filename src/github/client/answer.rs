//! What one request is and gets, as plain data shared by the transport that sends it and
//! the files that read its answer: whether a failed request may be sent again, and one
//! HTTP answer. It sits below them all, so none of them needs the transport's types.

use bytes::Bytes;
use reqwest::header::HeaderMap;

/// Whether a failed request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resend {
    /// After any 5xx or connection error (reads, and changes that are safe to repeat).
    Always,
    /// Only when it never reached GitHub (creating an issue or a comment twice is not safe).
    OnlyUnsent,
}

/// One HTTP answer.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}
