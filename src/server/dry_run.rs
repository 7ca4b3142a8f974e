//! What dry-run would have said, for an operator judging the plugin before turning dry-run
//! off: the read model of the GitHub client's ring of skipped mutations, served as JSON
//! (`GET /api/v1/dry-run`) and as a section of the dashboard (`#dry-run`).

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::App;
use crate::github::client::{DRY_RUN_KEPT, WouldSend};
use crate::server::dashboard::escape;

/// The read model: whether dry-run is on, and the last mutations it did not send.
#[derive(Debug, Clone, Serialize)]
pub struct DryRunView {
    pub dry_run: bool,
    /// How many the list keeps at most.
    pub kept: usize,
    /// Newest first.
    pub would_send: Vec<WouldSend>,
}

/// The read model of `app`'s GitHub client.
pub fn view(app: &App) -> DryRunView {
    DryRunView {
        dry_run: app.github.is_dry_run(),
        kept: DRY_RUN_KEPT,
        would_send: app.github.would_have_sent(),
    }
}

/// `GET /api/v1/dry-run`.
pub async fn api(State(app): State<App>) -> Response {
    let mut response = Json(view(&app)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The dashboard's section (nothing outside dry-run): one row per skipped mutation, its
/// whole text in a `<pre>`.
pub fn section(view: &DryRunView) -> String {
    let mut page = String::new();
    if !view.dry_run {
        return page;
    }
    page.push_str(
        "<section id=\"dry-run\" aria-labelledby=\"dry-run-h\">\n\
         <h2 id=\"dry-run-h\">Dry-run: what it would have sent</h2>\n",
    );
    if view.would_send.is_empty() {
        page.push_str(
            "<p>Nothing yet: no comment, issue or label would have been sent.</p>\n</section>\n",
        );
        return page;
    }
    let _ = writeln!(
        page,
        "<p>The last {} GitHub mutations not sent, newest first \
         (<a href=\"/api/v1/dry-run\">JSON</a>).</p>",
        view.kept
    );
    page.push_str(
        "<div class=\"scroll\"><table class=\"stack\">\n<thead><tr><th scope=\"col\">#</th>\
         <th scope=\"col\">Would</th><th scope=\"col\">On</th><th scope=\"col\">Text</th>\
         </tr></thead><tbody>\n",
    );
    for w in &view.would_send {
        let _ = writeln!(
            page,
            "<tr class=\"would-send\"><td data-label=\"#\">{}</td><td data-label=\"Would\">{}</td>\
             <td data-label=\"On\">{}</td><td data-label=\"Text\"><pre>{}</pre></td></tr>",
            w.seq,
            escape(&w.action),
            escape(&w.on),
            escape(&w.text)
        );
    }
    page.push_str("</tbody></table></div>\n</section>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_escapes_the_text_and_is_empty_outside_dry_run() {
        let mut view = DryRunView {
            dry_run: true,
            kept: DRY_RUN_KEPT,
            would_send: vec![WouldSend {
                seq: 3,
                action: "comment".into(),
                on: "o/r#1".into(),
                method: "POST".into(),
                path: "/repos/o/r/issues/1/comments".into(),
                text: "<script>x</script> & more".into(),
            }],
        };
        let html = section(&view);
        assert!(
            html.contains("&lt;script&gt;x&lt;/script&gt; &amp; more"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(html.contains("id=\"dry-run\""));
        view.dry_run = false;
        assert_eq!(section(&view), "");
    }
}
