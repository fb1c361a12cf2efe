//! `release history PLAN`: the family's revisions, newest first: revision, version, digest,
//! registered at, status, and which one runs now.

use std::path::Path;

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{TaskDefinition, TaskDefinitionStatus};

use super::Ctx;
use crate::aws::ecs::{Ecs, ServiceLookup};
use crate::exit::{ExitCode, Result};
use crate::output::{epoch_rfc3339, Event};
use crate::plan::Plan;
use crate::rollout::observation::short_task_definition;
use crate::rollout::observation::Service;
use crate::taskdef::name::revision_number;
use crate::taskdef::release_tags;

/// How many revisions are described (one DescribeTaskDefinition call each).
const SHOWN: usize = 25;

pub async fn run(ctx: &Ctx, plan_path: &Path) -> Result<ExitCode> {
    let plan = ctx.load_plan(plan_path)?;
    let config = ctx.aws_config(Some(&plan)).await?;
    let ecs = Ecs::new(&config);
    let family = &plan.task_definition.family;
    let running = running_service(ctx, &ecs, &plan).await?;
    let arns = newest_first(&ecs, family).await?;
    if arns.is_empty() {
        ctx.out.info(&format!("family {family} has no revisions"));
        return Ok(ExitCode::Success);
    }
    for arn in arns.iter().take(SHOWN) {
        let Some((td, tags)) = ecs.task_definition(arn).await? else {
            continue;
        };
        show_revision(ctx, arn, &td, &release_tags::read(&tags), running.as_ref());
    }
    if arns.len() > SHOWN {
        ctx.out
            .info(&format!("… and {} older revisions", arns.len() - SHOWN));
    }
    Ok(ExitCode::Success)
}

/// The plan's service, to mark the revision it runs; a warning when it does not exist.
async fn running_service(ctx: &Ctx, ecs: &Ecs, plan: &Plan) -> Result<Option<Service>> {
    let (cluster, name) = (&plan.service.cluster, &plan.service.name);
    Ok(match ecs.service(cluster, name).await? {
        ServiceLookup::Found(s) => Some(*s),
        ServiceLookup::MissingService | ServiceLookup::MissingCluster => {
            ctx.out.warn(&format!(
                "service {name} not found in cluster {cluster}: cannot say which revision runs"
            ));
            None
        }
    })
}

/// The family's revisions, ACTIVE and INACTIVE, newest first.
async fn newest_first(ecs: &Ecs, family: &str) -> Result<Vec<String>> {
    let mut arns = ecs.revisions(family, TaskDefinitionStatus::Active).await?;
    arns.extend(
        ecs.revisions(family, TaskDefinitionStatus::Inactive)
            .await?,
    );
    arns.sort_by_key(|a| std::cmp::Reverse(revision_number(a).unwrap_or(0)));
    Ok(arns)
}

/// One revision: a table row, and a `revision` record.
fn show_revision(
    ctx: &Ctx,
    arn: &str,
    td: &TaskDefinition,
    tags: &BTreeMap<String, String>,
    running: Option<&Service>,
) {
    let deployments: Vec<String> = running
        .iter()
        .flat_map(|s| s.deployments.iter())
        .filter(|d| d.task_definition == arn)
        .map(|d| {
            format!("{} {}", d.status, d.rollout_state.as_deref().unwrap_or(""))
                .trim()
                .to_string()
        })
        .collect();
    let runs_now = running.is_some_and(|s| s.task_definition == arn);
    let status = td
        .status()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    let registered_at = td.registered_at().map(|t| epoch_rfc3339(t.as_secs_f64()));
    let version = tags.get(release_tags::VERSION).cloned();
    let digest = tags.get(release_tags::DIGEST).cloned();
    // The table shows "-" for what the revision does not say; the record has null.
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mark = if runs_now { "  <- runs now" } else { "" };
    let deps = if deployments.is_empty() {
        String::new()
    } else {
        format!("  [{}]", deployments.join(", "))
    };
    ctx.out.emit(
        &format!(
            "{:<28} {:<14} {:<20} {}  {}{}{}",
            short_task_definition(arn),
            dash(&version),
            short_digest(&dash(&digest)),
            dash(&registered_at),
            status,
            mark,
            deps
        ),
        Event::Revision {
            task_definition_arn: arn.to_string(),
            task_definition: short_task_definition(arn).to_string(),
            revision: td.revision(),
            version,
            digest,
            registered_at,
            status,
            runs_now,
            deployments,
        },
    );
}

/// `sha256:0123456789ab…` for a table column.
fn short_digest(d: &str) -> String {
    if d.len() > 19 {
        format!("{}…", &d[..19])
    } else {
        d.to_string()
    }
}
