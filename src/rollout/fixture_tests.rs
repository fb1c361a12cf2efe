//! Replays the poll sequences under tests/fixtures/rollout/ through the tracker and the
//! decision, exactly as the live watch feeds them, and checks each verdict and when it came.
//! The fixtures are constructed (make_fixtures.py), in the shapes of the ECS API reference;
//! none is a recording of AWS, and each file's `source` says which pages it follows.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::decision::{Limits, Target, Verdict};
use super::observation::{
    DescribeServiceDeploymentsOutput, DescribeServicesOutput, DescribeTasksOutput,
};
use super::tracker::{AfterError, AfterService, Tracker};

#[derive(Deserialize)]
struct Fixture {
    source: String,
    timeout_seconds: u64,
    poll_seconds: u64,
    stall_seconds: u64,
    target: FixtureTarget,
    polls: Vec<Poll>,
    expect: Expect,
}

#[derive(Deserialize)]
struct FixtureTarget {
    deployment_id: String,
    task_definition: String,
    previous_task_definition: String,
    since: f64,
    #[serde(default)]
    service_deployment: Option<String>,
    known_before: Vec<String>,
}

#[derive(Deserialize)]
struct Poll {
    elapsed_seconds: f64,
    describe_services: Option<DescribeServicesOutput>,
    describe_tasks: Option<DescribeTasksOutput>,
    describe_service_deployments: Option<DescribeServiceDeploymentsOutput>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Expect {
    verdict: String,
    at_poll: usize,
    #[serde(default)]
    reasons_contain: Vec<String>,
    #[serde(default)]
    backoffs_seconds: Vec<u64>,
}

struct Replay {
    verdict: Verdict,
    at_poll: usize,
    stopped_task_fetches: usize,
    backoffs: Vec<Duration>,
}

fn replay(name: &str) -> (Fixture, Replay) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/rollout/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let f: Fixture =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!f.source.is_empty());
    let target = Target {
        deployment_id: f.target.deployment_id.clone(),
        task_definition: f.target.task_definition.clone(),
        previous_task_definition: Some(f.target.previous_task_definition.clone()),
        since: f.target.since,
        service_deployment: f.target.service_deployment.clone(),
        known_before: f.target.known_before.clone(),
    };
    let limits = Limits {
        timeout: Duration::from_secs(f.timeout_seconds),
        stall: Duration::from_secs(f.stall_seconds),
    };
    let mut tracker = Tracker::new(target, limits, Duration::from_secs(f.poll_seconds));
    let mut fetches = 0;
    let mut backoffs = Vec::new();
    for (i, poll) in f.polls.iter().enumerate() {
        let elapsed = Duration::from_secs_f64(poll.elapsed_seconds);
        if poll.error.is_some() {
            match tracker.error(elapsed) {
                AfterError::Backoff(backoff) => {
                    backoffs.push(backoff);
                    continue;
                }
                AfterError::End(verdict) => {
                    return (
                        f,
                        Replay {
                            verdict,
                            at_poll: i,
                            stopped_task_fetches: fetches,
                            backoffs,
                        },
                    );
                }
            }
        }
        let services = poll
            .describe_services
            .clone()
            .expect("a poll has describe_services or error");
        let service = services.services.into_iter().next().expect("one service");
        let after = tracker.service(service, elapsed);
        if let Some(sd) = &poll.describe_service_deployments {
            if tracker.wants_service_deployment(elapsed) {
                tracker.service_deployment(sd.service_deployments.first().cloned(), elapsed);
            }
        }
        if after == AfterService::FetchStoppedTasks {
            fetches += 1;
            let tasks = poll.describe_tasks.clone().unwrap_or_else(|| {
                panic!("{name}: poll {i} asks for stopped tasks but the fixture has none")
            });
            tracker.stopped_tasks(tasks.tasks);
        }
        let verdict = tracker.decide(elapsed);
        if verdict.is_terminal() {
            return (
                f,
                Replay {
                    verdict,
                    at_poll: i,
                    stopped_task_fetches: fetches,
                    backoffs,
                },
            );
        }
    }
    panic!("{name}: no terminal verdict after {} polls", f.polls.len());
}

fn kind(v: &Verdict) -> String {
    serde_json::to_value(v).unwrap()["verdict"]
        .as_str()
        .unwrap()
        .to_string()
}

fn reasons(v: &Verdict) -> Vec<String> {
    match v {
        Verdict::Failed { reasons }
        | Verdict::RolledBackByEcs { reasons, .. }
        | Verdict::Stalled { reasons, .. }
        | Verdict::TimedOut { reasons, .. } => reasons.clone(),
        _ => vec![],
    }
}

fn check(name: &str) -> Replay {
    let (f, r) = replay(name);
    assert_eq!(
        kind(&r.verdict),
        f.expect.verdict,
        "{name}: {:?}",
        r.verdict
    );
    assert_eq!(
        r.at_poll, f.expect.at_poll,
        "{name}: verdict came at poll {}",
        r.at_poll
    );
    let got = reasons(&r.verdict);
    for want in &f.expect.reasons_contain {
        assert!(
            got.iter().any(|g| g.contains(want)),
            "{name}: no reason contains {want:?}: {got:?}"
        );
    }
    if !f.expect.backoffs_seconds.is_empty() {
        let secs: Vec<u64> = r.backoffs.iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, f.expect.backoffs_seconds, "{name}: backoffs");
    }
    // Every fixture poll that had DescribeTasks had it because the failed count grew.
    let offered = f
        .polls
        .iter()
        .take(r.at_poll + 1)
        .filter(|p| p.describe_tasks.is_some())
        .count();
    assert_eq!(
        r.stopped_task_fetches, offered,
        "{name}: stopped tasks fetched only when the failed count grows"
    );
    r
}

#[test]
fn success() {
    check("success");
}

#[test]
fn slow_success_waits_for_the_old_deployment_to_drain() {
    check("slow-success");
}

#[test]
fn breaker_rollback_is_reported_the_poll_ecs_says_failed() {
    let r = check("breaker-rollback");
    match r.verdict {
        Verdict::RolledBackByEcs { to, .. } => assert!(to.ends_with(":96"), "{to}"),
        v => panic!("{v:?}"),
    }
}

#[test]
fn unhealthy_tasks_fail_at_the_threshold_when_the_breaker_is_off() {
    check("unhealthy");
}

#[test]
fn placement_stuck_is_stalled_after_the_stall_time_not_at_the_timeout() {
    check("placement-stuck");
}

#[test]
fn a_stale_first_read_is_not_superseded() {
    check("stale-read");
}

#[test]
fn a_breaker_failure_without_a_completed_deployment_is_not_called_rolled_back() {
    check("breaker-no-completed");
}

#[test]
fn blue_green_succeeds_only_when_ecs_says_successful_after_the_bake() {
    check("blue-green-bake");
}

#[test]
fn an_alarm_rollback_is_ecs_s_rollback() {
    check("alarm-rollback");
}

#[test]
fn superseded_is_never_success() {
    let r = check("superseded");
    match r.verdict {
        Verdict::Superseded {
            task_definition, ..
        } => assert!(task_definition.ends_with(":98")),
        v => panic!("{v:?}"),
    }
}

#[test]
fn throttled_polls_back_off_and_do_not_end_the_watch() {
    check("throttled-polls");
}

#[test]
fn timeout_at_the_deadline() {
    check("timeout");
}
