//! The machine-readable stream: one [`Event`] per NDJSON record, serde-tagged by `event`.
//!
//! Every record `release --output json` writes is `{"ts", "event", "message", …fields}`: `ts`
//! (RFC 3339, milliseconds) and `message` (the human line) are added by the reporter; the
//! fields are the variant's. The JSON Schema in docs/events.schema.json is generated from
//! these types ([`schema`]); a unit test keeps the file current and the end-to-end tests
//! validate every record they read against it. ARNs and short names are separate fields, and
//! an absent value is `null` (or left out where the schema says it may be), never `"-"`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

/// One record of the stream. The variant name, in snake_case, is the record's `event`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
#[schemars(deny_unknown_fields)]
// `service_event` is ECS's name for what the variant carries.
#[allow(clippy::enum_variant_names)]
pub enum Event {
    /// A note for people (identity, image, "dry run").
    Info,
    /// A step of the command begins ("registering a revision of app").
    Step,
    /// Something the user should know; the command goes on.
    Warning,
    /// Only with --verbose.
    Debug,
    /// The command failed before its own summary: its exit code, and for a mistake in a plan
    /// or template, the line it is on (`source`, shown to people under the message with a
    /// caret under the mistake).
    Error {
        exit_code: i32,
        source: Option<crate::exit::Snippet>,
    },
    /// One check: of preflight (a secret rule re-checked before a change included), of
    /// rollback's or restart's pre-checks, or of verify (`stage` says which).
    Check {
        stage: crate::check::Stage,
        check: String,
        status: crate::check::Status,
        detail: String,
    },
    /// verify's counts and every check.
    VerifySummary {
        passed: usize,
        failed: usize,
        checks: Vec<crate::check::CheckResult>,
    },
    /// The image was built and pushed.
    ImagePushed {
        image: String,
        digest: String,
        tags: Vec<String>,
    },
    /// The version's tag was in the registry: nothing built.
    ImageReused {
        image: String,
        digest: String,
        tag: String,
    },
    /// `release build`'s result: the pinned image.
    Result {
        image: String,
        digest: String,
        version: String,
    },
    /// A revision was registered.
    Registered {
        /// Its ARN.
        task_definition_arn: String,
        /// `family:revision`.
        task_definition: String,
        revision: i32,
    },
    /// Nothing to do: the service already runs this release (deploy) or revision (rollback).
    Unchanged {
        task_definition_arn: String,
        task_definition: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        image: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// The running revision, registered outside release, now carries the release's tags.
        #[serde(skip_serializing_if = "Option::is_none")]
        adopted: Option<bool>,
    },
    /// What a rollback changes (also with --dry-run).
    Change {
        from: String,
        to: String,
        from_version: Option<String>,
        to_version: Option<String>,
        from_digest: Option<String>,
        to_digest: Option<String>,
        dry_run: bool,
    },
    /// UpdateService started a deployment, which release now watches.
    DeploymentStarted {
        deployment: String,
        task_definition_arn: String,
        task_definition: String,
    },
    /// One poll's counts of the watched deployment, when they change.
    Progress(Progress),
    /// An ECS service event, once per stream.
    ServiceEvent {
        id: String,
        /// ECS's createdAt (RFC 3339); null when ECS did not say.
        created_at: Option<String>,
        ecs_message: String,
    },
    /// The last lines a failed task's container wrote (awslogs), secrets redacted.
    TaskLog {
        task_id: String,
        container: String,
        exit_code: Option<i32>,
        log_group: String,
        log_stream: String,
        lines: Vec<String>,
    },
    /// How often an event already shown came again during the watch.
    ServiceEventRepeated { ecs_message: String, repeats: u32 },
    /// Our deployment rolled out (running = desired).
    RolledOut {
        task_definition_arn: String,
        task_definition: String,
        running: i32,
        desired: i32,
    },
    /// The release failed (its summary follows).
    Failed {
        #[serde(skip_serializing_if = "Option::is_none")]
        reasons: Option<Vec<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        rolled_back_by: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        verify_failed: Option<usize>,
    },
    /// A signal stopped the watch; ECS goes on.
    Interrupted {
        deployment: String,
        signal: String,
        status_command: String,
        rollback_command: Option<String>,
    },
    /// `release status`: the service.
    Service {
        cluster: String,
        service: String,
        status: String,
        running: i32,
        desired: i32,
        pending: i32,
        task_definition_arn: String,
        task_definition: String,
        release_tags: BTreeMap<String, String>,
    },
    /// `release status`: one of its deployments.
    Deployment {
        id: String,
        status: String,
        task_definition_arn: String,
        task_definition: String,
        running: i32,
        desired: i32,
        pending: i32,
        failed: i32,
        rollout_state: Option<String>,
        rollout_state_reason: Option<String>,
        created_at: Option<String>,
    },
    /// `release history`: one revision.
    Revision {
        task_definition_arn: String,
        task_definition: String,
        revision: i32,
        version: Option<String>,
        digest: Option<String>,
        registered_at: Option<String>,
        status: String,
        runs_now: bool,
        deployments: Vec<String>,
    },
    /// `release diff` (and `deploy --dry-run`).
    Diff {
        task_definition_arn: String,
        changes: Vec<Value>,
        release_tags: Vec<Value>,
        image: Value,
        register: bool,
        deploy: bool,
        tag: bool,
        unified: String,
    },
    /// `release render` / `release export`: the JSON document.
    Document { document: Value },
    /// The last record of every command: what it did, and its exit code.
    Summary(Summary),
}

/// The watched deployment's counts.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Progress {
    pub deployment: String,
    pub running: i32,
    pub pending: i32,
    pub desired: i32,
    pub failed: i32,
    pub rollout_state: Option<String>,
    /// The ServiceDeployment status, when ECS answered that API.
    pub status: Option<String>,
    pub stage: Option<String>,
    pub note: Option<String>,
    pub bake_seconds_left: Option<u64>,
    /// The other deployments (the old one draining), by short task definition.
    pub others: Vec<OtherDeployment>,
}

/// Another deployment of the service during the watch.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct OtherDeployment {
    pub task_definition: String,
    pub running: i32,
    pub desired: i32,
}

/// The closing record. `command`, `exit_code` and where it ran are always there; `results`
/// are the command's own (a deploy's verdict, digest and API call counts, a preflight's
/// counts), flattened into the record.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Summary {
    pub command: String,
    pub exit_code: i32,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub region: Option<String>,
    #[serde(flatten)]
    pub results: Map<String, Value>,
}

impl Event {
    /// The lines people read for this event: the message, and under an error in a file, the
    /// line it is on with a caret under the mistake.
    pub fn for_people(&self, message: &str) -> String {
        match self {
            Event::Error {
                source: Some(snippet),
                ..
            } => format!("{message}\n{}", snippet.render()),
            _ => message.to_string(),
        }
    }

    /// The record's `event` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Info => "info",
            Event::Step => "step",
            Event::Warning => "warning",
            Event::Debug => "debug",
            Event::Error { .. } => "error",
            Event::Check { .. } => "check",
            Event::VerifySummary { .. } => "verify_summary",
            Event::ImagePushed { .. } => "image_pushed",
            Event::ImageReused { .. } => "image_reused",
            Event::Result { .. } => "result",
            Event::Registered { .. } => "registered",
            Event::Unchanged { .. } => "unchanged",
            Event::Change { .. } => "change",
            Event::DeploymentStarted { .. } => "deployment_started",
            Event::Progress(_) => "progress",
            Event::ServiceEvent { .. } => "service_event",
            Event::ServiceEventRepeated { .. } => "service_event_repeated",
            Event::TaskLog { .. } => "task_log",
            Event::RolledOut { .. } => "rolled_out",
            Event::Failed { .. } => "failed",
            Event::Interrupted { .. } => "interrupted",
            Event::Service { .. } => "service",
            Event::Deployment { .. } => "deployment",
            Event::Revision { .. } => "revision",
            Event::Diff { .. } => "diff",
            Event::Document { .. } => "document",
            Event::Summary(_) => "summary",
        }
    }

    /// The record as NDJSON writes it: `ts`, `event`, `message`, then the fields.
    pub fn record(&self, ts: &str, message: &str) -> Value {
        let mut obj = Map::new();
        obj.insert("ts".into(), Value::String(ts.to_string()));
        obj.insert("event".into(), Value::String(self.kind().to_string()));
        obj.insert("message".into(), Value::String(message.to_string()));
        if let Ok(Value::Object(fields)) = serde_json::to_value(self) {
            for (k, v) in fields {
                if k != "event" {
                    obj.insert(k, v);
                }
            }
        }
        Value::Object(obj)
    }
}

/// The JSON Schema of one NDJSON record: the [`Event`] schema with `ts` and `message` added
/// to every variant (docs/events.schema.json is this, pretty-printed; the unit test below
/// writes it).
#[cfg(test)]
pub fn schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Event)).unwrap_or(Value::Null);
    if let Some(variants) = schema.get_mut("oneOf").and_then(Value::as_array_mut) {
        for variant in variants {
            let Some(obj) = variant.as_object_mut() else {
                continue;
            };
            let props = obj
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(p) = props.as_object_mut() {
                p.insert(
                    "ts".into(),
                    serde_json::json!({ "type": "string", "format": "date-time" }),
                );
                p.insert(
                    "message".into(),
                    serde_json::json!({ "type": "string", "description": "The human line." }),
                );
            }
            if let Some(r) = obj.get_mut("required").and_then(Value::as_array_mut) {
                r.push("ts".into());
                r.push("message".into());
            }
        }
    }
    if let Some(o) = schema.as_object_mut() {
        o.insert(
            "title".into(),
            Value::String("release --output json: one record".into()),
        );
    }
    schema
}

/// An ECS timestamp (epoch seconds) as the stream writes it.
pub fn timestamp(secs: Option<f64>) -> Option<String> {
    secs.map(super::epoch_rfc3339_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/events.schema.json is generated from these types; regenerate it with
    /// `UPDATE_SCHEMA=1 cargo test events_schema`.
    #[test]
    fn events_schema_file_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/events.schema.json");
        let generated = serde_json::to_string_pretty(&schema()).unwrap() + "\n";
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let stored = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            stored == generated,
            "docs/events.schema.json is not current: run UPDATE_SCHEMA=1 cargo test events_schema"
        );
    }

    #[test]
    fn a_record_is_ts_event_message_and_the_fields() {
        let e = Event::Registered {
            task_definition_arn: "arn:aws:ecs:us-east-1:1:task-definition/app:7".into(),
            task_definition: "app:7".into(),
            revision: 7,
        };
        let r = e.record("2026-01-01T00:00:00.000Z", "registered app:7");
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "ts",
                "event",
                "message",
                "task_definition_arn",
                "task_definition",
                "revision"
            ]
        );
        assert_eq!(r["event"], "registered");
    }

    #[test]
    fn every_variant_has_ts_and_message_in_the_schema() {
        let s = schema();
        let variants = s["oneOf"].as_array().expect("oneOf");
        assert!(variants.len() >= 25, "{}", variants.len());
        for v in variants {
            let required = v["required"].as_array().expect("required");
            for key in ["event", "ts", "message"] {
                assert!(required.iter().any(|r| r == key), "{key} in {v}");
            }
        }
    }
}
