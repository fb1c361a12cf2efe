//! End to end against the sandbox's model of what AWS documents and release must judge:
//! optional fields absent, eventually consistent reads, the ServiceDeployment API (and a
//! role denied it), blue/green bakes and deployment alarms, deployment controllers that
//! refuse UpdateService, the circuit breaker with nothing to roll back to, and placement
//! that never happens. Each test turns one sandbox behaviour on for its own service
//! (sandbox/README.md lists the behaviours and the AWS pages they follow).

mod common;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn image(seed: &Seed) -> String {
    format!("{}/app:1.0.0", seed.registry)
}
fn deploy(plan: &TestPlan, seed: &Seed) -> Run {
    release(&[
        "--output",
        "json",
        "deploy",
        path_str(&plan.path),
        "--image",
        &image(seed),
    ])
}

/// Sets a CloudWatch alarm's state (the tests have no CloudWatch SDK).
fn set_alarm_state(name: &str, state: &str) {
    sandbox_python(&format!(
        "client('cloudwatch').set_alarm_state(AlarmName='{name}', StateValue='{state}', StateReason='set by the test')"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_image_digest_in_describe_tasks_a_healthy_deploy_succeeds() {
    let seed = seed_with("nodigest", &["--tag", "sandbox.image-digest=absent"]);
    let plan = seed.plan("1.0.0", "healthy", "");
    let run = deploy(&plan, &seed);
    assert_eq!(run.code, 0, "{}", run.all());
    let check = run
        .records()
        .into_iter()
        .find(|r| {
            r["event"] == "check"
                && r["stage"] == "verify"
                && r["check"] == "tasks run the release's digests"
        })
        .unwrap_or_else(|| panic!("{}", run.all()));
    assert_eq!(check["status"], "passed", "{check}");
    // The tasks really answered without the field: the sandbox's DescribeTasks omits it.
    let tasks = ecs()
        .await
        .list_tasks()
        .cluster(&seed.name)
        .service_name(&seed.name)
        .send()
        .await
        .unwrap();
    let described = ecs()
        .await
        .describe_tasks()
        .cluster(&seed.name)
        .set_tasks(Some(tasks.task_arns().to_vec()))
        .send()
        .await
        .unwrap();
    assert!(!described.tasks().is_empty());
    for t in described.tasks() {
        for c in t.containers() {
            assert_eq!(c.image_digest(), None);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_first_read_is_not_superseded_and_the_deploy_succeeds() {
    let seed = seed_with("stale", &["--tag", "sandbox.stale-reads=2"]);
    let plan = seed.plan("1.0.0", "healthy", "");
    let run = deploy(&plan, &seed);
    assert_eq!(run.code, 0, "{}", run.all());
    let s = run.summary();
    assert_eq!(s["verdict"]["verdict"], "succeeded", "{s}");
    assert!(
        run.records().iter().any(|r| r["event"] == "progress"
            && r["note"]
                .as_str()
                .is_some_and(|n| n.contains("not visible yet"))),
        "the stale reads were seen as such: {}",
        run.all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_stale_reads_a_deployment_started_behind_its_back_is_still_superseded() {
    let seed = seed_with("stalesup", &["--tag", "sandbox.stale-reads=2"]);
    let plan = seed.plan("1.0.0", "slow", "");
    // Another operator's revision, ready before release starts.
    let other = register_copy_of_revision_1(&seed).await;
    let mut sent = false;
    let run = release_live(
        &["deploy", path_str(&plan.path), "--image", &image(&seed)],
        |r, _| {
            // The moment release's UpdateService answered: another UpdateService takes over.
            if !sent && r["event"] == "deployment_started" {
                update_service_now(&seed.name, &other);
                sent = true;
            }
        },
    );
    assert!(sent, "{}", run.all());
    assert_eq!(run.code, 4, "{}", run.all());
    assert_eq!(run.summary()["verdict"]["verdict"], "superseded");
}

/// UpdateService(task definition, forceNewDeployment) through the sandbox's boto3, from a
/// synchronous callback.
fn update_service_now(name: &str, task_definition: &str) {
    sandbox_python(&format!(
        "client('ecs').update_service(cluster='{name}', service='{name}', taskDefinition='{task_definition}', forceNewDeployment=True)"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watch_reads_ecs_s_service_deployment_status() {
    let seed = seed("sdapi");
    let plan = seed.plan("1.0.0", "healthy", "");
    let run = deploy(&plan, &seed);
    assert_eq!(run.code, 0, "{}", run.all());
    let s = run.summary();
    assert_eq!(s["service_deployment_api"], true, "{s}");
    assert!(
        run.records()
            .iter()
            .any(|r| r["event"] == "progress" && r["status"].is_string()),
        "{}",
        run.all()
    );
    // One DescribeServices per poll; DescribeServiceDeployments on the first poll and when
    // the deployment list changes or shows an end, so fewer than one per poll on a rollout
    // that takes a few polls (stopped tasks are fetched only when the failed count grows:
    // never here). The watch's verdict read ECS's status: it was read at least once.
    let (calls, polls) = (
        s["watch_calls"].as_u64().unwrap(),
        s["polls"].as_u64().unwrap(),
    );
    let status_reads = s["ecs_calls_by_action"]["DescribeServiceDeployments"]
        .as_u64()
        .unwrap_or(0);
    assert!(status_reads >= 1, "{s}");
    assert_eq!(calls, polls + status_reads, "{s}");
    if polls >= 5 {
        assert!(status_reads < polls, "{s}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_denied_the_service_deployment_api_falls_back_and_says_so_once() {
    let seed = seed_with("sddenied", &["--tag", "sandbox.service-deployments=denied"]);
    let plan = seed.plan("1.0.0", "healthy", "");
    let run = deploy(&plan, &seed);
    assert_eq!(run.code, 0, "{}", run.all());
    let s = run.summary();
    assert_eq!(s["service_deployment_api"], false, "{s}");
    // Once in the NDJSON, and once in the human log beside it on stderr.
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert_eq!(
            text.matches("judging the rollout from the service's deployment list")
                .count(),
            1,
            "{stream}: {}",
            run.all()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_deploy_service_is_refused_by_preflight_before_anything_is_built() {
    refused_by_preflight("CODE_DEPLOY").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_service_is_refused_by_preflight_before_anything_is_built() {
    refused_by_preflight("EXTERNAL").await;
}

async fn refused_by_preflight(controller: &str) {
    let seed = seed_with("controller", &["--controller", controller]);
    // A plan that would build: nothing may be built, pushed or registered.
    let extra = format!(
        "[build]\ncontext = \"{}\"\n",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/app")
            .display()
    );
    let plan = seed.plan("9.9.9", "healthy", &extra);
    let run = release(&["--output", "json", "deploy", path_str(&plan.path)]);
    assert_eq!(run.code, 3, "{}", run.all());
    let check = run
        .records()
        .into_iter()
        .find(|r| r["event"] == "check" && r["check"] == "deployment strategy")
        .unwrap_or_else(|| panic!("{}", run.all()));
    assert_eq!(check["status"], "failed");
    assert!(check["detail"].as_str().unwrap().contains(controller));
    assert!(!run.all().contains("building"), "{}", run.all());
    assert_eq!(revision_count(&seed.name).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bake_longer_than_the_timeout_allows_fails_preflight_naming_the_timeout_it_needs() {
    let seed = seed_with(
        "baketime",
        &["--strategy", "BLUE_GREEN", "--bake-minutes", "10"],
    );
    let plan = seed.plan("1.0.0", "healthy", "");
    let run = deploy(&plan, &seed);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.all().contains("set rollout.timeout to at least 15m"),
        "{}",
        run.all()
    );
    assert_eq!(revision_count(&seed.name).await, 1);
}

fn blue_green_plan(seed: &Seed) -> TestPlan {
    let text = seed
        .plan_text("1.0.0", "healthy", "")
        .replace("timeout = \"60s\"", "timeout = \"7m\"");
    write_plan(&text, None)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blue_green_deploy_is_watched_through_its_bake_to_successful() {
    let seed = seed_with(
        "bluegreen",
        &[
            "--strategy",
            "BLUE_GREEN",
            "--bake-minutes",
            "1",
            "--tag",
            "sandbox.minute=4",
        ],
    );
    let plan = blue_green_plan(&seed);
    let run = deploy(&plan, &seed);
    assert_eq!(run.code, 0, "{}", run.all());
    let stages: Vec<String> = run
        .records()
        .iter()
        .filter(|r| r["event"] == "progress")
        .filter_map(|r| r["stage"].as_str().map(str::to_string))
        .collect();
    assert!(
        stages.iter().any(|s| s == "BAKE_TIME"),
        "{stages:?}\n{}",
        run.all()
    );
    assert_eq!(run.summary()["verdict"]["verdict"], "succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alarm_during_the_bake_is_ecs_s_rollback_and_release_starts_no_second_one() {
    let alarm = format!("release-test-5xx-{}", std::process::id());
    let seed = seed_with(
        "alarm",
        &[
            "--strategy",
            "BLUE_GREEN",
            "--bake-minutes",
            "1",
            "--tag",
            "sandbox.minute=20",
            "--alarm",
            &alarm,
            "--alarm-rollback",
        ],
    );
    let plan = blue_green_plan(&seed);
    let mut fired = false;
    let run = release_live(
        &["deploy", path_str(&plan.path), "--image", &image(&seed)],
        |r, _| {
            if !fired && r["event"] == "progress" && r["stage"] == "BAKE_TIME" {
                set_alarm_state(&alarm, "ALARM");
                fired = true;
            }
        },
    );
    assert!(fired, "no BAKE_TIME stage seen: {}", run.all());
    assert_eq!(run.code, 1, "{}", run.all());
    let s = run.summary();
    assert_eq!(s["verdict"]["verdict"], "rolled_back_by_ecs", "{s}");
    assert_eq!(s["rolled_back_by"], "ecs", "{s}");
    // release's own rollback step names rollout.on_failure; ECS's rollback is followed instead.
    assert!(!run.all().contains("rollout.on_failure"), "{}", run.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_placement_is_stalled_within_the_stall_time_and_a_poll() {
    let seed = seed("stall");
    let plan = seed.plan("1.0.0", "stuck", "stall = \"4s\"\non_failure = \"stop\"\n");
    let run = deploy(&plan, &seed);
    assert_eq!(run.code, 15, "{}", run.all());
    // From the UpdateService (the `deployment` record) to the verdict (the summary).
    let at = |r: &Value| {
        humantime::parse_rfc3339(r["ts"].as_str().unwrap())
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    };
    let records = run.records();
    let started = records
        .iter()
        .find(|r| r["event"] == "deployment_started")
        .unwrap();
    let took = at(&run.summary()) - at(started);
    let s = run.summary();
    assert_eq!(s["verdict"]["verdict"], "stalled", "{s}");
    assert!(
        run.all().contains("unable to place a task"),
        "{}",
        run.all()
    );
    // stall (4 s) + one poll (1 s) + the first poll's interval and the calls around it
    assert!(took < Duration::from_secs(8), "{took:?}");
    // The placement event ECS repeats is printed once, then counted.
    let events = run
        .records()
        .into_iter()
        .filter(|r| {
            r["event"] == "service_event"
                && r["message"]
                    .as_str()
                    .unwrap()
                    .contains("unable to place a task")
        })
        .count();
    assert_eq!(events, 1, "{}", run.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_breaker_failure_with_no_completed_deployment_is_failed_not_rolled_back() {
    // The service's first deployment crashes too: ECS has no COMPLETED deployment to return to.
    let seed = seed_with("nocomplete", &["--no-steady", "--scenario", "crashloop"]);
    let plan = seed.plan("1.0.0", "crashloop", "on_failure = \"stop\"\n");
    let run = release(&[
        "--output",
        "json",
        "deploy",
        path_str(&plan.path),
        "--image",
        &image(&seed),
        "--force",
    ]);
    assert_eq!(run.code, 4, "{}", run.all());
    let s = run.summary();
    assert_eq!(s["verdict"]["verdict"], "failed", "{s}");
    assert!(run.all().contains("ECS did not roll back"), "{}", run.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_tasks_that_reset_when_a_task_runs_do_not_fail_a_deploy() {
    // Tasks 1, 2, 4 and 5 exit 1 (sandbox scenario `flaky`): failedTasks reaches 2, resets
    // when task 3 runs (resetOnHealthyTask), reaches 2 again; the breaker (threshold 3)
    // never trips, and release must not count 4 failures either.
    let seed = seed("flaky");
    let plan = seed.plan("1.0.0", "flaky", "");
    let run = deploy(&plan, &seed);
    assert_eq!(run.code, 0, "{}", run.all());
    let failed: Vec<i64> = run
        .records()
        .iter()
        .filter(|r| r["event"] == "progress")
        .filter_map(|r| r["failed"].as_i64())
        .collect();
    assert!(
        failed.iter().any(|f| *f > 0),
        "failures were seen: {failed:?}"
    );
    assert_eq!(run.summary()["verdict"]["verdict"], "succeeded");
}
