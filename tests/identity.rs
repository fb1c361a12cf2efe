//! End to end: who release acts as. `--profile` wins over the environment's keys and an
//! unknown profile is an error before any call (as in the AWS CLI); every changing command
//! shows the principal (STS GetCallerIdentity) and refuses an account other than the plan's
//! `service.account`, changing nothing.

mod common;

use common::*;

/// Creates an IAM user with an access key in the sandbox (moto's STS answers
/// GetCallerIdentity with the user a key belongs to); returns (key id, secret).
fn iam_user(name: &str) -> (String, String) {
    let text = sandbox_python(&format!(
        "c = client('iam'); c.create_user(UserName='{name}'); k = c.create_access_key(UserName='{name}')['AccessKey']; print(k['AccessKeyId'], k['SecretAccessKey'])"
    ));
    let mut parts = text.split_whitespace();
    (
        parts.next().unwrap().to_string(),
        parts.next().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_wins_over_environment_keys_and_an_unknown_profile_stops_before_any_call() {
    let seed = seed("ident");
    let plan = seed.plan("1.0.0", "healthy", "");
    let image = format!("{}/app:1.0.0", seed.registry);
    let tag = std::process::id();
    let (env_key, env_secret) = iam_user(&format!("env-user-{tag}"));
    let (prof_key, prof_secret) = iam_user(&format!("profile-user-{tag}"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!("[profile deployer]\nregion = us-east-1\naws_access_key_id = {prof_key}\naws_secret_access_key = {prof_secret}\n"),
    )
    .unwrap();
    let env = [
        ("AWS_CONFIG_FILE", path_str(&config)),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_ACCESS_KEY_ID", env_key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", env_secret.as_str()),
    ];
    let args = ["preflight", path_str(&plan.path), "--image", &image];

    // --profile: the profile's key signs, not the environment's.
    let mut with_profile = vec!["--profile", "deployer"];
    with_profile.extend(args);
    let run = release_env(&with_profile, &env);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains(&format!("user/profile-user-{tag}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("profile deployer"), "{}", run.stderr);

    // AWS_PROFILE with keys in the environment: the keys win, as in the AWS CLI, and it says so.
    let mut env_profile = env.to_vec();
    env_profile.push(("AWS_PROFILE", "deployer"));
    let run = release_env(&args, &env_profile);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains(&format!("user/env-user-{tag}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("the keys win"), "{}", run.stderr);

    // An unknown profile: exit 2 before any call, whatever keys the environment holds.
    let mut unknown = vec!["--profile", "nosuchprofile"];
    unknown.extend(["deploy", path_str(&plan.path), "--image", &image]);
    let run = release_env(&unknown, &env);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr
            .contains("--profile nosuchprofile: no such profile"),
        "{}",
        run.stderr
    );
    assert_eq!(revision_count(&seed.name).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_account_than_the_plan_s_is_refused_and_nothing_changes() {
    let seed = seed("account");
    let test_plan = seed.plan("1.0.0", "healthy", "");
    let plan = test_plan.path.clone();
    let text = std::fs::read_to_string(&plan).unwrap().replacen(
        "[service]\n",
        "[service]\naccount = \"999999999999\"\n",
        1,
    );
    std::fs::write(&plan, text).unwrap();
    let image = format!("{}/app:1.0.0", seed.registry);
    let run = release(&["deploy", path_str(&plan), "--image", &image]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains(
            "belong to account 123456789012, but the plan's service.account is 999999999999"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(revision_count(&seed.name).await, 1);
    let run = release(&["rollback", path_str(&plan), "--to", "1"]);
    assert_eq!(run.code, 3, "{}", run.all());
}
