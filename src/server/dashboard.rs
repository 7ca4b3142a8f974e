//! The dashboard and the badge: server-rendered HTML and SVG from the read model
//! ([`crate::status`]). No build step, no external assets, no JavaScript needed (the page
//! refreshes itself with a `<meta http-equiv=refresh>`). Every string that comes from
//! outside (job names, reasons, PR titles, URLs) goes through [`escape`]; colour is never
//! the only signal (each run carries a symbol and a text label).

use std::fmt::Write as _;

use crate::model::{Cause, RunRef, RunResult, Timestamp};
use crate::status::{Health, IncidentView, JobStatus, RunView, ScopeView, Status};

/// Seconds between automatic refreshes of the page.
pub const REFRESH_SECONDS: u32 = 60;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A URL safe to put in `href`: only `http(s)` and site-relative URLs pass (a
/// `javascript:` URL from a run record must not become a link), escaped.
pub fn safe_url(url: &str) -> Option<String> {
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    let ok = lower.starts_with("https://")
        || lower.starts_with("http://")
        || (trimmed.starts_with('/') && !trimmed.starts_with("//"));
    ok.then(|| escape(trimmed))
}

/// A link when the URL is safe, else the text alone.
fn link(url: &str, text: &str) -> String {
    match safe_url(url) {
        Some(href) => format!("<a href=\"{href}\">{}</a>", escape(text)),
        None => escape(text),
    }
}

/// `3d 4h`, `2h 13m`, `5m`, `40s`.
pub fn humane_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

fn time(t: Timestamp) -> String {
    let text = t.to_rfc3339();
    let shown = text.trim_end_matches('Z').replace('T', " ");
    format!("<time datetime=\"{text}\">{shown} UTC</time>")
}

/// Colour, symbol and words for a run's result.
fn result_style(result: RunResult) -> (&'static str, &'static str, &'static str) {
    match result {
        RunResult::Success => ("#1a7f37", "✓", "success (green)"),
        RunResult::Failure => ("#cf222e", "✗", "failure (red)"),
        RunResult::Aborted => ("#6e7781", "–", "aborted (not counted)"),
        RunResult::Error => ("#6e7781", "!", "error (not counted)"),
    }
}

const CSS: &str = "\
:root{--green:#1a7f37;--red:#cf222e;--grey:#6e7781;--fg:#1f2328;--bg:#fff;--muted:#59636e;--line:#d1d9e0}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
header{padding-top:1rem;border-bottom:1px solid var(--line)}
h1{font-size:1.5rem;margin:.25rem 0}
h2{font-size:1.25rem;margin:1.5rem 0 .5rem;border-bottom:1px solid var(--line)}
h3{font-size:1.1rem;margin:1rem 0 .25rem}
h4{font-size:1rem;margin:.75rem 0 .25rem}
a{color:#0969da}
.banner{font-weight:700;padding:.5rem .75rem;border-radius:6px;margin:.5rem 0;color:#fff}
.banner.blocked{background:var(--red)}
.banner.open{background:var(--green)}
.note{color:var(--muted)}
.state{font-weight:700;white-space:nowrap}
.state.blocked,.state.red{color:var(--red)}
.state.open,.state.green{color:var(--green)}
.state.unknown{color:var(--grey)}
.state.stale{color:#9a6700}
.incident{border:2px solid var(--red);border-radius:8px;padding:.5rem 1rem;margin:1rem 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:.5rem 0}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{text-align:left;vertical-align:top;padding:.3rem .5rem;border-bottom:1px solid var(--line)}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
svg.runs{display:block;max-width:100%;height:auto}
ul{margin:.25rem 0;padding-left:1.25rem}
footer{border-top:1px solid var(--line);margin-top:2rem;padding-bottom:1rem;color:var(--muted)}
@media (max-width:40rem){
 dl{grid-template-columns:1fr}
 dt{margin-top:.4rem}
 table.stack thead{display:none}
 table.stack tr{display:block;border-bottom:1px solid var(--line);padding:.4rem 0}
 table.stack td{display:block;border:0;padding:.1rem 0}
 table.stack td[data-label]::before{content:attr(data-label) ': ';font-weight:600}
}
";

/// The whole dashboard page.
pub fn render(status: &Status) -> String {
    render_with(status, "")
}

/// The whole dashboard page, with `extra` (whole `<section>`s, already escaped) at the end
/// of `<main>`.
pub fn render_with(status: &Status, extra: &str) -> String {
    let mut page = String::with_capacity(16 * 1024);
    let blocked = status
        .incidents
        .iter()
        .filter(|i| i.state == "active")
        .count();
    let title = if blocked == 0 {
        "Scalability gate: open".to_string()
    } else {
        format!("Scalability gate: BLOCKED ({blocked})")
    };
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\n\
         <title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
    );
    header(&mut page, status);
    page.push_str("<main>\n");
    incidents(&mut page, status);
    jobs(&mut page, status);
    figures(&mut page, status);
    tide(&mut page, status);
    history(&mut page, status);
    audit(&mut page, status);
    page.push_str(extra);
    page.push_str("</main>\n");
    let _ = write!(
        page,
        "<footer><p>Generated {} · refreshes every {REFRESH_SECONDS}s · \
         <a href=\"/api/v1/status\">JSON</a></p></footer>\n</body>\n</html>\n",
        time(status.generated_at)
    );
    page
}

fn header(page: &mut String, status: &Status) {
    page.push_str("<header>\n<h1>Scalability gate</h1>\n");
    let n = status
        .incidents
        .iter()
        .filter(|i| i.state == "active")
        .count();
    if n == 0 {
        page.push_str(
            "<p class=\"banner open\" role=\"status\">✓ Open: no active incident, merges are not blocked.</p>\n",
        );
    } else {
        let scopes: Vec<String> = status
            .incidents
            .iter()
            .filter(|i| i.state == "active")
            .flat_map(|i| i.scopes.iter().map(|s| format!("{}@{}", s.repo, s.branch)))
            .collect();
        let _ = writeln!(
            page,
            "<p class=\"banner blocked\" role=\"status\">✗ BLOCKED: {n} active incident{} — merges blocked on {}.</p>",
            if n == 1 { "" } else { "s" },
            escape(&scopes.join(", "))
        );
    }
    if status.dry_run {
        page.push_str(
            "<p class=\"note\">Dry run: the plugin changes nothing on GitHub (labels, issues, comments are only logged).</p>\n",
        );
    }
    page.push_str("</header>\n");
}

fn incidents(page: &mut String, status: &Status) {
    page.push_str(
        "<section aria-labelledby=\"incidents-h\">\n<h2 id=\"incidents-h\">Active incidents</h2>\n",
    );
    if status.incidents.is_empty() {
        page.push_str("<p>None. Every gated branch is open.</p>\n");
    }
    for incident in &status.incidents {
        incident_article(page, incident);
    }
    page.push_str("</section>\n");
}

fn incident_article(page: &mut String, i: &IncidentView) {
    let id = escape(i.id.as_str());
    let _ = writeln!(
        page,
        "<article class=\"incident\" id=\"incident-{id}\" aria-labelledby=\"incident-{id}-h\">\n\
         <h3 id=\"incident-{id}-h\">✗ {} <span class=\"note\">({id})</span></h3>\n<dl>",
        escape(i.job.as_str())
    );
    let _ = writeln!(
        page,
        "<dt>Blocked since</dt><dd>{} (for {})</dd>",
        time(i.opened_at),
        humane_duration(i.duration_seconds)
    );
    page.push_str("<dt>Scopes</dt><dd><ul>");
    for scope in &i.scopes {
        scope_item(page, scope);
    }
    page.push_str("</ul></dd>\n");
    let _ = writeln!(page, "<dt>Cause</dt><dd>{}</dd>", cause(&i.cause));
    let state = match (&i.lifted, i.state) {
        (Some(l), "lifted") => format!(
            "lifted provisionally by {} at {}{}: the first red run that starts after the lift blocks again",
            escape(&l.by),
            time(l.at),
            reason_suffix(&l.reason)
        ),
        _ => escape(i.state),
    };
    let _ = writeln!(page, "<dt>State</dt><dd>{state}</dd>");
    if i.reblocks > 0 {
        let runs: Vec<String> = i
            .reblock_history
            .iter()
            .map(|r| {
                format!(
                    "run {} after the lift by {} at {}",
                    run_ref_link(&r.run),
                    escape(&r.lift_by),
                    time(r.lift_at)
                )
            })
            .collect();
        let _ = writeln!(
            page,
            "<dt>Re-blocks</dt><dd>{}: {}</dd>",
            i.reblocks,
            runs.join("; ")
        );
    }
    if !i.folded_runs.is_empty() {
        let runs: Vec<String> = i.folded_runs.iter().map(run_ref_link).collect();
        let _ = writeln!(page, "<dt>Later red runs</dt><dd>{}</dd>", runs.join(", "));
    }
    if let Some(green) = &i.recovered_by {
        let _ = writeln!(
            page,
            "<dt>Recovered</dt><dd>✓ run {} is green again</dd>",
            run_ref_link(green)
        );
    }
    page.push_str("<dt>Exemptions</dt><dd>");
    if i.exemptions.is_empty() {
        page.push_str("none");
    } else {
        page.push_str("<ul>");
        for e in &i.exemptions {
            let pr = e.repo.to_string();
            let _ = write!(
                page,
                "<li>{} ({:?}) by {} at {}{}</li>",
                link(
                    &format!("https://github.com/{pr}/pull/{}", e.pr.0),
                    &format!("{pr}#{}", e.pr.0)
                ),
                e.kind,
                escape(e.by.as_str()),
                time(e.at),
                reason_suffix(&e.reason)
            );
        }
        page.push_str("</ul>");
    }
    page.push_str("</dd>\n<dt>Breaches</dt><dd>");
    if i.breaches.is_empty() {
        page.push_str("none");
    } else {
        page.push_str("<ul>");
        for b in &i.breaches {
            let repo = b.scope.repo.to_string();
            let by = b
                .merged_by
                .as_ref()
                .map(|l| format!(" by {}", escape(l.as_str())))
                .unwrap_or_default();
            let _ = write!(
                page,
                "<li>⚠ {} merged into {}{by} at {}</li>",
                link(
                    &format!("https://github.com/{repo}/pull/{}", b.pr.0),
                    &format!("{repo}#{}", b.pr.0)
                ),
                escape(&b.scope.branch),
                time(b.at)
            );
        }
        page.push_str("</ul>");
    }
    page.push_str("</dd>\n");
    culprit(page, i);
    page.push_str("</dl>\n");
    suspects(page, i);
    page.push_str("</article>\n");
}

/// The recorded culprit (`/scalability-culprit`) and how many were recorded before.
fn culprit(page: &mut String, i: &IncidentView) {
    page.push_str("<dt>Culprit</dt><dd>");
    match &i.culprit {
        None => page.push_str("not recorded"),
        Some(c) => {
            let repo = c.repo.to_string();
            let _ = write!(
                page,
                "{} — {} (by {} at {}){}{}",
                link(
                    &format!("https://github.com/{repo}/pull/{}", c.pr.0),
                    &format!("{repo}#{}", c.pr.0)
                ),
                c.mitigation.as_str(),
                escape(c.by.as_str()),
                time(c.at),
                if c.suspect {
                    ""
                } else {
                    " · not among the suspects"
                },
                reason_suffix(c.note.as_deref().unwrap_or_default())
            );
            if !i.culprit_history.is_empty() {
                let _ = write!(page, " · {} recorded before", i.culprit_history.len());
            }
        }
    }
    page.push_str("</dd>\n");
}

fn reason_suffix(reason: &str) -> String {
    if reason.trim().is_empty() {
        String::new()
    } else {
        format!(": “{}”", escape(reason.trim()))
    }
}

fn scope_item(page: &mut String, s: &ScopeView) {
    let _ = write!(
        page,
        "<li><strong>{}</strong> branch <strong>{}</strong> — {}",
        escape(&s.repo),
        escape(&s.branch),
        link(&s.labelled_prs_url, "labelled PRs")
    );
    if let Some(url) = &s.blocker_issues_url {
        let _ = write!(page, " · {}", link(url, "blocker issues"));
    }
    if let Some(url) = &s.tide_url {
        let _ = write!(page, " · {}", link(url, "Tide merge pool"));
    }
    match &s.tide_check {
        None => page.push_str(" · Tide check: not configured"),
        Some(c) if c.holds => page.push_str(" · Tide check: ✓ the label holds"),
        Some(c) => {
            let _ = write!(
                page,
                " · Tide check: ⚠ NOT held — {}",
                escape(&c.uncovered_queries.join("; "))
            );
        }
    }
    page.push_str("</li>");
}

fn run_ref_link(r: &RunRef) -> String {
    link(&r.url, &format!("run {}", r.build_id))
}

fn cause(c: &Cause) -> String {
    match c {
        Cause::Regression {
            first_red,
            last_green,
        } => {
            let mut text = format!(
                "green → red: first red {} after last green {}",
                run_ref_link(first_red),
                run_ref_link(last_green)
            );
            for (repo, red) in &first_red.commits {
                if let Some(green) = last_green.commits.get(repo) {
                    let short = |s: &str| s.chars().take(10).collect::<String>();
                    let _ = write!(
                        text,
                        "; {} {}",
                        escape(&repo.to_string()),
                        link(
                            &format!("https://github.com/{repo}/compare/{green}...{red}"),
                            &format!("{}…{}", short(green.as_str()), short(red.as_str()))
                        )
                    );
                }
            }
            text
        }
        Cause::Manual { by, reason } => format!(
            "blocked by hand by {}{}",
            escape(by.as_str()),
            reason_suffix(reason)
        ),
    }
}

fn suspects(page: &mut String, i: &IncidentView) {
    let id = escape(i.id.as_str());
    let _ = writeln!(page, "<h4 id=\"incident-{id}-suspects\">Suspects</h4>");
    if i.suspects.is_empty() {
        page.push_str("<p>None found yet.</p>\n");
        return;
    }
    let _ = writeln!(
        page,
        "<div class=\"scroll\"><table class=\"stack\" aria-labelledby=\"incident-{id}-suspects\">\n\
         <thead><tr><th scope=\"col\">PR</th><th scope=\"col\">Title</th><th scope=\"col\">Author</th>\
         <th scope=\"col\">Merged</th><th scope=\"col\">Score</th><th scope=\"col\">Why</th></tr></thead><tbody>"
    );
    for s in &i.suspects {
        let repo = s.repo.to_string();
        let _ = writeln!(
            page,
            "<tr><td data-label=\"PR\">{}</td><td data-label=\"Title\">{}</td><td data-label=\"Author\">{}</td>\
             <td data-label=\"Merged\">{}</td><td data-label=\"Score\" class=\"num\">{:.2}</td><td data-label=\"Why\">{}</td></tr>",
            link(
                &format!("https://github.com/{repo}/pull/{}", s.pr.0),
                &format!("{repo}#{}", s.pr.0)
            ),
            escape(&s.title),
            escape(s.author.as_str()),
            s.merged_at.map(time).unwrap_or_default(),
            s.score,
            escape(&s.reasons.join("; "))
        );
    }
    page.push_str("</tbody></table></div>\n");
}

fn jobs(page: &mut String, status: &Status) {
    page.push_str(
        "<section aria-labelledby=\"jobs-h\">\n<h2 id=\"jobs-h\">Gated jobs</h2>\n\
         <p class=\"note\">Recent runs, oldest to newest: ✓ green (success), ✗ red (failure), \
         – or ! grey (aborted or error, not counted). Each run links to its page.</p>\n\
         <div class=\"scroll\"><table class=\"stack\">\n<thead><tr><th scope=\"col\">Job</th>\
         <th scope=\"col\">State</th><th scope=\"col\">Recent runs</th>\
         <th scope=\"col\">Since last green</th></tr></thead><tbody>\n",
    );
    for job in &status.jobs {
        job_row(page, job);
    }
    page.push_str("</tbody></table></div>\n</section>\n");
}

fn job_row(page: &mut String, job: &JobStatus) {
    let name = escape(job.name.as_str());
    let state = if job.blocked {
        let id = job.incident.as_ref().map(|i| i.as_str()).unwrap_or("");
        format!(
            "<span class=\"state blocked\">✗ blocked</span> (<a href=\"#incident-{0}\">{0}</a>)",
            escape(id)
        )
    } else {
        "<span class=\"state open\">✓ open</span>".to_string()
    };
    let health = match job.health {
        Health::Green => "<span class=\"state green\">✓ green</span>",
        Health::Red => "<span class=\"state red\">✗ red</span>",
        Health::Unknown => "<span class=\"state unknown\">? no result yet</span>",
    };
    let since = match (job.since_last_green_seconds, &job.last_green) {
        (Some(s), Some(run)) => format!(
            "{} ago ({})",
            humane_duration(s),
            link(&run.url, &format!("run {}", run.build_id))
        ),
        _ => "never seen green".to_string(),
    };
    let state = if job.stale {
        format!(
            "{state}, <span class=\"state stale\">⚠ stale: no finished run for {}</span>",
            humane_duration(job.silent_seconds)
        )
    } else {
        state
    };
    let _ = writeln!(
        page,
        "<tr><th scope=\"row\" data-label=\"Job\">{name}</th><td data-label=\"State\">{state}, {health}</td>\
         <td data-label=\"Recent runs\">{}</td><td data-label=\"Since last green\">{since}</td></tr>",
        strip(job.name.as_str(), &job.runs)
    );
}

/// The gate's own figures over 30 days: one row per job, and all jobs.
fn figures(page: &mut String, status: &Status) {
    page.push_str(
        "<section aria-labelledby=\"figures-h\">\n<h2 id=\"figures-h\">The gate's figures (30 days)</h2>\n\
         <p class=\"note\">Time to block: first red run finished → blocker issue opened. \
         False blocks: resolved with no culprit recorded, or a flake. \
         <a href=\"/api/v1/summary\">JSON</a></p>\n\
         <div class=\"scroll\"><table class=\"stack\">\n<thead><tr><th scope=\"col\">Job</th>\
         <th scope=\"col\">Incidents</th><th scope=\"col\">Active</th>\
         <th scope=\"col\">Re-blocks</th><th scope=\"col\">False blocks</th>\
         <th scope=\"col\">Time to block (p50 / max)</th><th scope=\"col\">Time blocked</th>\
         </tr></thead><tbody>\n",
    );
    let summary = &status.summary;
    let rows = summary
        .jobs
        .iter()
        .map(|(job, f)| (escape(job), f))
        .chain(std::iter::once(("All jobs".to_string(), &summary.all)));
    for (name, f) in rows {
        let spread = &f.time_to_block_seconds;
        let to_block = match (spread.p50, spread.max) {
            (Some(p50), Some(max)) => {
                format!("{} / {}", humane_duration(p50), humane_duration(max))
            }
            _ => "–".to_string(),
        };
        let _ = writeln!(
            page,
            "<tr><th scope=\"row\" data-label=\"Job\">{name}</th>\
             <td data-label=\"Incidents\">{}</td><td data-label=\"Active\">{}</td>\
             <td data-label=\"Re-blocks\">{}</td><td data-label=\"False blocks\">{}</td>\
             <td data-label=\"Time to block (p50 / max)\">{to_block}</td>\
             <td data-label=\"Time blocked\">{}</td></tr>",
            f.incidents,
            f.active,
            f.reblocks,
            f.false_blocks,
            humane_duration(f.blocked_seconds.total)
        );
    }
    page.push_str("</tbody></table></div>\n</section>\n");
}

/// The SVG strip of recent runs: one linked, labelled square with a symbol per run.
pub fn strip(job: &str, runs: &[RunView]) -> String {
    if runs.is_empty() {
        return "no runs recorded yet".into();
    }
    const W: usize = 18;
    const H: usize = 24;
    let width = runs.len() * W;
    let mut svg = format!(
        "<svg class=\"runs\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{H}\" \
         viewBox=\"0 0 {width} {H}\" role=\"group\" aria-label=\"Recent runs of {}\">",
        escape(job)
    );
    for (n, run) in runs.iter().enumerate() {
        let (colour, symbol, words) = result_style(run.result);
        let label = escape(&format!("run {}: {words}", run.build_id));
        let x = n * W;
        let shape = format!(
            "<title>{label}</title><rect x=\"{}\" y=\"1\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"17\" text-anchor=\"middle\" font-size=\"13\" fill=\"#fff\" aria-hidden=\"true\">{symbol}</text>",
            x + 1,
            W - 2,
            H - 2,
            x + W / 2
        );
        match safe_url(&run.url) {
            Some(href) => {
                let _ = write!(svg, "<a href=\"{href}\" aria-label=\"{label}\">{shape}</a>");
            }
            None => {
                let _ = write!(svg, "<g role=\"img\" aria-label=\"{label}\">{shape}</g>");
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

fn tide(page: &mut String, status: &Status) {
    page.push_str("<section aria-labelledby=\"tide-h\">\n<h2 id=\"tide-h\">Tide check</h2>\n");
    let t = &status.tide;
    if !t.configured {
        page.push_str(
            "<p>Tide check: not configured (set <code>tide.prow_config</code> to check that \
             Tide honours the label).</p>\n",
        );
    } else {
        match t.holds {
            Some(true) => page.push_str("<p><span class=\"state green\">✓ The block holds</span>: every Tide query that can merge into a gated branch excludes the label.</p>\n"),
            Some(false) => page.push_str("<p><span class=\"state red\">⚠ The block does NOT hold</span>: see the scopes below; <code>scalability-gate check-tide --fix</code> prints the fix.</p>\n"),
            None => page.push_str("<p>Prow's config has not been read yet.</p>\n"),
        }
        if let Some(error) = &t.error {
            let _ = writeln!(
                page,
                "<p class=\"state red\">Reading Prow's config failed: {}</p>",
                escape(error)
            );
        }
        if let Some(report) = &t.report {
            page.push_str("<ul>\n");
            for s in &report.scopes {
                let verdict = if s.covered() {
                    "✓ label holds".to_string()
                } else {
                    let q: Vec<String> = s
                        .uncovered()
                        .map(|q| format!("tide.queries[{}] ({})", q.index, q.description))
                        .collect();
                    format!("⚠ NOT held: {}", q.join("; "))
                };
                let _ = writeln!(
                    page,
                    "<li>{}: {}</li>",
                    escape(&s.scope.to_string()),
                    escape(&verdict)
                );
            }
            page.push_str("</ul>\n");
        }
        if let Some(at) = t.checked_at {
            let _ = writeln!(page, "<p class=\"note\">Checked {}.</p>", time(at));
        }
    }
    if let Some(deck) = &t.deck_url {
        let _ = writeln!(
            page,
            "<p>{}</p>",
            link(&format!("{deck}/tide"), "Tide's merge pools on Deck")
        );
    }
    page.push_str("</section>\n");
}

fn history(page: &mut String, status: &Status) {
    page.push_str("<section aria-labelledby=\"history-h\">\n<h2 id=\"history-h\">History</h2>\n");
    if status.history.is_empty() {
        page.push_str("<p>No past incidents.</p>\n</section>\n");
        return;
    }
    page.push_str(
        "<div class=\"scroll\"><table class=\"stack\">\n<thead><tr><th scope=\"col\">Incident</th>\
         <th scope=\"col\">Job</th><th scope=\"col\">Opened</th><th scope=\"col\">Blocked for</th>\
         <th scope=\"col\">How it ended</th></tr></thead><tbody>\n",
    );
    for i in &status.history {
        let how = i
            .resolved_how
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        let reblocks = match i.reblocks {
            0 => String::new(),
            n => format!(", after {n} re-block(s)"),
        };
        let ended = match &i.lifted {
            Some(l) => format!(
                "lifted by {} at {}{}{how}{reblocks}",
                escape(&l.by),
                time(l.at),
                reason_suffix(&l.reason)
            ),
            None => format!("resolved{how}{reblocks}"),
        };
        let _ = writeln!(
            page,
            "<tr><th scope=\"row\" data-label=\"Incident\">{}</th><td data-label=\"Job\">{}</td>\
             <td data-label=\"Opened\">{}</td><td data-label=\"Blocked for\">{}</td><td data-label=\"How it ended\">{ended}</td></tr>",
            escape(i.id.as_str()),
            escape(i.job.as_str()),
            time(i.opened_at),
            humane_duration(i.duration_seconds)
        );
    }
    page.push_str("</tbody></table></div>\n</section>\n");
}

fn audit(page: &mut String, status: &Status) {
    page.push_str("<section aria-labelledby=\"audit-h\">\n<h2 id=\"audit-h\">Audit log</h2>\n");
    if status.audit.is_empty() {
        page.push_str("<p>No commands yet.</p>\n</section>\n");
        return;
    }
    page.push_str(
        "<div class=\"scroll\"><table class=\"stack\">\n<thead><tr><th scope=\"col\">When</th>\
         <th scope=\"col\">Who</th><th scope=\"col\">Command</th><th scope=\"col\">Where</th>\
         <th scope=\"col\">Outcome</th><th scope=\"col\">Reason</th></tr></thead><tbody>\n",
    );
    for a in &status.audit {
        let _ = writeln!(
            page,
            "<tr><td data-label=\"When\">{}</td><td data-label=\"Who\">{}</td><td data-label=\"Command\"><code>{}</code></td>\
             <td data-label=\"Where\">{}</td><td data-label=\"Outcome\">{}</td><td data-label=\"Reason\">{}</td></tr>",
            time(a.at),
            escape(&a.who),
            escape(&a.command),
            escape(&a.target),
            escape(&a.outcome),
            escape(&a.reason)
        );
    }
    page.push_str("</tbody></table></div>\n</section>\n");
}

/// The badge: `scalability gate | open` (green) or `| blocked` (red), shields-style.
pub fn badge(blocked: bool) -> String {
    const LEFT: &str = "scalability gate";
    let (right, colour) = if blocked {
        ("blocked", "#cf222e")
    } else {
        ("open", "#1a7f37")
    };
    // About 6.5 px per character of 11 px Verdana, plus padding.
    let lw = (LEFT.len() as f64 * 6.5).round() as usize + 10;
    let rw = (right.len() as f64 * 6.5).round() as usize + 10;
    let w = lw + rw;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"20\" role=\"img\" \
         aria-label=\"{LEFT}: {right}\"><title>{LEFT}: {right}</title>\
         <rect width=\"{lw}\" height=\"20\" fill=\"#555\"/>\
         <rect x=\"{lw}\" width=\"{rw}\" height=\"20\" fill=\"{colour}\"/>\
         <g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
         <text x=\"{}\" y=\"14\">{LEFT}</text><text x=\"{}\" y=\"14\">{right}</text></g></svg>",
        lw / 2,
        lw + rw / 2
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<script>alert('x') & "y"</script>"#),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(escape("plain ✓ text"), "plain ✓ text");
    }

    #[test]
    fn only_web_urls_become_links() {
        assert_eq!(
            safe_url("https://prow.k8s.io/view?a=1&b=\"2\"").as_deref(),
            Some("https://prow.k8s.io/view?a=1&amp;b=&quot;2&quot;")
        );
        assert!(safe_url("javascript:alert(1)").is_none());
        assert!(safe_url(" JavaScript:alert(1)").is_none());
        assert!(safe_url("//evil.example").is_none());
        assert_eq!(
            safe_url("/api/v1/status").as_deref(),
            Some("/api/v1/status")
        );
        assert_eq!(link("javascript:x", "<b>"), "&lt;b&gt;");
    }

    #[test]
    fn durations_read_humanely() {
        assert_eq!(humane_duration(40), "40s");
        assert_eq!(humane_duration(300), "5m");
        assert_eq!(humane_duration(2 * 3600 + 13 * 60), "2h 13m");
        assert_eq!(humane_duration(3 * 86_400 + 4 * 3600), "3d 4h");
        assert_eq!(humane_duration(-5), "0s");
    }

    #[test]
    fn strip_labels_every_run_with_a_symbol() {
        let runs = vec![
            RunView {
                build_id: "1".into(),
                result: RunResult::Success,
                url: "https://prow/1".into(),
                started_at: None,
                finished_at: None,
            },
            RunView {
                build_id: "2".into(),
                result: RunResult::Failure,
                url: "javascript:alert(1)".into(),
                started_at: None,
                finished_at: None,
            },
        ];
        let svg = strip("job<1>", &runs);
        assert!(
            svg.contains("aria-label=\"Recent runs of job&lt;1&gt;\""),
            "{svg}"
        );
        assert!(svg.contains("<a href=\"https://prow/1\" aria-label=\"run 1: success (green)\">"));
        assert!(svg.contains("run 2: failure (red)"));
        assert!(svg.contains('✓') && svg.contains('✗'));
        assert!(!svg.contains("javascript:"), "{svg}");
    }

    #[test]
    fn badge_says_open_or_blocked() {
        let open = badge(false);
        assert!(open.contains("scalability gate: open") && open.contains("#1a7f37"));
        let blocked = badge(true);
        assert!(blocked.contains(">blocked<") && blocked.contains("#cf222e"));
    }
}
