//! Shared helpers of the end-to-end tests: the sandbox, isolated seeded services, plans
//! written for them, and running the `release` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// One isolated service seeded in the sandbox (cluster, service and family share its name).
#[derive(Debug, Clone)]
pub struct Seed {
    pub name: String,
    pub secret: String,
    pub image: String,
    pub digest: String,
    pub registry: String,
    pub task_definition: String,
}

/// Fails the test (never skips it) when the sandbox is not there.
pub fn require_sandbox() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "the sandbox is not set up: run ./scripts/test (or `scripts/sandbox up && . .sandbox/env`)"
    );
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Seeds a fresh isolated service named `<prefix>-<pid>-<n>`, steady at 2/2 on revision 1.
pub fn seed(prefix: &str) -> Seed {
    seed_with(prefix, &[])
}

pub fn seed_with(prefix: &str, extra: &[&str]) -> Seed {
    require_sandbox();
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = format!("{prefix}-{}-{n}", std::process::id());
    let python = std::env::var("SANDBOX_PYTHON").expect("SANDBOX_PYTHON (from .sandbox/env)");
    let out = Command::new(python)
        .arg(repo().join("sandbox/seed.py"))
        .args(["--name", &name])
        .args(extra)
        .output()
        .expect("run seed.py");
    assert!(
        out.status.success(),
        "seed.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("seed.py prints JSON");
    Seed {
        name,
        secret: v["secret"].as_str().unwrap().into(),
        image: v["image"].as_str().unwrap().into(),
        digest: v["digest"].as_str().unwrap().into(),
        registry: v["registry"].as_str().unwrap().into(),
        task_definition: v["taskDefinition"].as_str().unwrap().into(),
    }
}

/// A plan (and a copy of templates/local.json) for a seeded service, in a temp dir.
pub struct TestPlan {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Seed {
    /// The secret's ARN as task definitions name it.
    pub fn secret_arn(&self) -> String {
        format!(
            "arn:aws:ssm:us-east-1:123456789012:parameter{}",
            self.secret
        )
    }

    /// The plan text for this service; `extra` is appended (more tables or keys).
    pub fn plan_text(&self, version: &str, scenario: &str, extra: &str) -> String {
        format!(
            r#"[service]
cluster = "{name}"
name    = "{name}"

[release]
version = "{version}"

[image]
repository = "{{{{ env('RELEASE_SANDBOX_REGISTRY') }}}}/app"
tags       = ["{{{{ version }}}}"]
login      = "ecr"

[task_definition]
family   = "{name}"
template = "template.json"

[task_definition.vars]
jwt_secret_arn = "{arn}"
scenario = "{scenario}"

[rollout]
timeout = "60s"
poll    = "1s"
{extra}"#,
            name = self.name,
            arn = self.secret_arn(),
        )
    }

    pub fn plan(&self, version: &str, scenario: &str, extra: &str) -> TestPlan {
        write_plan(&self.plan_text(version, scenario, extra), None)
    }
}

/// Writes a plan and a template (templates/local.json unless given) to a temp dir.
pub fn write_plan(plan: &str, template: Option<&str>) -> TestPlan {
    let dir = tempfile::tempdir().unwrap();
    let template = match template {
        Some(t) => t.to_string(),
        None => std::fs::read_to_string(repo().join("templates/local.json")).unwrap(),
    };
    std::fs::write(dir.path().join("template.json"), template).unwrap();
    let path = dir.path().join("plan.toml");
    std::fs::write(&path, plan).unwrap();
    TestPlan { dir, path }
}

/// `release ARGS` on a terminal (script(1) from util-linux gives it one, set to 80 columns
/// and 24 rows, TERM xterm, no input): its exit status, and everything the terminal received
/// (escape codes included). At most 5 minutes.
pub fn on_a_terminal(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let typescript = dir.path().join("typescript");
    let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
    let command = std::iter::once(env!("CARGO_BIN_EXE_release"))
        .chain(args.iter().copied())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let command = format!("stty cols 80 rows 24; exec timeout 300 {command}");
    let status = Command::new("script")
        .args(["-qfec", &command])
        .stdin(std::process::Stdio::null())
        .arg(&typescript)
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .env_remove("RELEASE_VERSION")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("script(1) from util-linux");
    let screen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    (status.code().unwrap_or(-1), screen)
}

/// What a run of the binary printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
    /// The run's last `summary` record (every stream ends with one).
    pub fn summary(&self) -> Value {
        self.records()
            .into_iter()
            .rev()
            .find(|r| r["event"] == "summary")
            .unwrap_or_else(|| panic!("no summary: {}", self.all()))
    }

    /// NDJSON records on stdout.
    pub fn records(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).expect("NDJSON line"))
            .collect()
    }
}

/// A private copy of examples/app (its build step writes dist/ into it).
pub fn app_copy() -> tempfile::TempDir {
    let src = repo().join("examples/app");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    dir
}

/// Runs `release ARGS` with the test's environment.
pub fn release(args: &[&str]) -> Run {
    release_env(args, &[])
}

pub fn release_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_release"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("RELEASE_VERSION")
        .output()
        .expect("run release");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    };
    if args.windows(2).any(|w| w == ["--output", "json"]) {
        check_stream(&run.stdout);
    }
    run
}

/// The NDJSON contract, checked on every `--output json` run of the end-to-end tests: each
/// line is one record valid against docs/events.schema.json (generated from the event
/// types), the stream ends with exactly one `summary`, and each ECS event id is in it once.
pub fn check_stream(stdout: &str) {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let text = std::fs::read_to_string(repo().join("docs/events.schema.json"))
            .expect("docs/events.schema.json");
        let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("a valid JSON Schema")
    });
    let mut records = Vec::new();
    for line in stdout.lines() {
        let record: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON record per line ({e}): {line}"));
        if let Err(e) = validator.validate(&record) {
            panic!("a record does not match docs/events.schema.json: {e}\n{record}");
        }
        records.push(record);
    }
    let summaries = records.iter().filter(|r| r["event"] == "summary").count();
    assert_eq!(summaries, 1, "one summary per stream:\n{stdout}");
    assert_eq!(
        records.last().map(|r| r["event"].clone()),
        Some(Value::from("summary")),
        "the stream ends with its summary:\n{stdout}"
    );
    let mut ids = std::collections::HashSet::new();
    for r in records.iter().filter(|r| r["event"] == "service_event") {
        assert!(
            ids.insert(r["id"].as_str().unwrap_or_default().to_string()),
            "ECS event {} twice in the stream:\n{stdout}",
            r["id"]
        );
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An ECS client pointed at the sandbox.
pub async fn ecs() -> aws_sdk_ecs::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    aws_sdk_ecs::Client::new(&config)
}

/// Number of registered revisions of a family.
pub async fn revision_count(family: &str) -> usize {
    ecs()
        .await
        .list_task_definitions()
        .family_prefix(family)
        .send()
        .await
        .unwrap()
        .task_definition_arns()
        .iter()
        .filter(|a| a.contains(&format!("/{family}:")))
        .count()
}

/// The service's current task definition ARN and deployments.
pub async fn service(cluster: &str, name: &str) -> aws_sdk_ecs::types::Service {
    ecs()
        .await
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone()
}

/// The container images of a task definition.
pub async fn images_of(task_definition: &str) -> Vec<String> {
    ecs()
        .await
        .describe_task_definition()
        .task_definition(task_definition)
        .send()
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .container_definitions()
        .iter()
        .filter_map(|c| c.image().map(str::to_string))
        .collect()
}

/// Registers a copy of revision 1's first container as a new revision of the seed's family,
/// without `release:*` tags (as someone working behind release's back would); its ARN.
pub async fn register_copy_of_revision_1(seed: &Seed) -> String {
    let client = ecs().await;
    let rev1 = client
        .describe_task_definition()
        .task_definition(format!("{}:1", seed.name))
        .send()
        .await
        .unwrap();
    let container = rev1.task_definition().unwrap().container_definitions()[0].clone();
    let out = client
        .register_task_definition()
        .family(&seed.name)
        .container_definitions(container)
        .send()
        .await
        .unwrap();
    out.task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string()
}

/// Waits (up to 20 s) until the family has `n` revisions.
pub async fn wait_for_revisions(family: &str, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while revision_count(family).await < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{family} never reached {n} revisions"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Runs Python code with the sandbox's boto3, for calls the tests' SDKs lack (CloudWatch,
/// IAM) or that must happen from a synchronous callback; returns its stdout. The code gets
/// `client(name)`, a boto3 client on the sandbox's endpoint.
pub fn sandbox_python(code: &str) -> String {
    let python = std::env::var("SANDBOX_PYTHON").expect("SANDBOX_PYTHON (from .sandbox/env)");
    let prelude = "import boto3, os\n\
def client(name):\n    return boto3.client(name, endpoint_url=os.environ['AWS_ENDPOINT_URL'], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n";
    let out = Command::new(python)
        .args(["-c", &format!("{prelude}{code}")])
        .output()
        .expect("run the sandbox's python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into()
}

/// Spawns `release --output json ARGS` and calls `on_record(record, pid)` for each NDJSON
/// record as it arrives (to act at a moment of the run: send a signal, change AWS); returns
/// the run when it ends.
pub fn release_live(args: &[&str], mut on_record: impl FnMut(&Value, u32)) -> Run {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_release"))
        .arg("--output")
        .arg("json")
        .args(args)
        .env_remove("RELEASE_VERSION")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run release");
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut stdout = String::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            on_record(&v, pid);
        }
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let status = child.wait().unwrap();
    check_stream(&stdout);
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr: err.join().unwrap(),
    }
}

/// `release init --cluster S --service S --dir DIR` of a seeded service.
pub fn init_into(seed: &Seed, dir: &Path) -> Run {
    release(&[
        "init",
        "--cluster",
        &seed.name,
        "--service",
        &seed.name,
        "--dir",
        path_str(dir),
    ])
}

/// `release init` of a seeded service into a fresh temp dir: the dir and the plan's path.
pub fn init_plan(seed: &Seed) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let run = init_into(seed, dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    let plan = dir.path().join("plans").join(format!("{}.toml", seed.name));
    assert!(plan.is_file(), "{}", run.all());
    (dir, plan)
}

/// Fails when any run of 8 bytes of `secret` appears in `text`.
pub fn assert_not_shown(secret: &str, text: &str) {
    let bytes = secret.as_bytes();
    for window in bytes.windows(8) {
        let w = String::from_utf8_lossy(window);
        assert!(
            !text.contains(w.as_ref()),
            "8 bytes of the secret ({} at some offset) appear in the output",
            w.len()
        );
    }
}

/// The decrypted value of an SSM parameter (for tests that check it is shown nowhere).
pub async fn secret_value(name: &str) -> String {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    aws_sdk_ssm::Client::new(&config)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .unwrap()
        .parameter()
        .unwrap()
        .value()
        .unwrap()
        .to_string()
}

/// Builds and pushes a new image (a FROM scratch image with a unique file) to the sandbox
/// registry's `app` repository; its reference `registry/app:tag`.
pub fn push_other_image(seed: &Seed, tag: &str) -> String {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("marker"), format!("{tag}\n")).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY marker /marker\n",
    )
    .unwrap();
    let reference = format!("{}/app:{tag}", seed.registry);
    let build = Command::new("docker")
        // docker's own default builder, as release's `build.builder = "auto"` would pick.
        .args(["build", "-q", "-t", &reference, path_str(ctx.path())])
        .output()
        .expect("run docker build");
    assert!(
        build.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let push = Command::new("docker")
        .args(["push", &reference])
        .output()
        .expect("run docker push");
    assert!(
        push.status.success(),
        "docker push: {}",
        String::from_utf8_lossy(&push.stderr)
    );
    reference
}
