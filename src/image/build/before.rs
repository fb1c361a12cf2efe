//! The `build.before` commands: each run with `sh -c` in the build context, with
//! RELEASE_VERSION set, its output in the build log (the build secrets' values hidden); the
//! first failure stops the build and shows its last lines.

use super::log::BuildLog;
use super::process::{describe_status, indent, Child, RunError};
use crate::exit::{ExitCode, Failure, Result};
use crate::output::Output;
use crate::plan::BuildSpec;
use crate::redact::Redactor;

/// Runs one `before` command.
pub async fn run(
    out: &Output,
    log: &BuildLog,
    spec: &BuildSpec,
    version: &str,
    command: &str,
    redactor: &Redactor,
) -> Result<()> {
    let child = Child::new("sh")
        .args(["-c", command])
        .current_dir(&spec.context)
        .env("RELEASE_VERSION", version)
        .redact(redactor.clone());
    // Rendered from the plan, the command may hold a build secret's value.
    let shown = redactor.apply(command);
    let fail = |detail: String| {
        Failure::new(
            ExitCode::BeforeFailed,
            format!(
                "before command `{shown}` (in {}) {detail}\nfull log: {}",
                spec.context.display(),
                log.path().display()
            ),
        )
    };
    match child.run(out, log).await {
        Ok(done) if done.status.success() => Ok(()),
        Ok(done) => Err(fail(format!(
            "failed ({}); its last lines:\n{}",
            describe_status(&done.status),
            indent(&done.tail)
        ))),
        Err(RunError::Spawn(e)) => Err(fail(format!("could not start `sh`: {e}"))),
        Err(e) => Err(fail(format!("failed: {e}"))),
    }
}
