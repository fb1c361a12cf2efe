//! The watch: our own poll loop around the pure rollout decision.
//!
//! Per poll, every `rollout.poll` (jittered ±10 %): one DescribeServices (counts, events,
//! the deployment list) and, when UpdateService named our service deployment and the
//! tracker wants it (`Tracker::wants_service_deployment`: the first poll, a changed or ended
//! list, ECS past IN_PROGRESS or SCALE_UP, the last poll, else every 10 s), one
//! DescribeServiceDeployments (ECS's own status for it). When that API is unavailable or
//! denied the watch says so once and judges from the deployment list alone. Stopped tasks
//! are fetched only when our deployment's failed count grows. Identical service events
//! (ECS repeats "unable to place a task") are printed once, then counted. Throttling and network errors
//! back off (doubling, up to 30 s) and never end the watch before the timeout, which is
//! measured from the deploy's start and honoured exactly. Ctrl-C stops watching, not the
//! deployment.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::DesiredStatus;

use crate::aws::ecs::{CallError, Ecs, ServiceLookup};
use crate::aws::ErrorKind;
use crate::exit::{Failure, Result};
use crate::output::event::{self, Event};
use crate::output::{epoch_rfc3339_millis, Output};
use crate::plan::RolloutSpec;
use crate::rollout::decision::{Limits, Progress, Target, Verdict};
use crate::rollout::observation::{short_task_definition, Service, Task};
use crate::rollout::tracker::{AfterError, AfterService, Tracker};

/// Plain output prints the progress line at least this often during a watch, even when
/// nothing changed, so that a CI log (and whoever reads it) sees the wait is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// The least time a poll's call gets, even at the deadline (so the last poll can answer).
const MIN_CALL: Duration = Duration::from_millis(500);

/// How a watch ended.
#[derive(Debug)]
pub enum WatchEnd {
    Verdict(Verdict),
    /// A signal (Ctrl-C, SIGTERM, SIGHUP): the deployment goes on without us.
    Interrupted(crate::interrupt::Signal),
}

/// Counts of a watch, for measurements.
#[derive(Debug, Default, Clone)]
pub struct WatchStats {
    pub polls: u32,
    pub failed_polls: u32,
    /// Whether ECS's ServiceDeployment status was read (false: the deployment list alone).
    pub service_deployment_api: bool,
    /// ECS API calls the watch made (DescribeServices, DescribeServiceDeployments, stopped tasks).
    pub calls: u64,
    /// The service as the last poll read it (what verify starts from after a rollout).
    pub last_service: Option<Service>,
    /// Our deployment's stopped tasks as the watch last read them (what a failure's task
    /// logs are read for, without listing them again).
    pub stopped_tasks: Vec<Task>,
}

/// Service events already printed, and how often an identical message came again.
#[derive(Default)]
struct EventLog {
    ids: HashSet<String>,
    repeats: HashMap<String, u32>,
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
        let limits = Limits {
            timeout: self.rollout.timeout,
            stall: self.rollout.stall,
        };
        let mut tracker = Tracker::new(target.clone(), limits, self.rollout.poll);
        let mut events = EventLog::default();
        let mut sd_api = target.service_deployment.is_some();
        stats.service_deployment_api = sd_api;
        let mut bake_seen: Option<Instant> = None;
        let calls_before = self.ecs.calls();
        let mut last_line = (String::new(), Instant::now());
        let mut old_desired = HashMap::new();
        let mut delay = Duration::ZERO;
        let _handled = crate::interrupt::Handled::new();
        let signal = crate::interrupt::wait();
        tokio::pin!(signal);
        self.out
            .spinner(&format!("waiting for deployment {}", target.deployment_id));

        loop {
            let now = Instant::now();
            // Never sleep past the deadline: the timeout is honoured exactly.
            let wake = (now + delay).min(deadline.max(now));
            // A poll interval (or a backoff) longer than HEARTBEAT still gets its heartbeat.
            loop {
                let beat = last_line.1 + HEARTBEAT;
                let until = if !last_line.0.is_empty() {
                    wake.min(beat)
                } else {
                    wake
                };
                tokio::select! {
                    _ = tokio::time::sleep_until(until.into()) => {}
                    sig = &mut signal => {
                        return self.ended(WatchEnd::Interrupted(sig), stats, calls_before, &tracker);
                    }
                }
                if Instant::now() >= wake {
                    break;
                }
                // The reporter decides: plain lines repeat it, the terminal's spinner moves.
                self.out.heartbeat(&last_line.0);
                last_line.1 = Instant::now();
            }
            stats.polls += 1;
            // A hung endpoint never holds the watch past its deadline: the call is cut there.
            // A signal during the call ends the watch at once, not when the call returns.
            let read = match bounded(
                self.ecs.service(self.cluster, self.service),
                deadline,
                || format!("DescribeServices {}/{}", self.cluster, self.service),
                &mut signal,
            )
            .await
            {
                Ok(read) => read,
                Err(sig) => {
                    return self.ended(WatchEnd::Interrupted(sig), stats, calls_before, &tracker);
                }
            };
            let service = match read {
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
                        AfterError::Backoff(backoff) => {
                            self.out.warn(&format!(
                                "{} (retrying in {})",
                                e.message,
                                humantime::format_duration(round_ms(backoff))
                            ));
                            delay = backoff;
                            continue;
                        }
                        AfterError::End(verdict) => {
                            self.out.warn(&e.message);
                            self.flush_repeats(&mut events);
                            return self.ended(
                                WatchEnd::Verdict(verdict),
                                stats,
                                calls_before,
                                &tracker,
                            );
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            };

            self.print_events(&service, target, &mut events);
            let bake_minutes = service
                .deployment_configuration
                .as_ref()
                .and_then(|c| c.bake_time_in_minutes);
            stats.last_service = Some(service.clone());
            let after = tracker.service(service, self.started.elapsed());
            let wanted = tracker.wants_service_deployment(self.started.elapsed());
            if let (true, true, Some(arn)) = (sd_api, wanted, target.service_deployment.as_deref())
            {
                let read = match bounded(
                    self.ecs.service_deployment(arn),
                    deadline,
                    || format!("DescribeServiceDeployments {arn}"),
                    &mut signal,
                )
                .await
                {
                    Ok(read) => read,
                    Err(sig) => {
                        return self.ended(
                            WatchEnd::Interrupted(sig),
                            stats,
                            calls_before,
                            &tracker,
                        );
                    }
                };
                match read {
                    Ok(sd) => tracker.service_deployment(sd, self.started.elapsed()),
                    Err(e) if e.kind == ErrorKind::Other => {
                        sd_api = false;
                        tracker.forget_service_deployment();
                        stats.service_deployment_api = false;
                        self.out.warn(&format!(
                            "{}: judging the rollout from the service's deployment list instead",
                            e.message
                        ));
                    }
                    Err(e) => self.out.debug(&e.message),
                }
            }
            if after == AfterService::FetchStoppedTasks {
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
                let bake_left = match (p.stage.as_deref(), bake_minutes) {
                    (Some("BAKE_TIME"), Some(m)) => {
                        let began = *bake_seen.get_or_insert_with(Instant::now);
                        let left = Duration::from_secs(m.max(0) as u64 * 60)
                            .saturating_sub(began.elapsed());
                        // in 10 s steps, so that plain output prints a line per step, not per poll
                        Some(Duration::from_secs(left.as_secs() / 10 * 10))
                    }
                    _ => None,
                };
                self.show_progress(p, target, bake_left, &mut last_line, &mut old_desired);
            }
            if verdict.is_terminal() {
                self.flush_repeats(&mut events);
                return self.ended(WatchEnd::Verdict(verdict), stats, calls_before, &tracker);
            }
            delay = jitter(self.rollout.poll);
        }
    }

    /// The watch's end: the live display cleared, the calls it made counted, and the stopped
    /// tasks it last read kept for the failure's task logs.
    fn ended(
        &self,
        end: WatchEnd,
        mut stats: WatchStats,
        calls_before: u64,
        tracker: &Tracker,
    ) -> Result<(WatchEnd, WatchStats)> {
        self.out.clear_bar();
        stats.calls = self.ecs.calls() - calls_before;
        stats.stopped_tasks = tracker.stopped().to_vec();
        Ok((end, stats))
    }

    fn print_events(&self, service: &Service, target: &Target, log: &mut EventLog) {
        // ECS lists events newest first; print the new ones oldest first.
        for e in service.events.iter().rev() {
            if e.created_at.is_some_and(|t| t + 1.0 < target.since) || !log.ids.insert(e.id.clone())
            {
                continue;
            }
            // The same message again (ECS repeats placement failures): count it, print once.
            if let Some(n) = log.repeats.get_mut(&e.message) {
                *n += 1;
                continue;
            }
            log.repeats.insert(e.message.clone(), 0);
            let at = e.created_at.map(epoch_rfc3339_millis);
            // ECS's own time, shown with the event (hh:mm:ss UTC).
            let clock = at
                .as_deref()
                .and_then(|t| t.get(11..19))
                .map(|t| format!(" {t}"))
                .unwrap_or_default();
            self.out.emit(
                &format!("  event{clock}: {}", e.message),
                Event::ServiceEvent {
                    id: e.id.clone(),
                    created_at: at,
                    ecs_message: e.message.clone(),
                },
            );
        }
    }

    /// Says how often each printed event came again, once, at the end of the watch.
    fn flush_repeats(&self, log: &mut EventLog) {
        for (message, n) in log.repeats.drain().filter(|(_, n)| *n > 0) {
            self.out.emit(
                &format!(
                    "  event repeated {n} more time{}: {message}",
                    if n == 1 { "" } else { "s" }
                ),
                Event::ServiceEventRepeated {
                    ecs_message: message,
                    repeats: n,
                },
            );
        }
    }

    fn show_progress(
        &self,
        p: &Progress,
        target: &Target,
        bake_left: Option<Duration>,
        last: &mut (String, Instant),
        old_desired: &mut HashMap<String, i32>,
    ) {
        let ours = &p.ours;
        let others: Vec<String> = p
            .others
            .iter()
            .map(|(td, c)| {
                let first = *old_desired.entry(td.clone()).or_insert(c.desired);
                format!("{td} {}/{} {}", c.running, c.desired, old_label(first, c))
            })
            .collect();
        let td = short_task_definition(&target.task_definition);
        let mut state = format!(
            "{} pending, {} failed, {}",
            ours.pending,
            ours.failed,
            p.state()
        );
        if let Some(left) = bake_left {
            state.push_str(&format!(
                ", bake {} left",
                humantime::format_duration(Duration::from_secs(left.as_secs()))
            ));
        }
        if let Some(note) = &p.note {
            state.push_str(&format!(" ({note})"));
        }
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
        // A record per change (the terminal's reporter shows it as the bar); an unchanged
        // line is repeated as a heartbeat every HEARTBEAT (plain lines only: the reporter
        // decides), here when polls are frequent, in the loop when they are not.
        if last.0 == line && last.1.elapsed() >= HEARTBEAT {
            self.out.heartbeat(&line);
            last.1 = Instant::now();
        }
        if last.0 != line {
            *last = (line.clone(), Instant::now());
            self.out.emit(
                &line,
                Event::Progress(event::Progress {
                    deployment: target.deployment_id.clone(),
                    running: ours.running,
                    pending: ours.pending,
                    desired: ours.desired,
                    failed: ours.failed,
                    rollout_state: p.rollout_state.clone(),
                    status: p.status.clone(),
                    stage: p.stage.clone(),
                    note: p.note.clone(),
                    bake_seconds_left: bake_left.map(|d| d.as_secs()),
                    others: p
                        .others
                        .iter()
                        .map(|(td, c)| event::OtherDeployment {
                            task_definition: td.clone(),
                            running: c.running,
                            desired: c.desired,
                        })
                        .collect(),
                }),
            );
        }
    }
}

/// One call of a poll, cut at the watch's deadline (then a network error, so that the
/// timeout settles the watch) and by a signal (Err: the watch ends at once, not when the
/// call returns). It gets at least MIN_CALL, so the poll at the deadline can answer.
async fn bounded<T, S>(
    call: impl std::future::Future<Output = std::result::Result<T, CallError>>,
    deadline: Instant,
    what: impl FnOnce() -> String,
    signal: &mut S,
) -> std::result::Result<std::result::Result<T, CallError>, crate::interrupt::Signal>
where
    S: std::future::Future<Output = crate::interrupt::Signal> + Unpin,
{
    let cut = tokio::time::timeout_at(deadline.max(Instant::now() + MIN_CALL).into(), call);
    tokio::select! {
        r = cut => Ok(r.unwrap_or_else(|_| Err(CallError {
            kind: ErrorKind::Network,
            message: format!("{}: no answer before the watch's deadline", what()),
            outcome_unknown: false,
        }))),
        sig = signal => Err(sig),
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

/// What an older deployment is doing: "draining" once ECS has lowered its desired count
/// below what it was when the watch first saw it or it runs more tasks than it wants (ECS
/// is stopping them), else "old" (ECS has not started replacing its tasks yet). ECS
/// developer guide, "Deploy Amazon ECS services by replacing tasks": the scheduler stops
/// old tasks as `minimumHealthyPercent` allows and new ones become healthy, so before that
/// the old deployment keeps its desired count.
fn old_label(first_desired: i32, now: &crate::rollout::decision::Counts) -> &'static str {
    if now.desired < first_desired || now.running > now.desired {
        "draining"
    } else {
        "old"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_deployment_is_old_until_ecs_lowers_its_desired_count_or_stops_its_tasks() {
        use crate::rollout::decision::Counts;
        let at = |running, desired| Counts {
            running,
            pending: 0,
            desired,
            failed: 0,
        };
        assert_eq!(old_label(2, &at(2, 2)), "old");
        assert_eq!(old_label(2, &at(2, 1)), "draining");
        assert_eq!(old_label(2, &at(1, 1)), "draining");
        assert_eq!(old_label(2, &at(0, 0)), "draining");
        // More tasks than it wants: the scheduler is stopping them.
        assert_eq!(old_label(2, &at(3, 2)), "draining");
    }
}
