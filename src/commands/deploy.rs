//! `release deploy PLAN [--image REF]`: register a revision pinned by digest, force a new
//! deployment, and watch our deployment (not whatever is PRIMARY) to N/N.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::Ctx;
use crate::aws::ecs::{release_tags, Ecs, ServiceLookup};
use crate::exit::{ExitCode, Failure, Result};
use crate::output::short_duration;
use crate::plan::Plan;
use crate::rollout::decision::{Target, Verdict};
use crate::rollout::observation::{short_task_definition, Service};
use crate::watch::{Watch, WatchEnd};
use crate::{release_image, template};

pub async fn run(ctx: &Ctx, plan_path: &Path, image: Option<&str>) -> Result<ExitCode> {
    let started = Instant::now();
    let out = &ctx.out;
    let plan = ctx.load_plan(plan_path)?;
    let reference = release_image::reference(&plan, image)?;
    // Everything that can be checked offline is checked before the first AWS call.
    template::render(&plan, &super::render::placeholder(&reference))?;

    let config = ctx.aws_config(Some(&plan)).await;
    let ecs = Ecs::new(&config);
    let (cluster, name) = (plan.service.cluster.as_str(), plan.service.name.as_str());

    out.step(&format!("checking service {cluster}/{name}"));
    let before = current_service(&ecs, cluster, name).await?;

    out.step(&format!("resolving {reference}"));
    let pinned = release_image::resolve(&plan, &config, &reference).await?;
    out.info(&format!("image {}", pinned.image));
    let rendered = template::render(&plan, &pinned)?;

    // Register nothing when the running revision already has this content and digest.
    let running_tags = match ecs.task_definition(&before.task_definition).await? {
        Some((_, tags)) => release_tags(&tags),
        None => Default::default(),
    };
    let identical = running_tags.get("release:content") == Some(&rendered.content_hash)
        && running_tags.get("release:digest") == Some(&pinned.digest);
    if identical {
        let steady = before.deployments.len() == 1
            && before.running_count == before.desired_count
            && before.deployments[0].rollout_state.as_deref() != Some("FAILED");
        out.record(
            "unchanged",
            &format!(
                "{} already runs this release (version {}, {}): nothing registered{}",
                short_task_definition(&before.task_definition),
                plan.version,
                pinned.digest,
                if steady { ", nothing deployed" } else { "; the service is not steady: see `release status`" }
            ),
            json!({ "task_definition": before.task_definition, "digest": pinned.digest, "version": plan.version.as_str() }),
        );
        return Ok(ExitCode::Success);
    }

    out.step(&format!(
        "registering a revision of {}",
        plan.task_definition.family
    ));
    let registered = ecs.register(rendered.request).await?;
    let new_arn = registered
        .task_definition_arn()
        .unwrap_or_default()
        .to_string();
    out.record(
        "registered",
        &format!(
            "registered {} ({})",
            short_task_definition(&new_arn),
            pinned.image
        ),
        json!({ "task_definition": new_arn, "revision": registered.revision() }),
    );

    out.step(&format!(
        "deploying {} to {cluster}/{name}",
        short_task_definition(&new_arn)
    ));
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let after = ecs
        .update_service(cluster, name, &new_arn)
        .await
        .map_err(|e| {
            Failure::aws(format!(
                "{}\nrevision {} is registered but the service was not updated; it still runs {}",
                e.message,
                short_task_definition(&new_arn),
                short_task_definition(&before.task_definition)
            ))
        })?;
    let deployment = after
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY" && d.task_definition == new_arn)
        .ok_or_else(|| {
            Failure::aws(format!(
                "UpdateService returned no PRIMARY deployment of {new_arn}; {}",
                undo_hint(&plan, &before)
            ))
        })?;
    let target = Target {
        deployment_id: deployment.id.clone(),
        task_definition: new_arn.clone(),
        previous_task_definition: Some(before.task_definition.clone()),
        since,
    };
    out.record(
        "deployment",
        &format!(
            "deployment {} started; watching it (timeout {})",
            target.deployment_id,
            humantime::format_duration(plan.rollout.timeout)
        ),
        json!({ "deployment": target.deployment_id, "task_definition": new_arn }),
    );

    let watch = Watch {
        ecs: &ecs,
        out,
        cluster,
        service: name,
        rollout: &plan.rollout,
        started,
    };
    let (end, stats) = watch.run(&target).await?;
    out.debug(&format!(
        "{} polls ({} failed), {} ECS API calls",
        stats.polls,
        stats.failed_polls,
        ecs.calls()
    ));
    let old = short_task_definition(&before.task_definition).to_string();
    let new = short_task_definition(&new_arn).to_string();
    let verdict = match end {
        WatchEnd::Interrupted => {
            out.record(
                "interrupted",
                &format!(
                    "interrupted: stopped watching; deployment {} of {new} goes on in ECS.\n  see it:     release status {}\n  undo it:    release rollback {} --to {}",
                    target.deployment_id,
                    plan.path().display(),
                    plan.path().display(),
                    revision_of(&before.task_definition)
                ),
                json!({ "deployment": target.deployment_id }),
            );
            return Ok(ExitCode::Interrupted);
        }
        WatchEnd::Verdict(v) => v,
    };
    let summary = json!({
        "version": plan.version.as_str(), "digest": pinned.digest, "image": pinned.image,
        "task_definition": new_arn, "previous_task_definition": before.task_definition,
        "deployment": target.deployment_id, "seconds": started.elapsed().as_secs_f64(),
        "polls": stats.polls, "ecs_calls": ecs.calls(), "verdict": verdict,
    });
    match verdict {
        Verdict::Succeeded { running, desired } => {
            out.record(
                "summary",
                &format!(
                    "released {} ({}) as {new} (was {old}): {running}/{desired} running, in {}",
                    plan.version,
                    pinned.digest,
                    short_duration(started.elapsed())
                ),
                summary,
            );
            Ok(ExitCode::Success)
        }
        Verdict::RolledBackByEcs { to, reasons } => {
            out.record(
                "summary",
                &format!(
                    "deploy of {} failed and ECS rolled the service back to {}:\n{}",
                    plan.version,
                    short_task_definition(&to),
                    bullet(&reasons)
                ),
                summary,
            );
            Ok(ExitCode::RolledBack)
        }
        Verdict::Failed { reasons } => {
            out.record(
                "summary",
                &format!(
                    "deploy of {} failed:\n{}\nthe service is left on {new} (deployment {}); {}",
                    plan.version,
                    bullet(&reasons),
                    target.deployment_id,
                    undo_hint(&plan, &before)
                ),
                summary,
            );
            Ok(ExitCode::Failed)
        }
        Verdict::Superseded {
            by,
            task_definition,
        } => {
            out.record(
                "summary",
                &format!(
                    "deploy of {} was superseded: deployment {by} of {} (not started by this release) took over; this release is not live",
                    plan.version,
                    short_task_definition(&task_definition)
                ),
                summary,
            );
            Ok(ExitCode::Failed)
        }
        Verdict::TimedOut { progress, reasons } => {
            out.record(
                "summary",
                &format!(
                    "timed out after {} waiting for {new}: {}/{} running, {} pending, {} failed, {}\n{}the deployment goes on in ECS; {}",
                    humantime::format_duration(plan.rollout.timeout),
                    progress.ours.running,
                    progress.ours.desired,
                    progress.ours.pending,
                    progress.ours.failed,
                    progress.rollout_state,
                    if reasons.is_empty() { String::new() } else { format!("{}\n", bullet(&reasons)) },
                    undo_hint(&plan, &before)
                ),
                summary,
            );
            Ok(ExitCode::Timeout)
        }
        Verdict::Progressing(_) => unreachable!("the watch ends only on a terminal verdict"),
    }
}

/// The service before the deploy; a missing cluster or service is a failed check.
async fn current_service(ecs: &Ecs, cluster: &str, name: &str) -> Result<Service> {
    match ecs.service(cluster, name).await? {
        ServiceLookup::Found(s) => Ok(*s),
        ServiceLookup::MissingService => Err(Failure::new(
            ExitCode::Preflight,
            format!(
                "service {name} not found in cluster {cluster}: nothing was registered or deployed"
            ),
        )),
        ServiceLookup::MissingCluster => Err(Failure::new(
            ExitCode::Preflight,
            format!("cluster {cluster} not found: nothing was registered or deployed"),
        )),
    }
}

fn revision_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// The exact command that returns the service to where it was.
fn undo_hint(plan: &Plan, before: &Service) -> String {
    format!(
        "to return to {}: release rollback {} --to {}  (or: aws ecs update-service --cluster {} --service {} --task-definition {} --force-new-deployment)",
        short_task_definition(&before.task_definition),
        plan.path().display(),
        revision_of(&before.task_definition),
        plan.service.cluster,
        plan.service.name,
        short_task_definition(&before.task_definition)
    )
}

fn bullet(lines: &[String]) -> String {
    if lines.is_empty() {
        return "  - ECS gave no reason".into();
    }
    lines
        .iter()
        .map(|l| format!("  - {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
