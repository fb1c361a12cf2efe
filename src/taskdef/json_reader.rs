//! Strict, path-tracking reads of JSON objects, the building blocks of
//! [`to_request`](super::to_request).
//!
//! Every read reports failures as a [`ConvertError`] naming the JSON path of
//! the offending value. `null` counts as absent, and empty lists and maps read
//! as absent too, which keeps converted inputs in canonical form.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::ConvertError;

pub(super) type Result<T> = std::result::Result<T, ConvertError>;

/// How forgiving reads are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// For user documents: enum values must be ones the SDK knows, and keys the
    /// API requires must be present.
    Strict,
    /// For documents written by [`to_json`](super::to_json) from SDK values:
    /// enum values the SDK does not know are kept as they are, and missing
    /// required keys are left to the SDK builders.
    Lenient,
}

pub(super) fn error(path: &str, message: impl Into<String>) -> ConvertError {
    ConvertError {
        path: path.to_string(),
        message: message.into(),
    }
}

/// `path.key`, or `key` at the top level.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[index]`.
fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// "a string", "an array"... for `expected X, found Y` messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expected(path: &str, what: &str, found: &Value) -> ConvertError {
    error(path, format!("expected {what}, found {}", kind(found)))
}

/// Edit distance in characters, a swap of two adjacent characters counting as one edit
/// (optimal string alignment, as `strsim` computes it for the plan's suggestions too).
fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

/// The candidate closest to `word` (ignoring case), if it is close enough to
/// be a likely typo: one edit per three characters of `word`, at least one
/// and at most two.
pub(super) fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let word_lower = word.to_lowercase();
    let max_edits = (word.chars().count() / 3).clamp(1, 2);
    candidates
        .iter()
        .map(|c| (edit_distance(&word_lower, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= max_edits)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn quoted_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a string into an SDK enum, checking it against the SDK's known
/// values in [`Mode::Strict`].
fn enum_value<T: for<'s> From<&'s str>>(
    v: &Value,
    path: &str,
    allowed: &[&str],
    mode: Mode,
) -> Result<T> {
    let s = v.as_str().ok_or_else(|| expected(path, "a string", v))?;
    if mode == Mode::Lenient || allowed.contains(&s) {
        return Ok(T::from(s));
    }
    let hint = match suggest(s, allowed) {
        Some(close) => format!(" (did you mean `{close}`?)"),
        None => String::new(),
    };
    Err(error(
        path,
        format!(
            "invalid value `{s}`{hint}; expected one of {}",
            quoted_list(allowed)
        ),
    ))
}

fn integer(v: &Value, path: &str) -> Result<i32> {
    let Value::Number(n) = v else {
        return Err(expected(path, "an integer", v));
    };
    match n.as_i64() {
        Some(i) => i32::try_from(i)
            .map_err(|_| error(path, format!("integer {i} is out of range (32-bit)"))),
        None if n.is_u64() => Err(error(path, format!("integer {n} is out of range (32-bit)"))),
        None => Err(error(path, format!("expected an integer, found {n}"))),
    }
}

fn string(v: &Value, path: &str) -> Result<String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| expected(path, "a string", v))
}

/// A JSON object being read into one SDK structure.
pub(super) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
    mode: Mode,
}

impl<'a> Obj<'a> {
    /// Checks that `v` is an object whose keys are all among `keys`.
    pub(super) fn new(v: &'a Value, path: &'a str, keys: &[&str], mode: Mode) -> Result<Self> {
        let Value::Object(map) = v else {
            return Err(expected(path, "an object", v));
        };
        if let Some(unknown) = map.keys().find(|k| !keys.contains(&k.as_str())) {
            let hint = match suggest(unknown, keys) {
                Some(close) => format!(" (did you mean `{close}`?)"),
                None if keys.len() <= 8 => format!("; expected one of {}", quoted_list(keys)),
                None => String::new(),
            };
            return Err(error(
                &join(path, unknown),
                format!("unknown key `{unknown}`{hint}"),
            ));
        }
        Ok(Obj { map, path, mode })
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// In [`Mode::Strict`], fails unless `key` is present and not null.
    pub(super) fn required(&self, key: &str) -> Result<()> {
        if self.mode == Mode::Strict && self.get(key).is_none() {
            return Err(error(
                &join(self.path, key),
                format!("missing required key `{key}`"),
            ));
        }
        Ok(())
    }

    /// Reads an optional value with `read`, given the value and its path.
    pub(super) fn read<T>(
        &self,
        key: &str,
        read: impl FnOnce(&Value, &str) -> Result<T>,
    ) -> Result<Option<T>> {
        self.get(key)
            .map(|v| read(v, &join(self.path, key)))
            .transpose()
    }

    pub(super) fn string(&self, key: &str) -> Result<Option<String>> {
        self.read(key, string)
    }

    pub(super) fn int(&self, key: &str) -> Result<Option<i32>> {
        self.read(key, integer)
    }

    pub(super) fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.read(key, |v, path| {
            v.as_bool().ok_or_else(|| expected(path, "a boolean", v))
        })
    }

    /// A string or an integer, kept as a string (task-level `cpu`/`memory`).
    pub(super) fn string_or_int(&self, key: &str) -> Result<Option<String>> {
        self.read(key, |v, path| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(_) => integer(v, path).map(|i| i.to_string()),
            _ => Err(expected(path, "a string or an integer", v)),
        })
    }

    /// An SDK enum; `allowed` is the enum's `values()`.
    pub(super) fn enumeration<T: for<'s> From<&'s str>>(
        &self,
        key: &str,
        allowed: &[&str],
    ) -> Result<Option<T>> {
        self.read(key, |v, path| enum_value(v, path, allowed, self.mode))
    }

    /// An object, read with `read(value, path, mode)`.
    pub(super) fn object<T>(
        &self,
        key: &str,
        read: fn(&Value, &str, Mode) -> Result<T>,
    ) -> Result<Option<T>> {
        self.read(key, |v, path| read(v, path, self.mode))
    }

    /// An array whose items are read with `item(value, path)`; empty reads
    /// as absent.
    fn array<T>(
        &self,
        key: &str,
        mut item: impl FnMut(&Value, &str) -> Result<T>,
    ) -> Result<Option<Vec<T>>> {
        let items = self.read(key, |v, path| {
            let Value::Array(values) = v else {
                return Err(expected(path, "an array", v));
            };
            values
                .iter()
                .enumerate()
                .map(|(i, v)| item(v, &index(path, i)))
                .collect::<Result<Vec<T>>>()
        })?;
        Ok(items.filter(|items| !items.is_empty()))
    }

    /// An array of objects, each read with `read(value, path, mode)`.
    pub(super) fn list<T>(
        &self,
        key: &str,
        read: fn(&Value, &str, Mode) -> Result<T>,
    ) -> Result<Option<Vec<T>>> {
        self.array(key, |v, path| read(v, path, self.mode))
    }

    pub(super) fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        self.array(key, string)
    }

    pub(super) fn ints(&self, key: &str) -> Result<Option<Vec<i32>>> {
        self.array(key, integer)
    }

    pub(super) fn enums<T: for<'s> From<&'s str>>(
        &self,
        key: &str,
        allowed: &[&str],
    ) -> Result<Option<Vec<T>>> {
        self.array(key, |v, path| enum_value(v, path, allowed, self.mode))
    }

    /// An object of strings (`dockerLabels`, log `options`...); empty reads
    /// as absent.
    pub(super) fn string_map(&self, key: &str) -> Result<Option<HashMap<String, String>>> {
        let map = self.read(key, |v, path| {
            let Value::Object(entries) = v else {
                return Err(expected(path, "an object", v));
            };
            entries
                .iter()
                .map(|(k, v)| Ok((k.clone(), string(v, &join(path, k))?)))
                .collect::<Result<HashMap<_, _>>>()
        })?;
        Ok(map.filter(|map| !map.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("image", "image"), 0);
        assert_eq!(edit_distance("imagee", "image"), 1);
        assert_eq!(edit_distance("imgae", "image"), 1);
        assert_eq!(edit_distance("icmp", "tcp"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggest_picks_close_keys_only() {
        let keys = ["name", "image", "cpu", "memory"];
        assert_eq!(suggest("imagee", &keys), Some("image"));
        assert_eq!(suggest("Memroy", &keys), Some("memory"));
        assert_eq!(suggest("volumes", &keys), None);
        assert_eq!(suggest("nmae", &keys), Some("name"));
        assert_eq!(suggest("x", &keys), None);
        assert_eq!(suggest("icmp", &["tcp", "udp"]), None);
    }
}
