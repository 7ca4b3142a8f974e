//! Webhook ingress: Prow's `ValidateWebhook`, then decode and enqueue.
//!
//! A webhook passes the checks of `validate` (Prow's order and statuses, the bounded body,
//! the signature), then [`Ingress`] keeps a command-bearing event in the store's durable
//! inbox, queues it for the consumer and answers; at start-up [`replay_inbox`] queues
//! again what the inbox still holds. Callers use the paths re-exported here.

mod inbox;
mod ingress;
#[cfg(test)]
mod testing;
mod validate;

pub use inbox::{INBOX_MAX_AGE, replay_inbox, replay_inbox_at};
pub use ingress::{Accepted, Ingress, carries_command, enqueue};
pub use validate::{
    ACCEPTED, Checked, MAX_BODY, Rejection, Verified, check_headers, read_body, verify_and_decode,
};
