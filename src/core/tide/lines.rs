//! Prow's config as lines of YAML text, for `--fix`: each line's byte range, mapping keys,
//! trailing comments, one-line flow lists and label scalars, read without parsing the YAML.

/// One line of the text: its byte range, without and with the line ending.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line<'a> {
    /// Byte offset of the line's first character.
    pub(super) start: usize,
    /// The line's text, without `\n` or `\r\n`.
    pub(super) text: &'a str,
    /// Byte offset just past the line ending (or the end of the text).
    pub(super) end: usize,
    /// Whether the line has a line ending.
    pub(super) has_eol: bool,
}

impl Line<'_> {
    pub(super) fn indent(&self) -> usize {
        self.text.len() - self.text.trim_start_matches(' ').len()
    }

    /// Blank or a comment: no structure.
    pub(super) fn is_filler(&self) -> bool {
        let t = self.text.trim();
        t.is_empty() || t.starts_with('#')
    }

    pub(super) fn content(&self) -> &str {
        &self.text[self.indent()..]
    }

    /// A `- ` (or bare `-`) sequence entry at this line's indentation.
    pub(super) fn is_dash(&self) -> bool {
        let c = self.content();
        c == "-" || c.starts_with("- ") || c.starts_with("-\t")
    }
}

pub(super) fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let (raw, end, has_eol) = match text[start..].find('\n') {
            Some(i) => (&text[start..start + i], start + i + 1, true),
            None => (&text[start..], text.len(), false),
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        out.push(Line {
            start,
            text: line,
            end,
            has_eol,
        });
        start = end;
    }
    out
}

/// A mapping key at the start of `s` (plain or quoted), and what follows its colon with
/// any trailing comment removed.
pub(super) fn key_of(s: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(q @ ('"' | '\'')) = s.chars().next() {
        let close = s[1..].find(q)? + 1;
        (s[1..close].to_string(), &s[close + 1..])
    } else {
        let end = s.find(':')?;
        let key = &s[..end];
        if key.is_empty() || key.contains([' ', '#', '[', '{', ',']) || key.starts_with('-') {
            return None;
        }
        (key.to_string(), &s[end..])
    };
    let rest = rest.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    Some((key, strip_comment(rest).trim()))
}

/// `s` without a trailing ` # comment` (outside quotes).
pub(super) fn strip_comment(s: &str) -> &str {
    let mut quote = None;
    let mut prev_space = true;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev_space => return &s[..i],
            _ => {}
        }
        prev_space = c == ' ' || c == '\t';
    }
    s
}

/// The label as a YAML scalar: plain when that is unambiguous, else double-quoted.
pub(super) fn yaml_scalar(label: &str) -> String {
    let plain_chars = label
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    let starts_well = label
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic());
    let lower = label.to_ascii_lowercase();
    let special = matches!(
        lower.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~"
    );
    if plain_chars && starts_well && !special {
        label.to_string()
    } else {
        let escaped = label.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    }
}

/// Offset of the `]` closing the `[` at the start of `s`, outside quotes, on this line.
pub(super) fn matching_bracket(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            (None, '#') => return None,
            _ => {}
        }
    }
    None
}
