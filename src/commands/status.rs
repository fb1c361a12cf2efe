//! `release status PLAN`: the service's deployments, counts, and the current revision
//! with its `release:*` tags.

use std::path::Path;

use serde_json::json;

use super::Ctx;
use crate::aws::ecs::{release_tags, Ecs};
use crate::exit::{ExitCode, Result};
use crate::output::epoch_rfc3339;
use crate::rollout::observation::short_task_definition;

pub async fn run(ctx: &Ctx, plan_path: &Path) -> Result<ExitCode> {
    let plan = ctx.load_plan(plan_path)?;
    let config = ctx.aws_config(Some(&plan)).await?;
    let ecs = Ecs::new(&config);
    let (cluster, name) = (&plan.service.cluster, &plan.service.name);
    let service = ecs
        .existing_service(cluster, name, "no status to show")
        .await?;
    let tags = match ecs.task_definition(&service.task_definition).await? {
        Some((_, tags)) => release_tags(&tags),
        None => Default::default(),
    };
    let out = &ctx.out;
    out.record(
        "service",
        &format!(
            "service {cluster}/{name}: {} running {}/{} (pending {}), revision {}",
            service.status,
            service.running_count,
            service.desired_count,
            service.pending_count,
            short_task_definition(&service.task_definition)
        ),
        json!({
            "cluster": cluster, "service": name, "status": service.status,
            "running": service.running_count, "desired": service.desired_count,
            "pending": service.pending_count, "task_definition": service.task_definition,
            "release_tags": tags,
        }),
    );
    for (k, v) in &tags {
        out.info(&format!("  {k} = {v}"));
    }
    for d in &service.deployments {
        out.record(
            "deployment",
            &format!(
                "  deployment {} {} {} {}/{} running, {} pending, {} failed, {}{}",
                d.id,
                d.status,
                short_task_definition(&d.task_definition),
                d.running_count,
                d.desired_count,
                d.pending_count,
                d.failed_tasks,
                d.rollout_state.as_deref().unwrap_or("-"),
                d.created_at
                    .map(|t| format!(", created {}", epoch_rfc3339(t)))
                    .unwrap_or_default()
            ),
            json!({
                "id": d.id, "status": d.status, "task_definition": d.task_definition,
                "running": d.running_count, "desired": d.desired_count, "pending": d.pending_count,
                "failed": d.failed_tasks, "rollout_state": d.rollout_state,
                "rollout_state_reason": d.rollout_state_reason,
            }),
        );
    }
    Ok(ExitCode::Success)
}
