//! The watch's memory between polls, kept pure so recorded poll sequences (including
//! throttled ones) replay in tests exactly as the live loop runs them.
//!
//! Per poll: a DescribeServices answer or an error. Errors (throttling, network) back off
//! and never end the watch before the timeout. Stopped tasks are asked for only when our
//! deployment's failed count grows.

use std::time::Duration;

use super::decision::{decide, Observation, Target, Verdict};
use super::observation::{Service, Task};

/// The longest wait between polls after repeated errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Tracker {
    pub target: Target,
    timeout: Duration,
    poll: Duration,
    failed_seen: i32,
    stopped: Vec<Task>,
    last: Option<Service>,
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

impl Tracker {
    pub fn new(target: Target, timeout: Duration, poll: Duration) -> Tracker {
        Tracker {
            target,
            timeout,
            poll,
            failed_seen: 0,
            stopped: Vec::new(),
            last: None,
            consecutive_errors: 0,
        }
    }

    /// Records a DescribeServices answer.
    pub fn service(&mut self, service: Service) -> AfterService {
        self.consecutive_errors = 0;
        let failed = service
            .deployments
            .iter()
            .find(|d| d.id == self.target.deployment_id)
            .map_or(0, |d| d.failed_tasks);
        let grew = failed > self.failed_seen;
        self.failed_seen = self.failed_seen.max(failed);
        self.last = Some(service);
        if grew {
            AfterService::FetchStoppedTasks
        } else {
            AfterService::Decide
        }
    }

    /// Records our deployment's stopped tasks (DescribeTasks).
    pub fn stopped_tasks(&mut self, tasks: Vec<Task>) {
        self.stopped = tasks;
    }

    /// The verdict on the latest observation at `elapsed` since the deploy started.
    pub fn decide(&self, elapsed: Duration) -> Verdict {
        let obs = Observation {
            service: self.last.clone().unwrap_or_default(),
            stopped_tasks: self.stopped.clone(),
        };
        decide(&obs, &self.target, elapsed, self.timeout)
    }

    /// Records a failed poll. Returns the verdict when the timeout has passed (the watch
    /// ends), else how long to back off.
    pub fn error(&mut self, elapsed: Duration) -> Result<Duration, Verdict> {
        self.consecutive_errors += 1;
        if elapsed >= self.timeout {
            return Err(match self.decide(elapsed) {
                Verdict::Progressing(progress) => Verdict::TimedOut {
                    progress,
                    reasons: vec![],
                },
                v => v,
            });
        }
        Ok(self.backoff())
    }

    /// Current back-off: the poll interval doubled per consecutive error, at most 30 s.
    pub fn backoff(&self) -> Duration {
        let factor = 2u32.saturating_pow(self.consecutive_errors.min(16));
        (self.poll * factor).min(MAX_BACKOFF).max(self.poll)
    }
}
