//! Verify: what runs is what the plan says, and it answers as it should.
//!
//! Three groups of checks: the service is steady; the running revision is the plan's
//! release and every running task runs it with the digests it pins; the plan's HTTP checks.
//! Used by `release verify` and as deploy's last step.

pub mod expect;
pub mod http;
pub mod running;

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{DesiredStatus, TaskDefinitionStatus};

use crate::aws::ecs::Ecs;
use crate::check::{CheckResult, Checks, Report, Stage, Status};
use crate::exit::{ExitCode, Failure, Result};
use crate::output::event::Event;
use crate::output::Output;
use crate::plan::Plan;
use crate::redact::{self, Redactor};
use crate::rollout::observation::short_task_definition;
use crate::taskdef::release_tags;

/// How many reads of the service may find it unsteady before "service is steady" fails.
pub const STEADY_READS: u32 = 3;

/// What the caller read of the service a moment ago (deploy's no-op: preflight's reading),
/// so verify does not read it again: the service, its running revision with its tags, and
/// its RUNNING tasks (used only when that reading of the service was steady).
pub struct Known<'a> {
    pub service: &'a crate::rollout::observation::Service,
    pub running: Option<&'a (
        aws_sdk_ecs::types::TaskDefinition,
        Vec<aws_sdk_ecs::types::Tag>,
    )>,
    pub tasks: Option<&'a [crate::rollout::observation::Task]>,
}

/// Runs every verify check of the plan and prints one line per check.
pub async fn run(out: &Output, plan: &Plan, ecs: &Ecs) -> Result<Report> {
    run_with(out, plan, ecs, None).await
}

/// [`run`], starting from what the caller already read (the first read of the service and
/// the running revision's description); a service that is not steady is still read again.
pub async fn run_with(
    out: &Output,
    plan: &Plan,
    ecs: &Ecs,
    known: Option<Known<'_>>,
) -> Result<Report> {
    let http_checks = plan.http_checks()?;
    let redactor = Redactor::new(http_checks.iter().flat_map(|c| {
        let headers = c
            .headers
            .iter()
            .filter(|(_, _, secret)| *secret)
            .map(|(_, v, _)| v.clone());
        headers
            .chain(redact::url_secrets(&c.url))
            .collect::<Vec<_>>()
    }));
    let (cluster, name) = (&plan.service.cluster, &plan.service.name);
    let mut report = Checks::new(Stage::Verify, out);
    out.step(&format!(
        "verifying {cluster}/{name} runs release {}",
        plan.version
    ));

    // Steady is re-read a few times: availability-zone rebalancing or a replaced task can
    // briefly list a second deployment or one task short on a healthy service.
    let mut reads = 0;
    let (service, steady) = loop {
        reads += 1;
        let service = match (&known, reads) {
            (Some(k), 1) => k.service.clone(),
            _ => ecs
                .existing_service(cluster, name, "nothing to verify")
                .await
                .map_err(|f| {
                    // A missing service fails verify (6); AWS errors stay 7.
                    if f.code == ExitCode::Preflight {
                        Failure::new(ExitCode::Verify, f.message)
                    } else {
                        f
                    }
                })?,
        };
        let steady = running::steady(&service);
        if steady.is_ok() || reads >= STEADY_READS {
            break (service, steady);
        }
        tokio::time::sleep(plan.rollout.poll).await;
    };
    report.record(CheckResult::judged(
        "service is steady",
        steady.is_ok(),
        steady.unwrap_or_else(|e| e),
    ));

    // Which revision is the plan's release: the running one if its tag says so, else the
    // newest of the family that carries the plan's version.
    let version = plan.version.as_str();
    let running_td = match known
        .as_ref()
        .and_then(|k| k.running)
        .filter(|(td, _)| td.task_definition_arn() == Some(service.task_definition.as_str()))
    {
        Some(read) => Some(read.clone()),
        None => ecs.task_definition(&service.task_definition).await?,
    };
    let current_tags = match &running_td {
        Some((_, tags)) => release_tags::read(tags),
        None => BTreeMap::new(),
    };
    let running_version = current_tags.get(release_tags::VERSION).cloned();
    let release_revision = if running_version.as_deref() == Some(version) {
        Some(service.task_definition.clone())
    } else {
        find_release_revision(ecs, &plan.task_definition.family, version).await?
    };
    let current = short_task_definition(&service.task_definition).to_string();
    match (&running_version, &release_revision) {
        (Some(v), _) if v == version => report.record(CheckResult::judged(
            "running revision is the release",
            true,
            format!("{current} is release {version}"),
        )),
        (v, rel) => report.record(CheckResult::judged(
            "running revision is the release",
            false,
            format!(
                "the service runs {current} ({}); the plan's release {version} is {}",
                v.as_ref()
                    .map(|v| format!("release:version {v}"))
                    .unwrap_or_else(|| "no release:version tag".into()),
                rel.as_ref()
                    .map(|r| short_task_definition(r).to_string())
                    .unwrap_or_else(|| "not registered in the family".into())
            ),
        )),
    }

    let expected_revision = release_revision
        .clone()
        .unwrap_or_else(|| service.task_definition.clone());
    // The running revision is usually the release: described once, not twice.
    let described = if expected_revision == service.task_definition {
        running_td
    } else {
        ecs.task_definition(&expected_revision).await?
    };
    let pinned = match described {
        Some((td, _)) => running::pinned_digests(&td),
        None => BTreeMap::new(),
    };
    // The caller's tasks stand only for the reading of the service they came with.
    let known_tasks = known.as_ref().and_then(|k| k.tasks).filter(|_| reads == 1);
    let running_tasks: Vec<_> = match known_tasks {
        Some(tasks) => tasks.to_vec(),
        None => {
            ecs.tasks(cluster, name, DesiredStatus::Running, None)
                .await?
        }
    }
    .into_iter()
    .filter(|t| t.last_status == "RUNNING")
    .collect();
    let checked = running::task_problems(&running_tasks, &expected_revision, &pinned);
    for w in &checked.warnings {
        out.warn(w);
    }
    let problems = checked.problems;
    let detail = if problems.is_empty() {
        format!(
            "{} running tasks run {} with the pinned digests{}",
            running_tasks.len(),
            short_task_definition(&expected_revision),
            if checked.warnings.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} containers' digests not reported by ECS)",
                    checked.warnings.len()
                )
            }
        )
    } else {
        problems.join("; ")
    };
    report.record(CheckResult::judged(
        "tasks run the release's digests",
        problems.is_empty() && !running_tasks.is_empty(),
        if running_tasks.is_empty() {
            "no RUNNING tasks".into()
        } else {
            detail
        },
    ));

    for check in &http_checks {
        let result = http::run(check, &redactor).await;
        report.record(CheckResult::judged(
            &check.name,
            result.is_ok(),
            result.unwrap_or_else(|e| e),
        ));
    }

    let report = report.finish();
    let (passed, failed) = (report.count(Status::Passed), report.count(Status::Failed));
    out.emit(
        &format!("verify: {passed} passed, {failed} failed"),
        Event::VerifySummary {
            passed,
            failed,
            checks: report.checks.clone(),
        },
    );
    Ok(report)
}

async fn find_release_revision(ecs: &Ecs, family: &str, version: &str) -> Result<Option<String>> {
    let arns = ecs.revisions(family, TaskDefinitionStatus::Active).await?;
    for arn in arns.iter().rev().take(10) {
        if let Some((_, tags)) = ecs.task_definition(arn).await? {
            if release_tags::read(&tags)
                .get(release_tags::VERSION)
                .map(String::as_str)
                == Some(version)
            {
                return Ok(Some(arn.clone()));
            }
        }
    }
    Ok(None)
}
