//! The RegisterTaskDefinition rules the ECS API reference states, checked offline so that a
//! request ECS would reject fails before anything is built or pushed (exit 2), naming the
//! JSON path of the offending value.
//!
//! Sources: API_RegisterTaskDefinition (family: "Up to 255 letters (uppercase and
//! lowercase), numbers, underscores, and hyphens"; tags: at most 50, keys 1-128 and values
//! 0-256 characters, `aws:` reserved; Fargate: task-level cpu and memory, networkMode
//! awsvpc), API_ContainerDefinition (name: "Up to 255 letters (uppercase and lowercase),
//! numbers, underscores, and hyphens", one per container; "All tasks must have at least one
//! essential container"; with the EC2 launch type, memory or memoryReservation per container
//! unless the task sets memory; memoryReservation must be lower than memory).

use std::collections::BTreeSet;

use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;

use super::ConvertError;

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Every rule the request breaks, each with its JSON path.
pub fn check(request: &RegisterTaskDefinitionInput) -> Vec<ConvertError> {
    let mut errors = Vec::new();
    let mut err = |path: String, message: String| errors.push(ConvertError { path, message });
    if let Some(f) = request.family() {
        if !valid_name(f) {
            err(
                "family".into(),
                format!("`{f}` is not a valid family: up to 255 letters, digits, `_` and `-`"),
            );
        }
    }
    let containers = request.container_definitions();
    if containers.is_empty() {
        err(
            "containerDefinitions".into(),
            "a task definition needs at least one container".into(),
        );
    }
    let mut names = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let name = c.name().unwrap_or_default();
        if !valid_name(name) {
            err(
                format!("containerDefinitions[{i}].name"),
                format!("`{name}` is not a valid container name: up to 255 letters, digits, `_` and `-`"),
            );
        } else if !names.insert(name.to_string()) {
            err(
                format!("containerDefinitions[{i}].name"),
                format!("two containers are named `{name}`; ECS needs each name once"),
            );
        }
        if let (Some(reservation), Some(memory)) = (c.memory_reservation(), c.memory()) {
            if reservation >= memory {
                err(
                    format!("containerDefinitions[{i}].memoryReservation"),
                    format!("memoryReservation {reservation} must be lower than memory {memory}"),
                );
            }
        }
        if request.memory().is_none() && c.memory().is_none() && c.memory_reservation().is_none() {
            err(
                format!("containerDefinitions[{i}]"),
                format!("container `{name}` sets neither memory nor memoryReservation, and the task sets no memory: ECS needs one of them"),
            );
        }
    }
    if !containers.is_empty() && !containers.iter().any(|c| c.essential().unwrap_or(true)) {
        err(
            "containerDefinitions".into(),
            "no container is essential; a task needs at least one (essential defaults to true)"
                .into(),
        );
    }
    let fargate = request
        .requires_compatibilities()
        .iter()
        .any(|c| c.as_str() == "FARGATE");
    if fargate {
        if request.cpu().is_none() || request.memory().is_none() {
            err(
                "requiresCompatibilities".into(),
                "a FARGATE task definition needs task-level cpu and memory".into(),
            );
        }
        if request.network_mode().map(|m| m.as_str()) != Some("awsvpc") {
            err(
                "networkMode".into(),
                "a FARGATE task definition needs networkMode \"awsvpc\"".into(),
            );
        }
    }
    let tags = request.tags();
    if tags.len() > 50 {
        err(
            "tags".into(),
            format!("{} tags; ECS takes at most 50", tags.len()),
        );
    }
    for (i, t) in tags.iter().enumerate() {
        let key = t.key().unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 {
            err(
                format!("tags[{i}].key"),
                "a tag key is 1 to 128 characters".into(),
            );
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            err(
                format!("tags[{i}].key"),
                format!("tag key `{key}`: the `aws:` prefix is reserved"),
            );
        }
        if t.value().unwrap_or_default().chars().count() > 256 {
            err(
                format!("tags[{i}].value"),
                "a tag value is at most 256 characters".into(),
            );
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::taskdef::to_request;

    fn errors(doc: serde_json::Value) -> Vec<String> {
        check(&to_request(&doc).unwrap())
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect()
    }

    #[test]
    fn a_valid_request_breaks_no_rule() {
        let doc = serde_json::json!({"family": "app", "containerDefinitions": [
            {"name": "app", "image": "x@sha256:aa", "memory": 128},
            {"name": "side-car_2", "image": "y@sha256:bb", "memoryReservation": 64, "essential": false}
        ]});
        assert_eq!(errors(doc), Vec::<String>::new());
    }

    #[test]
    fn duplicate_names_no_essential_container_and_missing_memory_are_named() {
        let doc = serde_json::json!({"family": "app", "containerDefinitions": [
            {"name": "app", "image": "x", "memory": 128, "essential": false},
            {"name": "app", "image": "y", "essential": false}
        ]});
        let e = errors(doc);
        assert!(
            e.iter()
                .any(|m| m
                    .starts_with("containerDefinitions[1].name: two containers are named `app`")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.contains("no container is essential")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m
                    .starts_with("containerDefinitions[1]: container `app` sets neither memory")),
            "{e:?}"
        );
    }

    #[test]
    fn names_fargate_and_tags_follow_the_api_reference() {
        let doc = serde_json::json!({"family": "bad family", "requiresCompatibilities": ["FARGATE"],
            "containerDefinitions": [{"name": "a.b", "image": "x", "memory": 64, "memoryReservation": 64}],
            "tags": [{"key": "aws:x", "value": "v"}]});
        let e = errors(doc);
        for want in [
            "family: `bad family`",
            "containerDefinitions[0].name: `a.b`",
            "memoryReservation 64 must be lower",
            "task-level cpu and memory",
            "networkMode \"awsvpc\"",
            "`aws:` prefix is reserved",
        ] {
            assert!(e.iter().any(|m| m.contains(want)), "{want}: {e:?}");
        }
    }
}
