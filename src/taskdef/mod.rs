//! ECS task definitions as JSON documents.
//!
//! Templates render to the JSON of a `RegisterTaskDefinition` request: the
//! document `aws ecs register-task-definition --cli-input-json` takes, with the
//! camelCase keys of the ECS API reference. The SDK's request types cannot be
//! deserialized from JSON, so this module converts by hand, field by field:
//!
//! * [`to_request`]: request JSON -> SDK input, strictly validated (unknown
//!   keys, wrong types, bad enum values and missing required keys are errors
//!   that carry the JSON path of the offending value);
//! * [`to_json`]: SDK input -> canonical request JSON;
//! * [`from_described`] / [`described_json_to_request_json`]: a registered
//!   revision (as `DescribeTaskDefinition` returns it) -> the request that
//!   would register it again;
//! * [`images`] / [`secret_refs`]: what a request refers to;
//! * [`rules::check`]: the RegisterTaskDefinition rules ECS would enforce.
//!
//! Canonical form: empty lists and maps are the same as absent ones, and a
//! container `cpu` of 0 is the same as none (the SDK stores it as a plain
//! `i32`). [`to_request`] and [`from_described`] both produce inputs in that
//! form, so inputs from either side compare equal with `==`.

mod from_described;
mod json_reader;
pub mod name;
pub mod release_tags;
pub mod rules;
mod to_json;
mod to_request;

#[cfg(test)]
mod tests;

use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;

pub use from_described::{described_json_to_request_json, from_described};
pub use to_json::to_json;
pub use to_request::to_request;

/// Makes a request document a template's start: the family becomes `{{ family }}`, and the
/// images of `repository` (by tag or digest) `{{ image }}`. Used by `export` and `init`.
pub fn template_placeholders(doc: &mut serde_json::Value, repository: &str) {
    use serde_json::Value;
    if let Some(f) = doc.get_mut("family") {
        *f = Value::String("{{ family }}".into());
    }
    if let Some(Value::Array(containers)) = doc.get_mut("containerDefinitions") {
        for c in containers {
            if let Some(Value::String(image)) = c.get_mut("image") {
                // `host[:port]/path[:tag][@digest]` -> `host[:port]/path`
                let repo = image.split('@').next().unwrap_or("");
                let repo = match repo.rsplit_once(':') {
                    Some((r, tag)) if !tag.contains('/') => r,
                    _ => repo,
                };
                if repo == repository {
                    *image = "{{ image }}".into();
                }
            }
        }
    }
}

/// Why a request document could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError {
    /// JSON path of the offending value, like `containerDefinitions[0].image`;
    /// empty for the document itself.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConvertError {}

/// Every container image in the request, as `(container name, image)`, in
/// container order. Containers without an image are skipped.
pub fn images(input: &RegisterTaskDefinitionInput) -> Vec<(String, String)> {
    input
        .container_definitions()
        .iter()
        .filter_map(|c| {
            let image = c.image()?;
            Some((c.name().unwrap_or_default().to_string(), image.to_string()))
        })
        .collect()
}

/// Every `valueFrom` of a registered revision (as DescribeTaskDefinition returns it): each
/// container's `secrets`, then its `logConfiguration.secretOptions`.
pub fn described_secret_refs(td: &aws_sdk_ecs::types::TaskDefinition) -> Vec<String> {
    td.container_definitions()
        .iter()
        .flat_map(|c| {
            let log = c
                .log_configuration()
                .map(|l| l.secret_options())
                .unwrap_or_default();
            c.secrets()
                .iter()
                .chain(log)
                .map(|s| s.value_from().to_string())
        })
        .collect()
}

/// Every secret reference in the request, as `(container name, secret name,
/// valueFrom)`: each container's `secrets`, then its
/// `logConfiguration.secretOptions`.
pub fn secret_refs(input: &RegisterTaskDefinitionInput) -> Vec<(String, String, String)> {
    let mut refs = Vec::new();
    for c in input.container_definitions() {
        let container = c.name().unwrap_or_default();
        let log_secrets = c
            .log_configuration()
            .map(|l| l.secret_options())
            .unwrap_or_default();
        for s in c.secrets().iter().chain(log_secrets) {
            refs.push((
                container.to_string(),
                s.name().to_string(),
                s.value_from().to_string(),
            ));
        }
    }
    refs
}
