//! End to end against the sandbox's real dockerd and registry: `release build` runs the
//! `before` commands, builds examples/app with the classic builder, logs in with ECR's token,
//! pushes every tag and prints `repository@digest`; it is idempotent, never moves a version's
//! tag without --retag, and each kind of failure has its own message and exit code.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;

/// A version no other test (or earlier run against the same registry) has pushed.
fn unique_version() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("2.0.0-{secs}.{}.{n}", std::process::id())
}
/// A build test: a seeded service, an app copy, a unique version, and the plan's text.
struct Case {
    seed: Seed,
    app: tempfile::TempDir,
    version: String,
    /// The second tag, `latest-<seed name>` (a moving tag of this test alone).
    latest: String,
    /// TMPDIR of the runs: their build logs and private docker configs land here.
    tmp: tempfile::TempDir,
}

impl Case {
    fn new(prefix: &str) -> Case {
        let seed = seed(prefix);
        let latest = format!("latest-{}", seed.name);
        Case {
            seed,
            app: app_copy(),
            version: unique_version(),
            latest,
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    /// `release ARGS` with this case's TMPDIR.
    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let tmp = path_str(self.tmp.path());
        let mut env = env.to_vec();
        env.push(("TMPDIR", tmp));
        release_env(args, &env)
    }

    fn repository(&self) -> String {
        format!("{}/app", self.seed.registry)
    }

    /// The plan, with `[build]` (plus `extra` keys in it) and both tags.
    fn plan(&self, extra: &str) -> TestPlan {
        let build = format!(
            r#"
[build]
context  = "{}"
platform = "linux/amd64"
before   = ["sh build.sh"]
args     = {{ VERSION = "{{{{ version }}}}" }}
{extra}
"#,
            self.app.path().display()
        );
        let text = self
            .seed
            .plan_text(&self.version, "healthy", &build)
            .replace(
                r#"tags       = ["{{ version }}"]"#,
                &format!(r#"tags       = ["{{{{ version }}}}", "{}"]"#, self.latest),
            );
        assert!(text.contains(&self.latest), "{text}");
        write_plan(&text, None)
    }

    async fn tag_digest(&self, tag: &str) -> Option<String> {
        registry_digest(&self.seed.registry, "app", tag).await
    }
}

/// What moto's ECR GetAuthorizationToken hands out: ("AWS", password).
async fn ecr_token() -> (String, String) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let out = aws_sdk_ecr::Client::new(&config)
        .get_authorization_token()
        .send()
        .await
        .unwrap();
    let token = out.authorization_data()[0].authorization_token().unwrap();
    let text = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(token)
            .unwrap(),
    )
    .unwrap();
    let (user, password) = text.split_once(':').unwrap();
    (user.into(), password.into())
}

/// The registry's answer to a manifest HEAD for a tag (the Accept list of the plan issue).
async fn registry_digest(registry: &str, repo: &str, tag: &str) -> Option<String> {
    let (user, password) = ecr_token().await;
    let resp = reqwest::Client::new()
        .head(format!("http://{registry}/v2/{repo}/manifests/{tag}"))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.oci.image.index.v1+json, \
             application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    if resp.status() == 404 {
        return None;
    }
    assert!(resp.status().is_success(), "HEAD {tag}: {}", resp.status());
    Some(
        resp.headers()["docker-content-digest"]
            .to_str()
            .unwrap()
            .to_string(),
    )
}

/// The digest in `repository@sha256:…` printed on stdout.
fn printed_digest(run: &Run, repository: &str) -> String {
    let line = run.stdout.trim();
    let digest = line
        .strip_prefix(&format!("{repository}@"))
        .unwrap_or_else(|| panic!("stdout is not {repository}@digest: {}", run.all()));
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{line}"
    );
    digest.to_string()
}

/// A builder that is docker, except where the test's environment says otherwise; it records
/// each command line and its DOCKER_CONFIG in `calls`.
fn fake_builder(dir: &Path) -> (PathBuf, PathBuf) {
    let calls = dir.join("calls");
    let script = dir.join("fake-docker");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
echo "$* DOCKER_CONFIG=${{DOCKER_CONFIG:-}}" >> '{calls}'
case "$1" in
  login)
    if [ -n "${{FAKE_FAIL_LOGIN:-}}" ]; then echo "Error response from daemon: fake login refusal" >&2; exit 1; fi ;;
  push)
    if [ -n "${{FAKE_FAIL_PUSH:-}}" ]; then echo "denied: fake push refusal" >&2; exit 1; fi
    if [ -n "${{FAKE_WRONG_DIGEST:-}}" ]; then
      docker "$@" || exit $?
      ref="$(eval echo \${{$#}})"
      echo "${{ref##*:}}: digest: sha256:1111111111111111111111111111111111111111111111111111111111111111 size: 524"
      exit 0
    fi ;;
esac
exec docker "$@"
"#,
            calls = calls.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (script, calls)
}

#[tokio::test(flavor = "multi_thread")]
async fn build_pushes_every_tag_to_one_digest_and_a_second_build_reuses_it() {
    let case = Case::new("build");
    let plan = case.plan("");
    let run = case.run(&["build", path_str(&plan.path)]);
    assert_eq!(run.code, 0, "{}", run.all());
    let digest = printed_digest(&run, &case.repository());

    // Both tags resolve in the registry to the printed digest.
    assert_eq!(
        case.tag_digest(&case.version).await.as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(
        case.tag_digest(&case.latest).await.as_deref(),
        Some(digest.as_str())
    );
    // The before command ran in the context with RELEASE_VERSION.
    let page = std::fs::read_to_string(case.app.path().join("dist/index.html")).unwrap();
    assert!(
        page.contains(&format!("version {}", case.version)),
        "{page}"
    );
    // Steps shown, no secret anywhere, the private docker config is gone.
    let all = run.all();
    assert!(all.contains("running before: sh build.sh"), "{all}");
    assert!(all.contains("logging in to"), "{all}");
    assert!(
        all.contains(&format!("pushed {}:", case.repository())),
        "{all}"
    );
    let (_, password) = ecr_token().await;
    assert!(!all.contains(&password), "the ECR password leaked: {all}");
    // The build log is removed after a successful build.
    let log = all
        .lines()
        .find_map(|l| l.split("build log: ").nth(1))
        .and_then(|l| l.split(' ').next())
        .expect("the build log is named");
    assert!(!Path::new(log).exists(), "{log} was left behind");

    // Again: nothing built or pushed, same digest. With no daemon at all, to be sure.
    let again = case.run_env(
        &["build", path_str(&plan.path)],
        &[("DOCKER_HOST", "unix:///nonexistent.sock")],
    );
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(printed_digest(&again, &case.repository()), digest);
    assert!(
        again.all().contains("reused, nothing built or pushed"),
        "{}",
        again.all()
    );
    assert!(!again.all().contains("build log:"), "{}", again.all());

    // JSON: NDJSON records only, the result among them.
    let json = case.run(&["--output", "json", "build", path_str(&plan.path)]);
    assert_eq!(json.code, 0, "{}", json.all());
    let records = json.records();
    assert!(records
        .iter()
        .any(|r| r["event"] == "image_reused" && r["digest"] == digest.as_str()));
    // The result, then the summary every stream ends with.
    let n = records.len();
    assert_eq!(records[n - 1]["event"], "summary");
    assert_eq!(records[n - 1]["exit_code"], 0);
    let result = &records[n - 2];
    assert_eq!(result["event"], "result");
    assert_eq!(result["digest"], digest.as_str());

    // --rebuild of unchanged content builds the same image and leaves the tags where they are.
    let rebuild = case.run(&["build", path_str(&plan.path), "--rebuild"]);
    assert_eq!(rebuild.code, 0, "{}", rebuild.all());
    assert_eq!(printed_digest(&rebuild, &case.repository()), digest);
    assert!(
        rebuild.all().contains("pushing it again"),
        "{}",
        rebuild.all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_with_other_content_does_not_move_the_version_tag_without_retag() {
    let case = Case::new("buildretag");
    let plan = case.plan("");
    let first = case.run(&["build", path_str(&plan.path)]);
    assert_eq!(first.code, 0, "{}", first.all());
    let digest = printed_digest(&first, &case.repository());

    // Same version, other content.
    let template = case.app.path().join("index.html.in");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, format!("{text}<!-- changed -->\n")).unwrap();

    let refused = case.run(&["build", path_str(&plan.path), "--rebuild"]);
    assert_eq!(refused.code, 14, "{}", refused.all());
    assert!(
        refused.stderr.contains(&format!(
            "refusing to move {}:{}",
            case.repository(),
            case.version
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("Nothing was pushed"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--retag"), "{}", refused.stderr);
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    // Neither tag moved.
    assert_eq!(case.tag_digest(&case.version).await, Some(digest.clone()));
    assert_eq!(case.tag_digest(&case.latest).await, Some(digest.clone()));

    // With --retag both tags move to the new build.
    let retag = case.run(&["build", path_str(&plan.path), "--rebuild", "--retag"]);
    assert_eq!(retag.code, 0, "{}", retag.all());
    let new = printed_digest(&retag, &case.repository());
    assert_ne!(new, digest);
    assert_eq!(case.tag_digest(&case.version).await, Some(new.clone()));
    assert_eq!(case.tag_digest(&case.latest).await, Some(new));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_before_command_stops_with_its_output_shown() {
    let case = Case::new("buildbefore");
    let plan = case.plan("");
    // A second before command that fails, after the real one.
    let text = std::fs::read_to_string(&plan.path).unwrap().replace(
        r#"before   = ["sh build.sh"]"#,
        r#"before   = ["sh build.sh", "echo marker-on-stdout; echo marker-on-stderr >&2; exit 3"]"#,
    );
    std::fs::write(&plan.path, text).unwrap();
    let run = case.run(&["build", path_str(&plan.path)]);
    assert_eq!(run.code, 11, "{}", run.all());
    let err = &run.stderr;
    assert!(
        err.contains("before command `echo marker-on-stdout"),
        "{err}"
    );
    assert!(err.contains("failed (exit 3)"), "{err}");
    assert!(err.contains("marker-on-stdout"), "{err}");
    assert!(err.contains("marker-on-stderr"), "{err}");
    assert!(err.contains("full log: "), "{err}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // Nothing built or pushed.
    assert!(
        !err.contains(&format!("building {}", case.repository())),
        "{err}"
    );
    assert_eq!(case.tag_digest(&case.version).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_builder_and_a_silent_daemon_have_their_own_messages() {
    let case = Case::new("buildmissing");

    let plan = case.plan(r#"cli = "no-such-docker""#);
    let run = case.run(&["build", path_str(&plan.path)]);
    assert_eq!(run.code, 9, "{}", run.all());
    assert!(
        run.stderr
            .contains("the builder `no-such-docker` was not found (build.cli in"),
        "{}",
        run.stderr
    );
    // Checked before the before commands run.
    assert!(!case.app.path().join("dist").exists());

    let plan = case.plan("");
    let run = case.run_env(
        &["build", path_str(&plan.path)],
        &[("DOCKER_HOST", "unix:///nonexistent.sock")],
    );
    assert_eq!(run.code, 10, "{}", run.all());
    assert!(
        run.stderr
            .contains("the docker daemon does not answer (DOCKER_HOST=unix:///nonexistent.sock)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Cannot connect"), "{}", run.stderr);
    assert!(!case.app.path().join("dist").exists());
    assert_eq!(case.tag_digest(&case.version).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_push_and_digest_failures_have_their_own_messages() {
    let case = Case::new("buildfail");
    let tools = tempfile::tempdir().unwrap();
    let (fake, calls) = fake_builder(tools.path());
    let plan = case.plan(&format!(r#"cli = "{}""#, fake.display()));
    let (_, password) = ecr_token().await;

    let run = case.run_env(
        &["build", path_str(&plan.path)],
        &[("FAKE_FAIL_LOGIN", "1")],
    );
    assert_eq!(run.code, 12, "{}", run.all());
    assert!(run.stderr.contains("login to 127.0.0.1:"), "{}", run.stderr);
    assert!(run.stderr.contains("fake login refusal"), "{}", run.stderr);
    // A failed build keeps its log, which holds the builder's output and never the token.
    let log = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("full log: "))
        .expect("the log is named");
    let log_text = std::fs::read_to_string(log).unwrap();
    assert!(
        log_text.contains("login --username AWS --password-stdin"),
        "{log_text}"
    );
    assert!(
        log_text.contains("build --platform linux/amd64"),
        "{log_text}"
    );
    assert!(
        !log_text.contains(&password),
        "the ECR password is in the log"
    );
    let _ = std::fs::remove_file(log);

    let run = case.run_env(&["build", path_str(&plan.path)], &[("FAKE_FAIL_PUSH", "1")]);
    assert_eq!(run.code, 13, "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "push of {}:{} failed",
            case.repository(),
            case.version
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("fake push refusal"), "{}", run.stderr);
    assert_eq!(case.tag_digest(&case.version).await, None);

    let run = case.run_env(
        &["build", path_str(&plan.path)],
        &[("FAKE_WRONG_DIGEST", "1")],
    );
    assert_eq!(run.code, 14, "{}", run.all());
    assert!(
        run.stderr.contains("but the push reported sha256:1111"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    // The token went through stdin into a private DOCKER_CONFIG that is gone now.
    let calls = std::fs::read_to_string(calls).unwrap();
    assert!(
        !calls.contains(&password),
        "the password reached argv: {calls}"
    );
    let user_config = std::env::var("DOCKER_CONFIG").unwrap_or_default();
    for line in calls
        .lines()
        .filter(|l| l.starts_with("login") || l.starts_with("push"))
    {
        let dir = line.rsplit("DOCKER_CONFIG=").next().unwrap();
        assert!(dir.contains("release-docker-config-"), "{line}");
        assert_ne!(dir, user_config, "{line}");
        assert!(!Path::new(dir).exists(), "{dir} was left behind");
    }
    assert!(calls
        .lines()
        .any(|l| l.starts_with("login --username AWS --password-stdin")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_without_build_is_a_usage_error() {
    let seed = seed("buildnone");
    let plan = seed.plan("1.0.0", "healthy", "");
    let run = release(&["build", path_str(&plan.path)]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "{}: the plan has no [build] table",
            plan.path.display()
        )),
        "{}",
        run.stderr
    );
}

// wired by deploy: `release deploy PLAN` without --image builds through crate::build.
#[tokio::test(flavor = "multi_thread")]
async fn deploy_without_image_builds_pins_the_pushed_digest_and_runs_it() {
    let case = Case::new("builddeploy");
    let plan = case.plan("");
    let run = case.run(&["deploy", path_str(&plan.path)]);
    assert_eq!(run.code, 0, "{}", run.all());
    let digest = case
        .tag_digest(&case.version)
        .await
        .expect("the version's tag was pushed");
    assert_eq!(case.tag_digest(&case.latest).await, Some(digest.clone()));

    // The new revision runs repository@digest, and so do the tasks.
    let name = &case.seed.name;
    assert_eq!(revision_count(name).await, 2);
    let svc = service(name, name).await;
    let td = svc.task_definition().unwrap().to_string();
    assert_eq!(
        images_of(&td).await,
        vec![format!("{}@{digest}", case.repository())]
    );
    let ecs = ecs().await;
    let tasks = ecs
        .list_tasks()
        .cluster(name)
        .service_name(name)
        .send()
        .await
        .unwrap();
    let arns = tasks.task_arns().to_vec();
    assert!(!arns.is_empty());
    let described = ecs
        .describe_tasks()
        .cluster(name)
        .set_tasks(Some(arns))
        .send()
        .await
        .unwrap();
    let running: Vec<_> = described
        .tasks()
        .iter()
        .filter(|t| t.task_definition_arn() == Some(td.as_str()))
        .collect();
    assert_eq!(running.len(), 2, "{described:?}");
    for task in running {
        for c in task.containers() {
            assert_eq!(c.image_digest(), Some(digest.as_str()), "{task:?}");
        }
    }

    // Again: nothing built, pushed or registered.
    let again = case.run(&["deploy", path_str(&plan.path)]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        again.all().contains("reused, nothing built or pushed"),
        "{}",
        again.all()
    );
    assert!(
        again.all().contains("nothing registered"),
        "{}",
        again.all()
    );
    assert_eq!(revision_count(name).await, 2);

    // A failing before command of a new version stops the release: output shown, nothing registered.
    let text = std::fs::read_to_string(&plan.path)
        .unwrap()
        .replace(&case.version, &unique_version())
        .replace(
            r#"before   = ["sh build.sh"]"#,
            r#"before   = ["echo marker-of-deploy; exit 5"]"#,
        );
    let failing = write_plan(&text, None);
    let run = case.run(&["deploy", path_str(&failing.path)]);
    assert_eq!(run.code, 11, "{}", run.all());
    assert!(run.stderr.contains("marker-of-deploy"), "{}", run.stderr);
    assert_eq!(revision_count(name).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_github_actions_the_build_is_one_group_and_stdout_only_the_image() {
    let case = Case::new("buildgh");
    let plan = case.plan("");
    let run = case.run_env(
        &["build", path_str(&plan.path), "--verbose"],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let lines: Vec<&str> = run.stderr.lines().collect();
    let open = lines
        .iter()
        .position(|l| l.starts_with("::group::build "))
        .unwrap_or_else(|| panic!("no group:\n{}", run.stderr));
    let close = lines
        .iter()
        .position(|l| *l == "::endgroup::")
        .unwrap_or_else(|| panic!("no endgroup:\n{}", run.stderr));
    assert!(open < close, "{}", run.stderr);
    // The builder's output (streamed by --verbose) is inside the group.
    let pushed = lines
        .iter()
        .position(|l| l.contains("pushed "))
        .expect("the push line");
    assert!(open < pushed && pushed < close, "{}", run.stderr);
    // stdout is still only the image a pipeline captures.
    assert_eq!(run.stdout.trim().lines().count(), 1, "{}", run.stdout);
    printed_digest(&run, &case.repository());
}

/// A case whose plan pushes to its own repository `imm-<seed name>`, created in moto's ECR.
fn case_in_own_repository(prefix: &str) -> (Case, String, TestPlan) {
    let case = Case::new(prefix);
    let repo = format!("imm-{}", case.seed.name);
    sandbox_python(&format!(
        "client('ecr').create_repository(repositoryName='{repo}')"
    ));
    let plan = case.plan("");
    let text = std::fs::read_to_string(&plan.path)
        .unwrap()
        .replace("}}/app\"", &format!("}}}}/{repo}\""));
    assert!(text.contains(&repo), "{text}");
    std::fs::write(&plan.path, text).unwrap();
    (case, repo, plan)
}

fn set_mutability(repo: &str, setting: &str) {
    sandbox_python(&format!(
        "client('ecr').put_image_tag_mutability(repositoryName='{repo}', imageTagMutability='{setting}')"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn rebuild_works_when_the_registry_sends_no_digest_on_a_manifest_get() {
    // The sandbox's registry answers as ECR does (ECR mode, the default): a GET has no header.
    assert_eq!(
        std::env::var("SANDBOX_ECR_MODE").as_deref(),
        Ok("1"),
        "this test needs the sandbox's ECR mode (scripts/sandbox up without SANDBOX_ECR_MODE=0)"
    );
    let case = Case::new("buildecrget");
    let plan = case.plan("");
    let first = case.run(&["build", path_str(&plan.path)]);
    assert_eq!(first.code, 0, "{}", first.all());
    let digest = printed_digest(&first, &case.repository());
    let (user, password) = ecr_token().await;
    let get = reqwest::Client::new()
        .get(format!(
            "http://{}/v2/app/manifests/{}",
            case.seed.registry, case.version
        ))
        .header("Accept", registry_accept())
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    assert!(get.status().is_success());
    assert!(get.headers().get("docker-content-digest").is_none());
    let rebuild = case.run(&["build", path_str(&plan.path), "--rebuild"]);
    assert_eq!(rebuild.code, 0, "{}", rebuild.all());
    assert_eq!(printed_digest(&rebuild, &case.repository()), digest);
    assert!(
        rebuild.all().contains("pushing it again"),
        "{}",
        rebuild.all()
    );
}

fn registry_accept() -> &'static str {
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json"
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_release_to_an_immutable_repository_does_not_push_latest_and_says_so_once() {
    let (case, repo, plan) = case_in_own_repository("buildimm");
    let first = case.run(&["build", path_str(&plan.path)]);
    assert_eq!(first.code, 0, "{}", first.all());
    let latest_before = registry_digest(&case.seed.registry, &repo, &case.latest).await;
    assert!(latest_before.is_some());
    set_mutability(&repo, "IMMUTABLE");

    // The next version, with other content.
    let version = unique_version();
    let text = std::fs::read_to_string(&plan.path)
        .unwrap()
        .replace(&case.version, &version);
    std::fs::write(&plan.path, text).unwrap();
    let run = case.run(&["deploy", path_str(&plan.path)]);
    assert_eq!(run.code, 0, "{}", run.all());
    let all = run.all();
    let said = all.matches("will not be pushed").count();
    assert_eq!(said, 1, "one warning: {all}");
    assert!(
        all.contains(&format!("{} will not be pushed", case.latest)),
        "{all}"
    );
    assert!(
        !all.contains(&format!(
            "pushing {}/{repo}:{}",
            case.seed.registry, case.latest
        )),
        "{all}"
    );
    // The version's tag is there; latest did not move.
    assert!(registry_digest(&case.seed.registry, &repo, &version)
        .await
        .is_some());
    assert_eq!(
        registry_digest(&case.seed.registry, &repo, &case.latest).await,
        latest_before
    );
    assert_eq!(revision_count(&case.seed.name).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_tag_reused_with_other_content_on_an_immutable_repository_fails_before_any_push()
{
    let (case, repo, plan) = case_in_own_repository("buildimmv");
    let first = case.run(&["build", path_str(&plan.path)]);
    assert_eq!(first.code, 0, "{}", first.all());
    let digest = printed_digest(&first, &format!("{}/{repo}", case.seed.registry));
    set_mutability(&repo, "IMMUTABLE");
    // Same version, other content.
    let template = case.app.path().join("index.html.in");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, format!("{text}<!-- changed -->\n")).unwrap();
    for extra in [&["--rebuild"][..], &["--rebuild", "--retag"][..]] {
        let mut args = vec!["deploy", path_str(&plan.path)];
        args.extend_from_slice(extra);
        let run = case.run(&args);
        assert_eq!(run.code, 3, "{extra:?}: {}", run.all());
        assert!(
            run.stderr.contains(&format!(
                "{}/{repo}:{} already holds {digest}, and ECR repository {repo} is IMMUTABLE",
                case.seed.registry, case.version
            )),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("nothing was pushed"), "{}", run.stderr);
        // Nothing changed: no revision, the tags where they were.
        assert_eq!(revision_count(&case.seed.name).await, 1);
        assert_eq!(
            registry_digest(&case.seed.registry, &repo, &case.version).await,
            Some(digest.clone())
        );
        assert_eq!(
            registry_digest(&case.seed.registry, &repo, &case.latest).await,
            Some(digest.clone())
        );
    }
}

/// A docker CLI on PATH that can build with BuildKit: one with the buildx plugin, or one before
/// 23.0 with BuildKit built in (Debian's 20.10). The BuildKit tests need one; none is a failure.
fn buildkit_cli() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let cli = dir.join("docker");
        if !cli.is_file() {
            continue;
        }
        let buildx = std::process::Command::new(&cli)
            .args(["buildx", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
        let version = std::process::Command::new(&cli)
            .args(["version", "--format", "{{.Client.Version}}"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if buildx || (19..23).contains(&major) {
            return cli.display().to_string();
        }
    }
    panic!("no docker CLI on PATH can build with BuildKit (buildx plugin, or a CLI 19.03-22.x): install Debian's docker.io or the buildx plugin");
}

/// A fake docker CLI that has no buildx plugin and says it is 28.2.2 (BuildKit only through
/// buildx), and is docker for everything else.
fn cli_without_buildkit(dir: &Path) -> PathBuf {
    let script = dir.join("docker-28-without-buildx");
    std::fs::write(
        &script,
        r#"#!/bin/sh
case "$1" in
  buildx) echo "docker: unknown command: docker buildx" >&2; exit 1 ;;
  version) if [ "${2:-}" = "--format" ]; then echo 28.2.2; exit 0; fi ;;
esac
exec docker "$@"
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Every file under `dir`, read (what release wrote there: logs, docker configs, outputs).
fn files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                todo.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    out
}

/// The value, and the forms an output could carry it in: JSON-escaped, percent-encoded, base64.
fn secret_forms(value: &str) -> Vec<String> {
    use base64::Engine;
    let json = serde_json::to_string(value).unwrap();
    let percent: String = value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    vec![
        value.to_string(),
        json[1..json.len() - 1].to_string(),
        percent,
        base64::engine::general_purpose::STANDARD.encode(value),
    ]
}

fn assert_secret_nowhere(value: &str, what: &str, text: &str) {
    for form in secret_forms(value) {
        assert!(
            std::panic::catch_unwind(|| assert_not_shown(&form, text)).is_ok(),
            "the build secret (or 8 bytes of it, in one of its forms) is in {what}"
        );
    }
}

/// Appends to the case's Dockerfile a RUN step (BuildKit syntax, which buildah's builder also
/// takes) that reads the build secret NPM_TOKEN, checks it against its sha256 (the build arg
/// TOKEN_SHA256) and records that it did in /token-checked; the value itself is never in the
/// Dockerfile or an argument. Returns the plan: `build_keys` in `[build]`, the secret from
/// RELEASE_TEST_NPM_TOKEN, and the sha256 of `value` as TOKEN_SHA256.
fn secret_checking_plan(case: &Case, value: &str, build_keys: &str) -> TestPlan {
    use sha2::Digest;
    let sha = format!("{:x}", sha2::Sha256::digest(value.as_bytes()));
    let dockerfile = case.app.path().join("Dockerfile");
    let mut text = std::fs::read_to_string(&dockerfile).unwrap();
    text.push_str(
        "ARG TOKEN_SHA256\nRUN --mount=type=secret,id=NPM_TOKEN test \"$(busybox sha256sum < /run/secrets/NPM_TOKEN)\" = \"$TOKEN_SHA256  -\" && echo checked > /token-checked\n",
    );
    std::fs::write(&dockerfile, text).unwrap();
    let plan = case.plan(&format!(
        "{build_keys}\nsecrets = {{ NPM_TOKEN = \"{{{{ env('RELEASE_TEST_NPM_TOKEN') }}}}\" }}\n"
    ));
    let text = std::fs::read_to_string(&plan.path).unwrap().replace(
        "args     = { VERSION",
        &format!("args     = {{ TOKEN_SHA256 = \"{sha}\", VERSION"),
    );
    std::fs::write(&plan.path, text).unwrap();
    plan
}

/// What `<cli> ARGS` printed on stdout; it must succeed.
fn cli_output(cli: &str, args: &[&str]) -> String {
    let o = std::process::Command::new(cli).args(args).output().unwrap();
    assert!(o.status.success(), "{cli} {args:?}: {o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The image's history shows the secret mount, and neither its history nor its inspect
/// output (config) holds the secret in any form (`cli`: docker, or podman for
/// containers-storage, which podman and buildah share).
fn image_holds_no_secret(cli: &str, image: &str, value: &str) {
    let history = cli_output(cli, &["history", "--no-trunc", image]);
    assert!(history.contains("/run/secrets/NPM_TOKEN"), "{history}");
    assert_secret_nowhere(value, &format!("{cli} history"), &history);
    let inspect = cli_output(cli, &["image", "inspect", image]);
    assert_secret_nowhere(value, &format!("{cli} image inspect"), &inspect);
}

/// Everything release wrote holds the secret in no form: stdout (NDJSON), stderr (the
/// verbose log), and its files (build logs, docker configs, GitHub outputs) under its TMPDIR.
fn release_wrote_no_secret(case: &Case, run: &Run, value: &str) {
    assert_secret_nowhere(value, "stdout (--output json)", &run.stdout);
    assert_secret_nowhere(value, "stderr (--verbose)", &run.stderr);
    for (path, text) in files_under(case.tmp.path()) {
        assert_secret_nowhere(value, &path.display().to_string(), &text);
    }
}

/// A secret value unique to the run, with characters JSON, URLs and shells treat specially,
/// so that every escaped form differs; letters for the digits, so that no run of 8 bytes is
/// shared with a version or a timestamp.
fn unusual_secret() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let unique: String = nanos
        .to_string()
        .bytes()
        .map(|d| (b'g' + (d - b'0')) as char)
        .collect();
    format!("npm_\"tok\\en/+ {unique}&x=1")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_build_secret_reaches_its_run_step_with_buildkit_and_appears_nowhere() {
    let case = Case::new("buildsecret");
    let value = unusual_secret();
    // network = "none": the RUN step needs no network, and the sandbox's dockerd has no bridge.
    let plan = secret_checking_plan(
        &case,
        &value,
        &format!("cli = \"{}\"\nnetwork = \"none\"", buildkit_cli()),
    );
    let outputs = case.tmp.path().join("github");
    std::fs::create_dir_all(&outputs).unwrap();
    let (gh_output, gh_summary) = (outputs.join("output"), outputs.join("summary"));
    let run = case.run_env(
        &[
            "--verbose",
            "--output",
            "json",
            "deploy",
            path_str(&plan.path),
        ],
        &[
            ("RELEASE_TEST_NPM_TOKEN", &value),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_OUTPUT", path_str(&gh_output)),
            ("GITHUB_STEP_SUMMARY", path_str(&gh_summary)),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("(BuildKit"),
        "built with BuildKit: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("legacy builder"), "{}", run.stderr);
    let digest = case
        .tag_digest(&case.version)
        .await
        .expect("the version's tag was pushed");
    assert_eq!(revision_count(&case.seed.name).await, 2);
    let image = format!("{}@{digest}", case.repository());

    // The RUN step read the secret (its file is in the image), and the image holds no trace.
    let docker = |args: &[&str]| cli_output("docker", args);
    image_holds_no_secret("docker", &image, &value);
    let container = docker(&["create", &image]).trim().to_string();
    let checked = std::process::Command::new("docker")
        .args(["cp", &format!("{container}:/token-checked"), "-"])
        .output()
        .unwrap();
    docker(&["rm", &container]);
    assert!(
        checked.status.success(),
        "the RUN step did not run: {checked:?}"
    );

    // The registry's manifest and config blob.
    let (user, password) = ecr_token().await;
    let http = reqwest::Client::new();
    let manifest = http
        .get(format!(
            "http://{}/v2/app/manifests/{digest}",
            case.seed.registry
        ))
        .header("Accept", registry_accept())
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_secret_nowhere(&value, "the registry's manifest", &manifest);
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let config_digest = m["config"]["digest"].as_str().expect("one image manifest");
    let config = http
        .get(format!(
            "http://{}/v2/app/blobs/{config_digest}",
            case.seed.registry
        ))
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(config.contains("TOKEN_SHA256"), "{config}");
    assert_secret_nowhere(&value, "the registry's image config", &config);

    // Everything release wrote: stdout (NDJSON), stderr (the verbose log), and its files
    // (build logs, docker configs, GitHub outputs) under its TMPDIR.
    assert!(gh_summary.is_file());
    release_wrote_no_secret(&case, &run, &value);
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_builds_with_a_secret_and_the_release_deploys() {
    containers_tool_builds_with_a_secret_and_the_release_deploys(
        "podman",
        "podman's buildah builder",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn buildah_builds_with_a_secret_and_the_release_deploys() {
    containers_tool_builds_with_a_secret_and_the_release_deploys("buildah", "buildah").await;
}

/// `build.builder = TOOL` (podman or buildah; build.cli follows): a RUN step that reads a build
/// secret, the push, the deploy; then `--rebuild` of the same content compares the local image
/// with the pushed one and passes.
async fn containers_tool_builds_with_a_secret_and_the_release_deploys(tool: &str, kind: &str) {
    let case = Case::new(tool);
    let value = unusual_secret();
    // The same secret-reading RUN step as the BuildKit test: buildah's builder mounts the
    // secret too.
    let plan = secret_checking_plan(
        &case,
        &value,
        &format!("builder = \"{tool}\"\nnetwork = \"none\""),
    );
    let run = case.run_env(
        &[
            "--verbose",
            "--output",
            "json",
            "deploy",
            path_str(&plan.path),
        ],
        &[("RELEASE_TEST_NPM_TOKEN", &value)],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains(&format!("builder: {kind}\n")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("legacy builder"), "{}", run.stderr);
    let digest = case
        .tag_digest(&case.version)
        .await
        .expect("the version's tag was pushed");
    assert_eq!(revision_count(&case.seed.name).await, 2);
    let summary = run.summary();
    assert_eq!(summary["digest"], digest.as_str(), "{summary}");
    // The RUN step ran with the secret, and the image keeps no trace of it (podman reads
    // the containers-storage both tools write).
    let image = format!("{}:{}", case.repository(), case.version);
    image_holds_no_secret("podman", &image, &value);
    release_wrote_no_secret(&case, &run, &value);

    // The same content again (every layer from the builder's cache): the local image is the
    // one the version's tag holds (`image inspect`, or buildah's `inspect --type image`), so
    // it is pushed.
    let again = case.run_env(
        &["build", path_str(&plan.path), "--rebuild"],
        &[("RELEASE_TEST_NPM_TOKEN", &value)],
    );
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(
        case.tag_digest(&case.version).await.as_deref(),
        Some(digest.as_str())
    );
}

/// On a terminal (script(1) gives release one), the live display shows the build's newest
/// lines under its step's spinner, and clears them when the step ends.
#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_the_build_s_newest_lines_show_under_its_step() {
    let case = Case::new("terminal");
    let plan = case.plan("");
    let (code, screen) = on_a_terminal(
        &["build", path_str(&plan.path)],
        &[("TMPDIR", path_str(case.tmp.path()))],
    );
    assert_eq!(code, 0, "{screen}");
    // indicatif drew (cursor movement and line clearing), and under the building step, the
    // build's own lines (the legacy builder's `Step N/M`, or BuildKit's `#N`).
    assert!(screen.contains("\u{1b}["), "{screen}");
    let under_the_step = screen
        .split("  │ ")
        .skip(1)
        .filter(|s| s.starts_with("Step ") || s.starts_with('#') || s.contains("Pushed"))
        .count();
    assert!(under_the_step > 0, "no build line under the step: {screen}");
    assert!(screen.contains("pushed "), "{screen}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_step_that_prints_its_build_secret_shows_it_redacted() {
    let case = Case::new("secretprinted");
    let value = unusual_secret();
    // A careless RUN step: prints the secret, then fails, so that release shows the build's
    // last lines in its error and keeps the build log.
    let dockerfile = case.app.path().join("Dockerfile");
    let mut text = std::fs::read_to_string(&dockerfile).unwrap();
    text.push_str("RUN --mount=type=secret,id=NPM_TOKEN echo \"token: $(busybox cat /run/secrets/NPM_TOKEN)\" && false\n");
    std::fs::write(&dockerfile, text).unwrap();
    let plan = case.plan(&format!(
        "cli = \"{}\"\nnetwork = \"none\"\nsecrets = {{ NPM_TOKEN = \"{{{{ env('RELEASE_TEST_NPM_TOKEN') }}}}\" }}\n",
        buildkit_cli()
    ));
    // And careless `before` commands: one prints the variable the secret came from, one
    // has the value rendered into its own text (shown as the step, and in --verbose).
    let text = std::fs::read_to_string(&plan.path).unwrap().replace(
        r#"before   = ["sh build.sh"]"#,
        r#"before   = ["sh build.sh", 'echo "before: $RELEASE_TEST_NPM_TOKEN"', "true # {{ env('RELEASE_TEST_NPM_TOKEN') }}"]"#,
    );
    assert!(text.contains("before: $RELEASE_TEST_NPM_TOKEN"), "{text}");
    std::fs::write(&plan.path, text).unwrap();
    let run = case.run_env(
        &[
            "--verbose",
            "--output",
            "json",
            "build",
            path_str(&plan.path),
        ],
        &[("RELEASE_TEST_NPM_TOKEN", &value)],
    );
    assert_eq!(run.code, 8, "the build fails: {}", run.all());
    release_wrote_no_secret(&case, &run, &value);
    let files = files_under(case.tmp.path());
    // The lines were printed, and shown with the value hidden: in --verbose, the error's tail
    // and the log.
    assert!(
        run.stderr.contains("token: <redacted>")
            && run.stderr.contains("before: <redacted>")
            && run.stderr.contains("running before: true # <redacted>"),
        "{}",
        run.stderr
    );
    assert!(
        files
            .iter()
            .any(|(p, t)| p.to_string_lossy().contains("release-build-")
                && t.contains("token: <redacted>")),
        "the kept build log shows the redacted line"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn build_secrets_without_buildkit_stop_before_anything_runs() {
    let case = Case::new("buildsecretlegacy");
    let secrets = "secrets = { NPM_TOKEN = \"{{ env('RELEASE_TEST_NPM_TOKEN') }}\" }";
    // Asked for in the plan: a plan error, at its place.
    let plan = case.plan(&format!("builder = \"legacy\"\n{secrets}"));
    let run = case.run_env(
        &["deploy", path_str(&plan.path)],
        &[("RELEASE_TEST_NPM_TOKEN", "Qz9v-XwJ7-kPm2")],
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("build.secrets needs BuildKit"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("{}:", plan.path.display())),
        "file:line:col: {}",
        run.stderr
    );
    // auto, with a CLI that cannot use BuildKit: stopped before the before commands.
    let tools = tempfile::tempdir().unwrap();
    let cli = cli_without_buildkit(tools.path());
    let plan = case.plan(&format!("cli = \"{}\"\n{secrets}", cli.display()));
    let run = case.run_env(
        &["deploy", path_str(&plan.path)],
        &[("RELEASE_TEST_NPM_TOKEN", "Qz9v-XwJ7-kPm2")],
    );
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains(
            "build.secrets needs BuildKit, podman or buildah (RUN --mount=type=secret), but `"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("docker CLI 28.2.2"), "{}", run.stderr);
    assert!(!case.app.path().join("dist").exists(), "before ran");
    assert_eq!(case.tag_digest(&case.version).await, None);
    assert_eq!(revision_count(&case.seed.name).await, 1);
    assert_not_shown("Qz9v-XwJ7-kPm2", &run.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_falls_back_to_the_legacy_builder_once_with_the_reason() {
    let case = Case::new("buildfallback");
    let tools = tempfile::tempdir().unwrap();
    let cli = cli_without_buildkit(tools.path());
    let plan = case.plan(&format!("cli = \"{}\"", cli.display()));
    let run = case.run(&["build", path_str(&plan.path)]);
    assert_eq!(run.code, 0, "{}", run.all());
    let warned: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("building with the legacy builder"))
        .collect();
    assert_eq!(warned.len(), 1, "{}", run.stderr);
    assert!(
        warned[0].contains("docker CLI 28.2.2 (23.0 or later)"),
        "{}",
        warned[0]
    );
    assert!(
        run.stderr.contains("(the legacy builder)"),
        "{}",
        run.stderr
    );
    printed_digest(&run, &case.repository());
    // build.builder = "buildkit" with that CLI: refused, nothing built.
    let case = Case::new("buildkitrefused");
    let plan = case.plan(&format!(
        "cli = \"{}\"\nbuilder = \"buildkit\"",
        cli.display()
    ));
    let run = case.run(&["build", path_str(&plan.path)]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains("build.builder is \"buildkit\", but"),
        "{}",
        run.stderr
    );
    assert!(!case.app.path().join("dist").exists(), "before ran");
}

/// The case's plan with its `platform` line replaced (`from` -> `to`) and, given an
/// architecture, a template whose runtimePlatform runs it.
fn platform_plan(case: &Case, from: &str, to: &str, arch: Option<&str>) -> TestPlan {
    let plan = case.plan("");
    let text = std::fs::read_to_string(&plan.path).unwrap();
    assert!(text.contains(from), "{text}");
    std::fs::write(&plan.path, text.replace(from, to)).unwrap();
    if let Some(arch) = arch {
        std::fs::write(plan.dir.path().join("template.json"), template_for(arch)).unwrap();
    }
    plan
}

/// templates/local.json with a runtimePlatform of `arch`.
fn template_for(arch: &str) -> String {
    let t =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/local.json"))
            .unwrap();
    let t = t.replacen(
        "\"containerDefinitions\"",
        &format!(
            "\"runtimePlatform\": {{ \"cpuArchitecture\": \"{arch}\", \"operatingSystemFamily\": \"LINUX\" }},\n  \"containerDefinitions\""
        ),
        1,
    );
    assert!(t.contains(arch));
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn a_platform_that_the_task_definition_cannot_run_stops_before_registering() {
    // Preflight: build.platform linux/arm64, a task definition without runtimePlatform
    // (X86_64): exit 3, nothing built.
    let case = Case::new("buildplat");
    let plan = platform_plan(
        &case,
        "platform = \"linux/amd64\"",
        "platform = \"linux/arm64\"",
        None,
    );
    let run = case.run(&["deploy", path_str(&plan.path)]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains("build.platform: the image is linux/arm64, but the task definition has no runtimePlatform (ECS runs it as LINUX on X86_64)"),
        "{}",
        run.stderr
    );
    assert_eq!(case.tag_digest(&case.version).await, None);
    assert_eq!(revision_count(&case.seed.name).await, 1);

    // After the push: no build.platform (the builder's default, amd64 here), a task
    // definition for ARM64: the pushed image's config says amd64, exit 8, nothing registered.
    let case = Case::new("buildplatpush");
    let plan = platform_plan(&case, "platform = \"linux/amd64\"\n", "", Some("ARM64"));
    let run = case.run(&["deploy", path_str(&plan.path)]);
    assert_eq!(run.code, 8, "{}", run.all());
    assert!(
        run.stderr.contains(
            "the image is linux/amd64, but the task definition has runtimePlatform LINUX on ARM64"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("nothing was registered"),
        "{}",
        run.stderr
    );
    assert!(case.tag_digest(&case.version).await.is_some(), "pushed");
    assert_eq!(revision_count(&case.seed.name).await, 1);

    // Built for arm64 (a FROM scratch image of COPY steps builds for any platform), checked
    // after the push against the ARM64 task definition: it matches.
    let case = Case::new("buildplatarm");
    let plan = platform_plan(
        &case,
        "platform = \"linux/amd64\"",
        "platform = \"linux/arm64\"",
        Some("ARM64"),
    );
    let run = case.run(&["build", path_str(&plan.path)]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("the pushed image's platform: linux/arm64 matches the task definition's runtimePlatform LINUX on ARM64"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_with_buildkit_is_the_image_the_tag_holds_and_other_content_is_refused() {
    let case = Case::new("buildkitrebuild");
    let plan = case.plan(&format!(
        "cli = \"{}\"\nbuilder = \"buildkit\"\nnetwork = \"none\"",
        buildkit_cli()
    ));
    let first = case.run(&["build", path_str(&plan.path)]);
    assert_eq!(first.code, 0, "{}", first.all());
    assert!(first.stderr.contains("(BuildKit"), "{}", first.stderr);
    let digest = printed_digest(&first, &case.repository());
    // Unchanged content: BuildKit's cache gives the same image, and the local id matches.
    let rebuild = case.run(&["build", path_str(&plan.path), "--rebuild"]);
    assert_eq!(rebuild.code, 0, "{}", rebuild.all());
    assert!(
        rebuild.stderr.contains("pushing it again"),
        "{}",
        rebuild.stderr
    );
    assert_eq!(printed_digest(&rebuild, &case.repository()), digest);
    // Other content under the same version: refused, nothing pushed.
    let template = case.app.path().join("index.html.in");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, format!("{text}<!-- changed -->\n")).unwrap();
    let refused = case.run(&["build", path_str(&plan.path), "--rebuild"]);
    assert_eq!(refused.code, 14, "{}", refused.all());
    assert!(
        refused.stderr.contains("refusing to move"),
        "{}",
        refused.stderr
    );
    assert_eq!(case.tag_digest(&case.version).await, Some(digest));
}
