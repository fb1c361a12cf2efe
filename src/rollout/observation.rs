//! What a watch observes of a service, shaped as AWS returns it.
//!
//! These structs deserialize from DescribeServices / DescribeTasks JSON exactly as AWS
//! returns it (camelCase; timestamps as epoch seconds or RFC 3339 strings), so recorded
//! responses under tests/fixtures/ feed the decision directly; the ECS adapter fills the
//! same structs from the SDK's types.

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Service {
    pub service_name: String,
    pub service_arn: String,
    pub status: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub task_definition: String,
    pub deployments: Vec<Deployment>,
    pub events: Vec<ServiceEvent>,
    pub deployment_configuration: Option<DeploymentConfiguration>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Deployment {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub desired_count: i32,
    pub pending_count: i32,
    pub running_count: i32,
    pub failed_tasks: i32,
    /// COMPLETED, FAILED or IN_PROGRESS; absent for services without rolling-update state.
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    #[serde(deserialize_with = "epoch")]
    pub created_at: Option<f64>,
    #[serde(deserialize_with = "epoch")]
    pub updated_at: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceEvent {
    pub id: String,
    #[serde(deserialize_with = "epoch")]
    pub created_at: Option<f64>,
    pub message: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentConfiguration {
    pub deployment_circuit_breaker: Option<CircuitBreaker>,
    pub maximum_percent: Option<i32>,
    pub minimum_healthy_percent: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
}

/// A task as DescribeTasks returns it (the fields the decision and verify use).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Task {
    pub task_arn: String,
    pub task_definition_arn: String,
    pub last_status: String,
    pub desired_status: String,
    pub health_status: Option<String>,
    pub started_by: Option<String>,
    pub stopped_reason: Option<String>,
    pub stop_code: Option<String>,
    #[serde(deserialize_with = "epoch")]
    pub started_at: Option<f64>,
    #[serde(deserialize_with = "epoch")]
    pub stopped_at: Option<f64>,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub last_status: Option<String>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub health_status: Option<String>,
}

/// The `DescribeServices` response shape: `{"services": [...], "failures": [...]}`.
#[cfg(test)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeServicesOutput {
    pub services: Vec<Service>,
}

/// The `DescribeTasks` response shape: `{"tasks": [...], "failures": [...]}`.
#[cfg(test)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeTasksOutput {
    pub tasks: Vec<Task>,
}

impl Task {
    /// The short task id (last part of the ARN).
    pub fn id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn)
    }
}

/// `family:revision` of a task-definition ARN (or the text itself when it is not an ARN).
pub fn short_task_definition(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Accepts epoch seconds (number) or an RFC 3339 string, as the CLI and SDKs print them.
fn epoch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(f64),
        Text(String),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        None => None,
        Some(Raw::Number(n)) => Some(n),
        Some(Raw::Text(s)) => rfc3339_seconds(&s),
    })
}

/// Epoch seconds of an RFC 3339 timestamp with `Z` or a `±HH:MM` offset, as the AWS CLI prints.
pub fn rfc3339_seconds(s: &str) -> Option<f64> {
    let s = s.trim();
    let n = s.len();
    let (local, offset_secs) = if let Some(rest) = s.strip_suffix('Z') {
        (rest, 0i64)
    } else if n > 6 && matches!(&s[n - 6..n - 5], "+" | "-") && &s[n - 3..n - 2] == ":" {
        let (l, off) = s.split_at(n - 6);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let h: i64 = off[1..3].parse().ok()?;
        let m: i64 = off[4..6].parse().ok()?;
        (l, sign * (h * 3600 + m * 60))
    } else {
        (s, 0)
    };
    let t = humantime::parse_rfc3339_weak(local).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64();
    Some(secs - offset_secs as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_offsets() {
        assert_eq!(rfc3339_seconds("2023-11-14T22:13:20Z"), Some(1700000000.0));
        assert_eq!(
            rfc3339_seconds("2023-11-14T14:13:20.000000-08:00"),
            Some(1700000000.0)
        );
        assert_eq!(
            rfc3339_seconds("2023-11-15T00:13:20+02:00"),
            Some(1700000000.0)
        );
    }

    #[test]
    fn reads_both_timestamp_shapes() {
        let a: ServiceEvent =
            serde_json::from_str(r#"{"id":"1","createdAt":1700000000.5,"message":"m"}"#).unwrap();
        assert_eq!(a.created_at, Some(1700000000.5));
        let b: ServiceEvent = serde_json::from_str(
            r#"{"id":"1","createdAt":"2023-11-14T22:13:20.000000+00:00","message":"m"}"#,
        )
        .unwrap();
        assert_eq!(b.created_at, Some(1700000000.0));
        assert_eq!(
            short_task_definition("arn:aws:ecs:us-east-1:1:task-definition/fam:97"),
            "fam:97"
        );
    }
}
