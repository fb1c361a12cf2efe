//! The watch: our own poll loop around the pure rollout decision.
//!
//! One DescribeServices call per poll, every `rollout.poll` (jittered ±10 %); stopped tasks
//! are fetched only when our deployment's failed count grows. Throttling and network errors
//! back off (doubling, up to 30 s) and never end the watch before the timeout, which is
//! measured from the deploy's start and honoured exactly. Ctrl-C stops watching, not the
//! deployment.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::DesiredStatus;
use serde_json::json;

use crate::aws::ecs::{Ecs, ServiceLookup};
use crate::aws::ErrorKind;
use crate::exit::{Failure, Result};
use crate::output::{epoch_rfc3339_millis, Output};
use crate::plan::RolloutSpec;
use crate::rollout::decision::{Progress, Target, Verdict};
use crate::rollout::observation::{short_task_definition, Service};
use crate::rollout::tracker::{AfterService, Tracker};

/// How a watch ended.
#[derive(Debug)]
pub enum WatchEnd {
    Verdict(Verdict),
    /// Ctrl-C: the deployment goes on without us.
    Interrupted,
}

/// Counts of a watch, for measurements.
#[derive(Debug, Default, Clone, Copy)]
pub struct WatchStats {
    pub polls: u32,
    pub failed_polls: u32,
}

pub struct Watch<'a> {
    pub ecs: &'a Ecs,
    pub out: &'a Output,
    pub cluster: &'a str,
    pub service: &'a str,
    pub rollout: &'a RolloutSpec,
    /// When the deploy started: the timeout counts from here.
    pub started: Instant,
}

impl Watch<'_> {
    pub async fn run(&self, target: &Target) -> Result<(WatchEnd, WatchStats)> {
        let deadline = self.started + self.rollout.timeout;
        let mut stats = WatchStats::default();
        let mut tracker = Tracker::new(target.clone(), self.rollout.timeout, self.rollout.poll);
        let mut seen_events: HashSet<String> = HashSet::new();
        let mut last_line = String::new();
        let mut delay = Duration::ZERO;
        let _handled = crate::interrupt::Handled::new();
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        self.out
            .spinner(&format!("waiting for deployment {}", target.deployment_id));

        loop {
            let now = Instant::now();
            // Never sleep past the deadline: the timeout is honoured exactly.
            let wake = (now + delay).min(deadline.max(now));
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = &mut ctrl_c => {
                    self.out.clear_bar();
                    return Ok((WatchEnd::Interrupted, stats));
                }
            }
            stats.polls += 1;
            let service = match self.ecs.service(self.cluster, self.service).await {
                Ok(ServiceLookup::Found(s)) => *s,
                Ok(ServiceLookup::MissingService) => {
                    return Err(Failure::aws(format!(
                        "service {} disappeared from cluster {} while being watched",
                        self.service, self.cluster
                    )))
                }
                Ok(ServiceLookup::MissingCluster) => {
                    return Err(Failure::aws(format!(
                        "cluster {} disappeared while being watched",
                        self.cluster
                    )))
                }
                Err(e) if e.kind != ErrorKind::Other => {
                    stats.failed_polls += 1;
                    match tracker.error(self.started.elapsed()) {
                        Ok(backoff) => {
                            self.out.warn(&format!(
                                "{} (retrying in {})",
                                e.message,
                                humantime::format_duration(round_ms(backoff))
                            ));
                            delay = backoff;
                            continue;
                        }
                        Err(verdict) => {
                            self.out.warn(&e.message);
                            self.out.clear_bar();
                            return Ok((WatchEnd::Verdict(verdict), stats));
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            };

            self.print_events(&service, target, &mut seen_events);
            if tracker.service(service) == AfterService::FetchStoppedTasks {
                match self
                    .ecs
                    .tasks(
                        self.cluster,
                        self.service,
                        DesiredStatus::Stopped,
                        Some(&target.deployment_id),
                    )
                    .await
                {
                    Ok(tasks) => tracker.stopped_tasks(tasks),
                    Err(e) => self.out.warn(&e.message),
                }
            }
            let verdict = tracker.decide(self.started.elapsed());
            if let Verdict::Progressing(p) | Verdict::TimedOut { progress: p, .. } = &verdict {
                self.show_progress(p, target, &mut last_line);
            }
            if verdict.is_terminal() {
                self.out.clear_bar();
                return Ok((WatchEnd::Verdict(verdict), stats));
            }
            delay = jitter(self.rollout.poll);
        }
    }

    fn print_events(&self, service: &Service, target: &Target, seen: &mut HashSet<String>) {
        // ECS lists events newest first; print the new ones oldest first.
        for e in service.events.iter().rev() {
            if e.created_at.is_some_and(|t| t + 1.0 < target.since) || !seen.insert(e.id.clone()) {
                continue;
            }
            let at = e.created_at.map(epoch_rfc3339_millis).unwrap_or_default();
            self.out.record(
                "service_event",
                &format!("  event: {}", e.message),
                json!({ "id": e.id, "created_at": at }),
            );
        }
    }

    fn show_progress(&self, p: &Progress, target: &Target, last: &mut String) {
        let ours = &p.ours;
        let others: Vec<String> = p
            .others
            .iter()
            .map(|(td, c)| format!("{td} {}/{} draining", c.running, c.desired))
            .collect();
        let td = short_task_definition(&target.task_definition);
        let state = format!(
            "{} pending, {} failed, {}",
            ours.pending, ours.failed, p.rollout_state
        );
        let old = |sep: &str| {
            if others.is_empty() {
                String::new()
            } else {
                format!("{sep}{}", others.join(", "))
            }
        };
        // Plain lines and NDJSON carry the counts; the terminal bar draws running/desired.
        let line = format!(
            "{td} {}/{} running, {state}{}",
            ours.running,
            ours.desired,
            old("; ")
        );
        let bar_text = format!("running {td}, {state}{}", old(" | "));
        self.out.bar(
            ours.running.max(0) as u64,
            ours.desired.max(0) as u64,
            &bar_text,
        );
        if *last != line {
            *last = line.clone();
            if self.out.mode() != crate::output::Mode::Terminal {
                self.out.record(
                    "progress",
                    &line,
                    json!({
                        "deployment": target.deployment_id,
                        "running": ours.running, "pending": ours.pending,
                        "desired": ours.desired, "failed": ours.failed,
                        "rollout_state": p.rollout_state,
                        "others": p.others.iter().map(|(td, c)| json!({"task_definition": td, "running": c.running, "desired": c.desired})).collect::<Vec<_>>(),
                    }),
                );
            }
        }
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// `d` ± 10 %, so that many watchers do not poll in step.
fn jitter(d: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    let r = (h.finish() % 2001) as f64 / 1000.0 - 1.0; // -1.0 ..= 1.0
    d.mul_f64(1.0 + 0.1 * r)
}
