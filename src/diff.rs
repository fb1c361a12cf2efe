//! What a deploy would change in a task definition: two RegisterTaskDefinition request
//! documents (the running revision converted back, and the rendered template), normalised
//! and compared. Pure: no AWS, no terminal.
//!
//! Normalised means: the `release:*` tags set apart (they differ on every release and are
//! reported on their own), the other tags as a map, key order sorted, lists of named things
//! (containers, environment, secrets) keyed by name, and the defaults ECS fills in when it
//! registers a revision removed on both sides (`essential: true`, `protocol: "tcp"`, a
//! `hostPort` equal to the `containerPort` or 0, `networkMode: "bridge"`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::taskdef::release_tags;

/// One difference: a JSON path, and its value before (running) and after (rendered);
/// `None` where the path does not exist on that side.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A request document normalised for comparison, and its `release:*` tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalised {
    pub doc: Value,
    pub release_tags: BTreeMap<String, String>,
}

/// Normalises a request document (as `taskdef::to_json` writes it).
pub fn normalise(doc: &Value) -> Normalised {
    let mut doc = doc.clone();
    let mut release_tags = BTreeMap::new();
    if let Some(obj) = doc.as_object_mut() {
        if let Some(Value::Array(tags)) = obj.remove("tags") {
            let mut other = Map::new();
            for t in tags {
                let key = t
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let value = t.get("value").cloned().unwrap_or(Value::Null);
                if release_tags::is_release_tag(&key) {
                    release_tags.insert(key, value.as_str().unwrap_or("").to_string());
                } else {
                    other.insert(key, value);
                }
            }
            if !other.is_empty() {
                obj.insert("tags".into(), Value::Object(other));
            }
        }
        if obj.get("networkMode").and_then(Value::as_str) == Some("bridge") {
            obj.remove("networkMode");
        }
        if let Some(Value::Array(containers)) = obj.get_mut("containerDefinitions") {
            for c in containers.iter_mut().filter_map(Value::as_object_mut) {
                if c.get("essential") == Some(&Value::Bool(true)) {
                    c.remove("essential");
                }
                if let Some(Value::Array(ports)) = c.get_mut("portMappings") {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        if p.get("protocol").and_then(Value::as_str) == Some("tcp") {
                            p.remove("protocol");
                        }
                        let host = p.get("hostPort").and_then(Value::as_i64);
                        if host == Some(0) || host == p.get("containerPort").and_then(Value::as_i64)
                        {
                            p.remove("hostPort");
                        }
                    }
                }
                for list in ["environment", "secrets"] {
                    if let Some(Value::Array(items)) = c.get_mut(list) {
                        items.sort_by_key(name_of);
                    }
                }
            }
        }
    }
    Normalised {
        doc: sorted(&doc),
        release_tags,
    }
}

fn name_of(v: &Value) -> String {
    v.get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The same value with every object's keys in sorted order.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Every leaf that differs, by path (`containerDefinitions[app].environment[VERSION].value`):
/// lists whose items are all objects with a distinct `name` are matched by name, other lists
/// by position.
pub fn changes(before: &Value, after: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", Some(before), Some(after), &mut out);
    out
}

fn walk(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<Change>) {
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, a.get(k), b.get(k), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => match (named(a), named(b)) {
            (Some(na), Some(nb)) => {
                let mut names: Vec<&String> = na.keys().chain(nb.keys()).collect();
                names.sort();
                names.dedup();
                for n in names {
                    walk(
                        &format!("{path}[{n}]"),
                        na.get(n).copied(),
                        nb.get(n).copied(),
                        out,
                    );
                }
            }
            _ => {
                for i in 0..a.len().max(b.len()) {
                    walk(&format!("{path}[{i}]"), a.get(i), b.get(i), out);
                }
            }
        },
        (a, b) if a == b => {}
        (a, b) => out.push(Change {
            path: path.to_string(),
            before: a.cloned(),
            after: b.cloned(),
        }),
    }
}

/// A list of objects each with a distinct string `name`, by name.
fn named(items: &[Value]) -> Option<BTreeMap<String, &Value>> {
    let mut map = BTreeMap::new();
    for item in items {
        let name = item.get("name")?.as_str()?.to_string();
        if map.insert(name, item).is_some() {
            return None;
        }
    }
    (!items.is_empty()).then_some(map)
}

/// How the running revision stands against the release a deploy would register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It carries this release's content, digest and version: deploy does nothing.
    SameRelease,
    /// Registered outside release (no `release:content`, as after `release init`) with the
    /// same task definition, normalised: deploy tags it with the release's tags instead of
    /// registering an identical revision.
    SameDefinitionUntagged,
    /// Anything else: deploy registers a revision.
    Different,
}

/// What the running revision is to the rendered release: its `release:*` tags, its
/// request document (`None` when it could not be read), and the rendered request document
/// with the release's content hash, digest and version.
pub fn standing(
    running_tags: &BTreeMap<String, String>,
    running_doc: Option<&Value>,
    rendered_doc: &Value,
    content_hash: &str,
    digest: &str,
    version: &str,
) -> Standing {
    if release_tags::same_release(running_tags, content_hash, digest, version) {
        return Standing::SameRelease;
    }
    let tag = |k: &str| running_tags.get(k).map(String::as_str);
    match running_doc {
        // Strictly the same request, not normalised: the normalisation that helps people read
        // a diff (a hostPort equal to the containerPort, say) can join two definitions that
        // differ (a static and a dynamic host port in bridge mode).
        Some(running) if tag(release_tags::CONTENT).is_none() => {
            if without_release_tags(running) == without_release_tags(rendered_doc) {
                Standing::SameDefinitionUntagged
            } else {
                Standing::Different
            }
        }
        _ => Standing::Different,
    }
}

/// A request document without its `release:*` tags (and without `tags` when none is left).
fn without_release_tags(doc: &Value) -> Value {
    let mut doc = doc.clone();
    if let Some(obj) = doc.as_object_mut() {
        if let Some(Value::Array(tags)) = obj.get_mut("tags") {
            tags.retain(|t| {
                !t.get("key")
                    .and_then(Value::as_str)
                    .is_some_and(release_tags::is_release_tag)
            });
            if tags.is_empty() {
                obj.remove("tags");
            }
        }
    }
    doc
}

/// How a release tag would change: `(key, before, after)` for every key whose value differs.
pub fn tag_changes(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<(String, Option<String>, Option<String>)> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| (k.clone(), before.get(k).cloned(), after.get(k).cloned()))
        .collect()
}

/// A unified diff (3 lines of context) of two texts, line by line; empty when they are
/// equal. With `color`, removed lines are red, added green and hunk headers cyan.
pub fn unified(before: &str, after: &str, from: &str, to: &str, color: bool) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    if a == b {
        return String::new();
    }
    let ops = line_ops(&a, &b);
    let paint = |code: &str, text: String| {
        if color {
            format!("{code}{text}\x1b[0m")
        } else {
            text
        }
    };
    let mut out = String::new();
    out.push_str(&paint("\x1b[1m", format!("--- {from}")));
    out.push('\n');
    out.push_str(&paint("\x1b[1m", format!("+++ {to}")));
    out.push('\n');
    // Group the changed ops into hunks with up to 3 lines of context around them.
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| !matches!(op, Op::Same(..)))
        .map(|(i, _)| i)
        .collect();
    let mut i = 0;
    while i < changed.len() {
        let start = changed[i].saturating_sub(CONTEXT);
        let mut end = changed[i];
        while i < changed.len() && changed[i] <= end + 2 * CONTEXT {
            end = changed[i];
            i += 1;
        }
        let end = (end + CONTEXT).min(ops.len() - 1);
        let hunk = &ops[start..=end];
        let (mut a_start, mut b_start) = (0, 0);
        for op in &ops[..start] {
            match op {
                Op::Same(..) => {
                    a_start += 1;
                    b_start += 1;
                }
                Op::Del(_) => a_start += 1,
                Op::Add(_) => b_start += 1,
            }
        }
        let a_len = hunk.iter().filter(|o| !matches!(o, Op::Add(_))).count();
        let b_len = hunk.iter().filter(|o| !matches!(o, Op::Del(_))).count();
        out.push_str(&paint(
            "\x1b[36m",
            format!(
                "@@ -{},{a_len} +{},{b_len} @@",
                a_start + usize::from(a_len > 0),
                b_start + usize::from(b_len > 0)
            ),
        ));
        out.push('\n');
        for op in hunk {
            let line = match op {
                Op::Same(l) => format!(" {l}"),
                Op::Del(l) => paint("\x1b[31m", format!("-{l}")),
                Op::Add(l) => paint("\x1b[32m", format!("+{l}")),
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op<'a> {
    Same(&'a str),
    Del(&'a str),
    Add(&'a str),
}

/// The edit script of a longest common subsequence (task definitions are a few hundred
/// lines: the quadratic table is small).
fn line_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push(Op::Same(a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(Op::Del(a[i]));
            i += 1;
        } else {
            ops.push(Op::Add(b[j]));
            j += 1;
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(env_value: &str, image: &str) -> Value {
        json!({
            "family": "app",
            "containerDefinitions": [{
                "name": "app", "image": image, "essential": true, "memory": 128,
                "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
                "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": env_value}]
            }],
            "tags": [{"key": "team", "value": "x"}, {"key": "release:version", "value": "1.0.0"}]
        })
    }

    #[test]
    fn standing_of_the_running_revision() {
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let released = tags(&[
            ("release:content", "c1"),
            ("release:digest", "sha256:aa"),
            ("release:version", "1.0.0"),
        ]);
        let running = doc("1", "r/app@sha256:aa");
        let same = doc("1", "r/app@sha256:aa");
        // A dynamic host port (none given) is not the static one the running revision has.
        let mut dynamic_port = same.clone();
        dynamic_port["containerDefinitions"][0]["portMappings"][0]
            .as_object_mut()
            .unwrap()
            .remove("hostPort");
        let other_env = doc("2", "r/app@sha256:aa");
        let other_image = doc("1", "r/app@sha256:bb");
        type Case<'a> = (
            &'a str,
            &'a BTreeMap<String, String>,
            Option<&'a Value>,
            &'a Value,
            Standing,
        );
        let cases: &[Case] = &[
            (
                "same release tags",
                &released,
                Some(&running),
                &same,
                Standing::SameRelease,
            ),
            (
                "same release, running unreadable",
                &released,
                None,
                &same,
                Standing::SameRelease,
            ),
            (
                "untagged, same definition",
                &BTreeMap::new(),
                Some(&running),
                &same,
                Standing::SameDefinitionUntagged,
            ),
            (
                "untagged, other env",
                &BTreeMap::new(),
                Some(&running),
                &other_env,
                Standing::Different,
            ),
            (
                "untagged, other image",
                &BTreeMap::new(),
                Some(&running),
                &other_image,
                Standing::Different,
            ),
            (
                "untagged, unreadable",
                &BTreeMap::new(),
                None,
                &same,
                Standing::Different,
            ),
            (
                "untagged, a dynamic host port for a static one",
                &BTreeMap::new(),
                Some(&running),
                &dynamic_port,
                Standing::Different,
            ),
            // A release-registered revision of other content is never re-tagged.
            (
                "other release, same definition",
                &tags(&[("release:content", "c0")]),
                Some(&running),
                &same,
                Standing::Different,
            ),
        ];
        for (name, running_tags, running_doc, rendered, want) in cases {
            let got = standing(
                running_tags,
                *running_doc,
                rendered,
                "c1",
                "sha256:aa",
                "1.0.0",
            );
            assert_eq!(got, *want, "{name}");
        }
        // Another version of the same content and digest is a new release.
        assert_eq!(
            standing(&released, Some(&running), &same, "c1", "sha256:aa", "1.0.1"),
            Standing::Different
        );
    }

    #[test]
    fn defaults_key_order_and_release_tags_are_normalised_away() {
        let running = doc("1", "r/app@sha256:aa");
        let rendered = json!({
            "containerDefinitions": [{
                "memory": 128, "name": "app", "image": "r/app@sha256:aa",
                "portMappings": [{"containerPort": 8080}],
                "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
            }],
            "family": "app",
            "tags": [{"key": "release:version", "value": "1.1.0"}, {"key": "team", "value": "x"}]
        });
        let (a, b) = (normalise(&running), normalise(&rendered));
        assert_eq!(a.doc, b.doc);
        assert!(changes(&a.doc, &b.doc).is_empty());
        assert_eq!(
            tag_changes(&a.release_tags, &b.release_tags),
            vec![(
                "release:version".to_string(),
                Some("1.0.0".to_string()),
                Some("1.1.0".to_string())
            )]
        );
        let text = |v: &Value| serde_json::to_string_pretty(v).unwrap();
        assert_eq!(unified(&text(&a.doc), &text(&b.doc), "a", "b", false), "");
    }

    #[test]
    fn changes_are_paths_with_names_for_named_lists() {
        let a = normalise(&doc("1", "r/app@sha256:aa")).doc;
        let b = normalise(&doc("9", "r/app@sha256:bb")).doc;
        let c = changes(&a, &b);
        assert_eq!(
            c,
            vec![
                Change {
                    path: "containerDefinitions[app].environment[A].value".into(),
                    before: Some(json!("1")),
                    after: Some(json!("9")),
                },
                Change {
                    path: "containerDefinitions[app].image".into(),
                    before: Some(json!("r/app@sha256:aa")),
                    after: Some(json!("r/app@sha256:bb")),
                },
            ]
        );
        // Added and removed keys have one side only.
        let c = changes(&json!({"x": 1}), &json!({"y": [1, 2]}));
        assert_eq!(c[0].path, "x");
        assert_eq!(c[0].after, None);
        assert_eq!(c[1].path, "y");
        assert_eq!(c[1].before, None);
    }

    #[test]
    fn unified_diff_has_hunks_with_context_and_optional_colour() {
        let a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
        let b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n";
        let d = unified(a, b, "running", "plan", false);
        assert_eq!(
            d,
            "--- running\n+++ plan\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
        assert!(!d.contains('\u{1b}'));
        let d = unified(a, b, "running", "plan", true);
        assert!(d.contains("\x1b[31m-5\x1b[0m"));
        assert!(d.contains("\x1b[32m+five\x1b[0m"));
        // Two far-apart changes make two hunks.
        let b = "one\n2\n3\n4\n5\n6\n7\n8\n9\nten\n";
        let d = unified(a, b, "a", "b", false);
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
    }
}
