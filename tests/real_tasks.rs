//! End to end against real tasks: the sandbox runs each task's containers (examples/app, a
//! busybox httpd) in its dockerd behind a load balancer per service. A healthy deploy leaves
//! exactly desired-count containers of the new revision (by the ECS agent's labels) and the
//! load balancer answers with the new version; an image that exits at start and an app that
//! fails its health check are rolled back by ECS's breaker with the real exit code and the
//! app's log line in CloudWatch Logs; verify's HTTP check goes through the load balancer.

mod common;
use common::*;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A version no other run against the same registry has pushed.
fn unique_version() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("3.0.0-{secs}.{}.{n}", std::process::id())
}

/// The URL of the service's load balancer (`scripts/sandbox url SERVICE CLUSTER`).
fn lb_url(seed: &Seed) -> String {
    let out = Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/sandbox"))
        .args(["url", &seed.name, &seed.name])
        .output()
        .expect("run scripts/sandbox url");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// GET url (http://127.0.0.1:PORT/path): status and body.
fn get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the load balancer");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// (task ARN, task-definition version) of each running container of the service's cluster,
/// by the labels the ECS agent sets.
fn running_containers(cluster: &str) -> Vec<(String, String)> {
    let out = Command::new("docker")
        .args([
            "ps",
            "--filter",
            &format!("label=com.amazonaws.ecs.cluster={cluster}"),
            "--format",
            "{{.Label \"com.amazonaws.ecs.task-arn\"}} {{.Label \"com.amazonaws.ecs.task-definition-version\"}} {{.Label \"com.amazonaws.ecs.container-name\"}}",
        ])
        .output()
        .expect("run docker ps");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut f = l.split(' ');
            let arn = f.next().unwrap().to_string();
            let rev = f.next().unwrap().to_string();
            assert_eq!(f.next(), Some("app"), "{l}");
            (arn, rev)
        })
        .collect()
}

/// Waits until `f` holds (old tasks drain after the deregistration delay).
fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A plan building examples/app as `version` (with `args` extra build args) for the seed,
/// verifying the page through the service's load balancer.
fn build_plan(
    seed: &Seed,
    app: &tempfile::TempDir,
    version: &str,
    scenario: &str,
    args: &str,
) -> TestPlan {
    let extra = format!(
        r#"
[build]
context  = "{ctx}"
platform = "linux/amd64"
before   = ["sh build.sh"]
args     = {{ VERSION = "{{{{ version }}}}"{args} }}

[[verify.http]]
name    = "the page through the load balancer"
url     = "{url}/"
expect  = {{ status = 200, body_contains = "version {{{{ version }}}}" }}
retries = 3
timeout = "5s"
"#,
        ctx = app.path().display(),
        url = lb_url(seed),
    );
    seed.plan(version, scenario, &extra)
}
/// The stopped tasks of a revision: (stoppedReason, stopCode, exit code, task id).
async fn stopped_tasks(seed: &Seed, revision: &str) -> Vec<(String, String, Option<i32>, String)> {
    let client = ecs().await;
    let arns = client
        .list_tasks()
        .cluster(&seed.name)
        .service_name(&seed.name)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .unwrap()
        .task_arns()
        .to_vec();
    if arns.is_empty() {
        return vec![];
    }
    let tasks = client
        .describe_tasks()
        .cluster(&seed.name)
        .set_tasks(Some(arns))
        .send()
        .await
        .unwrap();
    tasks
        .tasks()
        .iter()
        .filter(|t| {
            t.task_definition_arn()
                .unwrap_or_default()
                .ends_with(&format!(":{revision}"))
        })
        .map(|t| {
            (
                t.stopped_reason().unwrap_or_default().to_string(),
                t.stop_code()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
                t.containers()[0].exit_code(),
                t.task_arn()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

/// The messages of a container's awslogs stream (`/ecs/FAMILY`, `ecs/app/TASK-ID`).
fn log_lines(seed: &Seed, task_id: &str) -> Vec<String> {
    let out = sandbox_python(&format!(
        "import json\nr = client('logs').get_log_events(logGroupName='/ecs/{}', logStreamName='ecs/app/{}')\nprint(json.dumps([e['message'] for e in r['events']]))",
        seed.name, task_id
    ));
    serde_json::from_str(out.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_deploy_runs_desired_count_containers_of_the_new_revision_behind_the_lb() {
    let seed = seed("real");
    let url = lb_url(&seed);
    // The seeded revision answers through the load balancer once its health check passes.
    eventually("the seeded tasks answer", Duration::from_secs(20), || {
        let (status, body) = get(&format!("{url}/"));
        (status == 200 && body.contains("version 1.0.0")).then_some(())
    });
    let app = app_copy();
    let version = unique_version();
    let plan = build_plan(&seed, &app, &version, "healthy", "");
    let start = Instant::now();
    let run = release(&["--output", "json", "deploy", path_str(&plan.path)]);
    let took = start.elapsed();
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(run.summary()["verdict"]["verdict"], "succeeded");
    // verify's HTTP check went through the load balancer and passed.
    let check = run
        .records()
        .into_iter()
        .find(|r| {
            r["event"] == "check"
                && r["stage"] == "verify"
                && r["check"] == "the page through the load balancer"
        })
        .unwrap_or_else(|| panic!("no verify check: {}", run.all()));
    assert_eq!(check["status"], "passed", "{check}");
    eprintln!("healthy deploy (build, push, rollout, verify): {took:?}");

    // Exactly desired (2) containers run, all of revision 2, one per RUNNING task.
    let running = eventually("the old tasks drained", Duration::from_secs(20), || {
        let c = running_containers(&seed.name);
        (c.len() == 2 && c.iter().all(|(_, rev)| rev == "2")).then_some(c)
    });
    let client = ecs().await;
    let mut arns = client
        .list_tasks()
        .cluster(&seed.name)
        .service_name(&seed.name)
        .send()
        .await
        .unwrap()
        .task_arns()
        .to_vec();
    arns.sort();
    let mut labelled: Vec<String> = running.into_iter().map(|(arn, _)| arn).collect();
    labelled.sort();
    assert_eq!(labelled, arns);
    let (status, body) = get(&format!("{url}/"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("version {version}<")), "{body}");
    let (status, _) = get(&format!("{url}/health"));
    assert_eq!(status, 200);

    // release verify: its HTTP check through the load balancer passes on its own too.
    let verify = release(&["verify", path_str(&plan.path)]);
    assert_eq!(verify.code, 0, "{}", verify.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_that_exits_at_start_is_rolled_back_by_the_breaker_with_its_exit_code_and_log_line(
) {
    let seed = seed("realcrash");
    let url = lb_url(&seed);
    let app = app_copy();
    let plan = build_plan(
        &seed,
        &app,
        &unique_version(),
        "healthy",
        r#", BROKEN = "yes""#,
    );
    let run = release(&["--output", "json", "deploy", path_str(&plan.path)]);
    assert_eq!(run.code, 1, "{}", run.all());
    let s = run.summary();
    assert_eq!(s["verdict"]["verdict"], "rolled_back_by_ecs", "{s}");
    let text = s["message"].as_str().unwrap();
    assert!(
        text.contains("Essential container in task exited (app exited 1)"),
        "{text}"
    );
    // The failure shows the app's own last log line, from CloudWatch Logs, with its exit code.
    let logs: Vec<_> = run
        .records()
        .into_iter()
        .filter(|r| r["event"] == "task_log")
        .collect();
    assert!(!logs.is_empty(), "no task_log record: {}", run.all());
    assert_eq!(logs[0]["container"], "app", "{}", logs[0]);
    assert_eq!(logs[0]["exit_code"], 1, "{}", logs[0]);
    assert!(
        logs[0]["lines"].as_array().unwrap().iter().any(|l| l
            .as_str()
            .unwrap()
            .contains("refusing to start: this build is broken")),
        "{}",
        logs[0]
    );
    // People read it in the log, between the failure and the summary.
    assert!(
        run.stderr.contains("last log lines of app in task")
            && run
                .stderr
                .contains("refusing to start: this build is broken"),
        "{}",
        run.stderr
    );

    // The stopped tasks of revision 2 report the container's real exit and its log stream
    // holds the app's own words.
    let stopped: Vec<_> = stopped_tasks(&seed, "2")
        .await
        .into_iter()
        .filter(|(reason, _, _, _)| !reason.starts_with("Scaling activity initiated by"))
        .collect();
    assert!(stopped.len() >= 3, "{stopped:?}");
    for (reason, code, exit, task) in &stopped {
        assert_eq!(reason, "Essential container in task exited");
        assert_eq!(code, "EssentialContainerExited");
        assert_eq!(*exit, Some(1));
        let lines = log_lines(&seed, task);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("refusing to start: this build is broken")),
            "{lines:?}"
        );
    }
    // The load balancer never routed to it: revision 1 answers.
    let (status, body) = get(&format!("{url}/"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("version 1.0.0<"), "{body}");
    eventually("only revision 1 runs", Duration::from_secs(20), || {
        let c = running_containers(&seed.name);
        (c.len() == 2 && c.iter().all(|(_, rev)| rev == "1")).then_some(())
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_failing_its_health_check_is_rolled_back_by_the_breaker() {
    let seed = seed("realunhealthy");
    let url = lb_url(&seed);
    let plan = seed.plan("1.0.0", "unhealthy", "");
    let start = Instant::now();
    let image = format!("{}/app:1.0.0", seed.registry);
    let run = release(&[
        "--output",
        "json",
        "deploy",
        path_str(&plan.path),
        "--image",
        &image,
    ]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(run.summary()["verdict"]["verdict"], "rolled_back_by_ecs");
    eprintln!("unhealthy deploy to ECS's rollback: {:?}", start.elapsed());
    // At least the breaker's threshold (3) failed their health checks; tasks still starting
    // when the breaker tripped were stopped by the rollback ("Scaling activity …").
    let stopped = stopped_tasks(&seed, "2").await;
    let unhealthy: Vec<_> = stopped
        .iter()
        .filter(|(reason, _, _, _)| reason == "Task failed container health checks")
        .collect();
    assert!(unhealthy.len() >= 3, "{stopped:?}");
    for (_, code, _, _) in &unhealthy {
        assert_eq!(code, "ServiceSchedulerInitiated");
    }
    for (reason, _, _, _) in &stopped {
        assert!(
            reason == "Task failed container health checks"
                || reason.starts_with("Scaling activity initiated by"),
            "{stopped:?}"
        );
    }
    let (status, body) = get(&format!("{url}/"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("version 1.0.0<"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_with_a_trailing_newline_reaches_the_app_byte_for_byte() {
    // ECS injects the parameter's bytes: 65 of them, the app refuses to start and says so.
    let seed = seed_with("realsecret", &["--desired", "1", "--no-rollback"]);
    let secret = secret_value(&seed.secret).await;
    sandbox_python(&format!(
        "client('ssm').put_parameter(Name='{}', Value={:?} + '\\n', Type='SecureString', Overwrite=True)",
        seed.secret, secret
    ));
    let plan = seed.plan("1.0.0", "healthy", "on_failure = \"stop\"\n");
    let image = format!("{}/app:1.0.0", seed.registry);
    let run = release(&["deploy", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 4, "{}", run.all());
    let stopped = eventually("a stopped task", Duration::from_secs(30), || {
        let s = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(stopped_tasks(&seed, "2"))
        });
        (!s.is_empty()).then_some(s)
    });
    let (_, _, exit, task) = &stopped[0];
    assert_eq!(*exit, Some(1));
    let lines = log_lines(&seed, task);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("JWT_SECRET is 65 bytes, not 64")),
        "{lines:?}"
    );
}
