//! `release restart PLAN`: force a new deployment of the revision the service runs now
//! (its tasks are replaced and read their secrets again, e.g. after an SSM parameter was
//! fixed), and watch that deployment exactly like deploy does. The plan's secret rules run
//! first: a secret that fails one refuses the restart (exit 3) before anything changes.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::Ctx;
use crate::aws::ecs::Ecs;
use crate::exit::{ExitCode, Failure, Result};
use crate::output::short_duration;
use crate::rollout::decision::Verdict;
use crate::rollout::deployment::{bullet, interrupted, timed_out, Deployer, Followed};
use crate::rollout::observation::short_task_definition;
use crate::rollout::settle::{settle, End, Followup};
use crate::rollout::watch::WatchEnd;

pub async fn run(ctx: &Ctx, plan_path: &Path) -> Result<ExitCode> {
    let started = Instant::now();
    let out = &ctx.out;
    let plan = ctx.load_plan(plan_path)?;
    let config = ctx.aws_config(Some(&plan)).await?;
    ctx.show_identity(&config, Some(&plan)).await?;
    let ecs = Ecs::new(&config);
    let (cluster, name) = (plan.service.cluster.as_str(), plan.service.name.as_str());

    // The new tasks read their secrets again: the plan's secret rules must pass first (the
    // restart after an SSM fix is exactly when a trailing newline slips in).
    let secrets = crate::preflight::Report {
        checks: crate::preflight::checks::secret_checks(&plan, &config).await,
        seconds: started.elapsed().as_secs_f64(),
    };
    secrets.print(out);
    if secrets.failed() {
        return Err(Failure::new(
            ExitCode::Preflight,
            format!(
                "{} secret rule{} failed: nothing was restarted (the running tasks keep the values they read at start)",
                secrets.count(crate::preflight::Status::Failed),
                if secrets.count(crate::preflight::Status::Failed) == 1 { "" } else { "s" }
            ),
        ));
    }
    let before = ecs
        .existing_service(cluster, name, "nothing was restarted")
        .await?;
    let current = before.task_definition.clone();
    let short = short_task_definition(&current).to_string();
    out.step(&format!(
        "restarting {cluster}/{name}: a new deployment of {short} (the running revision)"
    ));
    let deployer = Deployer {
        ecs: &ecs,
        out,
        cluster,
        service: name,
        rollout: &plan.rollout,
        tag_previous: false,
    };
    let outcome = deployer.deploy(&current, &before).await?;
    let verdict = match outcome.end {
        WatchEnd::Interrupted(sig) => {
            let status = format!("release status {}", plan.path().display());
            return Ok(interrupted(out, sig, &outcome.target, &status, None));
        }
        WatchEnd::Verdict(v) => v,
    };
    let summary = json!({
        "task_definition": current, "deployment": outcome.target.deployment_id,
        "seconds": started.elapsed().as_secs_f64(), "polls": outcome.stats.polls,
        "ecs_calls": ecs.calls(), "ecs_calls_by_action": ecs.calls_by_action(), "verdict": verdict,
    });
    let (code, message) = match &verdict {
        Verdict::Succeeded { running, desired } => (
            settle(End::Succeeded, Followup::Nothing),
            format!(
                "restarted {cluster}/{name} on {short}: {running}/{desired} new tasks running, in {}",
                short_duration(started.elapsed())
            ),
        ),
        Verdict::RolledBackByEcs { to, reasons } => {
            let back = deployer
                .follow_ecs_rollback(to, &current, &outcome.target.deployment_id)
                .await?;
            if let Followed::Interrupted(sig, target) = &back {
                let status = format!("release status {}", plan.path().display());
                return Ok(interrupted(out, *sig, target, &status, None));
            }
            let confirmed = matches!(back, Followed::Verdict(Verdict::Succeeded { .. }));
            (
                settle(End::RolledBackByEcs { confirmed }, Followup::Nothing),
                format!(
                    "restart of {short} failed and ECS rolled the service back to {}{}:\n{}",
                    short_task_definition(to),
                    if confirmed { "" } else { " (not seen to its end: see `release status`)" },
                    bullet(reasons)
                ),
            )
        }
        Verdict::Failed { reasons } => (
            settle(End::Failed, Followup::Nothing),
            format!(
                "restart of {short} failed:\n{}\ndeployment {} is left as it is; see `release status {}`",
                bullet(reasons),
                outcome.target.deployment_id,
                plan.path().display()
            ),
        ),
        Verdict::Superseded { by, task_definition } => (
            settle(End::Superseded, Followup::Nothing),
            format!(
                "restart was superseded: deployment {by} of {} (not started by this restart) took over",
                short_task_definition(task_definition)
            ),
        ),
        Verdict::TimedOut { progress, reasons } => (
            settle(End::TimedOut, Followup::Nothing),
            timed_out(&format!("the restart of {short}"), plan.rollout.timeout, progress, reasons),
        ),
        Verdict::Stalled { reasons, .. } => (
            settle(End::Stalled, Followup::Nothing),
            format!(
                "restart of {short} stalled:\n{}\ndeployment {} is left as it is; see `release status {}`",
                bullet(reasons),
                outcome.target.deployment_id,
                plan.path().display()
            ),
        ),
        Verdict::Progressing(_) => unreachable!("the watch ends only on a terminal verdict"),
    };
    out.summary(&message, code.code(), summary);
    Ok(code)
}
