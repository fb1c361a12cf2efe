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

/// An error that ends a command: the message shown to the user, the exit code, and for a
/// mistake in a file the user wrote (plan, template), the line it is on.
///
/// Messages and snippets must never contain a secret's value (plans and templates hold
/// references to secrets, not values).
#[derive(Debug)]
pub struct Failure {
    pub code: ExitCode,
    pub message: String,
    pub snippet: Option<Snippet>,
}

/// The line of a file a mistake is on, and which characters of it to underline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Snippet {
    /// The file, as the user named it.
    pub path: String,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) where the mistake starts.
    pub column: usize,
    /// How many characters to underline (at least 1).
    pub width: usize,
    /// The line's text, without its line break.
    pub text: String,
}

impl Snippet {
    /// The line under a gutter with its number, and a caret line under the mistake, as
    /// rustc and just show them:
    ///
    /// ```text
    ///   |
    /// 6 | bogus = 3
    ///   | ^^^^^
    /// ```
    pub fn render(&self) -> String {
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        // Tabs keep their width on the caret line, so the caret stays under the mistake.
        let lead: String = self
            .text
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!(
            "{gutter} |\n{number} | {}\n{gutter} | {lead}{}",
            self.text,
            "^".repeat(self.width.max(1))
        )
    }
}

impl Failure {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            snippet: None,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Usage, message)
    }
    pub fn aws(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Aws, message)
    }

    /// The same failure, pointing at the line of the file it is about.
    pub fn at(mut self, snippet: Option<Snippet>) -> Self {
        self.snippet = snippet;
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub type Result<T> = std::result::Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_underlines_its_span_under_a_numbered_gutter() {
        let snippet = Snippet {
            path: "p.toml".into(),
            line: 12,
            column: 3,
            width: 5,
            text: "\tbogus = 3".into(),
        };
        assert_eq!(snippet.render(), "   |\n12 | \tbogus = 3\n   | \t ^^^^^");
        let zero = Snippet {
            width: 0,
            column: 1,
            text: String::new(),
            ..snippet
        };
        assert!(zero.render().ends_with("| ^"), "{}", zero.render());
    }
}
