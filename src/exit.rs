//! Exit codes and the one error type every command returns.
//!
//! Codes are defined here once and listed in README.md ("Exit codes").

use std::fmt;

/// The process exit codes `release` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was done.
    Success = 0,
    /// The deploy failed and was rolled back (by ECS or by `release`).
    RolledBack = 1,
    /// Usage error or a bad plan/template: nothing was sent to AWS.
    Usage = 2,
    /// A check that runs before any change failed: nothing was changed.
    Preflight = 3,
    /// The deploy failed and nothing rolled it back.
    Failed = 4,
    /// The rollout did not finish within `rollout.timeout`.
    Timeout = 5,
    /// `release verify` found the running service differs from the plan or does not answer.
    Verify = 6,
    /// AWS or the registry answered with an error we could not handle.
    Aws = 7,
    /// Building the image failed (the builder's `build` exited non-zero).
    Build = 8,
    /// The builder CLI (`build.cli`, default `docker`) is not installed or cannot be run.
    BuilderMissing = 9,
    /// The builder's daemon does not answer (`<builder> version` fails).
    DaemonDown = 10,
    /// A `build.before` command failed.
    BeforeFailed = 11,
    /// Logging in to the registry failed (ECR token or `<builder> login`).
    Login = 12,
    /// Pushing the image failed.
    Push = 13,
    /// The registry disagrees with the pushed digest, a tag points elsewhere, or the version's
    /// tag already holds a different image (refused without `--retag`).
    Digest = 14,
    /// The rollout stalled: our deployment ran no task while ECS reported it could not place
    /// one, for `rollout.stall` (left in place; with `on_failure = "rollback"` a successful
    /// rollback exits 1).
    Stalled = 15,
    /// `release diff` / `release deploy --dry-run`: deploying the plan would change something
    /// (register a revision and deploy it); nothing was changed.
    Changes = 16,
    /// Ended by SIGHUP (the terminal closed).
    HungUp = 129,
    /// Interrupted (Ctrl-C, SIGINT); a deployment being watched goes on.
    Interrupted = 130,
    /// Ended by SIGTERM (how CI cancels a job); a deployment being watched goes on.
    Terminated = 143,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error that ends a command: the message shown to the user and the exit code.
///
/// Messages must never contain a secret's value.
#[derive(Debug)]
pub struct Failure {
    pub code: ExitCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Usage, message)
    }
    pub fn aws(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Aws, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub type Result<T> = std::result::Result<T, Failure>;
