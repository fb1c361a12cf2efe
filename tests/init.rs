//! End to end against the sandbox: `release init` writes a plan and a template from a running
//! service; their diff shows nothing but the release tags; a deploy of the running image
//! registers nothing (the seeded revision, registered outside release, is tagged with the
//! release's tags instead); init never overwrites and never shows or writes a secret value.

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn init_writes_a_plan_whose_diff_is_only_release_tags_and_whose_deploy_registers_nothing() {
    let seed = seed("init");
    let value = secret_value(&seed.secret).await;
    let dir = tempfile::tempdir().unwrap();
    let run = init_into(&seed, dir.path());
    assert_eq!(run.code, 0, "{}", run.all());
    let plan = dir.path().join("plans").join(format!("{}.toml", seed.name));
    let template = dir
        .path()
        .join("templates")
        .join(format!("{}.json", seed.name));
    let plan_text = std::fs::read_to_string(&plan).unwrap();
    let template_text = std::fs::read_to_string(&template).unwrap();

    // The plan: the running version, the repository, the secret's length; the template:
    // placeholders, not the running image or version.
    assert!(plan_text.contains("version = \"1.0.0\""), "{plan_text}");
    assert!(
        plan_text.contains(&format!("repository = \"{}/app\"", seed.registry)),
        "{plan_text}"
    );
    assert!(plan_text.contains(&seed.secret), "{plan_text}");
    assert!(plan_text.contains("length = 64"), "{plan_text}");
    assert!(template_text.contains("\"{{ image }}\""), "{template_text}");
    assert!(
        template_text.contains("\"{{ version }}\""),
        "{template_text}"
    );
    assert!(
        template_text.contains("\"{{ family }}\""),
        "{template_text}"
    );
    assert!(!template_text.contains(&seed.digest), "{template_text}");

    // The secret's value is nowhere: not in init's output, not in the files.
    for (what, text) in [
        ("init output", run.all()),
        ("plan", plan_text.clone()),
        ("template", template_text.clone()),
    ] {
        assert!(
            !text.contains(&value),
            "the secret's value is in the {what}"
        );
    }

    // The diff: no change in the task definition, only the release tags (the seeded
    // revision has no release:content), so deploy would tag it, not register: exit 16.
    let diff = release(&[
        "--output",
        "json",
        "diff",
        path_str(&plan),
        "--image",
        &seed.image,
    ]);
    assert_eq!(diff.code, 16, "{}", diff.all());
    let record = diff
        .records()
        .into_iter()
        .find(|r| r["event"] == "diff")
        .expect("a diff record");
    assert_eq!(record["changes"], serde_json::json!([]), "{record}");
    assert_eq!(record["register"], false, "{record}");
    assert_eq!(record["deploy"], false, "{record}");
    assert_eq!(record["tag"], true, "{record}");
    let tags = record["release_tags"].as_array().unwrap();
    assert!(
        tags.iter()
            .any(|t| t["key"] == "release:content" && t["before"].is_null()),
        "{record}"
    );
    assert!(
        !tags.iter().any(|t| t["key"] == "release:version"),
        "the version is the running one: {record}"
    );
    assert!(!diff.all().contains(&value));

    // A deploy of the running image registers nothing and deploys nothing: it tags the
    // running revision with the release's tags; the next one finds them. Its verify takes
    // the tags it just wrote (a read right after TagResource may not show them yet): the
    // revision is described once, by preflight.
    let deploy = release(&[
        "--output",
        "json",
        "deploy",
        path_str(&plan),
        "--image",
        &seed.image,
    ]);
    assert_eq!(deploy.code, 0, "{}", deploy.all());
    let calls = &deploy.summary()["ecs_calls_by_action"];
    assert_eq!(calls["DescribeTaskDefinition"], 1, "{calls}");
    assert_eq!(calls["TagResource"], 1, "{calls}");
    assert_eq!(revision_count(&seed.name).await, 1);
    let after = service(&seed.name, &seed.name).await;
    assert_eq!(after.deployments().len(), 1, "no deployment was started");
    assert_eq!(after.task_definition(), Some(seed.task_definition.as_str()));
    assert!(
        deploy.all().contains("registered outside release"),
        "{}",
        deploy.all()
    );
    assert!(!deploy.all().contains(&value));
    let again = release(&["deploy", path_str(&plan), "--image", &seed.image]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        again.all().contains("already runs this release"),
        "{}",
        again.all()
    );
    assert_eq!(revision_count(&seed.name).await, 1);
    let diff = release(&["diff", path_str(&plan), "--image", &seed.image]);
    assert_eq!(diff.code, 0, "{}", diff.all());
    assert!(diff.stdout.trim().is_empty(), "{}", diff.stdout);
    assert!(
        diff.stderr.contains("deploy would do nothing"),
        "{}",
        diff.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn init_refuses_to_overwrite_and_names_the_files() {
    let seed = seed("initexists");
    let (dir, plan) = init_plan(&seed);
    let before = std::fs::read_to_string(&plan).unwrap();
    let template = dir
        .path()
        .join("templates")
        .join(format!("{}.json", seed.name));
    let again = init_into(&seed, dir.path());
    assert_eq!(again.code, 2, "{}", again.all());
    assert!(again.stderr.contains(path_str(&plan)), "{}", again.stderr);
    assert!(
        again.stderr.contains("does not overwrite"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), before);

    // Only the template there: refused too, naming it, and no plan written.
    std::fs::remove_file(&plan).unwrap();
    let third = init_into(&seed, dir.path());
    assert_eq!(third.code, 2, "{}", third.all());
    assert!(
        third.stderr.contains(path_str(&template)),
        "{}",
        third.stderr
    );
    assert!(!plan.exists());
}
