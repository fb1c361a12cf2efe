//! Settlement: the one place where the end of a watched rollout becomes what the user is
//! told. `settle(ending, role, context)` takes the verdict, what followed it (release's own
//! rollback under `rollout.on_failure`, or what release saw of ECS's rollback) and which
//! command ran it, and decides the exit code (README, "Exit codes"), the summary line and the
//! command to run next. Pure and table-tested for every verdict, follow-up and role; deploy,
//! rollback and restart all settle here, and the undo command is built here only.

use std::path::PathBuf;
use std::time::Duration;

use crate::exit::ExitCode;
use crate::rollout::decision::{Progress, Verdict};
use crate::rollout::observation::short_task_definition;

/// Which command's rollout ended, with the names its summary uses (`family:revision`).
#[derive(Debug, Clone, Copy)]
pub enum Role<'a> {
    /// `release deploy`: `version` (image `digest`) as the new revision `new`, over `previous`.
    Deploy {
        version: &'a str,
        digest: &'a str,
        new: &'a str,
    },
    /// `release rollback`: to revision `to`.
    Rollback { to: &'a str },
    /// `release restart`: a new deployment of the running `revision`.
    Restart { revision: &'a str },
}

/// What release saw of a rollback ECS made (its circuit breaker or deployment alarms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcsRollback {
    /// Followed to its end: the service runs what it ran before.
    Completed { running: i32, desired: i32 },
    /// Followed, and it ended otherwise (its verdict's name).
    Incomplete(&'static str),
    /// ECS's rollback deployment was never listed: not confirmed.
    NotFound,
}

/// What release did after a failed rollout or verify (`rollout.on_failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Followup {
    /// Nothing to follow up: success, superseded, timed out, ECS's own rollback, or a command
    /// (rollback, restart) that never rolls back by itself.
    #[default]
    Nothing,
    /// `on_failure = "stop"`: the service is left where the rollout left it.
    Left,
    /// release rolled back to what ran before, and that rollback succeeded.
    RolledBack { running: i32, desired: i32 },
    /// release rolled back, and that rollback ended otherwise (its verdict's name).
    RollbackFailed(&'static str),
}

/// How a watched rollout ended.
#[derive(Debug, Clone, Copy)]
pub struct Ending<'a> {
    /// The watch's terminal verdict.
    pub verdict: &'a Verdict,
    /// Deploy only: the rollout succeeded but this many verify checks failed.
    pub verify_failed: Option<usize>,
    /// What release saw of ECS's rollback, when the verdict is `RolledBackByEcs`.
    pub ecs_rollback: Option<EcsRollback>,
    /// What release itself did after a failure.
    pub followup: Followup,
}

/// How the commands a summary suggests name the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// By its plan file.
    Plan(PathBuf),
    /// By cluster and service (`release rollback --cluster C --service S`).
    Service { cluster: String, service: String },
}

impl Address {
    /// The command that returns the service to revision `revision` of its family.
    pub fn rollback_to(&self, revision: &str) -> String {
        match self {
            Address::Plan(p) => format!("release rollback {} --to {revision}", p.display()),
            Address::Service { cluster, service } => {
                format!("release rollback --cluster {cluster} --service {service} --to {revision}")
            }
        }
    }

    /// The command that shows the service's state (`release status` needs a plan).
    pub fn status(&self) -> String {
        match self {
            Address::Plan(p) => format!("release status {}", p.display()),
            Address::Service { cluster, service } => {
                format!("aws ecs describe-services --cluster {cluster} --services {service}")
            }
        }
    }

    /// "to return to fam:rev: release rollback … --to rev  (or: aws ecs update-service …)".
    pub fn undo_hint(&self, cluster: &str, service: &str, previous: &str) -> String {
        let previous = short_task_definition(previous);
        format!(
            "to return to {previous}: {}  (or: aws ecs update-service --cluster {cluster} --service {service} --task-definition {previous} --force-new-deployment)",
            self.rollback_to(revision_of(previous)),
        )
    }
}

/// Where the rollout ran and what it started from.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub cluster: &'a str,
    pub service: &'a str,
    pub address: &'a Address,
    /// What the service ran before the command (an ARN or `family:revision`).
    pub previous: &'a str,
    /// The deployment the command started.
    pub deployment: &'a str,
    /// How long the command has run.
    pub elapsed: Duration,
    /// `rollout.timeout`.
    pub timeout: Duration,
}

/// What the user is told at the end: the exit code, the summary line, and the command to
/// run next (the undo, or where to look), when the service is not where it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub exit_code: ExitCode,
    pub summary: String,
    pub next: Option<String>,
}

/// Settles a watched rollout's end for the command that ran it.
pub fn settle(ending: Ending<'_>, role: Role<'_>, cx: Context<'_>) -> Outcome {
    let exit_code = exit_code(end_of(&ending), ending.followup);
    let (summary, next) = match role {
        Role::Deploy {
            version,
            digest,
            new,
        } => deploy_summary(&ending, version, digest, new, &cx),
        Role::Rollback { to } => rollback_summary(&ending, to, &cx),
        Role::Restart { revision } => restart_summary(&ending, revision, &cx),
    };
    Outcome {
        exit_code,
        summary,
        next,
    }
}

/// The exit code of a verify with no rollout before it (`release verify`, a deploy with
/// nothing to deploy): 6 when any check failed.
pub fn verified(failed_checks: usize) -> ExitCode {
    if failed_checks > 0 {
        ExitCode::Verify
    } else {
        ExitCode::Success
    }
}

/// How a rollout (and, for deploy, its verify) ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Succeeded,
    VerifyFailed,
    Failed,
    Stalled,
    /// `confirmed` when release saw ECS's rollback to its end.
    RolledBackByEcs {
        confirmed: bool,
    },
    Superseded,
    TimedOut,
}

fn end_of(ending: &Ending<'_>) -> End {
    match ending.verdict {
        Verdict::Succeeded { .. } if ending.verify_failed.is_some_and(|n| n > 0) => {
            End::VerifyFailed
        }
        Verdict::Succeeded { .. } | Verdict::Progressing(_) => End::Succeeded,
        Verdict::Failed { .. } => End::Failed,
        Verdict::Stalled { .. } => End::Stalled,
        Verdict::RolledBackByEcs { .. } => End::RolledBackByEcs {
            confirmed: matches!(ending.ecs_rollback, Some(EcsRollback::Completed { .. })),
        },
        Verdict::Superseded { .. } => End::Superseded,
        Verdict::TimedOut { .. } => End::TimedOut,
    }
}

/// The exit code of a rollout's end (README, "Exit codes").
fn exit_code(end: End, followup: Followup) -> ExitCode {
    let rolled_back = matches!(followup, Followup::RolledBack { .. });
    match end {
        End::Succeeded => ExitCode::Success,
        End::VerifyFailed | End::Failed | End::Stalled if rolled_back => ExitCode::RolledBack,
        End::VerifyFailed => ExitCode::Verify,
        End::Failed => ExitCode::Failed,
        End::Stalled => ExitCode::Stalled,
        End::RolledBackByEcs { confirmed: true } => ExitCode::RolledBack,
        End::RolledBackByEcs { confirmed: false } => ExitCode::Failed,
        End::Superseded => ExitCode::Failed,
        End::TimedOut => ExitCode::Timeout,
    }
}

fn deploy_summary(
    ending: &Ending<'_>,
    version: &str,
    digest: &str,
    new: &str,
    cx: &Context<'_>,
) -> (String, Option<String>) {
    let previous = short_task_definition(cx.previous);
    let undo_hint = cx.address.undo_hint(cx.cluster, cx.service, cx.previous);
    let undo = Some(cx.address.rollback_to(revision_of(cx.previous)));
    match (ending.verdict, ending.followup) {
        (Verdict::Succeeded { running, desired }, _) if !is_verify_failure(ending) => (
            format!(
                "released {version} ({digest}) as {new} (was {previous}): {running}/{desired} running, verified, in {}",
                short_duration(cx.elapsed)
            ),
            None,
        ),
        (Verdict::Superseded { by, task_definition }, _) => (
            format!(
                "deploy of {version} was superseded: deployment {by} of {} (not started by this release) took over; {new} is not what runs",
                short_task_definition(task_definition)
            ),
            Some(cx.address.status()),
        ),
        (Verdict::TimedOut { progress, reasons }, _) => (
            format!("{}; {undo_hint}", timed_out(new, cx.timeout, progress, reasons)),
            undo,
        ),
        (Verdict::RolledBackByEcs { to, reasons }, _) => {
            let to = short_task_definition(to);
            let (back, next) = match ending.ecs_rollback {
                Some(EcsRollback::Completed { running, desired }) => {
                    (format!("{running}/{desired} running"), None)
                }
                Some(EcsRollback::Incomplete(name)) => (
                    format!("ECS's rollback did not complete either ({name}); {undo_hint}"),
                    undo,
                ),
                Some(EcsRollback::NotFound) | None => (
                    format!(
                        "release could not find ECS's rollback deployment to follow, so it is not confirmed: see `{}`",
                        cx.address.status()
                    ),
                    Some(cx.address.status()),
                ),
            };
            (
                format!(
                    "deploy of {version} as {new} failed and ECS rolled the service back to {to}: {back}; release started no second rollback:\n{}",
                    bullet(reasons)
                ),
                next,
            )
        }
        // Failed, stalled or not verified: what release did after it.
        (_, Followup::RolledBack { running, desired }) => (
            format!("release rolled the service back to {previous}: {running}/{desired} running"),
            None,
        ),
        (_, Followup::RollbackFailed(name)) => (
            format!(
                "the rollback to {previous} did not succeed either ({name}); the service needs a person: {}",
                cx.address.status()
            ),
            undo,
        ),
        (_, Followup::Left | Followup::Nothing) => (
            format!("the service is left on {new} (rollout.on_failure = \"stop\"); {undo_hint}"),
            undo,
        ),
    }
}

fn is_verify_failure(ending: &Ending<'_>) -> bool {
    ending.verify_failed.is_some_and(|n| n > 0)
}

fn rollback_summary(ending: &Ending<'_>, to: &str, cx: &Context<'_>) -> (String, Option<String>) {
    let from = short_task_definition(cx.previous);
    let undo = cx.address.rollback_to(revision_of(cx.previous));
    let left = |what: &str, reasons: &[String]| {
        format!(
            "the rollback to {to} {what}:\n{}\nthe service is left on {to} (deployment {}); to return to {from}: {undo}",
            bullet(reasons),
            cx.deployment
        )
    };
    match ending.verdict {
        Verdict::Succeeded { running, desired } => (
            format!(
                "rolled back {}/{} to {to}: {running}/{desired} running",
                cx.cluster, cx.service
            ),
            None,
        ),
        Verdict::TimedOut { progress, reasons } => (
            format!(
                "{}; to return to {from}: {undo}",
                timed_out(to, cx.timeout, progress, reasons)
            ),
            Some(undo.clone()),
        ),
        Verdict::Failed { reasons } => (left("failed", reasons), Some(undo.clone())),
        Verdict::Stalled { reasons, .. } => (left("stalled", reasons), Some(undo.clone())),
        Verdict::RolledBackByEcs { to: back_to, reasons } => {
            let status = cx.address.status();
            let (seen, next) = match ending.ecs_rollback {
                Some(EcsRollback::Completed { running, desired }) => {
                    (format!(" ({running}/{desired} running)"), None)
                }
                Some(EcsRollback::Incomplete(_)) => (
                    format!(" (which did not complete either: see `{status}`)"),
                    Some(status.clone()),
                ),
                Some(EcsRollback::NotFound) | None => (
                    format!(" (release could not find its deployment to follow: see `{status}`)"),
                    Some(status.clone()),
                ),
            };
            (
                format!(
                    "the rollback to {to} failed and ECS (its circuit breaker or deployment alarms) returned the service to {}{seen}:\n{}",
                    short_task_definition(back_to),
                    bullet(reasons)
                ),
                next,
            )
        }
        Verdict::Superseded { by, .. } => (
            format!("the rollback to {to} was superseded by deployment {by}, which release did not start"),
            Some(cx.address.status()),
        ),
        Verdict::Progressing(_) => unreachable!("the watch ends only on a terminal verdict"),
    }
}

fn restart_summary(
    ending: &Ending<'_>,
    revision: &str,
    cx: &Context<'_>,
) -> (String, Option<String>) {
    let status = cx.address.status();
    let left = |what: &str, reasons: &[String]| {
        format!(
            "restart of {revision} {what}:\n{}\ndeployment {} is left as it is; see `{status}`",
            bullet(reasons),
            cx.deployment
        )
    };
    match ending.verdict {
        Verdict::Succeeded { running, desired } => (
            format!(
                "restarted {}/{} on {revision}: {running}/{desired} new tasks running, in {}",
                cx.cluster,
                cx.service,
                short_duration(cx.elapsed)
            ),
            None,
        ),
        Verdict::RolledBackByEcs { to, reasons } => {
            let confirmed = matches!(ending.ecs_rollback, Some(EcsRollback::Completed { .. }));
            (
                format!(
                    "restart of {revision} failed and ECS rolled the service back to {}{}:\n{}",
                    short_task_definition(to),
                    if confirmed {
                        String::new()
                    } else {
                        format!(" (not seen to its end: see `{status}`)")
                    },
                    bullet(reasons)
                ),
                (!confirmed).then(|| status.clone()),
            )
        }
        Verdict::Failed { reasons } => (left("failed", reasons), Some(status.clone())),
        Verdict::Stalled { reasons, .. } => (left("stalled", reasons), Some(status.clone())),
        Verdict::Superseded {
            by,
            task_definition,
        } => (
            format!(
                "restart was superseded: deployment {by} of {} (not started by this restart) took over",
                short_task_definition(task_definition)
            ),
            Some(status.clone()),
        ),
        Verdict::TimedOut { progress, reasons } => (
            timed_out(
                &format!("the restart of {revision}"),
                cx.timeout,
                progress,
                reasons,
            ),
            Some(status.clone()),
        ),
        Verdict::Progressing(_) => unreachable!("the watch ends only on a terminal verdict"),
    }
}

pub use crate::taskdef::name::revision_of;

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
    timeout: Duration,
    progress: &Progress,
    reasons: &[String],
) -> String {
    format!(
        "timed out after {} waiting for {waiting_for}: {}/{} running, {} pending, {} failed, {}\n{}the deployment goes on in ECS",
        humantime::format_duration(timeout),
        progress.ours.running,
        progress.ours.desired,
        progress.ours.pending,
        progress.ours.failed,
        progress.state(),
        if reasons.is_empty() { String::new() } else { format!("{}\n", bullet(reasons)) },
    )
}

/// `1m 05s` style for summaries.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::decision::Counts;

    fn progress() -> Progress {
        Progress {
            ours: Counts {
                running: 1,
                pending: 1,
                desired: 2,
                failed: 0,
            },
            rollout_state: Some("IN_PROGRESS".into()),
            status: None,
            stage: None,
            note: None,
            others: vec![],
        }
    }

    /// One of each terminal verdict (fields as the decision module fills them).
    fn verdicts() -> Vec<Verdict> {
        let reasons = vec!["(service s) failed to launch a task".to_string()];
        vec![
            Verdict::Succeeded {
                running: 2,
                desired: 2,
            },
            Verdict::Failed {
                reasons: reasons.clone(),
            },
            Verdict::Stalled {
                seconds: 180,
                reasons: reasons.clone(),
            },
            Verdict::RolledBackByEcs {
                to: "arn:aws:ecs:us-east-1:1:task-definition/app:96".into(),
                reasons: reasons.clone(),
            },
            Verdict::Superseded {
                by: "ecs-svc/999".into(),
                task_definition: "arn:aws:ecs:us-east-1:1:task-definition/app:98".into(),
            },
            Verdict::TimedOut {
                progress: progress(),
                reasons,
            },
        ]
    }

    const FOLLOWUPS: [Followup; 4] = [
        Followup::Nothing,
        Followup::Left,
        Followup::RolledBack {
            running: 2,
            desired: 2,
        },
        Followup::RollbackFailed("timed out"),
    ];

    const ECS_ROLLBACKS: [Option<EcsRollback>; 4] = [
        None,
        Some(EcsRollback::Completed {
            running: 2,
            desired: 2,
        }),
        Some(EcsRollback::Incomplete("failed")),
        Some(EcsRollback::NotFound),
    ];

    fn roles() -> [Role<'static>; 3] {
        [
            Role::Deploy {
                version: "1.4.2",
                digest: "sha256:abc",
                new: "app:97",
            },
            Role::Rollback { to: "app:95" },
            Role::Restart { revision: "app:96" },
        ]
    }

    /// README "Exit codes", written out independently of `exit_code`.
    fn documented_code(
        v: &Verdict,
        verify_failed: bool,
        ecs: Option<EcsRollback>,
        f: Followup,
    ) -> i32 {
        let rolled_back = matches!(f, Followup::RolledBack { .. });
        match v {
            Verdict::Succeeded { .. } if !verify_failed => 0,
            Verdict::Succeeded { .. } | Verdict::Failed { .. } | Verdict::Stalled { .. }
                if rolled_back =>
            {
                1
            }
            Verdict::Succeeded { .. } => 6,
            Verdict::Failed { .. } => 4,
            Verdict::Stalled { .. } => 15,
            Verdict::RolledBackByEcs { .. } => match ecs {
                Some(EcsRollback::Completed { .. }) => 1,
                _ => 4,
            },
            Verdict::Superseded { .. } => 4,
            Verdict::TimedOut { .. } => 5,
            Verdict::Progressing(_) => unreachable!(),
        }
    }

    #[test]
    fn every_verdict_followup_and_role_settles_to_its_documented_code_summary_and_next() {
        let plan = Address::Plan("plans/app.toml".into());
        let bare = Address::Service {
            cluster: "c".into(),
            service: "s".into(),
        };
        let mut cases = 0;
        for address in [&plan, &bare] {
            for role in roles() {
                for verdict in verdicts() {
                    for verify_failed in [None, Some(2)] {
                        for ecs_rollback in ECS_ROLLBACKS {
                            for followup in FOLLOWUPS {
                                let ending = Ending {
                                    verdict: &verdict,
                                    verify_failed,
                                    ecs_rollback,
                                    followup,
                                };
                                let cx = Context {
                                    cluster: "c",
                                    service: "s",
                                    address,
                                    previous: "arn:aws:ecs:us-east-1:1:task-definition/app:96",
                                    deployment: "ecs-svc/123",
                                    elapsed: Duration::from_secs(75),
                                    timeout: Duration::from_secs(600),
                                };
                                let o = settle(ending, role, cx);
                                let case = format!("{role:?} {verdict:?} {verify_failed:?} {ecs_rollback:?} {followup:?} {address:?}");
                                let verify = verify_failed.is_some();
                                assert_eq!(
                                    o.exit_code.code(),
                                    documented_code(&verdict, verify, ecs_rollback, followup),
                                    "{case}"
                                );
                                check_summary(
                                    &o,
                                    role,
                                    &verdict,
                                    verify,
                                    ecs_rollback,
                                    followup,
                                    address,
                                    &case,
                                );
                                cases += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(cases, 2 * 3 * 6 * 2 * 4 * 4);
    }

    /// What each summary must say, and when a next command is owed.
    #[allow(clippy::too_many_arguments)]
    fn check_summary(
        o: &Outcome,
        role: Role<'_>,
        verdict: &Verdict,
        verify_failed: bool,
        ecs: Option<EcsRollback>,
        followup: Followup,
        address: &Address,
        case: &str,
    ) {
        let s = &o.summary;
        // A command suggested is one that exists: `release status` only with a plan.
        if let Some(next) = &o.next {
            assert!(
                next.starts_with("release rollback ")
                    || next.starts_with("release status plans/")
                    || next.starts_with("aws ecs describe-services"),
                "{case}: {next}"
            );
            if matches!(address, Address::Service { .. }) {
                assert!(!next.starts_with("release status"), "{case}: {next}");
            }
        }
        assert!(!s.contains("release status --cluster"), "{case}: {s}");
        let success = matches!(verdict, Verdict::Succeeded { .. })
            && !(verify_failed && matches!(role, Role::Deploy { .. }));
        if success {
            assert_eq!(o.next, None, "{case}");
            assert!(s.contains("2/2"), "{case}: {s}");
            return;
        }
        // Every failure says why (ECS's reasons) or what took over.
        match verdict {
            Verdict::Failed { reasons }
            | Verdict::Stalled { reasons, .. }
            | Verdict::RolledBackByEcs { reasons, .. } => {
                // Deploy said them in its `failed` event before its follow-up; the summary
                // says what followed.
                let said_before = matches!(role, Role::Deploy { .. })
                    && !matches!(verdict, Verdict::RolledBackByEcs { .. });
                if !said_before {
                    assert!(s.contains(&reasons[0]), "{case}: {s}");
                }
            }
            Verdict::Superseded { by, .. } => assert!(s.contains(by.as_str()), "{case}: {s}"),
            Verdict::TimedOut { .. } => assert!(s.contains("timed out after 10m"), "{case}: {s}"),
            _ => {}
        }
        // The service is back where it began only when a rollback was seen to its end.
        let back = match verdict {
            Verdict::RolledBackByEcs { .. } => matches!(ecs, Some(EcsRollback::Completed { .. })),
            Verdict::Superseded { .. } | Verdict::TimedOut { .. } => false,
            _ => {
                matches!(role, Role::Deploy { .. })
                    && matches!(followup, Followup::RolledBack { .. })
            }
        };
        assert_eq!(o.next.is_none(), back, "{case}: next {:?}", o.next);
        if let (
            Role::Deploy { .. } | Role::Rollback { .. },
            Verdict::TimedOut { .. } | Verdict::Failed { .. } | Verdict::Stalled { .. },
        ) = (role, verdict)
        {
            if !back {
                let next = o.next.as_deref().unwrap_or_default();
                assert!(
                    next.ends_with("--to 96"),
                    "the undo returns to what ran before: {case}: {next}"
                );
            }
        }
    }

    #[test]
    fn undo_names_the_plan_or_the_service_and_the_revision_before() {
        let plan = Address::Plan("plans/app.toml".into());
        assert_eq!(
            plan.rollback_to("96"),
            "release rollback plans/app.toml --to 96"
        );
        assert_eq!(plan.status(), "release status plans/app.toml");
        let bare = Address::Service {
            cluster: "c".into(),
            service: "s".into(),
        };
        assert_eq!(
            bare.rollback_to("96"),
            "release rollback --cluster c --service s --to 96"
        );
        assert_eq!(
            bare.status(),
            "aws ecs describe-services --cluster c --services s"
        );
        assert_eq!(
            plan.undo_hint("c", "s", "arn:aws:ecs:us-east-1:1:task-definition/app:96"),
            "to return to app:96: release rollback plans/app.toml --to 96  (or: aws ecs update-service --cluster c --service s --task-definition app:96 --force-new-deployment)"
        );
    }

    #[test]
    fn a_verify_alone_fails_with_6() {
        assert_eq!(verified(0).code(), 0);
        assert_eq!(verified(1).code(), 6);
    }

    #[test]
    fn durations_read_as_seconds_then_minutes() {
        assert_eq!(short_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(short_duration(Duration::from_secs(65)), "1m 05s");
    }
}
