//! The level-triggered reconciler: desired state (incidents) vs GitHub, closed idempotently.
