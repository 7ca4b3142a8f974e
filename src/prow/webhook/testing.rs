//! Test helpers shared by the webhook tests: a signed comment, an ingress over a real
//! (temporary) store, and posting to it.

use std::sync::Arc;

use super::{Accepted, Checked, Ingress, Rejection};
use crate::Store;
use crate::bus::{self, Input};
use crate::prow::hmac::{Algorithm, HmacSecrets, Signature};
use crate::store::InboxKey;
use crate::telemetry::Metrics;

pub(super) fn comment_body(text: &str) -> Vec<u8> {
    serde_json::json!({
        "action": "created",
        "repository": {"full_name": "o/r"},
        "issue": {"number": 1},
        "comment": {"id": 2, "body": text, "user": {"login": "u"}},
    })
    .to_string()
    .into_bytes()
}

/// An ingress over a real (temporary) store, its queue holding at most `capacity`.
/// The secret file is read on every webhook: the directory lives as long as the test.
pub(super) fn ingress(
    capacity: usize,
) -> (
    Ingress,
    Store,
    tokio::sync::mpsc::Receiver<Input>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hmac");
    std::fs::write(&secret, "k").unwrap();
    let metrics = Arc::new(Metrics::new());
    let (queue, rx) = bus::queue(capacity, metrics.clone());
    let store = Store::temporary().unwrap();
    let secrets = Arc::new(HmacSecrets::new(&secret));
    let ingress = Ingress::new(secrets, queue, metrics, store.clone());
    (ingress, store, rx, dir)
}

pub(super) async fn post(
    ingress: &Ingress,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> Result<Accepted, Rejection> {
    let value = Algorithm::Sha256.sign(b"k", body);
    let checked = Checked {
        event,
        delivery,
        signature: Signature {
            algorithm: Algorithm::Sha256,
            value: &value,
        },
    };
    ingress.accept(&checked, body).await
}

pub(super) fn inbox_of(input: Input) -> Option<InboxKey> {
    match input {
        Input::Webhook { inbox, .. } => inbox,
        _ => panic!("a webhook"),
    }
}
