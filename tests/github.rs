//! End to end against the sandbox: with `GITHUB_ACTIONS=true` a deploy writes its step
//! outputs to `$GITHUB_OUTPUT` and a table to `$GITHUB_STEP_SUMMARY`, and failures become
//! `::error::` annotations (a plan error with its file and line).

mod common;
use common::*;

/// `release ARGS` as GitHub Actions runs it, with its two files in `dir`.
fn release_in_actions(dir: &std::path::Path, args: &[&str]) -> (Run, String, String) {
    let output = dir.join("github_output");
    let summary = dir.join("step_summary");
    let run = release_env(
        args,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_OUTPUT", path_str(&output)),
            ("GITHUB_STEP_SUMMARY", path_str(&summary)),
        ],
    );
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    (run, read(&output), read(&summary))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_in_actions_writes_outputs_and_a_step_summary() {
    let seed = seed("github");
    // A version as a git tag names it: the `v` stays in the release's tags.
    let plan = seed.plan("v1.0.0", "healthy", "");
    let image = format!("{}/app:1.0.0", seed.registry);
    let dir = tempfile::tempdir().unwrap();
    let (run, outputs, summary) = release_in_actions(
        dir.path(),
        &["deploy", path_str(&plan.path), "--image", &image],
    );
    assert_eq!(run.code, 0, "{}", run.all());

    let svc = service(&seed.name, &seed.name).await;
    let td = svc.task_definition().unwrap().to_string();
    let deployment = svc.deployments()[0].id().unwrap().to_string();
    let expected = [
        format!("image={}/app@{}", seed.registry, seed.digest),
        format!("digest={}", seed.digest),
        format!("task-definition-arn={td}"),
        "revision=2".to_string(),
        "previous-revision=1".to_string(),
        format!("deployment-id={deployment}"),
        "verdict=succeeded".to_string(),
    ];
    let lines: Vec<&str> = outputs.lines().collect();
    for want in &expected {
        assert!(lines.contains(&want.as_str()), "{want} not in:\n{outputs}");
    }

    assert!(
        summary.contains("### release deploy: succeeded"),
        "{summary}"
    );
    assert!(summary.contains("| version | v1.0.0 |"), "{summary}");
    assert!(
        summary.contains(&format!("| digest | `{}` |", seed.digest)),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("| revision | {0}:1 -> {0}:2 |", seed.name)),
        "{summary}"
    );
    assert!(summary.contains("| time | "), "{summary}");
    assert!(summary.contains("| verify | "), "{summary}");
    assert!(
        summary.contains(&format!(
            "| undo | `release rollback {} --to 1` |",
            path_str(&plan.path)
        )),
        "{summary}"
    );
    assert!(
        summary.contains("| verify check | result | detail |"),
        "{summary}"
    );
    // The revision carries the version as written.
    assert!(run.stderr.contains("v1.0.0"), "{}", run.stderr);
    // A success gives no error annotation.
    assert!(!run.stderr.contains("::error"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_preflight_in_actions_is_an_error_annotation() {
    let seed = seed("githubpf");
    let missing = format!("/{}/no-such-secret", seed.name);
    let plan = seed.plan(
        "1.0.0",
        "healthy",
        &format!("\n[[preflight.secret]]\nname   = \"{missing}\"\nlength = 64\n"),
    );
    let image = format!("{}/app:1.0.0", seed.registry);
    let dir = tempfile::tempdir().unwrap();
    let (run, outputs, summary) = release_in_actions(
        dir.path(),
        &["deploy", path_str(&plan.path), "--image", &image],
    );
    assert_eq!(run.code, 3, "{}", run.all());
    let annotation = run
        .stderr
        .lines()
        .find(|l| l.starts_with("::error title=preflight::failed") && l.contains(&missing))
        .unwrap_or_else(|| panic!("no annotation for the failed check:\n{}", run.stderr));
    assert!(!annotation.contains('\n'));
    assert!(
        outputs.lines().any(|l| l == "verdict=preflight_failed"),
        "{outputs}"
    );
    assert!(
        summary.contains("### release deploy: preflight_failed (exit 3)"),
        "{summary}"
    );
    assert_eq!(revision_count(&seed.name).await, 1);
}

#[test]
fn a_plan_error_in_actions_annotates_its_file_and_line() {
    let plan = write_plan(
        "[service]\ncluster = \"c\"\nname = \"s\"\nregion = \"us-east-1\"\nnmae = \"x\"\n",
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let (run, outputs, _) = release_in_actions(dir.path(), &["deploy", path_str(&plan.path)]);
    assert_eq!(run.code, 2, "{}", run.all());
    let want = format!("::error file={},line=5,col=1::", path_str(&plan.path));
    assert!(
        run.stderr.lines().any(|l| l.starts_with(&want)),
        "{want} not in:\n{}",
        run.stderr
    );
    assert!(outputs.lines().any(|l| l == "verdict=error"), "{outputs}");
}
