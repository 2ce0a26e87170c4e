//! A small JSON Schema validator for the schemas this repository ships
//! (`lockdep/schema/*.schema.json`), so the tests check every document against the very file
//! users read.
//!
//! It implements the keywords those schemas use, with draft 2020-12 meaning: `type` (one name
//! or a list), `const`, `enum`, `required`, `properties`, `additionalProperties: false`,
//! `items`, `oneOf`, `$ref` to `#/$defs/<name>`, `pattern` (on strings) and `minimum` (on
//! numbers). Any other keyword is an error, so a schema cannot silently rely on one it ignores.

use regex::Regex;
use serde_json::Value;

/// Keywords that only describe.
const ANNOTATIONS: &[&str] = &["$schema", "$id", "title", "description", "$defs"];

/// Every way `doc` breaks `schema`, as `path: problem` lines (empty: valid).
pub fn validate(schema: &Value, doc: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, doc, "$", &mut errors);
    errors
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_u64() || v.is_i64(),
        _ => false,
    }
}

fn check(root: &Value, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        errors.push(format!("{path}: schema is not an object"));
        return;
    };
    for (key, s) in obj {
        match key.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "$ref" => {
                let target = s
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .and_then(|name| root.get("$defs")?.get(name));
                match target {
                    Some(t) => check(root, t, v, path, errors),
                    None => errors.push(format!("{path}: unresolvable $ref {s}")),
                }
            }
            "type" => {
                let ok = match s {
                    Value::String(t) => type_matches(t, v),
                    Value::Array(ts) => ts.iter().any(|t| t.as_str().is_some_and(|t| type_matches(t, v))),
                    _ => false,
                };
                if !ok {
                    errors.push(format!("{path}: expected type {s}, got {}", short(v)));
                }
            }
            "const" => {
                if s != v {
                    errors.push(format!("{path}: expected {s}, got {}", short(v)));
                }
            }
            "enum" => {
                if !s.as_array().is_some_and(|a| a.contains(v)) {
                    errors.push(format!("{path}: {} is not one of {s}", short(v)));
                }
            }
            "required" => {
                if let Some(o) = v.as_object() {
                    for name in s.as_array().into_iter().flatten().filter_map(Value::as_str) {
                        if !o.contains_key(name) {
                            errors.push(format!("{path}: missing field `{name}`"));
                        }
                    }
                }
            }
            "properties" => {
                if let (Some(o), Some(props)) = (v.as_object(), s.as_object()) {
                    for (name, sub) in props {
                        if let Some(field) = o.get(name) {
                            check(root, sub, field, &format!("{path}.{name}"), errors);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if s != &Value::Bool(false) {
                    errors.push(format!("{path}: only `additionalProperties: false` is supported"));
                } else if let Some(o) = v.as_object() {
                    let props = obj.get("properties").and_then(Value::as_object);
                    for name in o.keys() {
                        if !props.is_some_and(|p| p.contains_key(name)) {
                            errors.push(format!("{path}: unexpected field `{name}`"));
                        }
                    }
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, item) in a.iter().enumerate() {
                        check(root, s, item, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            "oneOf" => {
                let matching = s
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|alt| {
                        let mut e = Vec::new();
                        check(root, alt, v, path, &mut e);
                        e.is_empty()
                    })
                    .count();
                if matching != 1 {
                    errors.push(format!(
                        "{path}: {} matches {matching} alternatives of oneOf, not 1",
                        short(v)
                    ));
                }
            }
            "pattern" => {
                if let Some(text) = v.as_str() {
                    match s.as_str().map(Regex::new) {
                        Some(Ok(re)) if re.is_match(text) => {}
                        Some(Ok(_)) => errors.push(format!("{path}: {text:?} does not match {s}")),
                        _ => errors.push(format!("{path}: bad pattern {s}")),
                    }
                }
            }
            "minimum" => {
                if let (Some(n), Some(min)) = (v.as_f64(), s.as_f64()) {
                    if n < min {
                        errors.push(format!("{path}: {n} is below the minimum {min}"));
                    }
                }
            }
            other => errors.push(format!("{path}: unsupported schema keyword `{other}`")),
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}...", &s[..s.floor_char_boundary(57)])
    } else {
        s
    }
}
