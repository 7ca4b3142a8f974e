//! Pagination: the one walk along `Link: rel="next"` that every list call shares, bounded
//! by [`MAX_PAGES`](super::MAX_PAGES) so a bad `Link` header cannot loop forever.

use reqwest::Method;
use reqwest::header::{HeaderMap, LINK};
use serde::de::DeserializeOwned;

use super::answer::Resend;
use super::error::GithubError;
use super::json::decode;
use super::{Client, MAX_PAGES};

/// The `rel="next"` URL of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

impl Client {
    /// GETs `first` and the pages after it along `Link: rel="next"`, handing each decoded
    /// page to `on_page` while it answers true (go on), for at most `max_pages` pages.
    /// Answers true when the page bound stopped the walk with pages left to read.
    pub(super) async fn walk_pages<P: DeserializeOwned>(
        &self,
        first: String,
        max_pages: usize,
        mut on_page: impl FnMut(P) -> bool,
    ) -> Result<bool, GithubError> {
        let mut path = first;
        let mut pages = 0;
        loop {
            let answer = self
                .request(Method::GET, &path, None, Resend::Always)
                .await?;
            let page: P = decode(&Method::GET, &path, &answer.body)?;
            pages += 1;
            if !on_page(page) {
                return Ok(false);
            }
            let Some(next) = next_link(&answer.headers).and_then(|url| self.relative(&url)) else {
                return Ok(false);
            };
            if pages >= max_pages {
                return Ok(true);
            }
            path = next;
        }
    }

    /// The items of `first` and every page after it (`items` picks them out of a page),
    /// stopping once `max` are read or after [`MAX_PAGES`] pages.
    pub(super) async fn get_pages<P: DeserializeOwned, T>(
        &self,
        first: String,
        max: usize,
        items: impl Fn(P) -> Vec<T>,
    ) -> Result<Vec<T>, GithubError> {
        let mut all = Vec::new();
        let cut = self
            .walk_pages(first.clone(), MAX_PAGES, |page| {
                all.extend(items(page));
                all.len() < max
            })
            .await?;
        if cut {
            tracing::warn!(path = first, "stopped following pages at the bound");
        }
        Ok(all)
    }

    /// Every item of a list answer (`first` and the pages after it).
    pub(super) async fn get_all<T: DeserializeOwned>(
        &self,
        first: String,
    ) -> Result<Vec<T>, GithubError> {
        self.get_pages(first, usize::MAX, |page: Vec<T>| page).await
    }

    /// Maps a `Link` URL (which names whichever host answered, e.g. api.github.com behind
    /// ghproxy) back to a path on our endpoints.
    fn relative(&self, url: &str) -> Option<String> {
        let parsed = reqwest::Url::parse(url).ok()?;
        let full = parsed.path();
        let path = self
            .inner
            .prefixes
            .iter()
            .filter(|p| !p.is_empty())
            .find_map(|p| full.strip_prefix(p.as_str()))
            .unwrap_or(full);
        Some(match parsed.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn finds_the_next_link() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static(
                "<https://api.github.com/x?page=2>; rel=\"next\", <https://api.github.com/x?page=5>; rel=\"last\"",
            ),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static("<https://a/x?page=1>; rel=\"prev\""),
        );
        assert_eq!(next_link(&h), None);
    }
}
