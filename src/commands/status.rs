//! `release status PLAN`: the service's deployments, counts, and the current revision
//! with its `release:*` tags.

use std::path::Path;

use super::Ctx;
use crate::aws::ecs::Ecs;
use crate::exit::{ExitCode, Result};
use crate::output::epoch_rfc3339;
use crate::output::event::{self, Event};
use crate::rollout::observation::short_task_definition;
use crate::taskdef::release_tags;

pub async fn run(ctx: &Ctx, plan_path: &Path) -> Result<ExitCode> {
    let plan = ctx.load_plan(plan_path)?;
    let config = ctx.aws_config(Some(&plan)).await?;
    let ecs = Ecs::new(&config);
    let (cluster, name) = (&plan.service.cluster, &plan.service.name);
    let service = ecs
        .existing_service(cluster, name, "no status to show")
        .await?;
    let tags = match ecs.task_definition(&service.task_definition).await? {
        Some((_, tags)) => release_tags::read(&tags),
        None => Default::default(),
    };
    let out = &ctx.out;
    out.emit(
        &format!(
            "service {cluster}/{name}: {} running {}/{} (pending {}), revision {}",
            service.status,
            service.running_count,
            service.desired_count,
            service.pending_count,
            short_task_definition(&service.task_definition)
        ),
        Event::Service {
            cluster: cluster.to_string(),
            service: name.to_string(),
            status: service.status.clone(),
            running: service.running_count,
            desired: service.desired_count,
            pending: service.pending_count,
            task_definition_arn: service.task_definition.clone(),
            task_definition: short_task_definition(&service.task_definition).to_string(),
            release_tags: tags.clone(),
        },
    );
    for (k, v) in &tags {
        out.info(&format!("  {k} = {v}"));
    }
    for d in &service.deployments {
        out.emit(
            &format!(
                "  deployment {} {} {} {}/{} running, {} pending, {} failed, {}{}",
                d.id,
                d.status,
                short_task_definition(&d.task_definition),
                d.running_count,
                d.desired_count,
                d.pending_count,
                d.failed_tasks,
                d.rollout_state.as_deref().unwrap_or("(no rollout state)"),
                d.created_at
                    .map(|t| format!(", created {}", epoch_rfc3339(t)))
                    .unwrap_or_default()
            ),
            Event::Deployment {
                id: d.id.clone(),
                status: d.status.clone(),
                task_definition_arn: d.task_definition.clone(),
                task_definition: short_task_definition(&d.task_definition).to_string(),
                running: d.running_count,
                desired: d.desired_count,
                pending: d.pending_count,
                failed: d.failed_tasks,
                rollout_state: d.rollout_state.clone(),
                rollout_state_reason: d.rollout_state_reason.clone(),
                created_at: event::timestamp(d.created_at),
            },
        );
    }
    Ok(ExitCode::Success)
}
