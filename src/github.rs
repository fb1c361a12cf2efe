//! GitHub Actions: when `GITHUB_ACTIONS=true`, what release reports anyway also goes where
//! Actions shows it. Fed by [`crate::output::Output`] with the records every command already
//! emits (no command calls this module directly):
//! - `::error::` / `::warning::` annotations (on stderr, which the runner reads as it reads
//!   stdout; stdout stays for results) for failed and warning checks, warnings, failures,
//!   non-successful verdicts and errors; an error naming `path:line:col` (a bad plan or
//!   template) becomes a file annotation (`file=…,line=…,col=…`);
//! - `::group::` / `::endgroup::` around the build's output;
//! - at the end of `deploy`: `key=value` lines appended to `$GITHUB_OUTPUT` (image, digest,
//!   task-definition-arn, revision, previous-revision, deployment-id, verdict) and a Markdown
//!   table appended to `$GITHUB_STEP_SUMMARY`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

/// The facts of one deploy, gathered from its records.
#[derive(Debug, Default, Clone)]
struct Facts {
    version: Option<String>,
    image: Option<String>,
    digest: Option<String>,
    task_definition: Option<String>,
    previous_task_definition: Option<String>,
    deployment: Option<String>,
    verdict: Option<String>,
    seconds: Option<f64>,
    undo: Option<String>,
    /// The final summary line people read.
    outcome: Option<String>,
    /// Verify checks: name, passed, detail.
    verify: Vec<(String, bool, String)>,
    /// The error that ended the command, if any.
    error: Option<String>,
}

pub struct GitHub {
    step_summary: Option<PathBuf>,
    output: Option<PathBuf>,
    workspace: Option<String>,
    facts: Mutex<Facts>,
}

/// A workflow command to print, one line.
pub type Line = String;

impl GitHub {
    /// Present when `GITHUB_ACTIONS=true` (as the runner sets it).
    pub fn from_env() -> Option<GitHub> {
        if std::env::var("GITHUB_ACTIONS").ok().as_deref() != Some("true") {
            return None;
        }
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Some(GitHub {
            step_summary: path("GITHUB_STEP_SUMMARY"),
            output: path("GITHUB_OUTPUT"),
            workspace: std::env::var("GITHUB_WORKSPACE")
                .ok()
                .filter(|w| !w.is_empty()),
            facts: Mutex::new(Facts::default()),
        })
    }

    /// Looks at one record; returns the annotation to print for it, if any.
    pub fn observe(&self, kind: &str, message: &str, fields: &Value) -> Option<Line> {
        let mut guard = self.facts.lock().unwrap();
        let facts = &mut *guard;
        let s = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_string);
        match kind {
            "check" => {
                let stage = s("stage").unwrap_or_else(|| "preflight".into());
                let status = s("status").unwrap_or_default();
                if stage == "verify" {
                    facts.verify.push((
                        s("check").unwrap_or_default(),
                        status == "passed",
                        s("detail").unwrap_or_default(),
                    ));
                }
                return match status.as_str() {
                    "failed" => Some(annotation("error", &stage, message)),
                    "warning" => Some(annotation("warning", &stage, message)),
                    _ => None,
                };
            }
            "warning" => return Some(annotation("warning", "", message)),
            "failed" | "interrupted" => return Some(annotation("error", "", message)),
            "error" => {
                let text = message.strip_prefix("error: ").unwrap_or(message);
                facts.error = Some(text.to_string());
                return Some(self.error_annotation(text));
            }
            "image_pushed" | "image_reused" => {
                facts.image = s("image").or(facts.image.take());
                facts.digest = s("digest").or(facts.digest.take());
            }
            "registered" => facts.task_definition = s("task_definition_arn"),
            "unchanged" => {
                if let Some(td) = s("task_definition_arn") {
                    facts.task_definition = Some(td.clone());
                    facts.previous_task_definition = Some(td);
                }
                facts.digest = s("digest").or(facts.digest.take());
                facts.image = s("image").or(facts.image.take());
                facts.version = s("version").or(facts.version.take());
                facts.verdict = Some("unchanged".into());
                facts.outcome = Some(message.to_string());
            }
            "summary" => {
                facts.outcome = Some(message.to_string());
                // A no-op deploy's summary names its result (unchanged, verify_failed).
                if let Some(result) = s("result") {
                    let failed = fields.get("exit_code").and_then(Value::as_i64).unwrap_or(0) != 0;
                    facts.verdict = Some(result);
                    if failed {
                        return Some(annotation("error", "", message));
                    }
                }
                if let Some(v) = fields.get("verdict") {
                    let name = v
                        .get("verdict")
                        .and_then(Value::as_str)
                        .or(v.as_str())
                        .unwrap_or_default()
                        .to_string();
                    for (key, slot) in [
                        ("version", &mut facts.version),
                        ("image", &mut facts.image),
                        ("digest", &mut facts.digest),
                        ("task_definition", &mut facts.task_definition),
                        (
                            "previous_task_definition",
                            &mut facts.previous_task_definition,
                        ),
                        ("deployment", &mut facts.deployment),
                        ("undo", &mut facts.undo),
                    ] {
                        if let Some(x) = s(key) {
                            *slot = Some(x);
                        }
                    }
                    facts.seconds = fields.get("seconds").and_then(Value::as_f64);
                    let ok = name == "succeeded"
                        && fields.get("verify_failed").is_none()
                        && fields.get("rolled_back_by").is_none();
                    facts.verdict = Some(if fields.get("verify_failed").is_some() {
                        "verify_failed".into()
                    } else {
                        name
                    });
                    if !ok {
                        return Some(annotation("error", "", message));
                    }
                } else if fields.get("failed").and_then(Value::as_u64).unwrap_or(0) > 0 {
                    // preflight's summary: nothing changed
                    facts.verdict = Some("preflight_failed".into());
                    return Some(annotation("error", "preflight", message));
                }
            }
            _ => {}
        }
        None
    }

    /// `::error file=…,line=…,col=…::` when the message names `path:line[:col]`.
    fn error_annotation(&self, text: &str) -> Line {
        match file_position(text) {
            Some((path, line, col)) => {
                let path = match &self.workspace {
                    Some(w) => path
                        .strip_prefix(&format!("{}/", w.trim_end_matches('/')))
                        .unwrap_or(&path)
                        .to_string(),
                    None => path,
                };
                let mut props = format!("file={},line={line}", property(&path));
                if let Some(c) = col {
                    props.push_str(&format!(",col={c}"));
                }
                format!("::error {props}::{}", data(text))
            }
            None => annotation("error", "", text),
        }
    }

    /// At the end of `deploy`: the step outputs and the step summary. `code` is the exit code.
    pub fn finish_deploy(&self, code: i32) -> std::io::Result<()> {
        let mut facts = self.facts.lock().unwrap().clone();
        if facts.verdict.is_none() {
            facts.verdict = Some(match code {
                0 => "succeeded".into(),
                3 => "preflight_failed".into(),
                130 | 143 | 129 => "interrupted".into(),
                _ => "error".into(),
            });
        }
        if let Some(path) = &self.output {
            append(path, &outputs(&facts))?;
        }
        if let Some(path) = &self.step_summary {
            append(path, &summary_table(&facts, code))?;
        }
        Ok(())
    }
}

/// `name=value` lines for `$GITHUB_OUTPUT`, only for what is known.
fn outputs(f: &Facts) -> String {
    let revision = |td: &Option<String>| td.as_deref().and_then(revision_number);
    let pairs = [
        ("image", f.image.clone()),
        ("digest", f.digest.clone()),
        ("task-definition-arn", f.task_definition.clone()),
        ("revision", revision(&f.task_definition)),
        ("previous-revision", revision(&f.previous_task_definition)),
        ("deployment-id", f.deployment.clone()),
        ("verdict", f.verdict.clone()),
    ];
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v| format!("{k}={}\n", v.replace(['\n', '\r'], " ")))
        })
        .collect()
}

/// The Markdown of the step summary.
fn summary_table(f: &Facts, code: i32) -> String {
    let verdict = f.verdict.as_deref().unwrap_or("unknown");
    let mut md = format!("### release deploy: {verdict} (exit {code})\n\n");
    if let Some(o) = f.outcome.as_ref().or(f.error.as_ref()) {
        md.push_str(&format!("{}\n\n", o.lines().next().unwrap_or_default()));
    }
    md.push_str("| | |\n|---|---|\n");
    let short = |td: &Option<String>| {
        td.as_deref()
            .map(|t| crate::taskdef::name::short_name(t).to_string())
    };
    let mut row = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            md.push_str(&format!("| {k} | {} |\n", cell(&v)));
        }
    };
    row("version", f.version.clone());
    row("image", f.image.clone().map(|i| format!("`{i}`")));
    row("digest", f.digest.clone().map(|d| format!("`{d}`")));
    let (old, new) = (
        short(&f.previous_task_definition),
        short(&f.task_definition),
    );
    row(
        "revision",
        match (old, new) {
            (Some(o), Some(n)) => Some(format!("{o} -> {n}")),
            (None, Some(n)) => Some(n),
            _ => None,
        },
    );
    row("deployment", f.deployment.clone());
    row(
        "time",
        f.seconds
            .map(|s| crate::output::short_duration(Duration::from_secs_f64(s.max(0.0)))),
    );
    if !f.verify.is_empty() {
        let failed = f.verify.iter().filter(|v| !v.1).count();
        row(
            "verify",
            Some(format!(
                "{} passed, {failed} failed",
                f.verify.len() - failed
            )),
        );
    }
    row("undo", f.undo.clone().map(|u| format!("`{u}`")));
    if !f.verify.is_empty() {
        md.push_str("\n| verify check | result | detail |\n|---|---|---|\n");
        for (name, passed, detail) in &f.verify {
            md.push_str(&format!(
                "| {} | {} | {} |\n",
                cell(name),
                if *passed { "passed" } else { "failed" },
                cell(detail)
            ));
        }
    }
    md.push('\n');
    md
}

fn append(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// `7` from `arn:…:task-definition/app:7`.
fn revision_number(td: &str) -> Option<String> {
    crate::taskdef::name::revision_number(td).map(|n| n.to_string())
}

/// A table cell: one line, `|` escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `::error::preflight: …`, the message escaped as workflow commands require.
fn annotation(level: &str, title: &str, message: &str) -> Line {
    let message = message.trim();
    if title.is_empty() {
        format!("::{level}::{}", data(message))
    } else {
        format!("::{level} title={}::{}", property(title), data(message))
    }
}

/// Escaping of a workflow command's message.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping of a workflow command's property value.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The first `path:line:col` (or `path:line`) a message names.
fn file_position(text: &str) -> Option<(String, u32, Option<u32>)> {
    for token in text.split_whitespace() {
        let token = token.trim_end_matches([':', ',', ';']);
        let parts: Vec<&str> = token.rsplitn(3, ':').collect();
        let num = |s: &str| s.parse::<u32>().ok();
        let found = match parts.as_slice() {
            [col, line, path] if num(col).is_some() && num(line).is_some() => {
                Some((path.to_string(), num(line)?, num(col)))
            }
            [line, rest @ ..] if num(line).is_some() => {
                // `path:line`, the path itself without a colon
                let path = rest.iter().rev().cloned().collect::<Vec<_>>().join(":");
                (!path.contains(':')).then(|| (path, num(line).unwrap(), None))
            }
            _ => None,
        };
        if let Some((path, line, col)) = found {
            // A plan or template (not `host:port` of an endpoint).
            let file = path.ends_with(".toml")
                || path.ends_with(".json")
                || std::path::Path::new(&path).is_file();
            if file && !path.contains("://") {
                return Some((path, line, col));
            }
        }
    }
    None
}

/// The command that opens a collapsible group in the log.
pub fn group(title: &str) -> Line {
    format!("::group::{}", data(title))
}

pub const END_GROUP: &str = "::endgroup::";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gh() -> GitHub {
        GitHub {
            step_summary: None,
            output: None,
            workspace: Some("/repo".into()),
            facts: Mutex::new(Facts::default()),
        }
    }

    #[test]
    fn plan_errors_become_file_annotations() {
        let g = gh();
        let a = g
            .observe(
                "error",
                "error: /repo/plans/x.toml:3:5: unknown key `verison`",
                &json!({}),
            )
            .unwrap();
        assert_eq!(
            a,
            "::error file=plans/x.toml,line=3,col=5::/repo/plans/x.toml:3:5: unknown key `verison`"
        );
        let a = g
            .observe(
                "error",
                "error: templates/x.json:7: containerDefinitions[0].imagee: unknown key",
                &json!({}),
            )
            .unwrap();
        assert!(
            a.starts_with("::error file=templates/x.json,line=7::"),
            "{a}"
        );
        let a = g
            .observe("error", "error: no AWS region: at 10:30\nnext", &json!({}))
            .unwrap();
        assert_eq!(a, "::error::no AWS region: at 10:30%0Anext");
        let a = g
            .observe(
                "error",
                "error: cannot reach registry.local:5000 (127.0.0.1:4566)",
                &json!({}),
            )
            .unwrap();
        assert!(a.starts_with("::error::"), "{a}");
    }

    #[test]
    fn checks_and_warnings_are_annotated() {
        let g = gh();
        let failed = json!({"check": "secret /x", "status": "failed"});
        assert_eq!(
            g.observe("check", "failed  secret /x: 65 bytes", &failed),
            Some("::error title=preflight::failed  secret /x: 65 bytes".into())
        );
        let passed = json!({"status": "passed"});
        assert_eq!(g.observe("check", "passed  cluster", &passed), None);
        assert_eq!(
            g.observe("warning", "warning: 100% sure", &json!({})),
            Some("::warning::warning: 100%25 sure".into())
        );
        assert_eq!(g.observe("info", "hello", &json!({})), None);
    }

    #[test]
    fn a_deploy_gives_outputs_and_a_table() {
        let g = gh();
        g.observe(
            "check",
            "passed  running | digest: 2 tasks",
            &json!({"stage": "verify", "check": "running | digest", "status": "passed", "detail": "2 tasks"}),
        );
        let summary = json!({
            "version": "v1.2.3", "digest": "sha256:ab", "image": "r/app@sha256:ab",
            "task_definition": "arn:aws:ecs:us-east-1:1:task-definition/app:8",
            "previous_task_definition": "arn:aws:ecs:us-east-1:1:task-definition/app:7",
            "deployment": "ecs-svc/1", "seconds": 65.0,
            "verdict": {"verdict": "succeeded", "running": 2, "desired": 2},
            "undo": "release rollback p.toml --to 7",
        });
        assert_eq!(g.observe("summary", "released v1.2.3", &summary), None);
        let f = g.facts.lock().unwrap().clone();
        assert_eq!(
            outputs(&f),
            "image=r/app@sha256:ab\ndigest=sha256:ab\ntask-definition-arn=arn:aws:ecs:us-east-1:1:task-definition/app:8\nrevision=8\nprevious-revision=7\ndeployment-id=ecs-svc/1\nverdict=succeeded\n"
        );
        let md = summary_table(&f, 0);
        assert!(md.contains("| revision | app:7 -> app:8 |"), "{md}");
        assert!(md.contains("| time | 1m 05s |"), "{md}");
        assert!(
            md.contains("| undo | `release rollback p.toml --to 7` |"),
            "{md}"
        );
        assert!(
            md.contains("| running \\| digest | passed | 2 tasks |"),
            "{md}"
        );
    }

    #[test]
    fn a_failed_verdict_is_an_error() {
        let g = gh();
        let summary = json!({"verdict": {"verdict": "failed", "reasons": []}});
        assert!(g
            .observe("summary", "deploy failed", &summary)
            .unwrap()
            .starts_with("::error::"));
        let pre = json!({"passed": 3, "failed": 1});
        assert!(g
            .observe("summary", "preflight failed", &pre)
            .unwrap()
            .starts_with("::error title=preflight::"));
    }
}
