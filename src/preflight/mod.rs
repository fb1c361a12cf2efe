//! Preflight: every check `release deploy` runs before its first change, and `release
//! preflight` runs alone. Every check runs even when others fail, so one run shows
//! everything that is wrong; each gives one line: passed, failed (why), warning, or
//! skipped (why). Secrets a rule judges are read with decryption and checked without being
//! shown; other referenced parameters are only checked to exist.

pub mod checks;
pub mod secret_rules;

use serde::Serialize;
use serde_json::json;

use crate::output::Output;

pub use checks::run;

/// What the user allowed on the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct PreflightOptions {
    /// `--force`: another deployment in progress is a warning, not a failure.
    pub force: bool,
    /// `--allow-downgrade`: a lower version than the running one is a warning.
    pub allow_downgrade: bool,
}

/// Which image the checks look at.
#[derive(Debug, Clone)]
pub enum ImageToCheck {
    /// An image that must already be in the registry (`--image`, or the plan's release tag).
    Existing(crate::image::reference::ImageRef),
    /// The plan builds the image: it cannot be resolved yet.
    WillBuild,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Warning,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Warning => "warning",
            Status::Skipped => "skipped",
        }
    }
}

/// One check's result. `detail` never holds a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// What was checked, naming the resource: `cluster`, `secret /x/jwt-secret`, …
    pub name: String,
    pub status: Status,
    /// Why it passed, failed, warned or was skipped.
    pub detail: String,
}

impl CheckResult {
    /// The check as a stream event.
    pub fn event(&self) -> crate::output::Event {
        crate::output::Event::Check {
            check: self.name.clone(),
            status: self.status.as_str().to_string(),
            detail: self.detail.clone(),
        }
    }

    pub fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        CheckResult {
            name: name.into(),
            status,
            detail: detail.into(),
        }
    }
    pub fn passed(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Passed, detail)
    }
    pub fn failed(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Failed, detail)
    }
    pub fn warning(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Warning, detail)
    }
    pub fn skipped(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Skipped, detail)
    }

    /// The line people see: `failed  secret /x: 65 bytes, expected 64: …`.
    pub fn line(&self) -> String {
        format!("{:<7} {}: {}", self.status.as_str(), self.name, self.detail)
    }
}

/// Every check's result, in a fixed order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<CheckResult>,
    /// How long the checks took.
    pub seconds: f64,
}

impl Report {
    /// Whether any check failed (deploy must not change anything).
    pub fn failed(&self) -> bool {
        self.count(Status::Failed) > 0
    }

    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// `7 passed, 1 failed, 1 warning, 2 skipped`.
    pub fn summary(&self) -> String {
        let warnings = self.count(Status::Warning);
        format!(
            "{} passed, {} failed, {} warning{}, {} skipped",
            self.count(Status::Passed),
            self.count(Status::Failed),
            warnings,
            if warnings == 1 { "" } else { "s" },
            self.count(Status::Skipped)
        )
    }

    /// The counts as JSON fields, for a summary record.
    pub fn summary_fields(&self) -> serde_json::Value {
        json!({
            "passed": self.count(Status::Passed),
            "failed": self.count(Status::Failed),
            "warnings": self.count(Status::Warning),
            "skipped": self.count(Status::Skipped),
            "seconds": self.seconds,
        })
    }

    /// Prints every check, one line each (record kind `check`).
    pub fn print(&self, out: &Output) {
        for c in &self.checks {
            out.emit(&c.line(), c.event());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_each_status() {
        let r = Report {
            checks: vec![
                CheckResult::passed("cluster", "c is ACTIVE"),
                CheckResult::failed("secret /x", "65 bytes, expected 64"),
                CheckResult::warning("stale secrets", "…"),
                CheckResult::skipped("image", "will be built"),
                CheckResult::skipped("version", "no tag"),
            ],
            seconds: 0.0,
        };
        assert!(r.failed());
        assert_eq!(r.summary(), "1 passed, 1 failed, 1 warning, 2 skipped");
        assert_eq!(
            r.checks[1].line(),
            "failed  secret /x: 65 bytes, expected 64"
        );
    }
}
