//! `release restart PLAN`: force a new deployment of the revision the service runs now
//! (its tasks are replaced and read their secrets again, e.g. after an SSM parameter was
//! fixed), and watch that deployment exactly like deploy does. First, every SSM parameter
//! the running revision references must exist and the plan's secret rules must pass: a
//! failure refuses the restart (exit 3) before anything changes.

use std::path::Path;
use std::time::Instant;

use aws_config::SdkConfig;
use aws_sdk_ecs::types::TaskDefinition;
use serde_json::json;

use super::Ctx;
use crate::aws::ecs::Ecs;
use crate::check::{Checks, Stage, Status};
use crate::exit::{ExitCode, Failure, Result};
use crate::output::Output;
use crate::plan::Plan;
use crate::rollout::deployment::{Deployer, Settling};
use crate::rollout::observation::short_task_definition;
use crate::rollout::settle::{Address, Role};

pub async fn run(ctx: &Ctx, plan_path: &Path) -> Result<ExitCode> {
    let started = Instant::now();
    let out = &ctx.out;
    let plan = ctx.load_plan(plan_path)?;
    let config = ctx.aws_config(Some(&plan)).await?;
    ctx.show_identity(&config, Some(&plan)).await?;
    let ecs = Ecs::new(&config);
    let (cluster, name) = (plan.service.cluster.as_str(), plan.service.name.as_str());

    let before = ecs
        .existing_service(cluster, name, "nothing was restarted")
        .await?;
    let current = before.task_definition.clone();
    let Some((revision, _)) = ecs.task_definition(&current).await? else {
        return Err(Failure::new(
            ExitCode::Preflight,
            format!("{name} runs {current}, which ECS does not describe: nothing was restarted"),
        ));
    };
    secrets_pass(out, &plan, &config, &revision).await?;
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
    let how = Settling {
        role: Role::Restart { revision: &short },
        address: &Address::Plan(plan.path().to_path_buf()),
        undo: None,
        started,
        fields: json!({ "task_definition": current }),
    };
    deployer.deploy_and_settle(&current, &before, how).await
}

/// The new tasks read their secrets again: the revision's SSM parameters must exist and the
/// plan's secret rules must pass first (the restart after an SSM fix is exactly when a
/// trailing newline slips in, or a parameter was deleted and recreated under another name).
/// Exit 3 otherwise.
async fn secrets_pass(
    out: &Output,
    plan: &Plan,
    config: &SdkConfig,
    revision: &TaskDefinition,
) -> Result<()> {
    let mut checks = Checks::new(Stage::Restart, out);
    checks.record_all(crate::preflight::checks::restart_checks(plan, config, revision).await);
    let secrets = checks.finish();
    if !secrets.failed() {
        return Ok(());
    }
    let failed = secrets.count(Status::Failed);
    Err(Failure::new(
        ExitCode::Preflight,
        format!(
            "{failed} secret check{} failed: nothing was restarted (the running tasks keep the values they read at start)",
            if failed == 1 { "" } else { "s" }
        ),
    ))
}
