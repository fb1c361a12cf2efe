//! ECS calls: clusters, services, task definitions, tasks.

use aws_config::SdkConfig;
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionInputBuilder;
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_sdk_ecs::types::{self as ecs, DesiredStatus, TaskDefinitionField};
use aws_sdk_ecs::Client;

use super::{classify, describe, ErrorKind};
use crate::exit::Failure;
use crate::rollout::observation::{
    CanaryConfiguration, CircuitBreaker, Container, Deployment, DeploymentAlarms,
    DeploymentConfiguration, DeploymentController, LinearConfiguration, Rollback, Service,
    ServiceDeployment, ServiceEvent, ServiceRevisionSummary, Task,
};

/// An ECS call that failed, classified for retrying.
#[derive(Debug, Clone)]
pub struct CallError {
    pub kind: ErrorKind,
    pub message: String,
    /// For a write: ECS may have applied it although the answer is an error (a 5xx, a
    /// timeout, a connection cut after the request went out). Read the resource back.
    pub outcome_unknown: bool,
}

/// Attempts of a write refused by throttling (ThrottlingException changes nothing, so it
/// is sent again after a back-off); any other error is never resent blindly.
pub const WRITE_ATTEMPTS: u32 = 5;

/// Whether ECS may have applied a write that answered with this error (ECS API reference,
/// Common Errors: a 4xx names a request that was refused; ServerException, a timeout or a
/// cut connection say nothing about whether it took effect).
fn outcome_unknown<E, R>(err: &aws_sdk_ecs::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ecs::error::SdkError;
    match err {
        SdkError::ConstructionFailure(_) => false,
        SdkError::ServiceError(e) => !matches!(
            e.err().code(),
            Some(c) if c != "ServerException" && c != "InternalFailure" && c != "ServiceUnavailable"
        ),
        SdkError::DispatchFailure(_) => {
            // Refused or unresolvable: the request never reached ECS.
            let text = super::error_chain(err).to_ascii_lowercase();
            !(text.contains("refused") || text.contains("dns") || text.contains("lookup"))
        }
        _ => true,
    }
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Failure {
        Failure::aws(e.message)
    }
}

/// What DescribeServices says about one service.
#[derive(Debug, Clone)]
pub enum ServiceLookup {
    Found(Box<Service>),
    MissingService,
    MissingCluster,
}

/// ECS API calls made by this process, for measurements (summary `ecs_calls`).
static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static BY_ACTION: std::sync::Mutex<std::collections::BTreeMap<String, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

pub struct Ecs {
    client: Client,
    /// The same client without SDK retries, for writes: release decides what is resent.
    writer: Client,
}

macro_rules! call {
    ($self:ident, $what:expr, $fut:expr) => {{
        let what: String = $what;
        $self.count(&what);
        $fut.await.map_err(|e| CallError {
            kind: classify(&e),
            message: format!("{}: {}", what, describe(&e)),
            outcome_unknown: outcome_unknown(&e),
        })
    }};
}

impl Ecs {
    pub fn new(config: &SdkConfig) -> Ecs {
        let client = Client::new(config);
        let writer = Client::from_conf(
            client
                .config()
                .to_builder()
                .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
                .build(),
        );
        Ecs { client, writer }
    }

    /// How many ECS API calls this process made (every adapter: preflight's too).
    pub fn calls(&self) -> u64 {
        CALLS.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The calls this process made, by action.
    pub fn calls_by_action(&self) -> std::collections::BTreeMap<String, u64> {
        BY_ACTION.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Counts one call; `what` starts with the action's name.
    fn count(&self, what: &str) {
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let action = what.split_whitespace().next().unwrap_or(what).to_string();
        if let Ok(mut m) = BY_ACTION.lock() {
            *m.entry(action).or_default() += 1;
        }
    }

    /// The cluster's status (ACTIVE, INACTIVE, …) or None when it does not exist.
    pub async fn cluster_status(
        &self,
        cluster: &str,
    ) -> std::result::Result<Option<String>, CallError> {
        let out = call!(
            self,
            format!("DescribeClusters {cluster}"),
            self.client.describe_clusters().clusters(cluster).send()
        )?;
        Ok(out
            .clusters()
            .first()
            .map(|c| c.status().unwrap_or("UNKNOWN").to_string()))
    }

    /// One DescribeServices call.
    pub async fn service(
        &self,
        cluster: &str,
        service: &str,
    ) -> std::result::Result<ServiceLookup, CallError> {
        let result = self
            .client
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await;
        self.count("DescribeServices");
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                let message = describe(&e);
                if message.starts_with("ClusterNotFoundException") {
                    return Ok(ServiceLookup::MissingCluster);
                }
                return Err(CallError {
                    kind: classify(&e),
                    message: format!("DescribeServices {cluster}/{service}: {message}"),
                    outcome_unknown: false,
                });
            }
        };
        if out.failures().iter().any(|f| {
            f.reason() == Some("MISSING")
                && f.arn().is_some_and(|a| a.contains("cluster/"))
                && !f.arn().is_some_and(|a| a.contains("service/"))
        }) {
            return Ok(ServiceLookup::MissingCluster);
        }
        match out.services().first() {
            Some(s) if s.status() != Some("INACTIVE") => {
                Ok(ServiceLookup::Found(Box::new(service_from_sdk(s))))
            }
            _ => Ok(ServiceLookup::MissingService),
        }
    }

    /// The service and the revision it runs (with its tags); `unchanged` says what was not
    /// done when the service is missing (exit 3).
    pub async fn running_revision(
        &self,
        cluster: &str,
        service: &str,
        unchanged: &str,
    ) -> crate::exit::Result<(Service, ecs::TaskDefinition, Vec<ecs::Tag>)> {
        let svc = self.existing_service(cluster, service, unchanged).await?;
        let (td, tags) = self
            .task_definition(&svc.task_definition)
            .await?
            .ok_or_else(|| {
                Failure::aws(format!("task definition {} not found", svc.task_definition))
            })?;
        Ok((svc, td, tags))
    }

    /// The service, or a failed check (exit 3) naming the missing service or cluster;
    /// `unchanged` says what was therefore not done.
    pub async fn existing_service(
        &self,
        cluster: &str,
        service: &str,
        unchanged: &str,
    ) -> crate::exit::Result<Service> {
        let missing = |what: String| {
            Failure::new(
                crate::exit::ExitCode::Preflight,
                format!("{what}: {unchanged}"),
            )
        };
        match self.service(cluster, service).await? {
            ServiceLookup::Found(s) => Ok(*s),
            ServiceLookup::MissingService => Err(missing(format!(
                "service {service} not found in cluster {cluster}"
            ))),
            ServiceLookup::MissingCluster => Err(missing(format!("cluster {cluster} not found"))),
        }
    }

    /// DescribeTaskDefinition with its tags. None when it does not exist.
    pub async fn task_definition(
        &self,
        task_definition: &str,
    ) -> std::result::Result<Option<(ecs::TaskDefinition, Vec<ecs::Tag>)>, CallError> {
        let result = self
            .client
            .describe_task_definition()
            .task_definition(task_definition)
            .include(TaskDefinitionField::Tags)
            .send()
            .await;
        self.count("DescribeTaskDefinition");
        match result {
            Ok(out) => Ok(out
                .task_definition()
                .cloned()
                .map(|td| (td, out.tags().to_vec()))),
            Err(e) => {
                let message = describe(&e);
                if message.starts_with("ClientException")
                    || message.contains("Unable to describe task definition")
                {
                    return Ok(None);
                }
                Err(CallError {
                    kind: classify(&e),
                    message: format!("DescribeTaskDefinition {task_definition}: {message}"),
                    outcome_unknown: false,
                })
            }
        }
    }

    /// RegisterTaskDefinition, sent once per attempt (resent only when throttled); returns
    /// the new revision.
    pub async fn register(
        &self,
        input: RegisterTaskDefinitionInput,
    ) -> std::result::Result<(ecs::TaskDefinition, Vec<ecs::Tag>), CallError> {
        let family = input.family.clone().unwrap_or_default();
        let out = write(|| async {
            call!(
                self,
                format!("RegisterTaskDefinition {family}"),
                builder_of(input.clone()).send_with(&self.writer)
            )
        })
        .await?;
        let td = out.task_definition().cloned().ok_or_else(|| CallError {
            kind: ErrorKind::Other,
            message: "RegisterTaskDefinition returned no task definition".into(),
            outcome_unknown: true,
        })?;
        // The answer lists the revision's tags (ECS API reference, RegisterTaskDefinition
        // response: `tags`); an answer without them still carries the ones asked for, since a
        // registration either attaches every tag it was given or fails.
        let tags = match out.tags() {
            [] => input.tags.clone().unwrap_or_default(),
            given => given.to_vec(),
        };
        Ok((td, tags))
    }

    /// The newest revisions of a family (newest first, at most `n`), with their tags: what a
    /// RegisterTaskDefinition whose answer was lost may have created.
    pub async fn newest_revisions(
        &self,
        family: &str,
        n: i32,
    ) -> std::result::Result<Vec<(ecs::TaskDefinition, Vec<ecs::Tag>)>, CallError> {
        let out = call!(
            self,
            format!("ListTaskDefinitions {family}"),
            self.client
                .list_task_definitions()
                .family_prefix(family)
                .sort(ecs::SortOrder::Desc)
                .max_results(n)
                .send()
        )?;
        let mut found = Vec::new();
        for arn in out.task_definition_arns() {
            if let Some(td) = self.task_definition(arn).await? {
                found.push(td);
            }
        }
        Ok(found)
    }

    /// UpdateService to a task definition with a forced new deployment; returns the service after.
    pub async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> std::result::Result<Service, CallError> {
        // Sent once per attempt: a forced deployment resent after a lost answer would start
        // a second deployment. Only a throttled (refused) call is sent again.
        let out = write(|| async {
            call!(
                self,
                format!("UpdateService {cluster}/{service}"),
                self.writer
                    .update_service()
                    .cluster(cluster)
                    .service(service)
                    .task_definition(task_definition)
                    .force_new_deployment(true)
                    .send()
            )
        })
        .await?;
        out.service()
            .map(service_from_sdk)
            .ok_or_else(|| CallError {
                kind: ErrorKind::Other,
                message: "UpdateService returned no service".into(),
                outcome_unknown: true,
            })
    }

    /// DescribeServiceDeployments of one service deployment: Ok(None) when ECS does not list
    /// it (yet: reads are eventually consistent). Endpoints without the API, and roles
    /// without `ecs:DescribeServiceDeployments`, answer with an error of kind Other.
    pub async fn service_deployment(
        &self,
        arn: &str,
    ) -> std::result::Result<Option<ServiceDeployment>, CallError> {
        let out = call!(
            self,
            format!("DescribeServiceDeployments {arn}"),
            self.client
                .describe_service_deployments()
                .service_deployment_arns(arn)
                .send()
        )?;
        Ok(out
            .service_deployments()
            .iter()
            .find(|d| d.service_deployment_arn() == Some(arn))
            .map(service_deployment_from_sdk))
    }

    /// TagResource on a task definition: sets (or replaces) one tag.
    pub async fn tag(
        &self,
        arn: &str,
        key: &str,
        value: &str,
    ) -> std::result::Result<(), CallError> {
        call!(
            self,
            format!("TagResource {arn}"),
            self.client
                .tag_resource()
                .resource_arn(arn)
                .tags(ecs::Tag::builder().key(key).value(value).build())
                .send()
        )?;
        Ok(())
    }

    /// Removes one tag from a resource (UntagResource; idempotent).
    pub async fn untag(&self, arn: &str, key: &str) -> std::result::Result<(), CallError> {
        call!(
            self,
            format!("UntagResource {arn}"),
            self.client
                .untag_resource()
                .resource_arn(arn)
                .tag_keys(key)
                .send()
        )?;
        Ok(())
    }

    /// Several tags on one resource in one TagResource call (tagging is idempotent).
    pub async fn tag_all(
        &self,
        arn: &str,
        tags: &[(String, String)],
    ) -> std::result::Result<(), CallError> {
        let tags: Vec<ecs::Tag> = tags
            .iter()
            .map(|(k, v)| ecs::Tag::builder().key(k).value(v).build())
            .collect();
        call!(
            self,
            format!("TagResource {arn}"),
            self.client
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags))
                .send()
        )?;
        Ok(())
    }

    /// Tasks of a service (ListTasks + DescribeTasks), optionally only those a deployment started.
    pub async fn tasks(
        &self,
        cluster: &str,
        service: &str,
        desired: DesiredStatus,
        started_by: Option<&str>,
    ) -> std::result::Result<Vec<Task>, CallError> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let mut req = self
                .client
                .list_tasks()
                .cluster(cluster)
                .desired_status(desired.clone())
                .set_next_token(token.clone());
            // ListTasks takes serviceName or startedBy, not both.
            req = match started_by {
                Some(s) => req.started_by(s),
                None => req.service_name(service),
            };
            let out = call!(self, format!("ListTasks {cluster}/{service}"), req.send())?;
            arns.extend(out.task_arns().iter().cloned());
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let mut tasks = Vec::new();
        for chunk in arns.chunks(100) {
            let out = call!(
                self,
                format!("DescribeTasks {cluster}"),
                self.client
                    .describe_tasks()
                    .cluster(cluster)
                    .set_tasks(Some(chunk.to_vec()))
                    .send()
            )?;
            tasks.extend(out.tasks().iter().map(task_from_sdk));
        }
        let group = format!("service:{service}");
        Ok(tasks
            .into_iter()
            .filter(|t| started_by.is_some() || t.group.as_deref().is_none_or(|g| g == group))
            .map(|t| t.task)
            .collect())
    }

    /// Every revision ARN of a family with the given status (ACTIVE or INACTIVE), oldest first.
    pub async fn revisions(
        &self,
        family: &str,
        status: ecs::TaskDefinitionStatus,
    ) -> std::result::Result<Vec<String>, CallError> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let out = call!(
                self,
                format!("ListTaskDefinitions {family}"),
                self.client
                    .list_task_definitions()
                    .family_prefix(family)
                    .status(status.clone())
                    .set_next_token(token.clone())
                    .send()
            )?;
            arns.extend(
                out.task_definition_arns()
                    .iter()
                    .filter(|a| crate::taskdef::name::family_of(a) == family)
                    .cloned(),
            );
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(arns)
    }
}

/// Sends a write (one attempt per call of `send`), again only when ECS refused it by
/// throttling, after 1, 2, 4, 8 s; any other error is returned at once.
async fn write<T, F, Fut>(send: F) -> std::result::Result<T, CallError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, CallError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match send().await {
            Err(e)
                if e.kind == ErrorKind::Throttled
                    && !e.outcome_unknown
                    && attempt < WRITE_ATTEMPTS =>
            {
                tokio::time::sleep(write_backoff(attempt)).await;
            }
            other => return other,
        }
    }
}

/// Back-off before resending a throttled write: 1, 2, 4, 8 s.
fn write_backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_secs(1 << attempt.saturating_sub(1).min(3))
}

/// A task and the service group it belongs to.
struct GroupedTask {
    task: Task,
    group: Option<String>,
}

fn secs(t: Option<&aws_sdk_ecs::primitives::DateTime>) -> Option<f64> {
    t.map(|d| d.as_secs_f64())
}

/// SDK Service -> the core's observation.
pub fn service_from_sdk(s: &ecs::Service) -> Service {
    Service {
        service_name: s.service_name().unwrap_or_default().into(),
        service_arn: s.service_arn().unwrap_or_default().into(),
        status: s.status().unwrap_or_default().into(),
        desired_count: s.desired_count(),
        running_count: s.running_count(),
        pending_count: s.pending_count(),
        task_definition: s.task_definition().unwrap_or_default().into(),
        deployments: s
            .deployments()
            .iter()
            .map(|d| Deployment {
                id: d.id().unwrap_or_default().into(),
                status: d.status().unwrap_or_default().into(),
                task_definition: d.task_definition().unwrap_or_default().into(),
                desired_count: d.desired_count(),
                pending_count: d.pending_count(),
                running_count: d.running_count(),
                failed_tasks: d.failed_tasks(),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                rollout_state_reason: d.rollout_state_reason().map(Into::into),
                created_at: secs(d.created_at()),
                updated_at: secs(d.updated_at()),
            })
            .collect(),
        events: s
            .events()
            .iter()
            .map(|e| ServiceEvent {
                id: e.id().unwrap_or_default().into(),
                created_at: secs(e.created_at()),
                message: e.message().unwrap_or_default().into(),
            })
            .collect(),
        deployment_configuration: s
            .deployment_configuration()
            .map(|c| DeploymentConfiguration {
                deployment_circuit_breaker: c.deployment_circuit_breaker().map(|b| {
                    CircuitBreaker {
                        enable: b.enable(),
                        rollback: b.rollback(),
                    }
                }),
                maximum_percent: c.maximum_percent(),
                minimum_healthy_percent: c.minimum_healthy_percent(),
                strategy: c.strategy().map(|s| s.as_str().to_string()),
                bake_time_in_minutes: c.bake_time_in_minutes(),
                alarms: c.alarms().map(|a| DeploymentAlarms {
                    alarm_names: a.alarm_names().to_vec(),
                    enable: a.enable(),
                    rollback: a.rollback(),
                }),
                canary_configuration: c.canary_configuration().map(|k| CanaryConfiguration {
                    canary_percent: k.canary_percent(),
                    canary_bake_time_in_minutes: k.canary_bake_time_in_minutes(),
                }),
                linear_configuration: c.linear_configuration().map(|l| LinearConfiguration {
                    step_percent: l.step_percent(),
                    step_bake_time_in_minutes: l.step_bake_time_in_minutes(),
                }),
            }),
        current_service_deployment: s.current_service_deployment().map(Into::into),
        deployment_controller: s.deployment_controller().map(|c| DeploymentController {
            kind: c.r#type().as_str().to_string(),
        }),
    }
}

/// SDK ServiceDeployment -> the core's observation.
fn service_deployment_from_sdk(d: &ecs::ServiceDeployment) -> ServiceDeployment {
    let revision = |r: &ecs::ServiceRevisionSummary| ServiceRevisionSummary {
        arn: r.arn().unwrap_or_default().into(),
        requested_task_count: r.requested_task_count(),
        running_task_count: r.running_task_count(),
        pending_task_count: r.pending_task_count(),
    };
    ServiceDeployment {
        service_deployment_arn: d.service_deployment_arn().unwrap_or_default().into(),
        status: d
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        status_reason: d.status_reason().map(Into::into),
        lifecycle_stage: d.lifecycle_stage().map(|s| s.as_str().to_string()),
        target_service_revision: d.target_service_revision().map(revision),
        source_service_revisions: d.source_service_revisions().iter().map(revision).collect(),
        rollback: d.rollback().map(|r| Rollback {
            reason: r.reason().map(Into::into),
            service_revision_arn: r.service_revision_arn().map(Into::into),
        }),
        created_at: secs(d.created_at()),
        updated_at: secs(d.updated_at()),
        finished_at: secs(d.finished_at()),
    }
}

fn task_from_sdk(t: &ecs::Task) -> GroupedTask {
    GroupedTask {
        group: t.group().map(Into::into),
        task: Task {
            task_arn: t.task_arn().unwrap_or_default().into(),
            task_definition_arn: t.task_definition_arn().unwrap_or_default().into(),
            last_status: t.last_status().unwrap_or_default().into(),
            desired_status: t.desired_status().unwrap_or_default().into(),
            health_status: t.health_status().map(|h| h.as_str().to_string()),
            started_by: t.started_by().map(Into::into),
            stopped_reason: t.stopped_reason().map(Into::into),
            stop_code: t.stop_code().map(|c| c.as_str().to_string()),
            started_at: secs(t.started_at()),
            stopped_at: secs(t.stopped_at()),
            containers: t
                .containers()
                .iter()
                .map(|c| Container {
                    name: c.name().unwrap_or_default().into(),
                    image: c.image().map(Into::into),
                    image_digest: c.image_digest().map(Into::into),
                    last_status: c.last_status().map(Into::into),
                    exit_code: c.exit_code(),
                    reason: c.reason().map(Into::into),
                    health_status: c.health_status().map(|h| h.as_str().to_string()),
                })
                .collect(),
        },
    }
}

/// The request input as a builder, which is what the SDK sends.
#[allow(deprecated)] // inferenceAccelerators: still accepted by the API, so still passed on.
fn builder_of(i: RegisterTaskDefinitionInput) -> RegisterTaskDefinitionInputBuilder {
    RegisterTaskDefinitionInput::builder()
        .set_family(i.family)
        .set_task_role_arn(i.task_role_arn)
        .set_execution_role_arn(i.execution_role_arn)
        .set_network_mode(i.network_mode)
        .set_container_definitions(i.container_definitions)
        .set_volumes(i.volumes)
        .set_placement_constraints(i.placement_constraints)
        .set_requires_compatibilities(i.requires_compatibilities)
        .set_cpu(i.cpu)
        .set_memory(i.memory)
        .set_tags(i.tags)
        .set_pid_mode(i.pid_mode)
        .set_ipc_mode(i.ipc_mode)
        .set_proxy_configuration(i.proxy_configuration)
        .set_inference_accelerators(i.inference_accelerators)
        .set_ephemeral_storage(i.ephemeral_storage)
        .set_runtime_platform(i.runtime_platform)
        .set_enable_fault_injection(i.enable_fault_injection)
}
