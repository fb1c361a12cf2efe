//! End to end against the sandbox: `release preflight` runs every check, shows a secret's
//! problems without showing the secret, and changes nothing; `release restart` checks the
//! secret rules first (refusing a broken secret, exit 3) and rolls the running revision.

mod common;
use common::*;

use sha2::{Digest, Sha256};

async fn ssm() -> aws_sdk_ssm::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    aws_sdk_ssm::Client::new(&config)
}

/// A 64-character value unique to this test run (hex of a sha256).
fn value64(salt: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let v: String = Sha256::digest(format!("{salt}-{now}-{}", std::process::id()))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v.len(), 64);
    v
}

/// Overwrites a SecureString parameter.
async fn put_secret(name: &str, value: &str) {
    ssm()
        .await
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

fn rule(name: &str) -> String {
    format!("\n[[preflight.secret]]\nname   = \"{name}\"\nlength = 64\n")
}

fn check_line<'a>(run: &'a Run, name: &str) -> &'a str {
    run.stderr
        .lines()
        .find(|l| l.contains(&format!(" {name}: ")))
        .unwrap_or_else(|| panic!("no `{name}` check in:\n{}", run.stderr))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_65_byte_secret_fails_preflight_without_showing_it() {
    let seed = seed("pf65");
    let plan = seed.plan("1.0.0", "healthy", &rule(&seed.secret));
    let image = format!("{}/app:1.0.0", seed.registry);
    let secret = format!("{}\n", value64("pf65"));
    put_secret(&seed.secret, &secret).await;
    let before = service(&seed.name, &seed.name).await;

    let run = release(&["preflight", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 3, "{}", run.all());
    let line = check_line(&run, &format!("secret {}", seed.secret));
    assert!(line.contains("failed"), "{line}");
    assert!(
        line.contains("65 bytes, expected 64: byte 65 is 0x0a (newline) at the end"),
        "{line}"
    );
    assert!(run.stderr.contains("preflight failed: "), "{}", run.stderr);
    assert!(run.stderr.contains("1 failed"), "{}", run.stderr);
    assert_not_shown(&secret, &run.all());

    let json = release(&[
        "--output",
        "json",
        "preflight",
        path_str(&plan.path),
        "--image",
        &image,
    ]);
    assert_eq!(json.code, 3, "{}", json.all());
    assert_not_shown(&secret, &json.all());
    let records = json.records();
    let check = records
        .iter()
        .find(|r| r["event"] == "check" && r["check"] == format!("secret {}", seed.secret))
        .expect("a check record for the secret");
    assert_eq!(check["status"], "failed");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("65 bytes, expected 64: byte 65 is 0x0a (newline) at the end"),
        "{check}"
    );
    let summary = records.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["failed"], 1);
    // Every check is a record; all of them ran.
    assert!(records.iter().filter(|r| r["event"] == "check").count() >= 10);

    // Nothing changed.
    assert_eq!(revision_count(&seed.name).await, 1);
    let after = service(&seed.name, &seed.name).await;
    assert_eq!(after.task_definition(), before.task_definition());
    assert_eq!(after.deployments().len(), 1);
    assert_eq!(after.deployments()[0].id(), before.deployments()[0].id());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_64_byte_secret_passes() {
    let seed = seed("pf64");
    let plan = seed.plan("1.0.0", "healthy", &rule(&seed.secret));
    let image = format!("{}/app:1.0.0", seed.registry);
    let run = release(&["preflight", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 0, "{}", run.all());
    let line = check_line(&run, &format!("secret {}", seed.secret));
    assert!(line.contains("passed"), "{line}");
    assert!(line.contains("SecureString, 64 bytes, sha256 "), "{line}");
    assert!(check_line(&run, "cluster").contains("passed"));
    assert!(check_line(&run, "service").contains("passed"));
    assert!(check_line(&run, "image").contains(&seed.digest));
    assert!(check_line(&run, "valueFrom app/JWT_SECRET").contains("passed"));
    assert!(run.stderr.contains("0 failed"), "{}", run.stderr);
}

/// Registers a copy of revision 1 whose container runs `scenario`, tagged `version`.
async fn register_scenario(seed: &Seed, scenario: &str, version: &str) -> String {
    use aws_sdk_ecs::types::{ContainerDefinition, Secret, Tag};
    let out = ecs()
        .await
        .register_task_definition()
        .family(&seed.name)
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(&seed.image)
                .memory(128)
                .essential(true)
                .docker_labels("sandbox.scenario", scenario)
                .secrets(
                    Secret::builder()
                        .name("JWT_SECRET")
                        .value_from(seed.secret_arn())
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .tags(Tag::builder().key("release:version").value(version).build())
        .send()
        .await
        .unwrap();
    out.task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_problem_is_reported_in_one_run() {
    let seed = seed("pfall");
    // A deployment that stays IN_PROGRESS, of a revision tagged 1.0.0.
    let stuck = register_scenario(&seed, "stuck", "1.0.0").await;
    ecs()
        .await
        .update_service()
        .cluster(&seed.name)
        .service(&seed.name)
        .task_definition(&stuck)
        .force_new_deployment(true)
        .send()
        .await
        .unwrap();
    let revisions = revision_count(&seed.name).await;

    // Version 0.9.0 (a downgrade), a rule naming a missing parameter, a template whose
    // second secret points at a missing parameter.
    let missing_rule = format!("/{}/no-such-secret", seed.name);
    let missing_ref = format!(
        "arn:aws:ssm:us-east-1:123456789012:parameter/{}/no-such-value-from",
        seed.name
    );
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/local.json"
    ))
    .unwrap()
    .replace(
        r#"{ "name": "JWT_SECRET", "valueFrom": "{{ vars.jwt_secret_arn }}" }"#,
        &format!(
            r#"{{ "name": "JWT_SECRET", "valueFrom": "{{{{ vars.jwt_secret_arn }}}}" }}, {{ "name": "OTHER", "valueFrom": "{missing_ref}" }}, {{ "name": "SM", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf" }}"#
        ),
    );
    assert!(
        template.contains("OTHER"),
        "the template changed: {template}"
    );
    let text = seed.plan_text(
        "0.9.0",
        "healthy",
        &format!("{}{}", rule(&seed.secret), rule(&missing_rule)),
    );
    let plan = write_plan(&text, Some(&template));
    let image = format!("{}/app:1.0.0", seed.registry);

    let run = release(&["preflight", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 3, "{}", run.all());
    let l = check_line(&run, "deployments");
    assert!(l.starts_with_status("failed"), "{l}");
    assert!(l.contains("IN_PROGRESS") && l.contains("--force"), "{l}");
    let l = check_line(&run, "version");
    assert!(l.starts_with_status("failed"), "{l}");
    assert!(l.contains("0.9.0 is lower than 1.0.0"), "{l}");
    let l = check_line(&run, &format!("secret {missing_rule}"));
    assert!(l.starts_with_status("failed"), "{l}");
    assert!(l.contains("not found"), "{l}");
    let l = check_line(&run, "valueFrom app/OTHER");
    assert!(l.starts_with_status("failed"), "{l}");
    assert!(l.contains(&missing_ref) && l.contains("not found"), "{l}");
    let l = check_line(&run, "valueFrom app/SM");
    assert!(l.starts_with_status("skipped"), "{l}");
    assert!(
        l.contains("Secrets Manager") && l.contains("not checked"),
        "{l}"
    );
    // The good ones still pass.
    assert!(check_line(&run, &format!("secret {}", seed.secret)).starts_with_status("passed"));
    assert!(check_line(&run, "valueFrom app/JWT_SECRET").starts_with_status("passed"));
    assert!(run.stderr.contains("4 failed"), "{}", run.stderr);

    // --force and --allow-downgrade turn those two into warnings.
    let run = release(&[
        "preflight",
        path_str(&plan.path),
        "--image",
        &image,
        "--force",
        "--allow-downgrade",
    ]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(check_line(&run, "deployments").starts_with_status("warning"));
    assert!(check_line(&run, "version").starts_with_status("warning"));
    assert!(run.stderr.contains("2 failed"), "{}", run.stderr);

    // A missing service, then a missing cluster: each named, the rest still checked.
    let plan = write_plan(
        &text.replace(
            &format!("name    = \"{}\"", seed.name),
            "name    = \"no-such-service\"",
        ),
        Some(&template),
    );
    let run = release(&["preflight", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 3, "{}", run.all());
    let l = check_line(&run, "service");
    assert!(l.starts_with_status("failed"), "{l}");
    assert!(
        l.contains(&format!(
            "service no-such-service not found in cluster {}",
            seed.name
        )),
        "{l}"
    );
    assert!(check_line(&run, &format!("secret {missing_rule}")).starts_with_status("failed"));
    assert!(check_line(&run, "image").starts_with_status("passed"));

    let plan = write_plan(
        &text.replace(
            &format!("cluster = \"{}\"", seed.name),
            "cluster = \"no-such-cluster\"",
        ),
        Some(&template),
    );
    let run = release(&["preflight", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 3, "{}", run.all());
    let l = check_line(&run, "cluster");
    assert!(l.starts_with_status("failed"), "{l}");
    assert!(l.contains("cluster no-such-cluster not found"), "{l}");

    // Nothing was registered or deployed by any of these runs.
    assert_eq!(revision_count(&seed.name).await, revisions);
    let svc = service(&seed.name, &seed.name).await;
    assert_eq!(svc.task_definition(), Some(stuck.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rewritten_secret_is_stale_until_restart() {
    let seed = seed("pfstale");
    let plan = seed.plan("1.0.0", "healthy", &rule(&seed.secret));
    let image = format!("{}/app:1.0.0", seed.registry);

    let run = release(&["preflight", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(check_line(&run, "stale secrets").starts_with_status("passed"));

    // The secret is fixed after the tasks started: they still hold the old value.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let secret = value64("pfstale");
    put_secret(&seed.secret, &secret).await;
    let run = release(&["preflight", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 0, "{}", run.all());
    let l = check_line(&run, "stale secrets");
    assert!(l.starts_with_status("warning"), "{l}");
    assert!(l.contains(&seed.secret), "{l}");
    assert!(l.contains("after 2 of the 2 running tasks"), "{l}");
    assert!(l.contains("release restart"), "{l}");
    assert_not_shown(&secret, &run.all());

    // Restart: a new deployment of the same revision, watched to COMPLETED.
    let before = service(&seed.name, &seed.name).await;
    let run = release(&["restart", path_str(&plan.path)]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("restarted"), "{}", run.stderr);
    assert!(
        run.stderr.contains("has reached a steady state"),
        "{}",
        run.stderr
    );
    let after = service(&seed.name, &seed.name).await;
    assert_eq!(after.task_definition(), before.task_definition());
    assert_eq!(revision_count(&seed.name).await, 1);
    assert_eq!(after.deployments().len(), 1);
    assert_ne!(after.deployments()[0].id(), before.deployments()[0].id());
    assert_eq!(
        after.deployments()[0].rollout_state().unwrap().as_str(),
        "COMPLETED"
    );
    assert_eq!(after.running_count(), 2);

    // The new tasks read the new value: nothing is stale any more.
    let run = release(&["preflight", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(check_line(&run, "stale secrets").starts_with_status("passed"));
}

// wired by deploy
#[tokio::test(flavor = "multi_thread")]
async fn deploy_exits_3_on_the_65_byte_secret_and_registers_nothing() {
    let seed = seed("pfdeploy");
    let plan = seed.plan("1.0.1", "healthy", &rule(&seed.secret));
    let image = format!("{}/app:1.0.0", seed.registry);
    let secret = format!("{}\n", value64("pfdeploy"));
    put_secret(&seed.secret, &secret).await;
    let before = service(&seed.name, &seed.name).await;

    for json in [false, true] {
        let mut args = vec!["deploy", path_str(&plan.path), "--image", &image];
        if json {
            args.splice(0..0, ["--output", "json"]);
        }
        let run = release(&args);
        assert_eq!(run.code, 3, "{}", run.all());
        assert!(
            run.all()
                .contains("65 bytes, expected 64: byte 65 is 0x0a (newline) at the end"),
            "{}",
            run.all()
        );
        assert_not_shown(&secret, &run.all());
    }
    assert_eq!(revision_count(&seed.name).await, 1);
    let after = service(&seed.name, &seed.name).await;
    assert_eq!(after.task_definition(), before.task_definition());
    assert_eq!(after.deployments()[0].id(), before.deployments()[0].id());
}

trait StatusLine {
    fn starts_with_status(&self, status: &str) -> bool;
}

impl StatusLine for &str {
    /// Plain lines are `TIMESTAMP STATUS NAME: DETAIL`.
    fn starts_with_status(&self, status: &str) -> bool {
        self.split_whitespace().nth(1) == Some(status)
    }
}

/// Denies kms:Decrypt on a parameter's key in the sandbox (SSM tag `sandbox.kms=deny`).
async fn deny_decrypt(name: &str) {
    ssm()
        .await
        .add_tags_to_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .tags(
            aws_sdk_ssm::types::Tag::builder()
                .key("sandbox.kms")
                .value("deny")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_parameters_a_rule_reads_are_decrypted_and_a_denial_names_the_one() {
    let seed = seed("pfkms");
    let image = format!("{}/app:1.0.0", seed.registry);
    deny_decrypt(&seed.secret).await;
    // Referenced by the task definition, judged by no rule: its existence is checked
    // without decryption, so the role's missing kms:Decrypt blocks nothing.
    let plan = seed.plan("1.0.0", "healthy", "");
    let run = release(&["preflight", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(check_line(&run, "valueFrom app/JWT_SECRET").contains("passed"));

    // A rule reads its value: the denial fails that rule alone, naming the parameter and
    // the permission; another rule's parameter in the same batch is still judged.
    let other = format!("/{}/other", seed.name);
    let value = value64("other");
    put_secret(&other, &value).await;
    let extra = format!("{}{}", rule(&seed.secret), rule(&other));
    let plan = seed.plan("1.0.0", "healthy", &extra);
    let run = release(&["preflight", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 3, "{}", run.all());
    let denied = check_line(&run, &format!("secret {}", seed.secret));
    assert!(denied.contains("failed  secret"), "{denied}");
    assert!(denied.contains("kms:Decrypt"), "{denied}");
    assert!(denied.contains(&seed.secret), "{denied}");
    let judged = check_line(&run, &format!("secret {other}"));
    assert!(judged.contains("passed  secret"), "{judged}");
    assert_not_shown(&value, &run.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ssm_answer_that_cannot_be_parsed_is_never_shown() {
    let seed = seed("pfcut");
    let value = value64("cut");
    put_secret(&seed.secret, &value).await;
    // The sandbox answers GetParameters for this parameter with its JSON, value included, cut
    // short (sandbox/ssm_access.py, `sandbox.answer=malformed`).
    ssm()
        .await
        .add_tags_to_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
        .resource_id(&seed.secret)
        .tags(
            aws_sdk_ssm::types::Tag::builder()
                .key("sandbox.answer")
                .value("malformed")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let plan = seed.plan("1.0.0", "healthy", &rule(&seed.secret));
    let image = format!("{}/app:1.0.0", seed.registry);
    for output in ["text", "json"] {
        let run = release(&[
            "--verbose",
            "--output",
            output,
            "preflight",
            path_str(&plan.path),
            "--image",
            &image,
        ]);
        assert_eq!(run.code, 3, "{}", run.all());
        assert!(
            run.all().contains("could not be read"),
            "the failure says what happened: {}",
            run.all()
        );
        assert!(!run.all().contains("DispatchFailure"), "{}", run.all());
        assert_not_shown(&value, &run.all());
        // JSON-escaped forms are the value itself here (url-safe characters); check the
        // base64 form too, in case a body is ever encoded.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&value);
        assert_not_shown(&b64, &run.all());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_broken_during_the_build_stops_the_deploy_before_registering() {
    let seed = seed("pfbuild");
    let python = std::env::var("SANDBOX_PYTHON").unwrap();
    // The build's `before` command rewrites the secret with a trailing newline (65 bytes).
    let script = format!(
        "import boto3, os; boto3.client('ssm', endpoint_url=os.environ['AWS_ENDPOINT_URL'], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing').put_parameter(Name='{}', Value='a' * 64 + chr(10), Type='SecureString', Overwrite=True)",
        seed.secret
    );
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY x /x\n",
    )
    .unwrap();
    std::fs::write(context.path().join("x"), "x").unwrap();
    std::fs::write(context.path().join("break.py"), script).unwrap();
    let extra = format!(
        "{}\n[build]\ncontext = \"{}\"\nbefore = [\"{python} break.py\"]\n",
        rule(&seed.secret),
        context.path().display()
    );
    // A version no other run pushed: an existing tag would be reused and `before` skipped.
    let version = format!("8.{}.{}", std::process::id(), unique());
    let plan = seed.plan(&version, "healthy", &extra);
    let run = release(&["deploy", path_str(&plan.path)]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains("failed after the build"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("65 bytes"), "{}", run.stderr);
    assert_eq!(revision_count(&seed.name).await, 1);
}

/// A number unique to this moment, for versions no other run has pushed.
fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_refuses_when_a_parameter_the_running_revision_references_is_gone() {
    // No secret rule in the plan: the running revision's valueFrom alone stops the restart,
    // since new tasks would fail to start without it.
    let seed = seed("pfrestartgone");
    let plan = seed.plan("1.0.0", "healthy", "");
    ssm()
        .await
        .delete_parameter()
        .name(&seed.secret)
        .send()
        .await
        .unwrap();
    let before = service(&seed.name, &seed.name).await;

    let run = release(&["restart", path_str(&plan.path)]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains("nothing was restarted"),
        "{}",
        run.stderr
    );
    assert!(run.all().contains(&seed.secret), "{}", run.all());
    let after = service(&seed.name, &seed.name).await;
    assert_eq!(after.deployments().len(), 1);
    assert_eq!(after.deployments()[0].id(), before.deployments()[0].id());

    // Back: the restart goes ahead.
    put_secret(&seed.secret, &value64("pfrestartgone")).await;
    let run = release(&["restart", path_str(&plan.path)]);
    assert_eq!(run.code, 0, "{}", run.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_refuses_a_secret_that_fails_its_rule_and_changes_nothing() {
    let seed = seed("pfrestart");
    let plan = seed.plan("1.0.0", "healthy", &rule(&seed.secret));
    // The seed's "fix" with a trailing newline: 65 bytes where the rule says 64.
    let secret = format!("{}\n", value64("pfrestart"));
    put_secret(&seed.secret, &secret).await;
    let before = service(&seed.name, &seed.name).await;

    let run = release(&["restart", path_str(&plan.path)]);
    assert_eq!(run.code, 3, "{}", run.all());
    let line = check_line(&run, &format!("secret {}", seed.secret));
    assert!(line.starts_with_status("failed"), "{line}");
    assert!(line.contains("65"), "{line}");
    assert!(
        run.stderr.contains("nothing was restarted"),
        "{}",
        run.stderr
    );
    assert_not_shown(&secret, &run.all());
    let after = service(&seed.name, &seed.name).await;
    assert_eq!(after.deployments().len(), 1);
    assert_eq!(after.deployments()[0].id(), before.deployments()[0].id());

    // Fixed: the restart goes ahead.
    put_secret(&seed.secret, &value64("pfrestart-fixed")).await;
    let run = release(&["restart", path_str(&plan.path)]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(check_line(&run, &format!("secret {}", seed.secret)).starts_with_status("passed"));
}
