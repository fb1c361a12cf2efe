//! What a watch observes of a service, shaped as AWS returns it.
//!
//! These structs deserialize from DescribeServices / DescribeTasks /
//! DescribeServiceDeployments JSON in the shape the ECS API reference gives (camelCase;
//! timestamps as epoch seconds or RFC 3339 strings), so the constructed responses under
//! tests/fixtures/ feed the decision directly; the ECS adapter fills the same structs from
//! the SDK's types. Every optional field is `Option` or defaults: AWS may omit it.

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
    /// The ARN of the service deployment ECS is running (or ran last); absent from
    /// responses of endpoints older than the ServiceDeployment API (API_Service).
    pub current_service_deployment: Option<String>,
    pub deployment_controller: Option<DeploymentController>,
}

/// `deploymentController` (API_DeploymentController): ECS, CODE_DEPLOY or EXTERNAL;
/// absent means ECS.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentController {
    #[serde(rename = "type")]
    pub kind: String,
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
    /// ROLLING (the default when absent), BLUE_GREEN, LINEAR or CANARY
    /// (API_DeploymentConfiguration `strategy`).
    pub strategy: Option<String>,
    /// Minutes both revisions run after the shift, before the old one stops (blue/green,
    /// linear, canary).
    pub bake_time_in_minutes: Option<i32>,
    pub alarms: Option<DeploymentAlarms>,
    pub canary_configuration: Option<CanaryConfiguration>,
    pub linear_configuration: Option<LinearConfiguration>,
}

/// API_CanaryConfiguration: defaults 5 % and 10 minutes.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CanaryConfiguration {
    pub canary_percent: Option<f64>,
    pub canary_bake_time_in_minutes: Option<i32>,
}

/// API_LinearConfiguration: defaults 10 % per step and 6 minutes between steps (not after
/// the last).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct LinearConfiguration {
    pub step_percent: Option<f64>,
    pub step_bake_time_in_minutes: Option<i32>,
}

impl DeploymentConfiguration {
    /// How long a rollout of this strategy waits by design: the bake after the shift
    /// (`bakeTimeInMinutes`, blue/green, linear, canary), plus the canary phase
    /// (`canaryBakeTimeInMinutes`, default 10) or the waits between linear steps
    /// (`stepBakeTimeInMinutes`, default 6, between ceil(100 / stepPercent) steps, stepPercent
    /// default 10). Zero for ROLLING.
    pub fn designed_wait_minutes(&self) -> u64 {
        let strategy = self.strategy.as_deref().unwrap_or("ROLLING");
        if strategy == "ROLLING" {
            return 0;
        }
        let bake = self.bake_time_in_minutes.unwrap_or(0).max(0) as u64;
        let extra = match strategy {
            "CANARY" => self
                .canary_configuration
                .as_ref()
                .and_then(|c| c.canary_bake_time_in_minutes)
                .unwrap_or(10)
                .max(0) as u64,
            "LINEAR" => {
                let c = self.linear_configuration.clone().unwrap_or_default();
                let step = c.step_percent.unwrap_or(10.0).clamp(0.1, 100.0);
                let steps = (100.0 / step).ceil() as u64;
                steps.saturating_sub(1) * c.step_bake_time_in_minutes.unwrap_or(6).max(0) as u64
            }
            _ => 0,
        };
        bake + extra
    }
}

/// `deploymentConfiguration.alarms` (API_DeploymentAlarms).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentAlarms {
    pub alarm_names: Vec<String>,
    pub enable: bool,
    pub rollback: bool,
}

/// A service deployment as DescribeServiceDeployments returns it (API_ServiceDeployment).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceDeployment {
    pub service_deployment_arn: String,
    /// PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED, STOP_REQUESTED, ROLLBACK_REQUESTED,
    /// ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED.
    pub status: String,
    pub status_reason: Option<String>,
    /// RECONCILE_SERVICE, PRE_SCALE_UP, SCALE_UP, …, BAKE_TIME, CLEAN_UP.
    pub lifecycle_stage: Option<String>,
    pub target_service_revision: Option<ServiceRevisionSummary>,
    pub source_service_revisions: Vec<ServiceRevisionSummary>,
    pub rollback: Option<Rollback>,
    #[serde(deserialize_with = "epoch")]
    pub created_at: Option<f64>,
    #[serde(deserialize_with = "epoch")]
    pub updated_at: Option<f64>,
    #[serde(deserialize_with = "epoch")]
    pub finished_at: Option<f64>,
}

/// API_ServiceRevisionSummary.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceRevisionSummary {
    pub arn: String,
    pub requested_task_count: i32,
    pub running_task_count: i32,
    pub pending_task_count: i32,
}

/// API_Rollback: ECS's rollback of a service deployment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Rollback {
    pub reason: Option<String>,
    pub service_revision_arn: Option<String>,
}

impl ServiceDeployment {
    /// Whether ECS is rolling (or rolled) this service deployment back.
    pub fn rolling_back(&self) -> bool {
        self.status.starts_with("ROLLBACK_") || self.rollback.is_some()
    }
}

impl Service {
    /// The deployment strategy, ROLLING when the service names none.
    pub fn strategy(&self) -> &str {
        self.deployment_configuration
            .as_ref()
            .and_then(|c| c.strategy.as_deref())
            .unwrap_or("ROLLING")
    }

    /// The deployment controller, ECS when the service names none.
    pub fn controller(&self) -> &str {
        self.deployment_controller
            .as_ref()
            .map(|c| c.kind.as_str())
            .filter(|k| !k.is_empty())
            .unwrap_or("ECS")
    }
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

/// The `DescribeServiceDeployments` response shape.
#[cfg(test)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeServiceDeploymentsOutput {
    pub service_deployments: Vec<ServiceDeployment>,
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

pub use crate::taskdef::name::short_name as short_task_definition;

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
    fn designed_waits_follow_the_api_reference_defaults() {
        let c = |strategy: &str| DeploymentConfiguration {
            strategy: Some(strategy.into()),
            bake_time_in_minutes: Some(5),
            ..Default::default()
        };
        assert_eq!(c("ROLLING").designed_wait_minutes(), 0);
        assert_eq!(c("BLUE_GREEN").designed_wait_minutes(), 5);
        assert_eq!(c("CANARY").designed_wait_minutes(), 15);
        assert_eq!(c("LINEAR").designed_wait_minutes(), 5 + 9 * 6);
        let mut linear = c("LINEAR");
        linear.linear_configuration = Some(LinearConfiguration {
            step_percent: Some(25.0),
            step_bake_time_in_minutes: Some(2),
        });
        assert_eq!(linear.designed_wait_minutes(), 5 + 3 * 2);
    }

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
