//! End to end: writes are never resent blindly. An UpdateService or RegisterTaskDefinition
//! that ECS applied but answered with a 5xx is read back (and its deployment watched), not
//! sent again; a throttled write (refused, nothing changed) is resent after a back-off.
//! The faults come from sandbox/faults.py, as the ECS API reference's Common Errors describe
//! ServerException and ThrottlingException.

mod common;
use common::*;

fn image(seed: &Seed) -> String {
    format!("{}/app:1.0.0", seed.registry)
}

/// How many service deployments ECS lists for the service (one per deployment started).
async fn service_deployments(seed: &Seed) -> usize {
    ecs()
        .await
        .list_service_deployments()
        .cluster(&seed.name)
        .service(&seed.name)
        .send()
        .await
        .unwrap()
        .service_deployments()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_service_applied_but_answered_500_is_read_back_and_watched_not_resent() {
    let seed = seed_with("faa", &["--tag", "sandbox.fail-after-apply=1"]);
    let plan = seed.plan("1.0.0", "healthy", "");
    let run = release(&["deploy", path_str(&plan.path), "--image", &image(&seed)]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stderr.contains("ServerException"), "{}", run.stderr);
    assert!(
        run.stderr.contains("ECS may have applied it"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("released 1.0.0"), "{}", run.stderr);
    // The seed's deployment and ours: no second forced deployment.
    assert_eq!(service_deployments(&seed).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_update_service_is_resent_after_a_back_off() {
    let seed = seed_with("throttle", &["--tag", "sandbox.throttle-writes=2"]);
    let plan = seed.plan("1.0.0", "healthy", "");
    let run = release(&["deploy", path_str(&plan.path), "--image", &image(&seed)]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(service_deployments(&seed).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_applied_but_answered_500_is_found_not_registered_twice() {
    let seed = seed("regfaa");
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/local.json"),
    )
    .unwrap()
    .replacen(
        "\"family\": \"{{ family }}\",",
        "\"family\": \"{{ family }}\",\n  \"tags\": [{ \"key\": \"sandbox.fail-after-apply\", \"value\": \"1\" }],",
        1,
    );
    let plan = write_plan(&seed.plan_text("1.0.0", "healthy", ""), Some(&template));
    let run = release(&["deploy", path_str(&plan.path), "--image", &image(&seed)]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("ECS may have registered it"),
        "{}",
        run.stderr
    );
    assert_eq!(revision_count(&seed.name).await, 2);
}
