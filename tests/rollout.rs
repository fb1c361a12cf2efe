//! End to end against the sandbox's rollout simulation: failures are reported the moment
//! ECS knows them and never as success; timeouts are exact; rollback targets a chosen
//! revision and never deregisters anything.

mod common;
use std::time::Duration;

use common::*;

fn image(seed: &Seed) -> String {
    format!("{}/app:1.0.0", seed.registry)
}

fn epoch(ts: &str) -> f64 {
    let t = humantime::parse_rfc3339(ts).unwrap_or_else(|e| panic!("{ts}: {e}"));
    t.duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
/// Seconds from ECS's "deployment failed" event to release's verdict.
fn verdict_latency(run: &Run) -> f64 {
    let records = run.records();
    let failed = records
        .iter()
        .find(|r| {
            r["event"] == "service_event"
                && r["message"].as_str().unwrap().contains("deployment failed")
        })
        .unwrap_or_else(|| panic!("no failure event: {}", run.all()));
    let verdict = records
        .iter()
        .find(|r| r["event"] == "summary" || r["event"] == "failed")
        .unwrap();
    epoch(verdict["ts"].as_str().unwrap()) - epoch(failed["created_at"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn crashloop_is_reported_failed_within_a_poll_and_ecs_rolled_it_back() {
    let seed = seed("crash");
    let plan = seed.plan("1.0.0", "crashloop", "");
    let run = release(&[
        "--output",
        "json",
        "deploy",
        path_str(&plan.path),
        "--image",
        &image(&seed),
    ]);
    assert_eq!(run.code, 1, "{}", run.all());
    let s = run.summary();
    assert_eq!(s["verdict"]["verdict"], "rolled_back_by_ecs", "{s}");
    assert_eq!(s["rolled_back_by"], "ecs");
    let text = s["message"].as_str().unwrap();
    // ECS's reason: its rolloutStateReason, or (if the FAILED deployment was already gone
    // from the list when polled) its "deployment failed" event.
    assert!(
        text.contains("ECS deployment circuit breaker")
            || text.contains("deployment failed: tasks failed to start"),
        "{text}"
    );
    assert!(
        text.contains("Essential container in task exited (app exited 1)"),
        "{text}"
    );
    assert!(text.contains("no second rollback"), "{text}");
    // Poll is 1 s: the verdict comes within one poll of ECS's failure event, plus the call;
    // the bound leaves room for a loaded machine running the whole suite in parallel.
    let latency = verdict_latency(&run);
    assert!(
        latency < 3.0,
        "verdict {latency:.2}s after the failure event"
    );
    // ECS's rollback runs the previous revision again, and release registered one revision only.
    assert_eq!(revision_count(&seed.name).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn unhealthy_is_reported_failed_and_rolled_back_by_ecs() {
    let seed = seed("unhealthy");
    let plan = seed.plan("1.0.0", "unhealthy", "");
    let run = release(&["deploy", path_str(&plan.path), "--image", &image(&seed)]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("ECS rolled the service back to"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Task failed container health checks"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn breaker_without_rollback_release_rolls_back_and_reports_both() {
    let seed = seed_with("norb", &["--no-rollback"]);
    let plan = seed.plan("1.0.0", "crashloop", "");
    let run = release(&[
        "--output",
        "json",
        "deploy",
        path_str(&plan.path),
        "--image",
        &image(&seed),
    ]);
    assert_eq!(run.code, 1, "{}", run.all());
    let records = run.records();
    let failed = records
        .iter()
        .find(|r| r["event"] == "failed")
        .expect("failure reported");
    assert!(failed["message"]
        .as_str()
        .unwrap()
        .contains("Essential container in task exited"));
    let s = run.summary();
    assert_eq!(s["rolled_back_by"], "release", "{s}");
    assert_eq!(s["rollback_succeeded"], true, "{s}");
    let svc = service(&seed.name, &seed.name).await;
    assert!(svc
        .task_definition()
        .unwrap()
        .ends_with(&format!("{}:1", seed.name)));
    assert_eq!(svc.running_count(), 2);
    // Never deregisters: revision 2 is still ACTIVE.
    let td = ecs()
        .await
        .describe_task_definition()
        .task_definition(format!("{}:2", seed.name))
        .send()
        .await
        .unwrap();
    assert_eq!(
        td.task_definition().unwrap().status().unwrap().as_str(),
        "ACTIVE"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_failure_stop_leaves_it_and_prints_the_undo_command() {
    let seed = seed_with("stop", &["--no-rollback"]);
    let plan = seed.plan("1.0.0", "crashloop", "on_failure = \"stop\"\n");
    let run = release(&["deploy", path_str(&plan.path), "--image", &image(&seed)]);
    assert_eq!(run.code, 4, "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("release rollback {} --to 1", plan.path.display())),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--task-definition"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn stuck_times_out_at_exactly_the_timeout_with_the_placement_event() {
    let seed = seed("stuck");
    let text = seed
        .plan_text("1.0.0", "stuck", "")
        .replace("timeout = \"60s\"", "timeout = \"5s\"");
    let plan = write_plan(&text, None);
    let run = release(&[
        "--output",
        "json",
        "deploy",
        path_str(&plan.path),
        "--image",
        &image(&seed),
    ]);
    assert_eq!(run.code, 5, "{}", run.all());
    assert!(run.stderr.contains("timed out after 5s"), "{}", run.stderr);
    assert!(
        run.stderr.contains("unable to place a task"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("release rollback"), "{}", run.stderr);
    // The timeout counts from UpdateService (the deployment_started record, stamped when
    // ECS answered it); the last poll is at the deadline. Measured on the records' own
    // timestamps, so that preflight and process start under a loaded machine do not count.
    let records = run.records();
    let at = |kind: &str| {
        let r = records
            .iter()
            .find(|r| r["event"] == kind)
            .unwrap_or_else(|| panic!("no {kind}: {}", run.stdout));
        humantime::parse_rfc3339(r["ts"].as_str().unwrap()).unwrap()
    };
    let took = at("summary")
        .duration_since(at("deployment_started"))
        .unwrap();
    assert!(took >= Duration::from_millis(4900), "{took:?}");
    assert!(took < Duration::from_millis(6500), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_started_behind_its_back_is_superseded_never_success() {
    let seed = seed("super");
    let plan = seed.plan("1.0.0", "slow", "");
    let path = plan.path.clone();
    let img = image(&seed);
    let child = std::thread::spawn(move || {
        release(&[
            "--output",
            "json",
            "deploy",
            path_str(&path),
            "--image",
            &img,
        ])
    });
    // Wait for release's revision, then start another deployment of a third revision.
    wait_for_revisions(&seed.name, 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let other = register_copy_of_revision_1(&seed).await;
    ecs()
        .await
        .update_service()
        .cluster(&seed.name)
        .service(&seed.name)
        .task_definition(other)
        .force_new_deployment(true)
        .send()
        .await
        .unwrap();
    let run = child.join().unwrap();
    assert_eq!(run.code, 4, "{}", run.all());
    let s = run.summary();
    assert_eq!(s["verdict"]["verdict"], "superseded", "{s}");
    assert!(s["message"]
        .as_str()
        .unwrap()
        .contains(&format!("{}:3", seed.name)));
    assert!(!run.all().contains("released 1.0.0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_to_a_chosen_revision_and_its_refusals() {
    let seed = seed("rollback");
    let plan = seed.plan("1.0.0", "healthy", "");
    let p = path_str(&plan.path);
    let run = release(&["deploy", p, "--image", &image(&seed)]);
    assert_eq!(run.code, 0, "{}", run.all());

    // --to 999 and an INACTIVE revision: their own messages, nothing changed.
    let run = release(&["rollback", p, "--to", "999"]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains("revision 999 of family"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    register_copy_of_revision_1(&seed).await;
    ecs()
        .await
        .deregister_task_definition()
        .task_definition(format!("{}:3", seed.name))
        .send()
        .await
        .unwrap();
    let run = release(&["rollback", p, "--to", "3"]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(run.stderr.contains("is INACTIVE"), "{}", run.stderr);
    let svc = service(&seed.name, &seed.name).await;
    assert!(svc
        .task_definition()
        .unwrap()
        .ends_with(&format!("{}:2", seed.name)));
    assert_eq!(svc.deployments().len(), 1);

    // --dry-run shows the change and stops.
    let run = release(&["rollback", p, "--to", "1", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("{n}:2 -> {n}:1", n = seed.name)),
        "{}",
        run.stderr
    );
    assert_eq!(service(&seed.name, &seed.name).await.deployments().len(), 1);

    // --to 1: back to revision 1, watched to 2/2.
    let run = release(&["rollback", p, "--to", "1"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("has reached a steady state"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("2/2 running"), "{}", run.stderr);
    let svc = service(&seed.name, &seed.name).await;
    assert!(svc
        .task_definition()
        .unwrap()
        .ends_with(&format!("{}:1", seed.name)));
    assert_eq!(svc.running_count(), 2);
    assert_eq!(svc.deployments().len(), 1);

    // To the revision it already runs: nothing to do, no new deployment.
    let run = release(&["rollback", p, "--to", "1"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("already runs"), "{}", run.stderr);
    assert_eq!(service(&seed.name, &seed.name).await.deployments().len(), 1);

    // Without a plan, by cluster and service; without --to, what ran before (release:previous is
    // on revision 2 only, so from revision 1 it falls back to N-1 = 0 and refuses).
    let run = release(&[
        "rollback",
        "--cluster",
        &seed.name,
        "--service",
        &seed.name,
        "--to",
        "2",
        "--dry-run",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());

    // History lists revisions newest first and marks the running one.
    let run = release(&["history", p]);
    assert_eq!(run.code, 0, "{}", run.all());
    let lines: Vec<&str> = run.stderr.lines().collect();
    let pos = |rev: &str| {
        lines
            .iter()
            .position(|l| l.contains(&format!("{}:{rev} ", seed.name)))
            .unwrap()
    };
    assert!(pos("3") < pos("2") && pos("2") < pos("1"), "{}", run.stderr);
    assert!(lines[pos("1")].contains("runs now"), "{}", run.stderr);
    assert!(lines[pos("3")].contains("INACTIVE"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_without_to_returns_to_what_ran_before() {
    let seed = seed("rbprev");
    let plan = seed.plan("1.0.0", "healthy", "");
    let p = path_str(&plan.path);
    assert_eq!(release(&["deploy", p, "--image", &image(&seed)]).code, 0);
    let run = release(&["rollback", p]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("release:previous"), "{}", run.stderr);
    let svc = service(&seed.name, &seed.name).await;
    assert!(svc
        .task_definition()
        .unwrap()
        .ends_with(&format!("{}:1", seed.name)));
    // And again: what ran before revision 1 this time was revision 2, whatever its tags said.
    let run = release(&["rollback", p]);
    assert_eq!(run.code, 0, "{}", run.all());
    let svc = service(&seed.name, &seed.name).await;
    assert!(svc
        .task_definition()
        .unwrap()
        .ends_with(&format!("{}:2", seed.name)));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_watching_not_the_deployment() {
    let seed = seed("ctrlc");
    let plan = seed.plan("1.0.0", "slow", "");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_release"))
        .args(["deploy", path_str(&plan.path), "--image", &image(&seed)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_revisions(&seed.name, 2).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopped watching"), "{stderr}");
    assert!(
        stderr.contains(&format!("release status {}", plan.path.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("release rollback {} --to 1", plan.path.display())),
        "{stderr}"
    );
    // The deployment goes on in ECS.
    let svc = service(&seed.name, &seed.name).await;
    assert!(svc
        .task_definition()
        .unwrap()
        .ends_with(&format!("{}:2", seed.name)));
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_output_shows_an_unchanged_wait_at_least_every_30s() {
    // A poll longer than the heartbeat, and a rollout that never changes: the plain log
    // must still show a progress line every 30 s (the watch's HEARTBEAT).
    let seed = seed("heartbeat");
    let text = seed
        .plan_text("1.0.0", "stuck", "")
        .replace("timeout = \"60s\"", "timeout = \"35s\"")
        .replace("poll    = \"1s\"", "poll    = \"40s\"");
    let plan = write_plan(&text, None);
    let run = release(&["deploy", path_str(&plan.path), "--image", &image(&seed)]);
    assert_eq!(run.code, 5, "{}", run.all());
    let times: Vec<f64> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" running, "))
        .map(|l| epoch(l.split(' ').next().unwrap()))
        .collect();
    assert!(times.len() >= 2, "{}", run.stderr);
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] <= 31.0, "{}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_reports_every_refusal_at_once() {
    let seed = seed("rbmany");
    // The plan names another family, and --to names a revision that does not exist.
    let text = seed.plan_text("1.0.0", "healthy", "").replacen(
        &format!("family   = \"{}\"", seed.name),
        "family   = \"some-other-family\"",
        1,
    );
    let plan = write_plan(&text, None);
    let run = release(&["rollback", path_str(&plan.path), "--to", "999"]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(run.stderr.contains("rollback refused"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the plan's task_definition.family is some-other-family"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("revision 999 of family"),
        "{}",
        run.stderr
    );
    assert_eq!(service(&seed.name, &seed.name).await.deployments().len(), 1);
}
