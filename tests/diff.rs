//! End to end against the sandbox: `release diff` and `release deploy --dry-run` show an
//! image change and an environment change against the running revision, exit 16, and
//! change nothing in AWS.

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn diff_shows_an_image_change_and_an_environment_change() {
    let seed = seed("diff");
    let (dir, plan) = init_plan(&seed);
    let other = push_other_image(&seed, &format!("diff-{}", std::process::id()));

    // Another image: the image path changes, nothing else in the task definition.
    let run = release(&[
        "--output",
        "json",
        "diff",
        path_str(&plan),
        "--image",
        &other,
    ]);
    assert_eq!(run.code, 16, "{}", run.all());
    let record = run
        .records()
        .into_iter()
        .find(|r| r["event"] == "diff")
        .expect("a diff record");
    let changes = record["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{record}");
    assert_eq!(changes[0]["path"], "containerDefinitions[app].image");
    assert_eq!(changes[0]["before"], seed.image.as_str());
    let after = changes[0]["after"].as_str().unwrap();
    assert!(
        after.starts_with(&format!("{}/app@sha256:", seed.registry)),
        "{after}"
    );
    assert_ne!(after, seed.image);
    assert_eq!(record["register"], true);
    assert_eq!(record["image"]["action"], "given");

    // The template's environment edited: that path changes, as a unified diff on stdout
    // (plain: not a terminal, no colour).
    let template = dir
        .path()
        .join("templates")
        .join(format!("{}.json", seed.name));
    let text = std::fs::read_to_string(&template).unwrap();
    let edited = text.replace("\"{{ version }}\"", "\"{{ version }}-edited\"");
    assert_ne!(text, edited);
    std::fs::write(&template, edited).unwrap();
    let run = release(&["diff", path_str(&plan), "--image", &seed.image]);
    assert_eq!(run.code, 16, "{}", run.all());
    assert!(
        run.stdout.contains("-          \"value\": \"1.0.0\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("+          \"value\": \"1.0.0-edited\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.starts_with("--- running"), "{}", run.stdout);
    assert!(!run.all().contains('\u{1b}'), "{}", run.all());
    assert!(
        run.stderr
            .contains("containerDefinitions[app].environment[RELEASE_VERSION].value"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("deploy would register"),
        "{}",
        run.stderr
    );
    assert_eq!(revision_count(&seed.name).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_dry_run_changes_nothing_and_exits_with_the_diff_code() {
    let seed = seed("dryrun");
    let (_dir, plan) = init_plan(&seed);
    let value = secret_value(&seed.secret).await;
    let other = push_other_image(&seed, &format!("dryrun-{}", std::process::id()));
    let run = release(&["deploy", path_str(&plan), "--image", &other, "--dry-run"]);
    assert_eq!(run.code, 16, "{}", run.all());
    assert!(run.stdout.contains("-      \"image\""), "{}", run.stdout);
    assert!(
        run.stderr.contains("deploy would register"),
        "{}",
        run.stderr
    );
    // Preflight ran (it is read-only), nothing was registered or deployed.
    assert!(run.stderr.contains("preflight"), "{}", run.stderr);
    assert!(!run.all().contains(&value));
    assert_eq!(revision_count(&seed.name).await, 1);
    let svc = service(&seed.name, &seed.name).await;
    assert_eq!(svc.task_definition(), Some(seed.task_definition.as_str()));
    assert_eq!(svc.deployments().len(), 1);
}
