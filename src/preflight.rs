//! What `serve --check-config` checks beyond the configuration's own validation: that the
//! plugin could start with it on this machine (the store writable or creatable, no two
//! listeners on one address, the secret files readable), each refusal naming its key.
//!
//! Nothing here opens the store: sled takes a lock, and a check must work while the plugin
//! itself runs on the same store.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::bail;

use crate::config::Config;

/// Every problem found, one message each (empty: the configuration can start here), and
/// the warnings that do not stop it.
#[derive(Debug, Default)]
pub struct Findings {
    /// Problems that would stop or cripple the plugin: `--check-config` exits 2.
    pub errors: Vec<String>,
    /// Worth knowing, but the plugin runs (e.g. a missing API token file: writes refused).
    pub warnings: Vec<String>,
}

/// Checks `config` against this machine. See the module's doc.
pub fn check(config: &Config) -> Findings {
    let mut findings = Findings::default();
    if let Err(e) = store_writable(&config.store_path) {
        findings.errors.push(format!("store_path: {e:#}"));
    }
    findings
        .errors
        .extend(colliding_listeners(&listeners(config)));
    let github_token = &config.github.token_file;
    if !config.github.uses_app() && github_token.exists() {
        if let Err(e) = readable("github.token_file", github_token) {
            findings.errors.push(e.to_string());
        }
    }
    if config.github.uses_app() {
        let key = Path::new(&config.github.app_private_key_file);
        if let Err(e) = readable("github.app_private_key_file", key) {
            findings.errors.push(e.to_string());
        }
    }
    if let Err(e) = readable("hmac_secret_file", &config.hmac_secret_file) {
        findings.errors.push(e.to_string());
    }
    let api = config.api.token_file.trim();
    if !api.is_empty() {
        let path = Path::new(api);
        if path.exists() {
            if let Err(e) = readable("api.token_file", path) {
                findings.errors.push(e.to_string());
            }
        } else {
            findings.warnings.push(format!(
                "api.token_file {} does not exist: every gRPC write will be refused \
                 (UNAVAILABLE) until it does",
                path.display()
            ));
        }
    }
    findings
}

/// The four listeners by key.
fn listeners(config: &Config) -> [(&'static str, SocketAddr); 4] {
    [
        ("listen", config.listen),
        ("health_listen", config.health_listen),
        ("metrics_listen", config.metrics_listen),
        ("grpc_listen", config.grpc_listen),
    ]
}

/// One message per pair of listeners that cannot both bind: the same port (not 0, which
/// picks a free one) on the same host, or on a host and the wildcard address.
pub fn colliding_listeners(listeners: &[(&'static str, SocketAddr)]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (a_key, a)) in listeners.iter().enumerate() {
        for (b_key, b) in &listeners[i + 1..] {
            let same_host = a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified();
            if a.port() != 0 && a.port() == b.port() && same_host {
                out.push(format!(
                    "{a_key} ({a}) and {b_key} ({b}) collide: two listeners cannot share a port"
                ));
            }
        }
    }
    out
}

/// The store's directory can be written (it exists), or created (its nearest existing
/// ancestor is a writable directory). Tried by creating and removing a probe file; sled
/// is not opened.
pub fn store_writable(path: &Path) -> anyhow::Result<()> {
    if path.as_os_str().is_empty() {
        bail!("empty: the store needs a directory");
    }
    let mut dir = path;
    while !dir.exists() {
        match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => dir = parent,
            _ => {
                dir = Path::new(".");
                break;
            }
        }
    }
    if !dir.is_dir() {
        bail!(
            "{} is not a directory (on the way to {})",
            dir.display(),
            path.display()
        );
    }
    let probe = dir.join(format!(".scalability-gate-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if dir == path => bail!("{} is not writable: {e}", path.display()),
        Err(e) => bail!(
            "{} does not exist and cannot be created: {} is not writable: {e}",
            path.display(),
            dir.display()
        ),
    }
}

/// The file at `path` (named by `key`) can be read.
fn readable(key: &str, path: &Path) -> anyhow::Result<()> {
    match std::fs::read(path) {
        Ok(_) => Ok(()),
        Err(e) => bail!("{key} {} cannot be read: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn listeners_collide_on_one_port_of_one_host_or_the_wildcard() {
        let cases = [
            ("127.0.0.1:8888", "127.0.0.1:8888", true),
            ("0.0.0.0:8888", "127.0.0.1:8888", true),
            ("127.0.0.1:8888", "127.0.0.2:8888", false),
            ("127.0.0.1:8888", "127.0.0.1:8889", false),
            ("127.0.0.1:0", "127.0.0.1:0", false),
        ];
        for (a, b, collide) in cases {
            let found = colliding_listeners(&[("listen", addr(a)), ("grpc_listen", addr(b))]);
            assert_eq!(!found.is_empty(), collide, "{a} {b}: {found:?}");
        }
    }

    #[test]
    fn a_store_is_writable_or_creatable_and_the_probe_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        store_writable(dir.path()).unwrap();
        store_writable(&dir.path().join("a/b/c")).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let error = store_writable(&file.join("store")).unwrap_err().to_string();
        assert!(error.contains("is not a directory"), "{error}");
    }
}
