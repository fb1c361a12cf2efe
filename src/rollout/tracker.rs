//! The watch's memory between polls, kept pure so poll sequences (including throttled and
//! stale ones) replay in tests exactly as the live loop runs them.
//!
//! Per poll: a DescribeServices answer or an error, and (when the ServiceDeployment API is
//! available and it is wanted, below) our service deployment. Errors (throttling, network) back off and never end
//! the watch before the timeout. Stopped tasks are asked for only when our deployment's
//! failed count grows; the count is compared with the previous read, not the highest,
//! because ECS resets `failedTasks` once a task of the deployment runs (API_Deployment).
//!
//! ECS's ServiceDeployment (DescribeServiceDeployments) is read when it can say something the
//! deployment list cannot yet: on the first poll, whenever the list changes (a deployment
//! appears, leaves or changes `status`/`rolloutState`, or ours gains failed tasks), on every
//! poll while the list shows an end (ours COMPLETED, FAILED, no longer PRIMARY or gone, or alone
//! at its desired count), ECS's last answer was past IN_PROGRESS or its lifecycle stage past
//! SCALE_UP (traffic shifts, hooks, bake time: nothing in the list shows them), on the last
//! poll before the timeout, and otherwise at least every
//! [`SERVICE_DEPLOYMENT_REFRESH`]: ECS can change a deployment's lifecycle stage (bake time,
//! lifecycle hooks, alarms) without changing the list. So the verdict still comes from ECS's
//! own status the poll the list shows it, at one call per poll in between.

use std::time::Duration;

use super::decision::{decide, placement_blocked, History, Limits, Observation, Target, Verdict};
use super::observation::{Service, ServiceDeployment, Task};

/// The longest wait between polls after repeated errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Tracker {
    pub target: Target,
    limits: Limits,
    poll: Duration,
    failed_last: i32,
    stopped: Vec<Task>,
    last: Option<Service>,
    service_deployment: Option<ServiceDeployment>,
    service_deployment_read: Option<ServiceDeploymentRead>,
    history: History,
    /// When (since the deploy started) the current placement stall began.
    stall_began: Option<Duration>,
    consecutive_errors: u32,
}

/// The longest the watch goes without reading our ServiceDeployment while the deployment
/// list shows no change.
pub const SERVICE_DEPLOYMENT_REFRESH: Duration = Duration::from_secs(10);

/// The parts of the deployment list whose change may mean ECS's status changed: each
/// deployment's id, `status` and `rolloutState`, and our failed-task count.
#[derive(Debug, Clone, PartialEq)]
struct ListShape {
    deployments: Vec<(String, String, Option<String>)>,
    failed: i32,
}

/// What the list looked like when our ServiceDeployment was last read, and when.
#[derive(Debug, Clone)]
struct ServiceDeploymentRead {
    at: Duration,
    shape: ListShape,
}

/// What the loop should do after an observed service.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterService {
    /// Fetch our deployment's stopped tasks, pass them to `stopped_tasks`, then `decide`.
    FetchStoppedTasks,
    /// Decide now.
    Decide,
}

/// What the loop should do after a failed poll.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterError {
    /// Wait this long, then poll again.
    Backoff(Duration),
    /// The timeout has passed: the watch ends with this verdict.
    End(Verdict),
}

impl Tracker {
    pub fn new(target: Target, limits: Limits, poll: Duration) -> Tracker {
        Tracker {
            target,
            limits,
            poll,
            failed_last: 0,
            stopped: Vec::new(),
            last: None,
            service_deployment: None,
            service_deployment_read: None,
            history: History::default(),
            stall_began: None,
            consecutive_errors: 0,
        }
    }

    /// Records a DescribeServices answer read at `elapsed` since the deploy started.
    pub fn service(&mut self, service: Service, elapsed: Duration) -> AfterService {
        self.consecutive_errors = 0;
        let ours = service
            .deployments
            .iter()
            .find(|d| d.id == self.target.deployment_id);
        match ours {
            Some(_) => self.history.seen = true,
            None if !self.history.seen => self.history.unseen_reads += 1,
            None => {}
        }
        if ours.is_some_and(|d| d.rollout_state.as_deref() == Some("FAILED")) {
            self.history.failed_reads += 1;
        }
        let blocked = ours.is_some_and(|d| d.running_count == 0)
            && placement_blocked(&service, self.target.since);
        if blocked {
            let began = *self.stall_began.get_or_insert(elapsed);
            self.history.placement_stalled_for = Some(elapsed.saturating_sub(began));
        } else {
            self.stall_began = None;
            self.history.placement_stalled_for = None;
        }
        let failed = ours.map_or(0, |d| d.failed_tasks);
        let grew = failed > self.failed_last;
        self.failed_last = failed;
        self.last = Some(service);
        if grew {
            AfterService::FetchStoppedTasks
        } else {
            AfterService::Decide
        }
    }

    /// Whether our ServiceDeployment should be read after the service just recorded (see the
    /// module's doc for when).
    pub fn wants_service_deployment(&self, elapsed: Duration) -> bool {
        let (Some(read), Some(sd), Some(service)) = (
            &self.service_deployment_read,
            &self.service_deployment,
            &self.last,
        ) else {
            return true;
        };
        let ecs_moving_to_an_end = !matches!(sd.status.as_str(), "PENDING" | "IN_PROGRESS");
        // Past SCALE_UP (traffic shifts, hooks, bake time, clean-up) the deployment's progress
        // shows only in its lifecycle stage (API_ServiceDeployment `lifecycleStage`).
        let stage_beyond_the_list = sd
            .lifecycle_stage
            .as_deref()
            .is_some_and(|s| !matches!(s, "RECONCILE_SERVICE" | "PRE_SCALE_UP" | "SCALE_UP"));
        // The last poll before the timeout judges on ECS's status as it is now.
        let last_poll = elapsed + self.poll >= self.limits.timeout;
        ecs_moving_to_an_end
            || last_poll
            || stage_beyond_the_list
            || self.shape(service) != read.shape
            || self.list_shows_an_end(service)
            || elapsed.saturating_sub(read.at) >= SERVICE_DEPLOYMENT_REFRESH
    }

    /// Records our service deployment as DescribeServiceDeployments returned it at `elapsed`
    /// (None when it is not listed yet). A failed call records nothing: the last answer stands.
    pub fn service_deployment(&mut self, sd: Option<ServiceDeployment>, elapsed: Duration) {
        if sd.is_some() || self.service_deployment.is_none() {
            self.service_deployment = sd;
        }
        if let Some(service) = &self.last {
            self.service_deployment_read = Some(ServiceDeploymentRead {
                at: elapsed,
                shape: self.shape(service),
            });
        }
    }

    /// The ServiceDeployment API is unavailable or denied: what it said before no longer
    /// stands, and the verdict comes from the deployment list alone.
    pub fn forget_service_deployment(&mut self) {
        self.service_deployment = None;
        self.service_deployment_read = None;
    }

    fn shape(&self, service: &Service) -> ListShape {
        ListShape {
            deployments: service
                .deployments
                .iter()
                .map(|d| (d.id.clone(), d.status.clone(), d.rollout_state.clone()))
                .collect(),
            failed: self.failed_last,
        }
    }

    /// Our deployment is gone, no longer PRIMARY, COMPLETED or FAILED, or alone at its
    /// desired count with nothing pending: the list says the rollout may have ended.
    fn list_shows_an_end(&self, service: &Service) -> bool {
        let ours = service
            .deployments
            .iter()
            .find(|d| d.id == self.target.deployment_id);
        match ours {
            None => self.history.seen,
            Some(d) => {
                d.status != "PRIMARY"
                    || matches!(d.rollout_state.as_deref(), Some("COMPLETED" | "FAILED"))
                    || (service.deployments.len() == 1
                        && d.running_count >= d.desired_count
                        && d.pending_count == 0)
            }
        }
    }

    /// Records our deployment's stopped tasks (DescribeTasks).
    pub fn stopped_tasks(&mut self, tasks: Vec<Task>) {
        self.stopped = tasks;
    }

    /// Our deployment's stopped tasks as last recorded.
    pub fn stopped(&self) -> &[Task] {
        &self.stopped
    }

    /// The verdict on the latest observation at `elapsed` since the deploy started.
    pub fn decide(&self, elapsed: Duration) -> Verdict {
        let obs = Observation {
            service: self.last.clone().unwrap_or_default(),
            stopped_tasks: self.stopped.clone(),
            service_deployment: self.service_deployment.clone(),
            history: self.history.clone(),
        };
        decide(&obs, &self.target, elapsed, self.limits)
    }

    /// Records a failed poll: the watch ends with a verdict when the timeout has passed,
    /// else backs off.
    pub fn error(&mut self, elapsed: Duration) -> AfterError {
        self.consecutive_errors += 1;
        if elapsed >= self.limits.timeout {
            return AfterError::End(match self.decide(elapsed) {
                Verdict::Progressing(progress) => Verdict::TimedOut {
                    progress,
                    reasons: vec![],
                },
                v => v,
            });
        }
        AfterError::Backoff(self.backoff())
    }

    /// Current back-off: the poll interval doubled per consecutive error, at most 30 s.
    pub fn backoff(&self) -> Duration {
        let factor = 2u32.saturating_pow(self.consecutive_errors.min(16));
        (self.poll * factor).min(MAX_BACKOFF).max(self.poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::observation::{Deployment, ServiceEvent};

    fn service(running: i32, failed: i32, event: Option<&str>) -> Service {
        Service {
            deployments: vec![Deployment {
                id: "ecs-svc/2".into(),
                status: "PRIMARY".into(),
                desired_count: 2,
                running_count: running,
                failed_tasks: failed,
                rollout_state: Some("IN_PROGRESS".into()),
                ..Default::default()
            }],
            events: event
                .map(|m| ServiceEvent {
                    id: "e".into(),
                    created_at: Some(100.0),
                    message: m.into(),
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    fn tracker() -> Tracker {
        Tracker::new(
            Target {
                deployment_id: "ecs-svc/2".into(),
                since: 99.0,
                ..Default::default()
            },
            Limits {
                timeout: Duration::from_secs(600),
                stall: Duration::from_secs(10),
            },
            Duration::from_secs(1),
        )
    }

    #[test]
    fn stopped_tasks_are_fetched_again_after_ecs_resets_failed_tasks() {
        let mut t = tracker();
        let s = Duration::from_secs(1);
        assert_eq!(
            t.service(service(0, 1, None), s),
            AfterService::FetchStoppedTasks
        );
        assert_eq!(t.service(service(0, 1, None), s), AfterService::Decide);
        // a task ran: ECS resets failedTasks to 0; a new failure is news again
        assert_eq!(t.service(service(1, 0, None), s), AfterService::Decide);
        assert_eq!(
            t.service(service(0, 1, None), s),
            AfterService::FetchStoppedTasks
        );
    }

    #[test]
    fn a_placement_stall_is_measured_from_its_first_read_and_reset_by_a_running_task() {
        let mut t = tracker();
        let place = Some("(service app) was unable to place a task because no container instance met all of its requirements.");
        t.service(service(0, 0, place), Duration::from_secs(5));
        assert_eq!(t.decide(Duration::from_secs(5)).name(), "progressing");
        t.service(service(0, 0, place), Duration::from_secs(15));
        assert_eq!(t.decide(Duration::from_secs(15)).name(), "stalled");
        t.service(service(1, 0, place), Duration::from_secs(16));
        assert_eq!(t.decide(Duration::from_secs(16)).name(), "progressing");
    }

    fn sd(status: &str) -> Option<ServiceDeployment> {
        Some(ServiceDeployment {
            status: status.into(),
            ..Default::default()
        })
    }

    #[test]
    fn the_service_deployment_is_read_when_the_list_changes_or_shows_an_end_else_every_10_s() {
        let mut t = tracker();
        let at = Duration::from_secs;
        let mut rolling = service(1, 0, None);
        rolling.deployments.push(Deployment {
            id: "ecs-svc/1".into(),
            status: "ACTIVE".into(),
            desired_count: 2,
            running_count: 2,
            rollout_state: Some("COMPLETED".into()),
            ..Default::default()
        });
        t.service(rolling.clone(), at(1));
        assert!(t.wants_service_deployment(at(1)), "the first poll");
        t.service_deployment(sd("IN_PROGRESS"), at(1));
        // counts move, the list's shape does not: one call per poll
        rolling.deployments[0].running_count = 2;
        t.service(rolling.clone(), at(2));
        assert!(!t.wants_service_deployment(at(2)));
        t.service(rolling.clone(), at(10));
        assert!(!t.wants_service_deployment(at(10)));
        t.service(rolling.clone(), at(11));
        assert!(t.wants_service_deployment(at(11)), "10 s without a read");
        t.service_deployment(sd("IN_PROGRESS"), at(11));
        // the old deployment leaves the list, and ours is alone at its desired count
        let alone = service(2, 0, None);
        t.service(alone.clone(), at(12));
        assert!(t.wants_service_deployment(at(12)));
        t.service_deployment(sd("IN_PROGRESS"), at(12));
        t.service(alone, at(13));
        assert!(
            t.wants_service_deployment(at(13)),
            "the list shows an end: every poll until ECS says so"
        );
        // ours gains a failed task
        let mut t = tracker();
        t.service(service(0, 0, None), at(1));
        t.service_deployment(sd("IN_PROGRESS"), at(1));
        t.service(service(0, 1, None), at(2));
        assert!(t.wants_service_deployment(at(2)));
        t.service_deployment(sd("ROLLBACK_REQUESTED"), at(2));
        t.service(service(0, 1, None), at(3));
        assert!(
            t.wants_service_deployment(at(3)),
            "ECS is past IN_PROGRESS: followed every poll"
        );
        // a blue/green deployment past its scale-up: the stage is the only progress
        let mut t = tracker();
        t.service(service(2, 0, None), at(1));
        let mut shifting = sd("IN_PROGRESS").unwrap();
        shifting.lifecycle_stage = Some("SCALE_UP".into());
        t.service_deployment(Some(shifting.clone()), at(1));
        t.service(service(2, 0, None), at(2));
        // alone at 2/2 with rolloutState IN_PROGRESS: the list shows an end
        assert!(t.wants_service_deployment(at(2)));
        let mut two = service(2, 0, None);
        two.deployments.push(Deployment {
            id: "ecs-svc/1".into(),
            status: "ACTIVE".into(),
            ..Default::default()
        });
        t.service(two.clone(), at(3));
        t.service_deployment(Some(shifting.clone()), at(3));
        t.service(two.clone(), at(4));
        assert!(
            !t.wants_service_deployment(at(4)),
            "scaling up: the list shows it"
        );
        shifting.lifecycle_stage = Some("POST_TEST_TRAFFIC_SHIFT".into());
        t.service_deployment(Some(shifting), at(4));
        t.service(two, at(5));
        assert!(
            t.wants_service_deployment(at(5)),
            "a traffic shift: only ECS shows it"
        );
        // the last poll before the timeout (600 s) reads ECS's status whatever the list shows
        let mut t = tracker();
        let rolling = service(1, 0, None);
        t.service(rolling.clone(), at(590));
        t.service_deployment(sd("IN_PROGRESS"), at(590));
        t.service(rolling.clone(), at(591));
        assert!(!t.wants_service_deployment(at(591)));
        t.service(rolling, at(599));
        assert!(t.wants_service_deployment(at(599)));
    }
}
