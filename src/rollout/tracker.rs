//! The watch's memory between polls, kept pure so poll sequences (including throttled and
//! stale ones) replay in tests exactly as the live loop runs them.
//!
//! Per poll: a DescribeServices answer or an error, and (when the ServiceDeployment API is
//! available) our service deployment. Errors (throttling, network) back off and never end
//! the watch before the timeout. Stopped tasks are asked for only when our deployment's
//! failed count grows; the count is compared with the previous read, not the highest,
//! because ECS resets `failedTasks` once a task of the deployment runs (API_Deployment).

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
    history: History,
    /// When (since the deploy started) the current placement stall began.
    stall_began: Option<Duration>,
    consecutive_errors: u32,
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

    /// Records our service deployment as DescribeServiceDeployments returned it (None when
    /// it is not listed yet). A failed call records nothing: the last answer stands.
    pub fn service_deployment(&mut self, sd: Option<ServiceDeployment>) {
        if sd.is_some() || self.service_deployment.is_none() {
            self.service_deployment = sd;
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
}
