//! The rollout decision: given what was observed, is our deployment done, failed, rolled
//! back, superseded, stalled, timed out, or still progressing? A pure function, table- and
//! fixture-tested.
//!
//! Sources (ECS API reference and developer guide):
//! - API_ServiceDeployment: `status` PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED,
//!   STOP_REQUESTED, ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL,
//!   ROLLBACK_FAILED, with `statusReason`, `lifecycleStage` and `rollback`. When our service
//!   deployment is readable, ECS's status is the verdict: success only at SUCCESSFUL.
//! - API_Deployment: `status` PRIMARY/ACTIVE/INACTIVE, `rolloutState` IN_PROGRESS/COMPLETED/
//!   FAILED (optional), `failedTasks` (reset once a task of the deployment runs). Used for
//!   counts, and for the verdict when the ServiceDeployment API is unavailable or denied.
//! - Developer guide, "How the Amazon ECS deployment circuit breaker detects failures": the
//!   failed-task threshold is 0.5 x desired count, bounded to 3..=200; with rollback on, ECS
//!   rolls back to the last deployment in the COMPLETED state, and when there is none it
//!   does not roll back. So "rolled back by ECS" needs evidence (a rollback status, ECS's
//!   rollback event, or a new PRIMARY on the previous revision), never the setting alone.
//! - API reference, "Eventual consistency": a read right after UpdateService may not show
//!   the new deployment yet. A deployment we started and cannot see is "not visible yet"
//!   for `VISIBILITY_GRACE_READS` reads; superseded only when a deployment that is neither
//!   ours nor listed before UpdateService becomes PRIMARY.
//! - Developer guide, service event messages: "(service x) was unable to place a task
//!   because no container instance met all of its requirements." A deployment with no
//!   running task while ECS says so for `rollout.stall` is stalled.

use std::time::Duration;

use super::observation::{short_task_definition, Deployment, Service, ServiceDeployment, Task};

/// Reads in which a deployment UpdateService created may still be missing (eventual
/// consistency) before its absence means something.
pub const VISIBILITY_GRACE_READS: u32 = 3;

/// Reads after our deployment went FAILED in which ECS's rollback may still appear, when
/// the service is configured to roll back.
pub const ROLLBACK_GRACE_READS: u32 = 3;

/// The text ECS writes when it cannot place a task (service event messages).
pub const UNABLE_TO_PLACE: &str = "unable to place a task";

/// The deployment we created and are watching.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Target {
    /// The deployment id UpdateService created (`ecs-svc/…`).
    pub deployment_id: String,
    /// Its task-definition ARN.
    pub task_definition: String,
    /// The task definition PRIMARY before our change, if any.
    pub previous_task_definition: Option<String>,
    /// Epoch seconds when the deploy started (events older than this are not ours).
    pub since: f64,
    /// The service deployment ARN UpdateService answered with (`currentServiceDeployment`),
    /// when the endpoint reports one.
    pub service_deployment: Option<String>,
    /// Deployment ids listed before UpdateService: what a stale read still shows.
    pub known_before: Vec<String>,
}

/// What the watch remembers across polls, as the decision needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Whether any read has listed our deployment.
    pub seen: bool,
    /// Reads that did not list our deployment while it had never been listed.
    pub unseen_reads: u32,
    /// Reads that showed our deployment FAILED.
    pub failed_reads: u32,
    /// How long our deployment has run no task while ECS reports it cannot place one.
    pub placement_stalled_for: Option<Duration>,
}

/// What the watch observed in one poll.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub service: Service,
    /// Stopped tasks started by our deployment (fetched only when the failed count grows).
    pub stopped_tasks: Vec<Task>,
    /// Our service deployment (DescribeServiceDeployments), when the API answered with it.
    pub service_deployment: Option<ServiceDeployment>,
    pub history: History,
}

/// How long the watch may go on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// `rollout.timeout`, from UpdateService.
    pub timeout: Duration,
    /// `rollout.stall`.
    pub stall: Duration,
}

/// Counts of one deployment, for progress display.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Counts {
    pub running: i32,
    pub pending: i32,
    pub desired: i32,
    pub failed: i32,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Progress {
    /// Our deployment's counts.
    pub ours: Counts,
    /// The rollout state ECS reports (IN_PROGRESS, …), or null when it reports none.
    pub rollout_state: Option<String>,
    /// The service deployment's status and lifecycle stage (IN_PROGRESS, BAKE_TIME, …),
    /// when the ServiceDeployment API answered.
    pub status: Option<String>,
    pub stage: Option<String>,
    /// Why the watch waits although the read looks final ("not visible yet", …).
    pub note: Option<String>,
    /// Other deployments still listed (draining old ones), as `family:rev running/desired`.
    pub others: Vec<(String, Counts)>,
}

impl Progress {
    /// `IN_PROGRESS`, `IN_PROGRESS BAKE_TIME` or `-`: what ECS says of the rollout.
    pub fn state(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        match (&self.status, &self.rollout_state) {
            (Some(s), _) => parts.push(s),
            (None, Some(r)) => parts.push(r),
            (None, None) => parts.push("-"),
        }
        if let Some(stage) = &self.stage {
            parts.push(stage);
        }
        parts.join(" ")
    }
}

/// The verdict of one observation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Progressing(Progress),
    Succeeded {
        running: i32,
        desired: i32,
    },
    /// Our deployment failed and nothing rolled it back.
    Failed {
        reasons: Vec<String>,
    },
    /// ECS is rolling (or rolled) our deployment back to `to` (a task-definition ARN, or a
    /// description when ECS names only a service revision).
    RolledBackByEcs {
        to: String,
        reasons: Vec<String>,
    },
    /// A deployment we did not create took over.
    Superseded {
        by: String,
        task_definition: String,
    },
    /// Our deployment runs no task and ECS cannot place one, for `rollout.stall`.
    Stalled {
        seconds: u64,
        reasons: Vec<String>,
    },
    TimedOut {
        progress: Progress,
        reasons: Vec<String>,
    },
}

impl Verdict {
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Verdict::Progressing(_))
    }

    /// A short name: succeeded, failed, rolled back by ECS, …
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Progressing(_) => "progressing",
            Verdict::Succeeded { .. } => "succeeded",
            Verdict::Failed { .. } => "failed",
            Verdict::RolledBackByEcs { .. } => "rolled back by ECS",
            Verdict::Superseded { .. } => "superseded",
            Verdict::Stalled { .. } => "stalled",
            Verdict::TimedOut { .. } => "timed out",
        }
    }
}

/// The circuit breaker's failed-task threshold for a desired count.
pub fn breaker_threshold(desired: i32) -> i32 {
    ((desired + 1) / 2).clamp(3, 200)
}

/// Whether ECS itself will roll a failed deployment back: the circuit breaker's rollback,
/// or deployment alarms with rollback (API_DeploymentCircuitBreaker, API_DeploymentAlarms).
pub fn ecs_rolls_back(service: &Service) -> bool {
    let config = service.deployment_configuration.as_ref();
    let breaker = config
        .and_then(|c| c.deployment_circuit_breaker.as_ref())
        .is_some_and(|b| b.enable && b.rollback);
    let alarms = config
        .and_then(|c| c.alarms.as_ref())
        .is_some_and(|a| a.enable && a.rollback);
    breaker || alarms
}

/// Decides the state of our deployment from one observation.
pub fn decide(obs: &Observation, target: &Target, elapsed: Duration, limits: Limits) -> Verdict {
    let service = &obs.service;
    let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
    let ours = service
        .deployments
        .iter()
        .find(|d| d.id == target.deployment_id);
    // A PRIMARY that is neither ours nor one listed before UpdateService: someone's new one.
    let newcomer =
        primary.filter(|p| p.id != target.deployment_id && !target.known_before.contains(&p.id));
    let sd = obs.service_deployment.as_ref();

    // 1. ECS's own status for our service deployment, when the API gave it.
    if let Some(sd) = sd {
        if let Some(v) = from_service_deployment(obs, target, sd, ours, newcomer) {
            return v;
        }
    }

    // 2. The deployment list (always for counts; for the verdict too without the API).
    let Some(ours) = ours else {
        if let Some(p) = newcomer {
            return if ecs_rolled_back(obs, target, &p.task_definition) {
                Verdict::RolledBackByEcs {
                    to: p.task_definition.clone(),
                    reasons: reasons(obs, target, None),
                }
            } else {
                Verdict::Superseded {
                    by: p.id.clone(),
                    task_definition: p.task_definition.clone(),
                }
            };
        }
        if sd.is_some() || (!obs.history.seen && obs.history.unseen_reads <= VISIBILITY_GRACE_READS)
        {
            return progressing_or_timeout(
                obs,
                target,
                None,
                elapsed,
                limits,
                Some(format!(
                    "deployment {} is not visible yet (reads are eventually consistent)",
                    target.deployment_id
                )),
            );
        }
        return Verdict::Failed {
            reasons: vec![if obs.history.seen {
                format!(
                    "deployment {} is no longer listed and no other deployment took over",
                    target.deployment_id
                )
            } else {
                format!(
                    "deployment {} that UpdateService started is not listed after {} reads of the service",
                    target.deployment_id, obs.history.unseen_reads
                )
            }],
        };
    };

    if ours.rollout_state.as_deref() == Some("FAILED") {
        let reasons = reasons(obs, target, ours.rollout_state_reason.as_deref());
        if let Some(p) = primary.filter(|p| p.id != ours.id) {
            if ecs_rolled_back(obs, target, &p.task_definition) {
                return Verdict::RolledBackByEcs {
                    to: p.task_definition.clone(),
                    reasons,
                };
            }
        }
        // ECS's own status for our service deployment decides what follows a FAILED list
        // entry (the two reads are separately consistent): wait for STOPPED or ROLLBACK_*.
        if sd.is_some() {
            return progressing_or_timeout(
                obs,
                target,
                Some(ours),
                elapsed,
                limits,
                Some("FAILED; waiting for ECS's service-deployment status".into()),
            );
        }
        if ecs_rolls_back(service) && obs.history.failed_reads < ROLLBACK_GRACE_READS {
            return progressing_or_timeout(
                obs,
                target,
                Some(ours),
                elapsed,
                limits,
                Some("FAILED; waiting for ECS's rollback to show".into()),
            );
        }
        let mut reasons = reasons;
        if ecs_rolls_back(service) {
            reasons.push(format!(
                "ECS did not roll back within {ROLLBACK_GRACE_READS} reads (it rolls back only to a deployment that COMPLETED)"
            ));
        }
        return Verdict::Failed { reasons };
    }

    if ours.status != "PRIMARY" {
        if let Some(p) = primary.filter(|p| p.id != ours.id) {
            if ecs_rolled_back(obs, target, &p.task_definition) {
                return Verdict::RolledBackByEcs {
                    to: p.task_definition.clone(),
                    reasons: reasons(obs, target, ours.rollout_state_reason.as_deref()),
                };
            }
            if newcomer.is_some() {
                return Verdict::Superseded {
                    by: p.id.clone(),
                    task_definition: p.task_definition.clone(),
                };
            }
        }
    }

    // Without ECS's service-deployment status: PRIMARY, COMPLETED (or running = desired
    // where ECS gives no rollout state), the only deployment left, and full.
    let done_state = match ours.rollout_state.as_deref() {
        Some(state) => state == "COMPLETED",
        None => ours.running_count == ours.desired_count,
    };
    if sd.is_none()
        && ours.status == "PRIMARY"
        && done_state
        && service.deployments.len() == 1
        && ours.running_count == ours.desired_count
    {
        return Verdict::Succeeded {
            running: ours.running_count,
            desired: ours.desired_count,
        };
    }

    let breaker_on = service
        .deployment_configuration
        .as_ref()
        .and_then(|c| c.deployment_circuit_breaker.as_ref())
        .is_some_and(|b| b.enable);
    if !breaker_on && ours.failed_tasks >= breaker_threshold(ours.desired_count) {
        let mut r = reasons(obs, target, None);
        r.insert(
            0,
            format!(
                "{} tasks of this deployment failed (the circuit breaker would stop at {}; it is off for this service)",
                ours.failed_tasks,
                breaker_threshold(ours.desired_count)
            ),
        );
        return Verdict::Failed { reasons: r };
    }

    if let Some(stalled) = obs.history.placement_stalled_for {
        if stalled >= limits.stall && ours.running_count == 0 {
            let mut r = reasons(obs, target, None);
            r.insert(
                0,
                format!(
                    "no task of this deployment has run for {}: ECS cannot place one",
                    humantime::format_duration(Duration::from_secs(stalled.as_secs()))
                ),
            );
            return Verdict::Stalled {
                seconds: stalled.as_secs(),
                reasons: r,
            };
        }
    }

    progressing_or_timeout(obs, target, Some(ours), elapsed, limits, None)
}

/// The verdict ECS's service-deployment status gives, or None to read on.
fn from_service_deployment(
    obs: &Observation,
    target: &Target,
    sd: &ServiceDeployment,
    ours: Option<&Deployment>,
    newcomer: Option<&Deployment>,
) -> Option<Verdict> {
    let why = sd.status_reason.as_deref();
    match sd.status.as_str() {
        "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS" | "ROLLBACK_SUCCESSFUL" => {
            let mut r = reasons(
                obs,
                target,
                ours.and_then(|d| d.rollout_state_reason.as_deref()),
            );
            if let Some(w) = why.filter(|w| !r.iter().any(|x| x == w)) {
                r.insert(0, w.to_string());
            }
            if let Some(w) = sd.rollback.as_ref().and_then(|r| r.reason.clone()) {
                if !r.contains(&w) {
                    r.push(w);
                }
            }
            let to = obs
                .service
                .deployments
                .iter()
                .find(|d| d.status == "PRIMARY" && d.id != target.deployment_id)
                .map(|d| d.task_definition.clone())
                .or_else(|| target.previous_task_definition.clone())
                .unwrap_or_else(|| "the last completed revision".into());
            Some(Verdict::RolledBackByEcs { to, reasons: r })
        }
        "ROLLBACK_FAILED" => {
            let mut r = vec![format!(
                "ECS's rollback failed{}",
                why.map(|w| format!(": {w}")).unwrap_or_default()
            )];
            r.extend(reasons(obs, target, None));
            Some(Verdict::Failed { reasons: r })
        }
        "STOPPED" | "STOP_REQUESTED" => {
            if let Some(p) = newcomer {
                return Some(Verdict::Superseded {
                    by: p.id.clone(),
                    task_definition: p.task_definition.clone(),
                });
            }
            let mut r = vec![format!(
                "ECS stopped the service deployment ({}){}",
                sd.status,
                why.map(|w| format!(": {w}")).unwrap_or_default()
            )];
            // ECS's statusReason often repeats the deployment's rolloutStateReason.
            let rollout_reason = ours
                .and_then(|d| d.rollout_state_reason.as_deref())
                .filter(|r| Some(*r) != why);
            r.extend(reasons(obs, target, rollout_reason));
            if ecs_rolls_back(&obs.service) {
                r.push(
                    "ECS did not roll back (it rolls back only to a deployment that COMPLETED)"
                        .into(),
                );
            }
            Some(Verdict::Failed { reasons: r })
        }
        "SUCCESSFUL" => {
            let (running, desired, primary) = match ours {
                Some(d) => (d.running_count, d.desired_count, d.status == "PRIMARY"),
                None => {
                    let t = sd.target_service_revision.clone().unwrap_or_default();
                    (t.running_task_count, t.requested_task_count, true)
                }
            };
            (primary && running == desired).then_some(Verdict::Succeeded { running, desired })
        }
        _ => None,
    }
}

fn progressing_or_timeout(
    obs: &Observation,
    target: &Target,
    ours: Option<&Deployment>,
    elapsed: Duration,
    limits: Limits,
    note: Option<String>,
) -> Verdict {
    let sd = obs.service_deployment.as_ref();
    let progress = Progress {
        ours: ours.map(counts).unwrap_or_default(),
        rollout_state: ours.and_then(|d| d.rollout_state.clone()),
        status: sd.map(|s| s.status.clone()),
        stage: sd.and_then(|s| s.lifecycle_stage.clone()),
        note,
        others: obs
            .service
            .deployments
            .iter()
            .filter(|d| d.id != target.deployment_id)
            .map(|d| {
                (
                    short_task_definition(&d.task_definition).to_string(),
                    counts(d),
                )
            })
            .collect(),
    };
    if elapsed >= limits.timeout {
        return Verdict::TimedOut {
            progress,
            reasons: reasons(obs, target, None),
        };
    }
    Verdict::Progressing(progress)
}

/// Whether ECS itself rolled our deployment back to `primary_task_definition`: it is the
/// previous task definition and ECS wrote its rollback event since the deploy started
/// ("rolling back to deployment …"), or our service deployment says it is rolling back.
/// Without that evidence, a newer deployment is someone else's, even when it runs the
/// previous revision.
fn ecs_rolled_back(obs: &Observation, target: &Target, primary_task_definition: &str) -> bool {
    if obs
        .service_deployment
        .as_ref()
        .is_some_and(|s| s.rolling_back())
    {
        return true;
    }
    target.previous_task_definition.as_deref() == Some(primary_task_definition)
        && obs.service.events.iter().any(|e| {
            e.created_at.is_none_or(|t| t + 1.0 >= target.since)
                && (e.message.contains("rolling back to deployment")
                    || e.message.contains(&format!(
                        "(deployment {}) deployment failed",
                        target.deployment_id
                    )))
        })
}

/// Whether ECS says it cannot place a task: among the events since the deploy started,
/// the newest placement failure is newer than the newest "has started N tasks" (ECS lists
/// events newest first). An early placement failure followed by tasks that were placed
/// and are still starting is not a stall.
pub fn placement_blocked(service: &Service, since: f64) -> bool {
    service
        .events
        .iter()
        .filter(|e| e.created_at.is_none_or(|t| t + 1.0 >= since))
        .find(|e| e.message.contains(UNABLE_TO_PLACE) || e.message.contains("has started"))
        .is_some_and(|e| e.message.contains(UNABLE_TO_PLACE))
}

fn counts(d: &Deployment) -> Counts {
    Counts {
        running: d.running_count,
        pending: d.pending_count,
        desired: d.desired_count,
        failed: d.failed_tasks,
    }
}

/// Why a deployment failed: ECS's own reason, the stopped tasks' reasons and exit codes,
/// and the latest placement failure since the deploy started.
fn reasons(obs: &Observation, target: &Target, rollout_reason: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = rollout_reason.filter(|r| !r.is_empty()) {
        out.push(r.to_string());
    } else if let Some(e) = obs.service.events.iter().find(|e| {
        e.message.contains(&format!(
            "(deployment {}) deployment failed",
            target.deployment_id
        ))
    }) {
        // The FAILED deployment is gone from the list (ECS's rollback finished between two
        // polls): its failure event still says why.
        out.push(e.message.clone());
    }
    let mut seen = std::collections::BTreeSet::new();
    for task in obs
        .stopped_tasks
        .iter()
        .filter(|t| t.started_by.as_deref() == Some(target.deployment_id.as_str()))
    {
        let exits: Vec<String> = task
            .containers
            .iter()
            .filter_map(|c| {
                c.exit_code
                    .map(|code| format!("{} exited {}", c.name, code))
            })
            .collect();
        let line = format!(
            "{}{}",
            task.stopped_reason.as_deref().unwrap_or("stopped"),
            if exits.is_empty() {
                String::new()
            } else {
                format!(" ({})", exits.join(", "))
            }
        );
        if seen.insert(line.clone()) {
            out.push(format!("task {}: {}", task.id(), line));
        }
    }
    if let Some(e) = obs
        .service
        .events
        .iter()
        .filter(|e| e.created_at.is_none_or(|t| t >= target.since))
        .find(|e| e.message.contains(UNABLE_TO_PLACE))
    {
        out.push(e.message.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::observation::{CircuitBreaker, Deployment, DeploymentConfiguration};

    const OLD: &str = "arn:aws:ecs:us-east-1:1:task-definition/app:1";
    const NEW: &str = "arn:aws:ecs:us-east-1:1:task-definition/app:2";

    fn dep(id: &str, status: &str, td: &str, running: i32, state: Option<&str>) -> Deployment {
        Deployment {
            id: id.into(),
            status: status.into(),
            task_definition: td.into(),
            desired_count: 2,
            running_count: running,
            rollout_state: state.map(Into::into),
            ..Default::default()
        }
    }

    fn target() -> Target {
        Target {
            deployment_id: "ecs-svc/2".into(),
            task_definition: NEW.into(),
            previous_task_definition: Some(OLD.into()),
            since: 0.0,
            service_deployment: None,
            known_before: vec!["ecs-svc/1".into()],
        }
    }

    fn decide_t(o: &Observation, t: &Target, elapsed: Duration, timeout: Duration) -> Verdict {
        decide(
            o,
            t,
            elapsed,
            Limits {
                timeout,
                stall: Duration::from_secs(180),
            },
        )
    }

    fn obs(deployments: Vec<Deployment>, breaker: (bool, bool)) -> Observation {
        Observation {
            service: Service {
                deployments,
                deployment_configuration: Some(DeploymentConfiguration {
                    deployment_circuit_breaker: Some(CircuitBreaker {
                        enable: breaker.0,
                        rollback: breaker.1,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    const T: Duration = Duration::from_secs(600);

    #[test]
    fn success_needs_ours_alone_completed_and_full() {
        let s = Duration::from_secs(1);
        let o = obs(
            vec![dep("ecs-svc/2", "PRIMARY", NEW, 2, Some("COMPLETED"))],
            (true, true),
        );
        assert!(matches!(
            decide_t(&o, &target(), s, T),
            Verdict::Succeeded { .. }
        ));
        // old deployment still draining: not yet
        let o = obs(
            vec![
                dep("ecs-svc/2", "PRIMARY", NEW, 2, Some("IN_PROGRESS")),
                dep("ecs-svc/1", "ACTIVE", OLD, 1, Some("COMPLETED")),
            ],
            (true, true),
        );
        assert!(matches!(
            decide_t(&o, &target(), s, T),
            Verdict::Progressing(_)
        ));
        // no rolloutState: running = desired and alone
        let o = obs(
            vec![dep("ecs-svc/2", "PRIMARY", NEW, 2, None)],
            (false, false),
        );
        assert!(matches!(
            decide_t(&o, &target(), s, T),
            Verdict::Succeeded { .. }
        ));
        let o = obs(
            vec![dep("ecs-svc/2", "PRIMARY", NEW, 1, None)],
            (false, false),
        );
        assert!(matches!(
            decide_t(&o, &target(), s, T),
            Verdict::Progressing(_)
        ));
    }

    #[test]
    fn someone_elses_completed_deployment_is_never_success() {
        let o = obs(
            vec![dep("ecs-svc/3", "PRIMARY", NEW, 2, Some("COMPLETED"))],
            (true, true),
        );
        assert!(matches!(
            decide_t(&o, &target(), Duration::ZERO, T),
            Verdict::Superseded { .. }
        ));
    }

    #[test]
    fn a_manual_return_to_the_previous_revision_is_not_an_ecs_rollback() {
        let o = obs(
            vec![
                dep("ecs-svc/3", "PRIMARY", OLD, 0, Some("IN_PROGRESS")),
                dep("ecs-svc/2", "ACTIVE", NEW, 1, Some("IN_PROGRESS")),
            ],
            (true, true),
        );
        assert!(matches!(
            decide_t(&o, &target(), Duration::ZERO, T),
            Verdict::Superseded { .. }
        ));
        let mut o = o;
        o.service
            .events
            .push(crate::rollout::observation::ServiceEvent {
                id: "e".into(),
                created_at: Some(1.0),
                message: "(service app) rolling back to deployment ecs-svc/1.".into(),
            });
        assert!(matches!(
            decide_t(&o, &target(), Duration::ZERO, T),
            Verdict::RolledBackByEcs { .. }
        ));
    }

    #[test]
    fn threshold_is_bounded() {
        assert_eq!(breaker_threshold(2), 3);
        assert_eq!(breaker_threshold(10), 5);
        assert_eq!(breaker_threshold(1000), 200);
    }

    #[test]
    fn breaker_off_fails_at_threshold() {
        let mut d = dep("ecs-svc/2", "PRIMARY", NEW, 0, Some("IN_PROGRESS"));
        d.failed_tasks = 3;
        let o = obs(vec![d], (false, false));
        match decide_t(&o, &target(), Duration::ZERO, T) {
            Verdict::Failed { reasons } => assert!(reasons[0].contains("3 tasks")),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn timeout_is_exact() {
        let o = obs(
            vec![dep("ecs-svc/2", "PRIMARY", NEW, 0, Some("IN_PROGRESS"))],
            (true, true),
        );
        assert!(matches!(
            decide_t(&o, &target(), T - Duration::from_millis(1), T),
            Verdict::Progressing(_)
        ));
        assert!(matches!(
            decide_t(&o, &target(), T, T),
            Verdict::TimedOut { .. }
        ));
    }

    fn sd(status: &str) -> ServiceDeployment {
        ServiceDeployment {
            service_deployment_arn: "arn:aws:ecs:us-east-1:1:service-deployment/c/s/x".into(),
            status: status.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_stale_read_is_not_visible_yet_then_a_failure_never_superseded() {
        // Eventual consistency: the read shows only the deployment listed before UpdateService.
        let mut o = obs(
            vec![dep("ecs-svc/1", "PRIMARY", OLD, 2, Some("COMPLETED"))],
            (true, true),
        );
        for reads in 1..=VISIBILITY_GRACE_READS {
            o.history.unseen_reads = reads;
            match decide_t(&o, &target(), Duration::ZERO, T) {
                Verdict::Progressing(p) => assert!(p.note.unwrap().contains("not visible yet")),
                v => panic!("{v:?}"),
            }
        }
        o.history.unseen_reads = VISIBILITY_GRACE_READS + 1;
        assert!(matches!(
            decide_t(&o, &target(), Duration::ZERO, T),
            Verdict::Failed { .. }
        ));
        // Our service deployment is readable: it exists, so keep waiting for the list.
        o.service_deployment = Some(sd("IN_PROGRESS"));
        assert!(matches!(
            decide_t(&o, &target(), Duration::ZERO, T),
            Verdict::Progressing(_)
        ));
        // A PRIMARY that is neither ours nor listed before: superseded, at once.
        let o = obs(
            vec![
                dep("ecs-svc/9", "PRIMARY", NEW, 0, Some("IN_PROGRESS")),
                dep("ecs-svc/1", "ACTIVE", OLD, 2, Some("COMPLETED")),
            ],
            (true, true),
        );
        assert!(matches!(
            decide_t(&o, &target(), Duration::ZERO, T),
            Verdict::Superseded { .. }
        ));
    }

    #[test]
    fn failed_with_rollback_configured_is_rolled_back_only_when_ecs_shows_it() {
        let failed = || dep("ecs-svc/2", "PRIMARY", NEW, 0, Some("FAILED"));
        let mut o = obs(
            vec![
                failed(),
                dep("ecs-svc/1", "ACTIVE", OLD, 2, Some("COMPLETED")),
            ],
            (true, true),
        );
        o.history.failed_reads = 1;
        match decide_t(&o, &target(), Duration::ZERO, T) {
            Verdict::Progressing(p) => assert!(p.note.unwrap().contains("waiting for ECS")),
            v => panic!("{v:?}"),
        }
        // No rollback shows (no COMPLETED deployment to return to): a failure, said so.
        o.history.failed_reads = ROLLBACK_GRACE_READS;
        match decide_t(&o, &target(), Duration::ZERO, T) {
            Verdict::Failed { reasons } => {
                assert!(reasons.last().unwrap().contains("ECS did not roll back"))
            }
            v => panic!("{v:?}"),
        }
        // Rollback off: a failure at once.
        let mut o = obs(vec![failed()], (true, false));
        o.history.failed_reads = 1;
        assert!(matches!(
            decide_t(&o, &target(), Duration::ZERO, T),
            Verdict::Failed { .. }
        ));
        // ECS's rollback deployment on the previous revision, with its event.
        let mut o = obs(
            vec![
                dep("ecs-svc/3", "PRIMARY", OLD, 0, Some("IN_PROGRESS")),
                failed(),
            ],
            (true, true),
        );
        o.service
            .events
            .push(crate::rollout::observation::ServiceEvent {
                id: "e".into(),
                created_at: Some(1.0),
                message: "(service app) rolling back to deployment ecs-svc/1.".into(),
            });
        assert!(matches!(
            decide_t(&o, &target(), Duration::ZERO, T),
            Verdict::RolledBackByEcs { .. }
        ));
    }

    #[test]
    fn service_deployment_status_is_the_verdict() {
        let listed = |state| vec![dep("ecs-svc/2", "PRIMARY", NEW, 2, Some(state))];
        let table: Vec<(&str, Vec<Deployment>, &str)> = vec![
            ("SUCCESSFUL", listed("COMPLETED"), "succeeded"),
            // the list says COMPLETED, ECS's status not yet: wait (blue/green bake)
            ("IN_PROGRESS", listed("COMPLETED"), "progressing"),
            ("PENDING", listed("IN_PROGRESS"), "progressing"),
            ("ROLLBACK_REQUESTED", listed("FAILED"), "rolled back by ECS"),
            (
                "ROLLBACK_IN_PROGRESS",
                listed("FAILED"),
                "rolled back by ECS",
            ),
            (
                "ROLLBACK_SUCCESSFUL",
                vec![dep("ecs-svc/3", "PRIMARY", OLD, 2, Some("COMPLETED"))],
                "rolled back by ECS",
            ),
            ("ROLLBACK_FAILED", listed("FAILED"), "failed"),
            ("STOPPED", listed("IN_PROGRESS"), "failed"),
            ("STOP_REQUESTED", listed("IN_PROGRESS"), "failed"),
        ];
        for (status, deployments, want) in table {
            let mut o = obs(deployments, (true, true));
            o.service_deployment = Some(sd(status));
            let v = decide_t(&o, &target(), Duration::ZERO, T);
            assert_eq!(v.name(), want, "{status}: {v:?}");
        }
        // SUCCESSFUL but the list still shows ours short of desired: wait for the counts.
        let mut o = obs(
            vec![dep("ecs-svc/2", "PRIMARY", NEW, 1, Some("COMPLETED"))],
            (true, true),
        );
        o.service_deployment = Some(sd("SUCCESSFUL"));
        assert_eq!(
            decide_t(&o, &target(), Duration::ZERO, T).name(),
            "progressing"
        );
        // STOPPED because someone else's deployment took over: superseded.
        let mut o = obs(
            vec![
                dep("ecs-svc/9", "PRIMARY", NEW, 0, Some("IN_PROGRESS")),
                dep("ecs-svc/2", "ACTIVE", NEW, 2, Some("IN_PROGRESS")),
            ],
            (true, true),
        );
        o.service_deployment = Some(sd("STOPPED"));
        assert_eq!(
            decide_t(&o, &target(), Duration::ZERO, T).name(),
            "superseded"
        );
    }

    #[test]
    fn a_failed_list_entry_waits_for_ecs_s_service_deployment_status() {
        let mut o = obs(
            vec![dep("ecs-svc/2", "PRIMARY", NEW, 0, Some("FAILED"))],
            (true, true),
        );
        o.history.failed_reads = 10;
        o.service_deployment = Some(sd("IN_PROGRESS"));
        assert_eq!(
            decide_t(&o, &target(), Duration::ZERO, T).name(),
            "progressing"
        );
        o.service_deployment = Some(sd("ROLLBACK_IN_PROGRESS"));
        assert_eq!(
            decide_t(&o, &target(), Duration::ZERO, T).name(),
            "rolled back by ECS"
        );
        o.service_deployment = Some(sd("STOPPED"));
        assert_eq!(decide_t(&o, &target(), Duration::ZERO, T).name(), "failed");
    }

    #[test]
    fn a_placement_failure_followed_by_started_tasks_is_not_a_stall() {
        let event = |id: &str, at: f64, m: &str| crate::rollout::observation::ServiceEvent {
            id: id.into(),
            created_at: Some(at),
            message: m.into(),
        };
        let mut s = Service {
            events: vec![
            event("b", 20.0, "(service app) has started 2 tasks: (task a) (task b)."),
            event("a", 10.0, "(service app) was unable to place a task because no container instance met all of its requirements."),
            ],
            ..Default::default()
        };
        assert!(!placement_blocked(&s, 0.0));
        s.events.insert(0, event("c", 30.0, "(service app) was unable to place a task because no container instance met all of its requirements."));
        assert!(placement_blocked(&s, 0.0));
    }

    #[test]
    fn no_task_and_no_placement_for_the_stall_time_is_stalled() {
        let mut o = obs(
            vec![
                dep("ecs-svc/2", "PRIMARY", NEW, 0, Some("IN_PROGRESS")),
                dep("ecs-svc/1", "ACTIVE", OLD, 2, Some("COMPLETED")),
            ],
            (true, true),
        );
        o.service.events.push(crate::rollout::observation::ServiceEvent {
            id: "e".into(),
            created_at: Some(1.0),
            message: "(service app) was unable to place a task because no container instance met all of its requirements.".into(),
        });
        o.history.placement_stalled_for = Some(Duration::from_secs(179));
        assert_eq!(
            decide_t(&o, &target(), Duration::ZERO, T).name(),
            "progressing"
        );
        o.history.placement_stalled_for = Some(Duration::from_secs(180));
        match decide_t(&o, &target(), Duration::ZERO, T) {
            Verdict::Stalled { seconds, reasons } => {
                assert_eq!(seconds, 180);
                assert!(reasons.iter().any(|r| r.contains("unable to place")));
            }
            v => panic!("{v:?}"),
        }
    }
}
