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
    let redactor = http_redactor(&http_checks);
    let (cluster, name) = (&plan.service.cluster, &plan.service.name);
    let mut report = Checks::new(Stage::Verify, out);
    out.step(&format!(
        "verifying {cluster}/{name} runs release {}",
        plan.version
    ));

    let (service, steady, reads) = read_until_steady(plan, ecs, known.as_ref()).await?;
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
    report.record(release_check(
        &service.task_definition,
        version,
        running_version.as_deref(),
        release_revision.as_deref(),
    ));

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
    report.record(digests_check(
        running_tasks.len(),
        &expected_revision,
        &checked,
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

/// Hides the secret header values and URL secrets of the plan's HTTP checks in what they show.
fn http_redactor(checks: &[crate::plan::HttpCheck]) -> Redactor {
    Redactor::new(checks.iter().flat_map(|c| {
        let headers = c
            .headers
            .iter()
            .filter(|(_, _, secret)| *secret)
            .map(|(_, v, _)| v.clone());
        headers
            .chain(redact::url_secrets(&c.url))
            .collect::<Vec<_>>()
    }))
}

/// The service, read until it is steady or [`STEADY_READS`] reads have found it not
/// (availability-zone rebalancing or a replaced task can briefly list a second deployment or
/// one task short on a healthy service); the first read may be the caller's. Returns the
/// last reading, whether it is steady (and why or why not), and how many reads it took.
async fn read_until_steady(
    plan: &Plan,
    ecs: &Ecs,
    known: Option<&Known<'_>>,
) -> Result<(
    crate::rollout::observation::Service,
    std::result::Result<String, String>,
    u32,
)> {
    let (cluster, name) = (&plan.service.cluster, &plan.service.name);
    let mut reads = 0;
    loop {
        reads += 1;
        let service = match (known, reads) {
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
            return Ok((service, steady, reads));
        }
        tokio::time::sleep(plan.rollout.poll).await;
    }
}

/// "running revision is the release": the service runs a revision tagged with the plan's
/// version; else which it runs and where the release is, if anywhere.
fn release_check(
    running: &str,
    version: &str,
    running_version: Option<&str>,
    release_revision: Option<&str>,
) -> CheckResult {
    const NAME: &str = "running revision is the release";
    let current = short_task_definition(running);
    if running_version == Some(version) {
        return CheckResult::passed(NAME, format!("{current} is release {version}"));
    }
    CheckResult::failed(
        NAME,
        format!(
            "the service runs {current} ({}); the plan's release {version} is {}",
            running_version
                .map(|v| format!("release:version {v}"))
                .unwrap_or_else(|| "no release:version tag".into()),
            release_revision
                .map(|r| short_task_definition(r).to_string())
                .unwrap_or_else(|| "not registered in the family".into())
        ),
    )
}

/// "tasks run the release's digests": RUNNING tasks, every one of the release revision and
/// the digests it pins (what ECS does not report is counted, not failed).
fn digests_check(running: usize, revision: &str, checked: &running::TaskCheck) -> CheckResult {
    const NAME: &str = "tasks run the release's digests";
    if running == 0 {
        return CheckResult::failed(NAME, "no RUNNING tasks");
    }
    if !checked.problems.is_empty() {
        return CheckResult::failed(NAME, checked.problems.join("; "));
    }
    let unreported = match checked.warnings.len() {
        0 => String::new(),
        n => format!(" ({n} containers' digests not reported by ECS)"),
    };
    CheckResult::passed(
        NAME,
        format!(
            "{running} running tasks run {} with the pinned digests{unreported}",
            short_task_definition(revision)
        ),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &str = "arn:aws:ecs:us-east-1:1:task-definition/app:8";

    #[test]
    fn the_running_revision_is_the_release_when_its_version_tag_says_so() {
        let c = release_check(RUNNING, "1.2.0", Some("1.2.0"), Some(RUNNING));
        assert_eq!(
            c.line(),
            "passed  running revision is the release: app:8 is release 1.2.0"
        );
        let c = release_check(
            RUNNING,
            "1.2.0",
            Some("1.1.0"),
            Some("arn:aws:ecs:us-east-1:1:task-definition/app:9"),
        );
        assert_eq!(c.status, Status::Failed);
        assert_eq!(
            c.detail,
            "the service runs app:8 (release:version 1.1.0); the plan's release 1.2.0 is app:9"
        );
        let c = release_check(RUNNING, "1.2.0", None, None);
        assert_eq!(
            c.detail,
            "the service runs app:8 (no release:version tag); the plan's release 1.2.0 is not registered in the family"
        );
    }

    #[test]
    fn the_digests_check_needs_running_tasks_and_no_problem_and_counts_what_ecs_did_not_report() {
        let clean = running::TaskCheck::default();
        assert_eq!(
            digests_check(0, RUNNING, &clean).line(),
            "failed  tasks run the release's digests: no RUNNING tasks"
        );
        assert_eq!(
            digests_check(2, RUNNING, &clean).detail,
            "2 running tasks run app:8 with the pinned digests"
        );
        let unreported = running::TaskCheck {
            problems: vec![],
            warnings: vec!["task 1 container app: no digest".into()],
        };
        let c = digests_check(2, RUNNING, &unreported);
        assert_eq!(c.status, Status::Passed);
        assert!(c
            .detail
            .ends_with("(1 containers' digests not reported by ECS)"));
        let wrong = running::TaskCheck {
            problems: vec!["task 1 runs app:7".into(), "task 2 runs app:7".into()],
            warnings: vec![],
        };
        assert_eq!(
            digests_check(2, RUNNING, &wrong).detail,
            "task 1 runs app:7; task 2 runs app:7"
        );
    }
}
