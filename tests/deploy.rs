//! End to end against the sandbox: `release deploy` registers a digest-pinned revision and
//! watches it to N/N; mistakes exit 2 or 3 and change nothing.

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn deploy_pins_the_digest_watches_to_steady_and_is_idempotent() {
    let seed = seed("deploy");
    let plan = seed.plan("1.0.0", "healthy", "");
    let image = format!("{}/app:1.0.0", seed.registry);
    let run = release(&["deploy", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 0, "{}", run.all());

    // Revision 2, pinned to the registry's digest, running 2/2 in one COMPLETED deployment.
    assert_eq!(revision_count(&seed.name).await, 2);
    let svc = service(&seed.name, &seed.name).await;
    let td = svc.task_definition().unwrap().to_string();
    assert!(td.ends_with(&format!("{}:2", seed.name)), "{td}");
    assert_eq!(
        images_of(&td).await,
        vec![format!("{}/app@{}", seed.registry, seed.digest)]
    );
    assert_eq!(svc.deployments().len(), 1);
    assert_eq!(
        svc.deployments()[0].rollout_state().unwrap().as_str(),
        "COMPLETED"
    );
    assert_eq!(svc.running_count(), 2);

    // The watch printed the service's events and a summary.
    let all = run.all();
    assert!(all.contains("has started"), "{all}");
    assert!(all.contains("has reached a steady state"), "{all}");
    assert!(all.contains("released 1.0.0"), "{all}");
    assert!(all.contains(&seed.digest), "{all}");
    // Not a terminal: plain lines, timestamped, no control characters.
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
    assert!(
        run.stderr.lines().all(|l| l.starts_with("20")),
        "{}",
        run.stderr
    );

    // Again: the running revision has this content and digest, so nothing is registered.
    let again = release(&["deploy", path_str(&plan.path), "--image", &image]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        again.all().contains("nothing registered"),
        "{}",
        again.all()
    );
    assert_eq!(revision_count(&seed.name).await, 2);
}

/// On a terminal: a live bar of our deployment's running/desired and what it waits for, the
/// service's events printed above it, and the summary when it is gone.
#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_the_rollout_is_a_live_bar_with_the_events_above_it() {
    let seed = seed("termdeploy");
    let plan = seed.plan("1.0.0", "healthy", "");
    let image = format!("{}/app:1.0.0", seed.registry);
    let (code, screen) = on_a_terminal(&["deploy", path_str(&plan.path), "--image", &image], &[]);
    assert_eq!(code, 0, "{screen}");
    // indicatif's bar (progress characters `#`/`-`, then running/desired) of our revision,
    // redrawn in place, and the old revision beside it.
    let ours = format!("/2 running {}:2", seed.name);
    assert!(
        screen
            .lines()
            .any(|l| l.contains("##") && l.contains(&ours)),
        "{screen}"
    );
    assert!(screen.contains("\u{1b}[2K"), "{screen}");
    assert!(screen.contains(&format!("{}:1", seed.name)), "{screen}");
    // Events above the bar, and the summary after it.
    let steady = screen
        .find("has reached a steady state")
        .expect("the event");
    let released = screen.find("released 1.0.0").expect("the summary");
    assert!(steady < released, "{screen}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_is_ndjson_with_a_summary() {
    let seed = seed("deployjson");
    let plan = seed.plan("1.0.0", "healthy", "");
    let image = format!("{}/app@{}", seed.registry, seed.digest);
    let run = release(&[
        "--output",
        "json",
        "deploy",
        path_str(&plan.path),
        "--image",
        &image,
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    let records = run.records();
    assert!(records.iter().any(|r| r["event"] == "registered"));
    assert!(records.iter().any(|r| r["event"] == "service_event"));
    assert!(records.iter().any(|r| r["event"] == "progress"));
    let summary = records.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["verdict"]["verdict"], "succeeded");
    assert_eq!(summary["digest"], seed.digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_and_template_mistakes_exit_2_and_change_nothing() {
    let seed = seed("mistakes");
    let image = format!("{}/app:1.0.0", seed.registry);
    let good = seed.plan_text("1.0.0", "healthy", "");

    // A misspelt key.
    let bad = write_plan(&good.replace("cluster = ", "clustr = "), None);
    let run = release(&["deploy", path_str(&bad.path), "--image", &image]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains(&format!("{}:2:1:", bad.path.display())),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("did you mean `cluster`?"),
        "{}",
        run.stderr
    );

    // An unset env() variable.
    let bad = write_plan(
        &good.replace("RELEASE_SANDBOX_REGISTRY", "RELEASE_TEST_UNSET_VARIABLE"),
        None,
    );
    let run = release(&["deploy", path_str(&bad.path), "--image", &image]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("{}:9:14:", bad.path.display())),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("RELEASE_TEST_UNSET_VARIABLE is not set"),
        "{}",
        run.stderr
    );

    // A template key `imagee`.
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/local.json"))
            .unwrap()
            .replace("\"image\":", "\"imagee\":");
    let bad = write_plan(&good, Some(&template));
    let run = release(&["deploy", path_str(&bad.path), "--image", &image]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr
            .contains("template.json:6: containerDefinitions[0].imagee"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("image"), "{}", run.stderr);

    assert_eq!(revision_count(&seed.name).await, 1);
    let svc = service(&seed.name, &seed.name).await;
    assert_eq!(svc.deployments().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_service_or_cluster_is_named_and_nothing_is_registered() {
    let seed = seed("missing");
    let image = format!("{}/app:1.0.0", seed.registry);
    let text = seed.plan_text("1.0.0", "healthy", "");

    let plan = write_plan(
        &text.replace(
            &format!("name    = \"{}\"", seed.name),
            "name    = \"no-such-service\"",
        ),
        None,
    );
    let run = release(&["deploy", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains("service no-such-service not found"),
        "{}",
        run.stderr
    );

    let plan = write_plan(
        &text.replace(
            &format!("cluster = \"{}\"", seed.name),
            "cluster = \"no-such-cluster\"",
        ),
        None,
    );
    let run = release(&["deploy", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains("cluster no-such-cluster not found"),
        "{}",
        run.stderr
    );

    assert_eq!(revision_count(&seed.name).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_tag_is_refused_before_registration() {
    let seed = seed("notag");
    let plan = seed.plan("1.0.0", "healthy", "");
    let image = format!("{}/app:9.9.9-missing", seed.registry);
    let run = release(&["deploy", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains("not found in the registry"),
        "{}",
        run.stderr
    );
    assert_eq!(revision_count(&seed.name).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn render_prints_the_request_and_status_shows_the_revision() {
    let seed = seed("render");
    let plan = seed.plan("1.0.0", "healthy", "");
    let image = format!("{}/app:1.0.0", seed.registry);
    let run = release(&["render", path_str(&plan.path), "--image", &image]);
    assert_eq!(run.code, 0, "{}", run.all());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("render prints JSON");
    assert_eq!(doc["family"], seed.name.as_str());
    assert_eq!(
        doc["containerDefinitions"][0]["image"],
        format!("{}/app@{}", seed.registry, seed.digest)
    );
    let tags = doc["tags"].as_array().unwrap();
    assert!(tags
        .iter()
        .any(|t| t["key"] == "release:digest" && t["value"] == seed.digest.as_str()));

    let run = release(&["status", path_str(&plan.path)]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains(&format!("revision {}:1", seed.name)),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("release:version = 1.0.0"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_ecs_would_reject_fails_before_anything_is_built() {
    let seed = seed("dupname");
    // Two containers named `app`: ECS rejects that at RegisterTaskDefinition, after a push.
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/local.json"),
    )
    .unwrap();
    let twice = template.replacen(
        "\"containerDefinitions\": [",
        &format!(
            "\"containerDefinitions\": [\n    {},",
            first_container(&template)
        ),
        1,
    );
    let extra = format!(
        "[build]\ncontext = \"{}\"\n",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/app")
            .display()
    );
    let plan = write_plan(&seed.plan_text("5.5.5", "healthy", &extra), Some(&twice));
    let run = release(&["deploy", path_str(&plan.path)]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains("two containers are named `app`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("template.json:"), "{}", run.stderr);
    assert!(!run.stderr.contains("building"), "{}", run.stderr);
    assert_eq!(revision_count(&seed.name).await, 1);
}

/// The template's first container object, as written (with its placeholders).
fn first_container(template: &str) -> String {
    let start = template.find("    {").unwrap();
    let end = template[start..].find("\n    }").unwrap() + start + 6;
    template[start..end].trim().to_string()
}
