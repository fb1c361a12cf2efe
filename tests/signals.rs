//! End to end: SIGTERM (how CI cancels a job) and SIGINT are handled alike at every phase:
//! the watch stops watching and says how to see and undo the deployment; a build stops its
//! commands' whole process groups; elsewhere release says what state AWS is in. Exit codes
//! 143 (SIGTERM) and 130 (SIGINT).

mod common;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn send(pid: u32, signal: i32) {
    // SAFETY: kill(2) on the child we spawned.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
}

/// Runs `release --output json ARGS`; sends `signal` at the first NDJSON record `when`
/// accepts; returns the exit code and every record.
fn signal_when(args: &[&str], signal: i32, when: impl Fn(&Value) -> bool) -> (i32, Vec<Value>) {
    let mut sent = false;
    let run = release_live(args, |r, pid| {
        if !sent && when(r) {
            send(pid, signal);
            sent = true;
        }
    });
    let records = run.records();
    assert!(sent, "the moment to signal never came: {records:#?}");
    (run.code, records)
}

/// Whether a `sleep MARKER` process runs.
fn sleeping(marker: u32) -> bool {
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    String::from_utf8_lossy(&ps.stdout)
        .lines()
        .any(|l| l.trim() == format!("sleep {marker}"))
}

fn last_summary(records: &[Value]) -> &Value {
    records
        .iter()
        .rev()
        .find(|r| r["event"] == "summary" || r["event"] == "interrupted" || r["event"] == "error")
        .expect("a final record")
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_watching_stops_watching_with_the_undo_command() {
    let seed = seed("term");
    let plan = seed.plan("1.0.0", "slow", "");
    let image = format!("{}/app:1.0.0", seed.registry);
    let (code, records) = signal_when(
        &["deploy", path_str(&plan.path), "--image", &image],
        libc::SIGTERM,
        |r| r["event"] == "deployment_started",
    );
    assert_eq!(code, 143, "{records:#?}");
    let last = last_summary(&records);
    let text = last["message"].as_str().unwrap();
    assert!(text.contains("SIGTERM"), "{text}");
    // Inside the watch the undo names the plan; in the instant between UpdateService's answer
    // and the watch taking over, the global handler names the cluster and service. Both undo it.
    let with_plan = format!("release rollback {} --to 1", plan.path.display());
    let with_service = format!(
        "release rollback --cluster {0} --service {0} --to 1",
        seed.name
    );
    assert!(
        text.contains(&with_plan) || text.contains(&with_service),
        "{text}"
    );
    // The deployment goes on in ECS.
    let svc = service(&seed.name, &seed.name).await;
    assert!(svc
        .task_definition()
        .unwrap()
        .ends_with(&format!("{}:2", seed.name)));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_build_stops_the_commands_and_their_children() {
    let seed = seed("termbuild");
    // A `before` command that starts a grandchild in the background and waits for it.
    let marker = 3000 + (std::process::id() % 600);
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY x /x\n",
    )
    .unwrap();
    std::fs::write(context.path().join("x"), "x").unwrap();
    let extra = format!(
        "[build]\ncontext = \"{}\"\nbefore = [\"sleep {marker} & echo started; wait\"]\n",
        context.path().display()
    );
    // A version no other run pushed: an existing tag would be reused and `before` skipped.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    let version = format!("7.{}.{nanos}", std::process::id());
    let plan = seed.plan(&version, "healthy", &extra);
    let started = Instant::now();
    let (code, records) = signal_when(&["deploy", path_str(&plan.path)], libc::SIGTERM, |r| {
        let before = r["event"] == "step"
            && r["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("running before"));
        // Signal once the grandchild runs, so that the test sees it stopped.
        before && {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !sleeping(marker) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            sleeping(marker)
        }
    });
    assert_eq!(code, 143, "{records:#?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let text = last_summary(&records)["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("SIGTERM"), "{text}");
    assert!(text.contains("nothing was registered"), "{text}");
    // The grandchild (`sleep MARKER`) is gone too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!sleeping(marker), "sleep {marker} survived");
    assert_eq!(revision_count(&seed.name).await, 1);
}
