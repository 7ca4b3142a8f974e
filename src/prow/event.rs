//! GitHub webhook events decoded into our own types.

/// A webhook event in our own types.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Any event the plugin does not act on, by its `X-GitHub-Event` name.
    Ignored(String),
}

impl Event {
    /// The `X-GitHub-Event` name.
    pub fn name(&self) -> &str {
        match self {
            Event::Ignored(name) => name,
        }
    }
}
