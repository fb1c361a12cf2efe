//! Starting a deployment and watching it to its end: shared by deploy, rollback and
//! restart so that each is watched, judged and reported the same way.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::aws::ecs::Ecs;
use crate::exit::{ExitCode, Failure, Result};
use crate::output::Output;
use crate::plan::RolloutSpec;
use crate::rollout::decision::Target;
use crate::rollout::observation::{short_task_definition, Service};
use crate::watch::{Watch, WatchEnd, WatchStats};

/// Where a deployment happens and how it is watched.
pub struct Deployer<'a> {
    pub ecs: &'a Ecs,
    pub out: &'a Output,
    pub cluster: &'a str,
    pub service: &'a str,
    pub rollout: &'a RolloutSpec,
}

/// The end of a watched deployment.
pub struct Outcome {
    pub target: Target,
    pub end: WatchEnd,
    pub stats: WatchStats,
}

impl Deployer<'_> {
    /// UpdateService(task_definition, forceNewDeployment) and watch the deployment it created.
    /// `started` is when the operation began: the timeout counts from there.
    pub async fn deploy(
        &self,
        task_definition: &str,
        before: &Service,
        started: Instant,
    ) -> Result<Outcome> {
        let target = self.start(task_definition, before).await?;
        let watch = Watch {
            ecs: self.ecs,
            out: self.out,
            cluster: self.cluster,
            service: self.service,
            rollout: self.rollout,
            started,
        };
        let (end, stats) = watch.run(&target).await?;
        self.out.debug(&format!(
            "{} polls ({} failed), {} ECS API calls so far",
            stats.polls,
            stats.failed_polls,
            self.ecs.calls()
        ));
        Ok(Outcome { target, end, stats })
    }

    async fn start(&self, task_definition: &str, before: &Service) -> Result<Target> {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        self.out.step(&format!(
            "deploying {} to {}/{}",
            short_task_definition(task_definition),
            self.cluster,
            self.service
        ));
        let after = self
            .ecs
            .update_service(self.cluster, self.service, task_definition)
            .await
            .map_err(|e| {
                Failure::aws(format!(
                    "{}\nthe service was not updated; it still runs {}",
                    e.message,
                    short_task_definition(&before.task_definition)
                ))
            })?;
        let known: Vec<&str> = before.deployments.iter().map(|d| d.id.as_str()).collect();
        let ours = after
            .deployments
            .iter()
            .find(|d| d.status == "PRIMARY" && d.task_definition == task_definition && !known.contains(&d.id.as_str()))
            .ok_or_else(|| {
                Failure::aws(format!(
                    "UpdateService started no new PRIMARY deployment of {task_definition}; the service may be changing: see `release status`"
                ))
            })?;
        let target = Target {
            deployment_id: ours.id.clone(),
            task_definition: task_definition.to_string(),
            previous_task_definition: Some(before.task_definition.clone()),
            since,
        };
        self.out.record(
            "deployment",
            &format!(
                "deployment {} of {} started; watching it (timeout {})",
                target.deployment_id,
                short_task_definition(task_definition),
                humantime::format_duration(self.rollout.timeout)
            ),
            json!({ "deployment": target.deployment_id, "task_definition": task_definition }),
        );
        Ok(target)
    }
}

/// The revision number of a task-definition ARN (`…:97` -> `97`).
pub fn revision_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// Bulleted reasons, or a line saying ECS gave none.
pub fn bullet(lines: &[String]) -> String {
    if lines.is_empty() {
        return "  - ECS gave no reason".into();
    }
    lines
        .iter()
        .map(|l| format!("  - {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The message of a timed-out watch: what it waited for, where the rollout stood, why.
pub fn timed_out(
    waiting_for: &str,
    timeout: std::time::Duration,
    progress: &crate::rollout::decision::Progress,
    reasons: &[String],
) -> String {
    format!(
        "timed out after {} waiting for {waiting_for}: {}/{} running, {} pending, {} failed, {}\n{}the deployment goes on in ECS",
        humantime::format_duration(timeout),
        progress.ours.running,
        progress.ours.desired,
        progress.ours.pending,
        progress.ours.failed,
        progress.rollout_state,
        if reasons.is_empty() { String::new() } else { format!("{}\n", bullet(reasons)) },
    )
}

/// What to tell the user and which exit code to use when a watch was interrupted.
pub fn interrupted(
    out: &Output,
    target: &Target,
    status_cmd: &str,
    rollback_cmd: &str,
) -> ExitCode {
    out.record(
        "interrupted",
        &format!(
            "interrupted: stopped watching; deployment {} of {} goes on in ECS.\n  see it:   {status_cmd}\n  undo it:  {rollback_cmd}",
            target.deployment_id,
            short_task_definition(&target.task_definition),
        ),
        json!({ "deployment": target.deployment_id, "status_command": status_cmd, "rollback_command": rollback_cmd }),
    );
    ExitCode::Interrupted
}
