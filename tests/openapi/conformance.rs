//! Checks recorded exchanges with the fake GitHub against GitHub's OpenAPI description:
//! operation (method + path template, path parameters), query parameters, JSON request
//! body, status and JSON answer body.
//!
//! The description is OpenAPI 3.0: its schemas are turned into JSON Schema (draft 7) by
//! translating `nullable: true` into a union with `null`, and each schema checked is
//! compiled with the components it reaches (by `$ref`) embedded under `#/components`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use scalability_gate::github::fake::Exchange;
use serde_json::{Map, Value, json};

/// An erratum of the description: something it documents that GitHub itself does not
/// keep, and the narrow tolerance the check grants it.
pub struct Erratum {
    /// Which operations (`METHOD /template`).
    pub operations: &'static [&'static str],
    pub kind: ErratumKind,
    /// What GitHub does and where it is reported upstream.
    pub why: &'static str,
}

/// What an [`Erratum`] tolerates.
pub enum ErratumKind {
    /// A schema error in the answer at this JSON pointer (`*` matches one segment), for a
    /// value `value` accepts (an error at that path for another value is kept).
    Answer {
        instance_path: &'static str,
        value: fn(&Value) -> bool,
    },
    /// A JSON body on an answer of this status documented without content.
    BodyWithoutContent { status: u16 },
    /// An answer of this status the description does not list at all (its body is then
    /// not checked).
    UndocumentedStatus { status: u16 },
}

/// One documented operation.
struct Operation {
    method: String,
    template: String,
    /// Each segment as literal text and `{name}` placeholders.
    segments: Vec<Vec<Piece>>,
    /// Path-level and operation-level parameters, resolved.
    parameters: Vec<Value>,
    operation: Value,
}

/// A part of a path segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Parameter(String),
}

/// A template's segment split into literal text and `{name}` placeholders.
fn pieces(segment: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = segment;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| c + open) else {
            break;
        };
        if open > 0 {
            out.push(Piece::Literal(rest[..open].to_string()));
        }
        out.push(Piece::Parameter(rest[open + 1..close].to_string()));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(Piece::Literal(rest.to_string()));
    }
    out
}

/// The parameters of `segment` if it matches `pattern` (each placeholder non-empty, taking
/// the shortest text before the next literal).
fn match_segment(pattern: &[Piece], segment: &str) -> Option<Vec<(String, String)>> {
    let mut captured = Vec::new();
    let mut rest = segment;
    for (i, piece) in pattern.iter().enumerate() {
        match piece {
            Piece::Literal(l) => rest = rest.strip_prefix(l.as_str())?,
            Piece::Parameter(name) => {
                let end = match pattern.get(i + 1) {
                    Some(Piece::Literal(next)) => rest.get(1..)?.find(next.as_str())? + 1,
                    _ => rest.len(),
                };
                if end == 0 {
                    return None;
                }
                captured.push((name.clone(), rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
    }
    rest.is_empty().then_some(captured)
}

/// GitHub's description, indexed by operation.
pub struct Spec {
    doc: Value,
    operations: Vec<Operation>,
    /// Converted component schemas (JSON Schema), by name.
    schemas: BTreeMap<String, Value>,
}

/// What was checked, for the report.
#[derive(Default, Debug)]
pub struct Outcome {
    /// Problems found, one line each.
    pub problems: Vec<String>,
    /// `METHOD /template -> status` checked, with how many times.
    pub covered: BTreeMap<String, usize>,
    /// Errata that matched (tolerated), with how many times.
    pub tolerated: BTreeMap<String, usize>,
}

impl Spec {
    /// Parses the description.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| format!("OpenAPI description: {e}"))?;
        let paths = doc
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("OpenAPI description without paths")?;
        let mut operations = Vec::new();
        for (template, item) in paths {
            let shared: Vec<Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for method in ["get", "post", "put", "patch", "delete", "head"] {
                let Some(op) = item.get(method) else { continue };
                let mut parameters: Vec<Value> = Vec::new();
                for p in shared.iter().chain(
                    op.get("parameters")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten(),
                ) {
                    parameters.push(resolve(&doc, p).clone());
                }
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    template: template.clone(),
                    segments: template.split('/').map(pieces).collect(),
                    parameters,
                    operation: op.clone(),
                });
            }
        }
        let schemas = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), to_json_schema(v)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            doc,
            operations,
            schemas,
        })
    }

    /// How many operations the description documents.
    pub fn operation_count(&self) -> usize {
        self.operations.len()
    }

    /// The documented operation for `method path` and its path parameters, the template
    /// with the most literal text winning.
    fn operation(&self, method: &str, path: &str) -> Option<(&Operation, Vec<(String, String)>)> {
        let segments: Vec<&str> = path.split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method == method && op.segments.len() == segments.len())
            .filter_map(|op| {
                let mut params = Vec::new();
                for (pattern, segment) in op.segments.iter().zip(&segments) {
                    params.extend(match_segment(pattern, segment)?);
                }
                let literal: usize = op
                    .segments
                    .iter()
                    .flatten()
                    .map(|p| match p {
                        Piece::Literal(l) => l.len(),
                        Piece::Parameter(_) => 0,
                    })
                    .sum();
                Some((literal, op, params))
            })
            .max_by_key(|(literal, _, _)| *literal)
            .map(|(_, op, params)| (op, params))
    }

    /// A JSON Schema for an OpenAPI schema, with the components it reaches embedded.
    fn compile(&self, schema: &Value) -> Result<jsonschema::Validator, String> {
        let root = to_json_schema(schema);
        let mut reached = BTreeSet::new();
        let mut todo = Vec::new();
        refs(&root, &mut todo);
        while let Some(name) = todo.pop() {
            if reached.insert(name.clone()) {
                if let Some(s) = self.schemas.get(&name) {
                    refs(s, &mut todo);
                }
            }
        }
        let embedded: Map<String, Value> = reached
            .into_iter()
            .filter_map(|n| self.schemas.get(&n).map(|s| (n, s.clone())))
            .collect();
        let document = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "allOf": [root],
            "components": { "schemas": embedded },
        });
        jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&document)
            .map_err(|e| format!("compiling the documented schema: {e}"))
    }

    /// Checks each exchange, tolerating `errata` narrowly.
    pub fn check(&self, exchanges: &[Exchange], errata: &[Erratum]) -> Outcome {
        let mut out = Outcome::default();
        let mut cache: BTreeMap<String, Result<jsonschema::Validator, String>> = BTreeMap::new();
        for x in exchanges {
            let label = format!("{} {}?{} -> {}", x.method, x.path, x.query, x.status);
            if x.method == "POST" && x.path == "/graphql" {
                let problems = check_graphql(x);
                out.problems
                    .extend(problems.into_iter().map(|p| format!("{label}: {p}")));
                *out.covered
                    .entry(format!("POST /graphql -> {}", x.status))
                    .or_default() += 1;
                continue;
            }
            let Some((op, params)) = self.operation(&x.method, &x.path) else {
                out.problems
                    .push(format!("{label}: no documented operation for this path"));
                continue;
            };
            let name = format!("{} {}", op.method, op.template);
            *out.covered
                .entry(format!("{name} -> {}", x.status))
                .or_default() += 1;
            let mut problems = Vec::new();
            check_path_parameters(op, &params, &mut problems);
            self.check_query(op, &x.query, &mut problems);
            // The request body.
            let request = op
                .operation
                .pointer("/requestBody")
                .map(|b| resolve(&self.doc, b));
            match (request, x.request_body.is_empty()) {
                (None, true) => {}
                (None, false) => problems.push("a request body, none documented".into()),
                (Some(b), true) => {
                    if b.get("required").and_then(Value::as_bool) == Some(true) {
                        problems.push("no request body, one is required".into());
                    }
                }
                (Some(b), false) => match (
                    b.pointer("/content/application~1json/schema"),
                    serde_json::from_slice::<Value>(&x.request_body),
                ) {
                    (None, _) => problems.push("a JSON request body, none documented".into()),
                    (_, Err(e)) => problems.push(format!("request body is not JSON: {e}")),
                    (Some(schema), Ok(body)) => {
                        let key = format!("{name} request");
                        let v = cache.entry(key).or_insert_with(|| self.compile(schema));
                        validate(v, &body, "request body", &name, errata, &mut out.tolerated)
                            .into_iter()
                            .for_each(|p| problems.push(p));
                    }
                },
            }
            // The answer.
            let responses = op.operation.get("responses");
            let documented = responses
                .and_then(|r| r.get(x.status.to_string()))
                .or_else(|| responses.and_then(|r| r.get("default")))
                .map(|r| resolve(&self.doc, r));
            let undocumented = errata.iter().find(|e| {
                e.operations.contains(&name.as_str())
                    && matches!(e.kind, ErratumKind::UndocumentedStatus { status }
                        if status == x.status)
            });
            match documented {
                None if undocumented.is_some() => {
                    let why = undocumented.map(|e| e.why.to_string()).unwrap_or_default();
                    *out.tolerated.entry(why).or_default() += 1;
                }
                None => {
                    let known: Vec<&String> = responses
                        .and_then(Value::as_object)
                        .map(|m| m.keys().collect())
                        .unwrap_or_default();
                    problems.push(format!(
                        "status {} is not documented (documented: {known:?})",
                        x.status
                    ));
                }
                Some(r) => match r.pointer("/content/application~1json/schema") {
                    None if x.response_body.is_empty() => {}
                    None => {
                        let erratum = errata.iter().find(|e| {
                            e.operations.contains(&name.as_str())
                                && matches!(e.kind, ErratumKind::BodyWithoutContent { status }
                                    if status == x.status)
                        });
                        if let Some(e) = erratum {
                            *out.tolerated.entry(e.why.to_string()).or_default() += 1;
                        } else if r.get("content").is_none() {
                            problems.push(format!(
                                "a body ({} bytes), none documented for {}",
                                x.response_body.len(),
                                x.status
                            ));
                        }
                    }
                    Some(schema) => match serde_json::from_slice::<Value>(&x.response_body) {
                        Err(e) => problems.push(format!("answer is not JSON: {e}")),
                        Ok(body) => {
                            if !x
                                .content_type
                                .as_deref()
                                .is_some_and(|c| c.starts_with("application/json"))
                            {
                                problems.push(format!(
                                    "answer Content-Type {:?}, documented application/json",
                                    x.content_type
                                ));
                            }
                            let key = format!("{name} {}", x.status);
                            let v = cache.entry(key).or_insert_with(|| self.compile(schema));
                            validate(v, &body, "answer", &name, errata, &mut out.tolerated)
                                .into_iter()
                                .for_each(|p| problems.push(p));
                        }
                    },
                },
            }
            out.problems
                .extend(problems.into_iter().map(|p| format!("{label}: {p}")));
        }
        out.problems.sort();
        out.problems.dedup();
        out
    }

    fn check_query(&self, op: &Operation, query: &str, problems: &mut Vec<String>) {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(p) = op.parameters.iter().find(|p| {
                p.get("in").and_then(Value::as_str) == Some("query")
                    && p.get("name").and_then(Value::as_str) == Some(key)
            }) else {
                problems.push(format!("query parameter {key} is not documented"));
                continue;
            };
            if let Some(p) = check_scalar(p.get("schema"), value) {
                problems.push(format!("query parameter {key}={value}: {p}"));
            }
        }
    }
}

fn check_path_parameters(op: &Operation, params: &[(String, String)], problems: &mut Vec<String>) {
    for (name, value) in params {
        let Some(p) = op.parameters.iter().find(|p| {
            p.get("in").and_then(Value::as_str) == Some("path")
                && p.get("name").and_then(Value::as_str) == Some(name.as_str())
        }) else {
            problems.push(format!("path parameter {name} is not documented"));
            continue;
        };
        if let Some(p) = check_scalar(p.get("schema"), value) {
            problems.push(format!("path parameter {name}={value}: {p}"));
        }
    }
}

/// A path or query value against a parameter's (scalar) schema.
fn check_scalar(schema: Option<&Value>, raw: &str) -> Option<String> {
    let schema = schema?;
    let decoded = percent_decode(raw);
    if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
        if !choices.iter().any(|c| c.as_str() == Some(decoded.as_str())) {
            return Some(format!("not one of {choices:?}"));
        }
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") => match decoded.parse::<i64>() {
            Err(_) => Some("not an integer".into()),
            Ok(n) => {
                let min = schema.get("minimum").and_then(Value::as_i64);
                let max = schema.get("maximum").and_then(Value::as_i64);
                (min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m))
                    .then(|| format!("outside [{min:?}, {max:?}]"))
            }
        },
        Some("boolean") => {
            (!matches!(decoded.as_str(), "true" | "false")).then(|| "not a boolean".into())
        }
        _ => None,
    }
}

fn percent_decode(raw: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let pair = (bytes.get(i + 1).copied(), bytes.get(i + 2).copied());
        match (bytes[i], pair) {
            (b'%', (Some(h), Some(l))) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// GraphQL is not part of the REST description: the envelope is checked instead (a JSON
/// object with a string `query` and an object `variables`; a 200 answer with `data` or
/// `errors`, each error with a `message`), as GitHub's GraphQL API documents it.
fn check_graphql(x: &Exchange) -> Vec<String> {
    let mut problems = Vec::new();
    match serde_json::from_slice::<Value>(&x.request_body) {
        Err(e) => problems.push(format!("GraphQL request is not JSON: {e}")),
        Ok(body) => {
            if !body.get("query").is_some_and(Value::is_string) {
                problems.push("GraphQL request without a string `query`".into());
            }
            if body.get("variables").is_some_and(|v| !v.is_object()) {
                problems.push("GraphQL `variables` is not an object".into());
            }
        }
    }
    if x.status != 200 {
        problems.push(format!("GraphQL answered {}, GitHub answers 200", x.status));
    }
    match serde_json::from_slice::<Value>(&x.response_body) {
        Err(e) => problems.push(format!("GraphQL answer is not JSON: {e}")),
        Ok(body) => {
            let data = body.get("data");
            let errors = body.get("errors");
            if data.is_none() && errors.is_none() {
                problems.push("GraphQL answer with neither `data` nor `errors`".into());
            }
            if let Some(errors) = errors {
                let ok = errors.as_array().is_some_and(|a| {
                    a.iter()
                        .all(|e| e.get("message").is_some_and(Value::is_string))
                });
                if !ok {
                    problems.push("GraphQL `errors` is not a list with messages".into());
                }
            }
        }
    }
    problems
}

fn validate(
    validator: &Result<jsonschema::Validator, String>,
    instance: &Value,
    what: &str,
    operation: &str,
    errata: &[Erratum],
    tolerated: &mut BTreeMap<String, usize>,
) -> Vec<String> {
    let validator = match validator {
        Ok(v) => v,
        Err(e) => return vec![e.clone()],
    };
    let mut problems = Vec::new();
    for error in validator.iter_errors(instance) {
        let path = error.instance_path().to_string();
        let value = instance.pointer(&path).unwrap_or(&Value::Null);
        if let Some(e) = errata.iter().find(|e| {
            e.operations.contains(&operation)
                && matches!(e.kind, ErratumKind::Answer { instance_path, value: accepts }
                    if pointer_matches(instance_path, &path) && accepts(value))
        }) {
            *tolerated.entry(e.why.to_string()).or_default() += 1;
            continue;
        }
        let mut line = format!("{what} at {path:?}: {error}");
        if line.len() > 400 {
            let mut cut = 400;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            let _ = write!(line, "…");
        }
        problems.push(line);
    }
    problems
}

/// Whether `path` (a JSON pointer) matches `pattern`, where a `*` segment matches any one.
fn pointer_matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    p.len() == s.len() && p.iter().zip(&s).all(|(a, b)| *a == "*" || a == b)
}

/// Follows a `$ref` to `#/components/...` (parameters, request bodies, responses).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    let mut v = v;
    for _ in 0..8 {
        match v
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
        {
            Some(pointer) => match doc.pointer(pointer) {
                Some(target) => v = target,
                None => return v,
            },
            None => return v,
        }
    }
    v
}

/// The names of `#/components/schemas/NAME` that `v` refers to.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(name) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.push(name.replace("~1", "/").replace("~0", "~"));
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// An OpenAPI 3.0 schema as JSON Schema: `nullable: true` becomes a union with `null`;
/// examples are dropped.
pub fn to_json_schema(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(to_json_schema).collect()),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                match k.as_str() {
                    "example" | "examples" | "nullable" => {}
                    // Property names are data, not keywords: convert the values only.
                    "properties" | "patternProperties" => {
                        let props = v
                            .as_object()
                            .map(|p| {
                                p.iter()
                                    .map(|(name, s)| (name.clone(), to_json_schema(s)))
                                    .collect::<Map<_, _>>()
                            })
                            .unwrap_or_default();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    _ => {
                        out.insert(k.clone(), to_json_schema(v));
                    }
                }
            }
            if m.get("nullable").and_then(Value::as_bool) != Some(true) {
                return Value::Object(out);
            }
            match out.get("type").and_then(Value::as_str).map(str::to_string) {
                Some(t) => {
                    out.insert("type".into(), json!([t, "null"]));
                    if let Some(choices) = out.get_mut("enum").and_then(Value::as_array_mut) {
                        if !choices.contains(&Value::Null) {
                            choices.push(Value::Null);
                        }
                    }
                    Value::Object(out)
                }
                None => json!({ "anyOf": [Value::Object(out), { "type": "null" }] }),
            }
        }
        other => other.clone(),
    }
}
