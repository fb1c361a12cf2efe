//! A registered revision (`DescribeTaskDefinition` output) -> the request
//! that would register it again, as an SDK input or as pure JSON.

use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_sdk_ecs::types::{Tag, TaskDefinition};
use serde_json::Value;

use super::json_reader::Mode;
use super::{to_json, to_request};

/// Keys of a described task definition that `RegisterTaskDefinition` does not
/// accept: what ECS adds when it registers a revision.
const READ_ONLY_KEYS: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
];

/// The request that would register `td` (with `tags`) again: every member the
/// request shares with the description, read-only ones dropped, in the
/// canonical form [`to_request`] produces, so the result compares equal to the
/// converted template of the same task definition.
#[allow(deprecated)] // inferenceAccelerators, still accepted by the API
pub fn from_described(td: &TaskDefinition, tags: &[Tag]) -> RegisterTaskDefinitionInput {
    let raw = RegisterTaskDefinitionInput::builder()
        .set_family(td.family.clone())
        .set_task_role_arn(td.task_role_arn.clone())
        .set_execution_role_arn(td.execution_role_arn.clone())
        .set_network_mode(td.network_mode.clone())
        .set_container_definitions(td.container_definitions.clone())
        .set_volumes(td.volumes.clone())
        .set_placement_constraints(td.placement_constraints.clone())
        .set_requires_compatibilities(td.requires_compatibilities.clone())
        .set_cpu(td.cpu.clone())
        .set_memory(td.memory.clone())
        .set_tags(Some(tags.to_vec()))
        .set_pid_mode(td.pid_mode.clone())
        .set_ipc_mode(td.ipc_mode.clone())
        .set_proxy_configuration(td.proxy_configuration.clone())
        .set_inference_accelerators(td.inference_accelerators.clone())
        .set_ephemeral_storage(td.ephemeral_storage.clone())
        .set_runtime_platform(td.runtime_platform.clone())
        .set_enable_fault_injection(td.enable_fault_injection)
        .build()
        .expect("RegisterTaskDefinitionInput::build never fails");
    // Canonicalise (drop empty lists and maps...) by a trip through JSON, read
    // leniently so values this SDK does not know survive. A lenient read of
    // `to_json` output does not fail; should it ever, keep the raw copy.
    to_request::request(&to_json(&raw), Mode::Lenient).unwrap_or(raw)
}

/// The raw JSON of `aws ecs describe-task-definition [--include TAGS]` output
/// (`{"taskDefinition": {...}, "tags": [...]}`) -> a request document: the
/// task definition without its read-only keys, with the tags (if any) moved
/// in as `tags`. A bare task definition object (no `taskDefinition` wrapper)
/// is accepted too. Pure JSON: nothing is validated or reordered, and keys
/// other than the read-only ones are kept as they are.
pub fn described_json_to_request_json(v: &Value) -> Value {
    let (td, tags) = match v.get("taskDefinition") {
        Some(td) => (td, v.get("tags")),
        None => (v, None),
    };
    let mut request = match td {
        Value::Object(map) => map.clone(),
        other => return other.clone(),
    };
    request.retain(|k, _| !READ_ONLY_KEYS.contains(&k.as_str()));
    if let Some(tags) = tags.filter(|t| t.as_array().is_some_and(|a| !a.is_empty())) {
        request.insert("tags".to_string(), tags.clone());
    }
    Value::Object(request)
}
