//! End to end: `release verify` against the sandbox and a small HTTP server that serves a
//! page with the version and a JSON-RPC `/mcp` endpoint behind a bearer token.

mod common;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;

const TOKEN: &str = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0";

/// Serves `GET /` (a page showing `version`) and `POST /mcp` (tools/list, 401 without the token).
fn serve(version: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let version = version.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let version = version.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                let mut auth = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("authorization:") {
                        auth = line["authorization:".len()..].trim().to_string();
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let (status, content) = if request_line.starts_with("GET / ") {
                    (
                        "200 OK",
                        format!("<html><footer>catalog {version}</footer></html>"),
                    )
                } else if request_line.starts_with("POST /mcp ") {
                    if auth == format!("Bearer {TOKEN}") {
                        ("200 OK", r#"{"jsonrpc":"2.0","id":"verify","result":{"tools":[{"name":"search"}]}}"#.to_string())
                    } else {
                        // Like a careless server, echo what it was sent: verify must redact it.
                        (
                            "401 Unauthorized",
                            format!(r#"{{"error":"Missing or invalid token","got":"{auth}"}}"#),
                        )
                    }
                } else {
                    ("404 Not Found", "no".to_string())
                };
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{content}",
                    content.len()
                );
            });
        }
    });
    format!("http://{addr}")
}

const CHECKS: &str = r#"
[[verify.http]]
name   = "version in footer"
url    = "{{ env('CATALOG_URL') }}/"
expect = { status = 200, body_contains = "{{ version }}" }

[[verify.http]]
name    = "MCP tools/list with a bearer token"
url     = "{{ env('CATALOG_URL') }}/mcp"
method  = "POST"
headers = { Authorization = "Bearer {{ env('MCP_TOKEN') }}", Content-Type = "application/json" }
body    = '{"jsonrpc":"2.0","id":"verify","method":"tools/list","params":{}}'
expect  = { status = 200, json = [{ pointer = "/result/tools", non_empty = true }] }
retries = 1
timeout = "5s"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn verify_passes_after_deploy_and_names_a_task_moved_behind_its_back() {
    let seed = seed("verify");
    let url = serve("1.0.0");
    let plan = seed.plan("1.0.0", "healthy", CHECKS);
    let p = path_str(&plan.path);
    let env = [("CATALOG_URL", url.as_str()), ("MCP_TOKEN", TOKEN)];
    let run = release_env(
        &[
            "deploy",
            p,
            "--image",
            &format!("{}/app:1.0.0", seed.registry),
        ],
        &env,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("verify: 5 passed, 0 failed"),
        "{}",
        run.stderr
    );

    let run = release_env(&["--output", "json", "verify", p], &env);
    assert_eq!(run.code, 0, "{}", run.all());
    let checks: Vec<_> = run
        .records()
        .into_iter()
        .filter(|r| r["event"] == "check" && r["stage"] == "verify")
        .collect();
    assert_eq!(checks.len(), 5);
    assert!(checks.iter().all(|c| c["status"] == "passed"));
    assert!(!run.all().contains(TOKEN));

    // Move the service to another revision behind release's back.
    let other_arn = register_copy_of_revision_1(&seed).await;
    ecs()
        .await
        .update_service()
        .cluster(&seed.name)
        .service(&seed.name)
        .task_definition(&other_arn)
        .force_new_deployment(true)
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let svc = service(&seed.name, &seed.name).await;
        let d = svc.deployments();
        if d.len() == 1
            && d[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
            && d[0].task_definition() == Some(other_arn.as_str())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sandbox did not roll to {other_arn}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let run = release_env(&["verify", p], &env);
    assert_eq!(run.code, 6, "{}", run.all());
    let moved = format!("runs {}:3, not {}:2", seed.name, seed.name);
    assert!(run.stderr.contains(&moved), "{}", run.stderr);
    assert!(run.stderr.contains("task "), "{}", run.stderr);
    assert!(
        run.stderr.contains("the plan's release 1.0.0 is"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_fails_with_the_status_and_never_shows_the_token() {
    let seed = seed("verifytok");
    let url = serve("1.0.0");
    let plan = seed.plan("1.0.0", "healthy", CHECKS);
    let p = path_str(&plan.path);
    let wrong = "wrong-8c7b6a5d4e3f2a1b0c9d8e7f6a5b4c3d";
    let env = [("CATALOG_URL", url.as_str()), ("MCP_TOKEN", wrong)];
    let run = release_env(&["verify", p], &env);
    assert_eq!(run.code, 6, "{}", run.all());
    assert!(run.stderr.contains("-> 401"), "{}", run.stderr);
    assert!(
        run.stderr.contains("status 401, expected 200"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Missing or invalid token"),
        "{}",
        run.stderr
    );
    let json = release_env(&["--output", "json", "verify", p], &env);
    assert_eq!(json.code, 6);
    for out in [run.all(), json.all()] {
        assert!(!out.contains(wrong), "the token leaked: {out}");
        assert!(
            !out.contains(&wrong[..12]),
            "part of the token leaked: {out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_rolls_back_when_its_verify_fails() {
    let seed = seed("verifyrb");
    let url = serve("0.0.0-not-this");
    let plan = seed.plan("1.0.0", "healthy", CHECKS);
    let env = [("CATALOG_URL", url.as_str()), ("MCP_TOKEN", TOKEN)];
    let run = release_env(
        &[
            "deploy",
            path_str(&plan.path),
            "--image",
            &format!("{}/app:1.0.0", seed.registry),
        ],
        &env,
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("body does not contain \"1.0.0\""),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("failed its verify"), "{}", run.stderr);
    assert!(
        run.stderr.contains("release rolled the service back"),
        "{}",
        run.stderr
    );
    let svc = service(&seed.name, &seed.name).await;
    assert!(svc
        .task_definition()
        .unwrap()
        .ends_with(&format!("{}:1", seed.name)));
}
