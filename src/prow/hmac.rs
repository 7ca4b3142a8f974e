//! Prow's HMAC secret file and webhook signature checks.
//!
//! The file (`hmac_secret_file`, `/etc/webhook/hmac` in Prow) holds either one bare token,
//! or a YAML map from `org/repo`, `org` or `*` to a list of `{value, created_at}` tokens.
//! For a repository the most specific level present is used (`org/repo` > `org` > `*`)
//! and any token of its list matches, which is how Prow rotates tokens: add the new one,
//! move GitHub to it, remove the old one. Tokens are trimmed of surrounding whitespace.
//!
//! [`HmacSecrets`] re-reads the file on every check and re-parses it only when its bytes
//! changed, so a rewritten file (or a Kubernetes Secret's symlink swap) takes effect on the
//! next webhook. The tokens are never logged, displayed or put in an error.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use serde::Deserialize;

/// A secret file larger than this is refused (a real one is a few hundred bytes).
pub const MAX_SECRET_FILE: u64 = 1024 * 1024;

/// One token of the file; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Vec<u8>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The parsed secret file.
#[derive(Clone, PartialEq, Eq)]
pub enum Secrets {
    /// One bare token for every repository.
    Global(Vec<Token>),
    /// Tokens by `org/repo`, `org` or `*`.
    PerRepo(HashMap<String, Vec<Token>>),
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secrets::Global(_) => f.write_str("Secrets::Global(<redacted>)"),
            Secrets::PerRepo(map) => {
                let mut keys: Vec<_> = map.keys().collect();
                keys.sort();
                write!(f, "Secrets::PerRepo(keys: {keys:?})")
            }
        }
    }
}

/// One entry of the YAML form (`created_at` is informative only).
#[derive(Deserialize)]
struct TokenEntry {
    value: String,
}

impl Secrets {
    /// Parses the file's content: the YAML map if it is one, else one bare token.
    pub fn parse(content: &[u8]) -> anyhow::Result<Secrets> {
        let text = std::str::from_utf8(content).context("the HMAC secret file is not UTF-8")?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            bail!("the HMAC secret file is empty");
        }
        // As Prow: whatever is not a map of token lists is one bare token.
        let secrets = match serde_yaml::from_str::<HashMap<String, Vec<TokenEntry>>>(trimmed) {
            Ok(map) => Secrets::PerRepo(
                map.into_iter()
                    .map(|(key, list)| {
                        let tokens = list
                            .into_iter()
                            .map(|t| t.value.trim().as_bytes().to_vec())
                            .filter(|t| !is_blank(t))
                            .map(Token)
                            .collect();
                        (key.trim().to_string(), tokens)
                    })
                    .collect(),
            ),
            Err(_) if is_blank(trimmed.as_bytes()) => bail!("the HMAC secret file holds no token"),
            Err(_) => Secrets::Global(vec![Token(trimmed.as_bytes().to_vec())]),
        };
        if let Secrets::PerRepo(map) = &secrets
            && map.values().all(|tokens| tokens.is_empty())
        {
            bail!("the HMAC secret file holds no token");
        }
        Ok(secrets)
    }

    /// The tokens that may sign a webhook of `repo` (`org/repo`, or `org` alone for
    /// org-level events, or empty): the most specific level present wins.
    fn tokens_for(&self, repo: &str) -> &[Token] {
        match self {
            Secrets::Global(tokens) => tokens,
            Secrets::PerRepo(map) => {
                let org = repo.split('/').next().unwrap_or_default();
                [repo, org, "*"]
                    .into_iter()
                    .filter(|key| !key.is_empty())
                    .find_map(|key| map.get(key))
                    .map(Vec::as_slice)
                    .unwrap_or_default()
            }
        }
    }

    /// Whether `signature` is a valid signature of `body` by one of `repo`'s tokens.
    /// Constant-time per token.
    pub fn verify(&self, repo: &str, signature: &Signature<'_>, body: &[u8]) -> bool {
        let Some(expected) = signature.digest() else {
            return false;
        };
        self.tokens_for(repo)
            .iter()
            .any(|token| signature.algorithm.verify(&token.0, body, &expected))
    }
}

/// A token that is as good as none: HMAC pads its key with zero bytes, so a token of only
/// NULs (a zero-filled file, say) signs exactly as the empty key does.
fn is_blank(token: &[u8]) -> bool {
    token.iter().all(|&b| b == 0)
}

/// Which header signed the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `X-Hub-Signature-256: sha256=<hex>`.
    Sha256,
    /// `X-Hub-Signature: sha1=<hex>` (the legacy header).
    Sha1,
}

impl Algorithm {
    fn prefix(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256=",
            Algorithm::Sha1 => "sha1=",
        }
    }

    fn verify(self, key: &[u8], body: &[u8], expected: &[u8]) -> bool {
        match self {
            Algorithm::Sha256 => {
                let mut mac =
                    Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
                mac.update(body);
                mac.verify_slice(expected).is_ok()
            }
            Algorithm::Sha1 => {
                let mut mac =
                    Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes keys of any size");
                mac.update(body);
                mac.verify_slice(expected).is_ok()
            }
        }
    }

    /// `sha256=<hex>` / `sha1=<hex>` of `body` under `key` (tests and tools sign with it).
    pub fn sign(self, key: &[u8], body: &[u8]) -> String {
        let digest = match self {
            Algorithm::Sha256 => {
                let mut mac =
                    Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
                mac.update(body);
                mac.finalize().into_bytes().to_vec()
            }
            Algorithm::Sha1 => {
                let mut mac =
                    Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes keys of any size");
                mac.update(body);
                mac.finalize().into_bytes().to_vec()
            }
        };
        format!("{}{}", self.prefix(), hex::encode(digest))
    }
}

/// A signature header's value and which header it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature<'a> {
    pub algorithm: Algorithm,
    /// The header's value, e.g. `sha256=ab12…`.
    pub value: &'a str,
}

impl Signature<'_> {
    /// The digest bytes, or `None` when the value is not `<prefix><hex>`.
    fn digest(&self) -> Option<Vec<u8>> {
        let hex_part = self.value.trim().strip_prefix(self.algorithm.prefix())?;
        hex::decode(hex_part).ok()
    }
}

/// The secret file, re-read when it changes. Cheap to share behind an `Arc`.
pub struct HmacSecrets {
    path: PathBuf,
    cache: Mutex<Option<Cached>>,
}

struct Cached {
    content: Vec<u8>,
    secrets: Arc<Secrets>,
    /// The file's metadata when `content` was read.
    stamp: Stamp,
    /// Since when the file has shown `stamp` (monotonic).
    stamp_seen: std::time::Instant,
}

/// How long a file's metadata must stay unchanged before an equal stat is trusted to
/// mean equal bytes: a rewrite within one tick of the file system's coarse clock can
/// leave size and times as they were, but never once a later tick has passed.
const STAMP_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// What a stat says about the file: device, inode, size, change and modification times.
/// A rewrite in place changes the times (and a replaced file or a swapped symlink, as a
/// mounted Kubernetes secret does, the inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    ctime: (i64, i64),
    mtime: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> anyhow::Result<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path)
            .with_context(|| format!("opening the HMAC secret file {}", path.display()))?;
        Ok(Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        })
    }
}

impl fmt::Debug for HmacSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacSecrets")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl HmacSecrets {
    /// Secrets read from `path` (nothing is read until [`HmacSecrets::current`]).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache: Mutex::new(None),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The secrets as the file holds them now. Each call stats the file; it is read
    /// again when its metadata changed, and also while that metadata is younger than
    /// [`STAMP_SETTLE`] (a stat alone would miss a rewrite within the file system's
    /// timestamp granularity). It is parsed again only when its bytes changed. Reading
    /// it on every call cost more than the HMAC itself under load (docs/performance.md).
    pub fn current(&self) -> anyhow::Result<Arc<Secrets>> {
        let stamp = Stamp::of(&self.path)?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = cache.as_ref()
            && cached.stamp == stamp
            && cached.stamp_seen.elapsed() >= STAMP_SETTLE
        {
            return Ok(cached.secrets.clone());
        }
        let content = read_bounded(&self.path)?;
        if let Some(cached) = cache.as_mut()
            && cached.content == content
        {
            if cached.stamp != stamp {
                cached.stamp = stamp;
                cached.stamp_seen = std::time::Instant::now();
            }
            return Ok(cached.secrets.clone());
        }
        let secrets = Arc::new(
            Secrets::parse(&content).with_context(|| format!("reading {}", self.path.display()))?,
        );
        if cache.is_some() {
            tracing::info!(path = %self.path.display(), "HMAC secret file changed; reloaded");
        }
        *cache = Some(Cached {
            content,
            secrets: secrets.clone(),
            stamp,
            stamp_seen: std::time::Instant::now(),
        });
        Ok(secrets)
    }
}

fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .with_context(|| format!("opening the HMAC secret file {}", path.display()))?;
    let mut content = Vec::with_capacity(256);
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut content)
        .with_context(|| format!("reading the HMAC secret file {}", path.display()))?;
    if content.len() as u64 > MAX_SECRET_FILE {
        bail!(
            "the HMAC secret file {} is larger than {MAX_SECRET_FILE} bytes",
            path.display()
        );
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(algorithm: Algorithm, key: &str, body: &[u8]) -> String {
        algorithm.sign(key.as_bytes(), body)
    }

    fn ok(s: &Secrets, repo: &str, key: &str) -> bool {
        let value = sig(Algorithm::Sha256, key, b"{}");
        s.verify(
            repo,
            &Signature {
                algorithm: Algorithm::Sha256,
                value: &value,
            },
            b"{}",
        )
    }

    #[test]
    fn bare_token_is_trimmed_and_used_everywhere() {
        let s = Secrets::parse(b"  tok3n \n").unwrap();
        assert!(ok(&s, "a/b", "tok3n"));
        assert!(ok(&s, "", "tok3n"));
        assert!(!ok(&s, "a/b", " tok3n "));
        // YAML that is not a map of token lists is a bare token too (as in Prow).
        let s = Secrets::parse(b"a: b").unwrap();
        assert!(ok(&s, "x/y", "a: b"));
    }

    #[test]
    fn most_specific_level_wins() {
        let yaml = b"
'*':
- value: star
  created_at: 2020-01-01T00:00:00Z
kubernetes:
- value: org1
- value: ' org2 '
kubernetes/kubernetes:
- value: repo
";
        let s = Secrets::parse(yaml).unwrap();
        assert!(ok(&s, "kubernetes/kubernetes", "repo"));
        assert!(!ok(&s, "kubernetes/kubernetes", "org1"));
        assert!(!ok(&s, "kubernetes/kubernetes", "star"));
        assert!(ok(&s, "kubernetes/test-infra", "org1"));
        assert!(ok(&s, "kubernetes/test-infra", "org2"));
        assert!(!ok(&s, "kubernetes/test-infra", "star"));
        assert!(ok(&s, "other/repo", "star"));
        assert!(ok(&s, "kubernetes", "org1"));
        assert!(ok(&s, "", "star"));
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("org1") && !debug.contains("star\""),
            "{debug}"
        );
    }

    #[test]
    fn no_star_means_unknown_repos_are_refused() {
        let s = Secrets::parse(b"o/r: [{value: t}]").unwrap();
        assert!(ok(&s, "o/r", "t"));
        assert!(!ok(&s, "o/x", "t"));
    }

    #[test]
    fn empty_files_and_tokens_are_refused() {
        assert!(Secrets::parse(b"").is_err());
        assert!(Secrets::parse(b" \n").is_err());
        assert!(Secrets::parse(b"o/r: [{value: '  '}]").is_err());
        assert!(Secrets::parse(b"o/r: []").is_err());
        // An empty token never verifies, even with an "empty key" signature.
        let s = Secrets::parse(b"o/r: [{value: ''}]\n'*': [{value: t}]").unwrap();
        assert!(!ok(&s, "o/r", ""));
    }

    /// Found by `fuzz/fuzz_targets/hmac.rs`: a file of NUL bytes was one bare token, and
    /// HMAC pads keys with zeros, so a signature made with the empty key matched it.
    #[test]
    fn nul_tokens_are_no_tokens() {
        assert!(Secrets::parse(b"\0").is_err());
        assert!(Secrets::parse(b"\0\0\0\0\n").is_err());
        assert!(Secrets::parse(b"o/r: [{value: \"\\0\"}]").is_err());
        let s = Secrets::parse(b"o/r: [{value: \"\\0\\0\"}]\n'*': [{value: t}]").unwrap();
        assert!(!ok(&s, "o/r", ""));
        // A NUL inside a token is just a byte of it.
        let s = Secrets::parse(b"a\0b").unwrap();
        assert!(ok(&s, "o/r", "a\0b") && !ok(&s, "o/r", ""));
    }

    #[test]
    fn sha1_and_malformed_signatures() {
        let s = Secrets::parse(b"k").unwrap();
        let body = b"{\"a\":1}";
        let sha1 = sig(Algorithm::Sha1, "k", body);
        assert!(sha1.starts_with("sha1="));
        let check = |algorithm, value: &str| s.verify("o/r", &Signature { algorithm, value }, body);
        assert!(check(Algorithm::Sha1, &sha1));
        assert!(!check(Algorithm::Sha256, &sha1));
        assert!(!check(Algorithm::Sha1, &sha1.replace("sha1=", "sha256=")));
        assert!(!check(Algorithm::Sha1, "sha1=zz"));
        assert!(!check(Algorithm::Sha1, "sha1="));
        assert!(!check(Algorithm::Sha1, &sha1[5..]));
        let sha256 = sig(Algorithm::Sha256, "k", body);
        assert!(check(Algorithm::Sha256, &sha256));
        assert!(!check(Algorithm::Sha256, &sha256[..sha256.len() - 2]));
    }

    #[test]
    fn file_is_reloaded_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hmac");
        std::fs::write(&path, "one").unwrap();
        let secrets = HmacSecrets::new(&path);
        let first = secrets.current().unwrap();
        assert!(ok(&first, "o/r", "one"));
        assert!(Arc::ptr_eq(&first, &secrets.current().unwrap()), "cached");
        std::fs::write(&path, "two").unwrap();
        let second = secrets.current().unwrap();
        assert!(ok(&second, "o/r", "two") && !ok(&second, "o/r", "one"));
        std::fs::remove_file(&path).unwrap();
        let err = format!("{:#}", secrets.current().unwrap_err());
        assert!(err.contains("hmac") && !err.contains("two"), "{err}");
    }
}
