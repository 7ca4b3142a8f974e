//! `check-tide --fix`: add our label to the `missingLabels` of the queries that lack it,
//! in Prow's config text, by inserting text only (no re-serializing).

use std::collections::BTreeSet;

use super::lines::{Line, key_of, matching_bracket, split_lines, strip_comment, yaml_scalar};

/// Why `--fix` refuses to edit a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixError {
    #[error("no top-level `tide:` block mapping found")]
    NoTideSection,
    #[error("no block-style `queries:` list under `tide:`")]
    NoQueries,
    #[error("line {line}: {what}; edit this by hand")]
    Unsupported { line: usize, what: String },
    #[error("found {found} queries in the text but the parser saw {expected}")]
    QueryCount { found: usize, expected: usize },
}

/// One insertion into the text: the only kind of edit `--fix` makes.
struct Insert {
    /// Byte offset in the original text.
    at: usize,
    text: String,
}

/// Adds `label` to the `missingLabels` of the queries at `indexes` in Prow's config text,
/// creating the list where a query has none, and changes no other byte: the result is the
/// input with text inserted. Block lists (`- item`, any indentation) and one-line flow
/// lists (`[a, b]`) are edited; any other shape is refused with the line to edit by hand.
/// `expected_queries` is the number of queries the parser saw, as a cross-check of the
/// scan. The caller should parse the result and check it again.
pub fn insert_missing_label(
    text: &str,
    label: &str,
    indexes: &BTreeSet<usize>,
    expected_queries: usize,
) -> Result<String, FixError> {
    let lines = split_lines(text);
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let unsupported = |i: usize, what: &str| FixError::Unsupported {
        line: i + 1,
        what: what.to_string(),
    };

    // The top-level `tide:` block.
    let tide = lines
        .iter()
        .position(|l| l.indent() == 0 && key_of(l.text).is_some_and(|(k, _)| k == "tide"))
        .ok_or(FixError::NoTideSection)?;
    if let Some((_, rest)) = key_of(lines[tide].text)
        && !rest.is_empty()
    {
        return Err(unsupported(tide, "`tide:` is not a block mapping"));
    }
    let tide_end = (tide + 1..lines.len())
        .find(|&i| !lines[i].is_filler() && lines[i].indent() == 0)
        .unwrap_or(lines.len());
    let child_indent = (tide + 1..tide_end)
        .find(|&i| !lines[i].is_filler())
        .map(|i| lines[i].indent())
        .ok_or(FixError::NoQueries)?;

    // `queries:` under it.
    let queries = (tide + 1..tide_end)
        .find(|&i| {
            let l = &lines[i];
            !l.is_filler()
                && l.indent() == child_indent
                && key_of(l.content()).is_some_and(|(k, _)| k == "queries")
        })
        .ok_or(FixError::NoQueries)?;
    let (_, rest) = key_of(lines[queries].content()).expect("matched above");
    if !rest.is_empty() {
        if rest == "[]" && expected_queries == 0 {
            return Ok(text.to_string());
        }
        return Err(unsupported(queries, "`queries:` is not a block list"));
    }
    let Some(first) = (queries + 1..tide_end).find(|&i| !lines[i].is_filler()) else {
        return check_count(0, expected_queries).map(|_| text.to_string());
    };
    let item_indent = lines[first].indent();
    if item_indent < child_indent || !lines[first].is_dash() {
        return check_count(0, expected_queries).map(|_| text.to_string());
    }
    let list_end = (first..tide_end)
        .find(|&i| {
            let l = &lines[i];
            !l.is_filler()
                && (l.indent() < item_indent || (l.indent() == item_indent && !l.is_dash()))
        })
        .unwrap_or(tide_end);
    let starts: Vec<usize> = (first..list_end)
        .filter(|&i| !lines[i].is_filler() && lines[i].indent() == item_indent)
        .collect();
    check_count(starts.len(), expected_queries)?;

    // The list style (offset of `-` under its key) used by the file, for lists we create.
    let mut offset = None;

    let mut plans: Vec<(usize, Item)> = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(list_end);
        let item = Item::scan(&lines, start, end, item_indent);
        if offset.is_none() {
            offset = item.list_offset;
        }
        plans.push((n, item));
    }
    let offset = offset.unwrap_or(2);

    let mut edits = Vec::new();
    for (n, item) in &plans {
        if !indexes.contains(n) {
            continue;
        }
        if let Some((line, what)) = &item.refusal {
            return Err(unsupported(*line, what));
        }
        edits.push(item.edit(&lines, label, offset, eol)?);
    }

    let mut out = text.to_string();
    edits.sort_by_key(|edit: &Insert| std::cmp::Reverse(edit.at));
    for Insert { at, text } in edits {
        out.insert_str(at, &text);
    }
    Ok(out)
}

fn check_count(found: usize, expected: usize) -> Result<(), FixError> {
    if found == expected {
        Ok(())
    } else {
        Err(FixError::QueryCount { found, expected })
    }
}

/// What the scan learnt of one query.
struct Item {
    /// Column of the query's keys.
    key_indent: usize,
    /// The `missingLabels:` line, if any.
    missing: Option<usize>,
    /// The last line carrying the query's content.
    last: usize,
    /// Why this query cannot be edited safely, with the line.
    refusal: Option<(usize, String)>,
    /// How far this query's block lists sit right of their keys.
    list_offset: Option<usize>,
}

impl Item {
    fn scan(lines: &[Line<'_>], start: usize, end: usize, item_indent: usize) -> Item {
        let dash = &lines[start];
        let after = &dash.content()[1..];
        let spaces = after.len() - after.trim_start_matches(' ').len();
        let inline = strip_comment(after).trim();
        let mut item = Item {
            key_indent: item_indent + 1 + spaces,
            missing: None,
            last: start,
            refusal: None,
            list_offset: None,
        };
        if inline.is_empty() {
            match (start + 1..end).find(|&i| !lines[i].is_filler()) {
                Some(i) => item.key_indent = lines[i].indent(),
                None => {
                    item.refusal = Some((start, "an empty query".into()));
                    return item;
                }
            }
        } else if key_of(inline).is_none() {
            item.refusal = Some((start, "the query is not a block mapping".into()));
            return item;
        }
        let mut previous_key: Option<usize> = None; // a key whose value is on the next lines
        for (i, l) in lines.iter().enumerate().take(end).skip(start) {
            if l.is_filler() {
                continue;
            }
            item.last = i;
            let at_key = if i == start {
                (!inline.is_empty()).then_some(inline)
            } else if l.indent() == item.key_indent && !l.is_dash() {
                Some(l.content())
            } else {
                if l.indent() < item.key_indent {
                    item.refusal = Some((i, "unexpected indentation in the query".into()));
                }
                // The first `-` under a key with no inline value shows the list style.
                if l.is_dash() && previous_key.take().is_some() && l.indent() >= item.key_indent {
                    item.list_offset.get_or_insert(l.indent() - item.key_indent);
                }
                None
            };
            let Some(content) = at_key else { continue };
            previous_key = None;
            match key_of(content) {
                Some((key, rest)) => {
                    if key == "<<" {
                        item.refusal = Some((i, "the query uses a `<<` merge key".into()));
                    }
                    if rest.is_empty() {
                        previous_key = Some(i);
                    }
                    if key == "missingLabels" {
                        item.missing = Some(i);
                    }
                }
                None => item.refusal = Some((i, "a line that is not `key: value`".into())),
            }
        }
        item
    }

    fn edit(
        &self,
        lines: &[Line<'_>],
        label: &str,
        offset: usize,
        eol: &str,
    ) -> Result<Insert, FixError> {
        let scalar = yaml_scalar(label);
        let unsupported = |i: usize, what: &str| FixError::Unsupported {
            line: i + 1,
            what: what.to_string(),
        };
        let Some(key_line) = self.missing else {
            // No list: add one at the end of the query.
            let pad = " ".repeat(self.key_indent);
            let item_pad = " ".repeat(self.key_indent + offset);
            let body = format!("{pad}missingLabels:{eol}{item_pad}- {scalar}{eol}");
            return Ok(after_line(&lines[self.last], body, eol));
        };
        let l = &lines[key_line];
        // The key sits at the query's key column, on the `- ` line or its own.
        let (_, rest) = key_of(&l.text[self.key_indent..])
            .ok_or_else(|| unsupported(key_line, "unreadable key"))?;
        if rest.is_empty() {
            // A block list below (or nothing: null).
            let mut list_indent = None;
            let mut last = key_line;
            for (i, line) in lines.iter().enumerate().skip(key_line + 1) {
                if i > self.last {
                    break;
                }
                if line.is_filler() {
                    continue;
                }
                match list_indent {
                    None if line.is_dash() && line.indent() >= self.key_indent => {
                        list_indent = Some(line.indent());
                        last = i;
                    }
                    None => break,
                    Some(m) if line.indent() > m || (line.indent() == m && line.is_dash()) => {
                        last = i;
                    }
                    Some(_) => break,
                }
            }
            let indent = list_indent.unwrap_or(self.key_indent + offset);
            let body = format!("{}- {scalar}{eol}", " ".repeat(indent));
            return Ok(after_line(&lines[last], body, eol));
        }
        if rest.starts_with('[') {
            // A one-line flow list: insert before its closing bracket.
            let open = l
                .text
                .find('[')
                .ok_or_else(|| unsupported(key_line, "unreadable flow list"))?;
            let close = matching_bracket(&l.text[open..])
                .map(|c| open + c)
                .ok_or_else(|| unsupported(key_line, "a flow list over several lines"))?;
            let inside = &l.text[open + 1..close];
            let trimmed = inside.trim_end();
            let (at, text) = if trimmed.trim().is_empty() {
                (open + 1, scalar)
            } else if trimmed.ends_with(',') {
                (open + 1 + trimmed.len(), format!(" {scalar}"))
            } else {
                (open + 1 + trimmed.len(), format!(", {scalar}"))
            };
            return Ok(Insert {
                at: l.start + at,
                text,
            });
        }
        Err(unsupported(
            key_line,
            "`missingLabels` is neither a block list nor a one-line `[...]` list",
        ))
    }
}

/// Inserts `body` (whole lines ending in `eol`) after `line`.
fn after_line(line: &Line<'_>, body: String, eol: &str) -> Insert {
    if line.has_eol {
        Insert {
            at: line.end,
            text: body,
        }
    } else {
        let body = body.strip_suffix(eol).unwrap_or(&body);
        Insert {
            at: line.end,
            text: format!("{eol}{body}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tide::testing::LABEL;

    fn fix(text: &str, queries: &[usize], count: usize) -> Result<String, FixError> {
        insert_missing_label(text, LABEL, &queries.iter().copied().collect(), count)
    }

    #[test]
    fn fix_edits_every_list_shape() {
        let cases: &[(&str, &str, &[usize], usize, &str)] = &[
            (
                "block list, indentless as in Kubernetes' config",
                "tide:\n  queries:\n  - repos:\n    - o/r\n    missingLabels:\n    - a\n    - b # why\n  blocker_label: x\n",
                &[0],
                1,
                "tide:\n  queries:\n  - repos:\n    - o/r\n    missingLabels:\n    - a\n    - b # why\n    - do-not-merge/scalability-regression\n  blocker_label: x\n",
            ),
            (
                "block list, indented",
                "tide:\n    queries:\n        -   repos: [o/r]\n            missingLabels:\n                - a\n            labels: [lgtm]\n",
                &[0],
                1,
                "tide:\n    queries:\n        -   repos: [o/r]\n            missingLabels:\n                - a\n                - do-not-merge/scalability-regression\n            labels: [lgtm]\n",
            ),
            (
                "flow list",
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: [a, \"b\"]  # keep\n",
                &[0],
                1,
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: [a, \"b\", do-not-merge/scalability-regression]  # keep\n",
            ),
            (
                "empty flow list",
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: []\n",
                &[0],
                1,
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: [do-not-merge/scalability-regression]\n",
            ),
            (
                "missingLabels as the first key, on the dash line",
                "tide:\n  queries:\n  - missingLabels:\n    - a\n    repos: [o/r]\n",
                &[0],
                1,
                "tide:\n  queries:\n  - missingLabels:\n    - a\n    - do-not-merge/scalability-regression\n    repos: [o/r]\n",
            ),
            (
                "no list: one is created, in the file's list style",
                "tide:\n  queries:\n  - repos:\n      - o/r\n  - repos: [o/s]\n    labels: [lgtm]\n  # trailing comment\n  sync_period: 1m\n",
                &[1],
                2,
                "tide:\n  queries:\n  - repos:\n      - o/r\n  - repos: [o/s]\n    labels: [lgtm]\n    missingLabels:\n      - do-not-merge/scalability-regression\n  # trailing comment\n  sync_period: 1m\n",
            ),
            (
                "null list",
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels:\n    labels: [lgtm]\n",
                &[0],
                1,
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels:\n      - do-not-merge/scalability-regression\n    labels: [lgtm]\n",
            ),
            (
                "only the chosen queries, with comments between them",
                "x: 1\ntide:\n  queries:\n  # first\n  - repos: [o/a]\n    missingLabels: [a]\n\n  # second\n  - repos: [o/b]\n    missingLabels: [a]\nother: 2\n",
                &[1],
                2,
                "x: 1\ntide:\n  queries:\n  # first\n  - repos: [o/a]\n    missingLabels: [a]\n\n  # second\n  - repos: [o/b]\n    missingLabels: [a, do-not-merge/scalability-regression]\nother: 2\n",
            ),
            (
                "CRLF line endings and no final newline",
                "tide:\r\n  queries:\r\n  - repos: [o/r]\r\n    missingLabels:\r\n    - a",
                &[0],
                1,
                "tide:\r\n  queries:\r\n  - repos: [o/r]\r\n    missingLabels:\r\n    - a\r\n    - do-not-merge/scalability-regression",
            ),
            (
                "a query whose keys start on the line after its dash",
                "tide:\n  queries:\n  -\n    repos: [o/r]\n    missingLabels:\n    - a\n",
                &[0],
                1,
                "tide:\n  queries:\n  -\n    repos: [o/r]\n    missingLabels:\n    - a\n    - do-not-merge/scalability-regression\n",
            ),
            (
                "nothing to fix",
                "tide:\n  queries:\n  - repos: [o/r]\n",
                &[],
                1,
                "tide:\n  queries:\n  - repos: [o/r]\n",
            ),
        ];
        for (name, input, queries, count, want) in cases {
            let got = fix(input, queries, *count).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn fix_quotes_labels_that_need_it() {
        let text = "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: [a]\n";
        let set = BTreeSet::from([0]);
        let got = insert_missing_label(text, "cncf-cla: no", &set, 1).unwrap();
        assert!(got.contains("[a, \"cncf-cla: no\"]"), "{got}");
        let got = insert_missing_label(text, "yes", &set, 1).unwrap();
        assert!(got.contains("[a, \"yes\"]"), "{got}");
    }

    #[test]
    fn fix_refuses_shapes_it_cannot_edit_safely() {
        let cases: &[(&str, &str, usize, &str)] = &[
            ("no tide", "prowjob_namespace: x\n", 0, "no top-level"),
            ("flow tide", "tide: {queries: []}\n", 0, "line 1"),
            (
                "flow queries",
                "tide:\n  queries: [{repos: [o/r]}]\n",
                1,
                "line 2",
            ),
            (
                "flow mapping query",
                "tide:\n  queries:\n  - {repos: [o/r]}\n",
                1,
                "line 3: the query is not a block mapping",
            ),
            (
                "multi-line flow list",
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: [a,\n      b]\n",
                1,
                "line 4",
            ),
            (
                "alias",
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: *dnm\n",
                1,
                "line 4",
            ),
            (
                "merge key",
                "tide:\n  queries:\n  - <<: *base\n    repos: [o/r]\n",
                1,
                "merge key",
            ),
            (
                "count differs from the parser's",
                "tide:\n  queries:\n  - repos: [o/r]\n",
                2,
                "found 1 queries",
            ),
        ];
        for (name, input, count, want) in cases {
            let err = fix(input, &[0], *count).expect_err(name).to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
    }

    /// The lines of `output` that are not in `input`, if `output` is `input` with whole
    /// lines inserted (and `None` otherwise).
    fn inserted_lines(input: &str, output: &str) -> Option<Vec<String>> {
        let mut want = input.split_inclusive('\n').peekable();
        let mut inserted = Vec::new();
        for line in output.split_inclusive('\n') {
            if want.peek() == Some(&line) {
                want.next();
            } else {
                inserted.push(line.to_string());
            }
        }
        want.peek().is_none().then_some(inserted)
    }

    #[test]
    fn fix_only_inserts_lines() {
        let input = "# c\ntide:\n  queries:\n  - repos: [o/a]\n    missingLabels:\n    - a\n  - orgs: [o]\n  - repos: [o/c]\n";
        let out = fix(input, &[0, 1], 3).unwrap();
        assert_eq!(
            inserted_lines(input, &out).expect("only insertions"),
            [
                "    - do-not-merge/scalability-regression\n",
                "    missingLabels:\n",
                // In the file's own (indentless) list style.
                "    - do-not-merge/scalability-regression\n",
            ]
        );
    }
}
