//! The rollout decision: given what was observed, is our deployment done, failed, rolled
//! back, superseded, timed out, or still progressing? A pure function, fixture-tested.
//!
//! Semantics follow the ECS API reference for `Deployment` (status PRIMARY/ACTIVE,
//! rolloutState IN_PROGRESS/COMPLETED/FAILED) and the deployment circuit breaker
//! (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html):
//! the failed-task threshold is 0.5 × desired count, bounded to 3..=200.

use std::time::Duration;

use super::observation::{short_task_definition, Service, Task};

/// The deployment we created and are watching.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The deployment id UpdateService created (`ecs-svc/…`).
    pub deployment_id: String,
    /// Its task-definition ARN.
    pub task_definition: String,
    /// The task definition PRIMARY before our change, if any.
    pub previous_task_definition: Option<String>,
    /// Epoch seconds when the deploy started (events older than this are not ours).
    pub since: f64,
}

/// What the watch observed in one poll.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub service: Service,
    /// Stopped tasks started by our deployment (fetched only when the failed count grows).
    pub stopped_tasks: Vec<Task>,
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
    /// The rollout state ECS reports (IN_PROGRESS, …) or "-" when it reports none.
    pub rollout_state: String,
    /// Other deployments still listed (draining old ones), as `family:rev running/desired`.
    pub others: Vec<(String, Counts)>,
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
    /// Our deployment failed and nothing rolled it back (yet).
    Failed {
        reasons: Vec<String>,
    },
    /// ECS rolled our deployment back to `to` (a task-definition ARN).
    RolledBackByEcs {
        to: String,
        reasons: Vec<String>,
    },
    /// A deployment we did not create took over.
    Superseded {
        by: String,
        task_definition: String,
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
}

/// The circuit breaker's failed-task threshold for a desired count.
pub fn breaker_threshold(desired: i32) -> i32 {
    ((desired + 1) / 2).clamp(3, 200)
}

/// Decides the state of our deployment from one observation.
pub fn decide(obs: &Observation, target: &Target, elapsed: Duration, timeout: Duration) -> Verdict {
    let service = &obs.service;
    let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
    let ours = service
        .deployments
        .iter()
        .find(|d| d.id == target.deployment_id);
    let breaker = service
        .deployment_configuration
        .as_ref()
        .and_then(|c| c.deployment_circuit_breaker.clone())
        .unwrap_or_default();

    let Some(ours) = ours else {
        // Our deployment is gone: replaced by ECS's rollback or by someone else's deployment.
        return match primary {
            Some(p) if ecs_rolled_back(obs, target, &p.task_definition) => {
                Verdict::RolledBackByEcs {
                    to: p.task_definition.clone(),
                    reasons: reasons(obs, target, None),
                }
            }
            Some(p) => Verdict::Superseded {
                by: p.id.clone(),
                task_definition: p.task_definition.clone(),
            },
            None => Verdict::Failed {
                reasons: vec![format!(
                    "deployment {} is no longer listed and the service has no PRIMARY deployment",
                    target.deployment_id
                )],
            },
        };
    };

    if ours.rollout_state.as_deref() == Some("FAILED") {
        let reasons = reasons(obs, target, ours.rollout_state_reason.as_deref());
        // ECS rolls back only with the breaker's rollback on (or says so in an event);
        // otherwise a FAILED deployment is a failure, whoever is PRIMARY now.
        let rolled_back = breaker.rollback
            || primary.is_some_and(|p| {
                p.id != ours.id && ecs_rolled_back(obs, target, &p.task_definition)
            });
        if !rolled_back {
            return Verdict::Failed { reasons };
        }
        let to = match primary {
            Some(p) if p.id != ours.id => p.task_definition.clone(),
            _ => target
                .previous_task_definition
                .clone()
                .unwrap_or_else(|| "the last completed revision".into()),
        };
        return Verdict::RolledBackByEcs { to, reasons };
    }

    if ours.status != "PRIMARY" {
        if let Some(p) = primary {
            if ecs_rolled_back(obs, target, &p.task_definition) {
                return Verdict::RolledBackByEcs {
                    to: p.task_definition.clone(),
                    reasons: reasons(obs, target, ours.rollout_state_reason.as_deref()),
                };
            }
            return Verdict::Superseded {
                by: p.id.clone(),
                task_definition: p.task_definition.clone(),
            };
        }
    }

    let done_state = match ours.rollout_state.as_deref() {
        Some(state) => state == "COMPLETED",
        None => ours.running_count == ours.desired_count,
    };
    if ours.status == "PRIMARY"
        && done_state
        && service.deployments.len() == 1
        && ours.running_count == ours.desired_count
    {
        return Verdict::Succeeded {
            running: ours.running_count,
            desired: ours.desired_count,
        };
    }

    if !breaker.enable && ours.failed_tasks >= breaker_threshold(ours.desired_count) {
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

    let progress = Progress {
        ours: counts(ours),
        rollout_state: ours.rollout_state.clone().unwrap_or_else(|| "-".into()),
        others: service
            .deployments
            .iter()
            .filter(|d| d.id != ours.id)
            .map(|d| {
                (
                    short_task_definition(&d.task_definition).to_string(),
                    counts(d),
                )
            })
            .collect(),
    };
    if elapsed >= timeout {
        return Verdict::TimedOut {
            progress,
            reasons: reasons(obs, target, None),
        };
    }
    Verdict::Progressing(progress)
}

/// Whether ECS itself rolled our deployment back to `primary_task_definition`: it is the
/// previous task definition and ECS wrote its rollback event since the deploy started
/// ("rolling back to deployment …"). Without that event, a newer deployment is someone
/// else's, even when it runs the previous revision.
fn ecs_rolled_back(obs: &Observation, target: &Target, primary_task_definition: &str) -> bool {
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

fn counts(d: &super::observation::Deployment) -> Counts {
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
        .find(|e| e.message.contains("unable to place"))
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
        }
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
            stopped_tasks: vec![],
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
            decide(&o, &target(), s, T),
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
            decide(&o, &target(), s, T),
            Verdict::Progressing(_)
        ));
        // no rolloutState: running = desired and alone
        let o = obs(
            vec![dep("ecs-svc/2", "PRIMARY", NEW, 2, None)],
            (false, false),
        );
        assert!(matches!(
            decide(&o, &target(), s, T),
            Verdict::Succeeded { .. }
        ));
        let o = obs(
            vec![dep("ecs-svc/2", "PRIMARY", NEW, 1, None)],
            (false, false),
        );
        assert!(matches!(
            decide(&o, &target(), s, T),
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
            decide(&o, &target(), Duration::ZERO, T),
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
            decide(&o, &target(), Duration::ZERO, T),
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
            decide(&o, &target(), Duration::ZERO, T),
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
        match decide(&o, &target(), Duration::ZERO, T) {
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
            decide(&o, &target(), T - Duration::from_millis(1), T),
            Verdict::Progressing(_)
        ));
        assert!(matches!(
            decide(&o, &target(), T, T),
            Verdict::TimedOut { .. }
        ));
    }
}
