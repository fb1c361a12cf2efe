//! The command line itself (no sandbox): the tool's version, completions, the man page,
//! help, the default plan and `--quiet`.

use std::path::Path;
use std::process::Command;

fn release_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_release"))
        .args(args)
        .current_dir(dir)
        .env_remove("RELEASE_VERSION")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("run release");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn release(args: &[&str]) -> (i32, String, String) {
    release_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

#[test]
fn version_prints_the_tools_version() {
    for flag in ["--version", "-V"] {
        let (code, stdout, _) = release(&[flag]);
        assert_eq!(code, 0);
        assert_eq!(
            stdout.trim(),
            format!("release {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn completions_are_generated_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let (code, stdout, stderr) = release(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        assert!(!stdout.trim().is_empty(), "{shell}: empty");
        assert!(
            stdout.contains("deploy"),
            "{shell}: no subcommand in\n{stdout}"
        );
        assert!(stdout.contains("release-version"), "{shell}");
    }
    let (code, _, _) = release(&["completions", "tcsh"]);
    assert_eq!(code, 2);
}

#[test]
fn the_man_page_names_every_command() {
    let (code, stdout, stderr) = release(&["man"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(".ie") || stdout.contains(".TH"),
        "{stdout}"
    );
    for name in [
        "deploy",
        "preflight",
        "build",
        "render",
        "status",
        "restart",
        "rollback",
        "history",
        "export",
        "verify",
        "completions",
    ] {
        assert!(stdout.contains(name), "{name} not in the man page");
    }
}

#[test]
fn long_help_has_examples() {
    let (code, stdout, _) = release(&["deploy", "--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Examples:"), "{stdout}");
    assert!(stdout.contains("--release-version"), "{stdout}");
    assert!(stdout.contains("The plan file"), "{stdout}");
}

#[test]
fn without_a_plan_commands_read_release_toml() {
    let dir = tempfile::tempdir().unwrap();
    // None there: a usage error that says what to do.
    let (code, _, stderr) = release_in(dir.path(), &["status"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no release.toml"), "{stderr}");
    // A release.toml there is read (here: its mistake is reported with its line).
    std::fs::write(
        dir.path().join("release.toml"),
        "[service]\nclustr = \"c\"\n",
    )
    .unwrap();
    for command in [
        "status",
        "deploy",
        "preflight",
        "render",
        "history",
        "restart",
        "build",
        "verify",
        "rollback",
        "export",
    ] {
        let (code, _, stderr) = release_in(dir.path(), &[command]);
        assert_eq!(code, 2, "{command}: {stderr}");
        assert!(stderr.contains("release.toml:2:1"), "{command}: {stderr}");
    }
}

#[test]
fn json_output_keeps_the_human_log_on_stderr_unless_log_format_none() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("release.toml"),
        "[service]\nclustr = \"c\"\n",
    )
    .unwrap();
    let (code, stdout, stderr) = release_in(dir.path(), &["--output", "json", "render"]);
    assert_eq!(code, 2);
    let record: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("one NDJSON record")).unwrap();
    assert_eq!(record["event"], "error", "{stdout}");
    assert_eq!(record["exit_code"], 2, "{stdout}");
    // The line the mistake is on, for a program to point at.
    assert_eq!(record["source"]["path"], "release.toml", "{stdout}");
    assert_eq!(record["source"]["line"], 2, "{stdout}");
    assert_eq!(record["source"]["column"], 1, "{stdout}");
    assert_eq!(record["source"]["width"], 6, "{stdout}");
    assert_eq!(record["source"]["text"], "clustr = \"c\"", "{stdout}");
    // The same error, for people, as timestamped lines on stderr: the message, then the
    // line with a caret under the mistake.
    assert!(stderr.contains("error: "), "{stderr}");
    assert!(stderr.contains("release.toml:2:1"), "{stderr}");
    assert!(stderr.contains("2 | clustr = \"c\""), "{stderr}");
    assert!(stderr.contains("  | ^^^^^^\n"), "{stderr}");
    assert!(!stderr.contains('{'), "no JSON on stderr: {stderr}");
    let (code, stdout, stderr) = release_in(
        dir.path(),
        &["--output", "json", "--log-format", "none", "render"],
    );
    assert_eq!(code, 2);
    // The error, then the summary every stream ends with (carrying the same message).
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{stdout}");
    assert_eq!(records[0]["event"], "error");
    assert_eq!(records[1]["event"], "summary");
    assert_eq!(records[1]["command"], "render");
    assert_eq!(records[1]["exit_code"], 2);
    assert_eq!(records[1]["message"], records[0]["message"]);
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn quiet_prints_only_the_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("release.toml"),
        "[service]\nclustr = \"c\"\n",
    )
    .unwrap();
    let (code, _, stderr) = release_in(dir.path(), &["-q", "render"]);
    assert_eq!(code, 2);
    // The error and the plan line it is on (with its caret), nothing else.
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(lines[0].contains("error: "), "{stderr}");
    assert!(lines[1..].iter().all(|l| l.contains(" |")), "{stderr}");
    // Not a terminal: no colour whatever --color says.
    let (_, _, stderr) = release_in(dir.path(), &["--color", "always", "render"]);
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

#[test]
fn the_old_global_version_flag_with_a_command_fails_instead_of_skipping_it() {
    // `release --version 1.2.3 deploy …` set the release version before --release-version;
    // now it must not print the tool's version and exit 0 with nothing deployed.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_release"))
        .args(["--version", "1.2.3", "deploy", "plans/local.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--release-version"));
}
