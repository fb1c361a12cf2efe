//! Checks: the one runner behind every list of checks release shows (preflight before a
//! deploy, the pre-checks of rollback and restart, and verify after a rollout).
//!
//! A check gives one result, `passed`, `failed` (why), `warning` or `skipped` (why), naming
//! the resource it looked at. Every check of a list runs even when others fail, so one run
//! shows everything that is wrong. [`Checks`] hands each result to a [`CheckReporter`] the
//! moment it is recorded (the output module renders it: one line, or one `check` record with
//! its stage) and keeps the [`Report`] that decides whether the command may go on. A check's
//! detail never holds a secret's value.

use std::time::Instant;

use schemars::JsonSchema;
use serde::Serialize;

/// Which list a check belongs to (the `stage` of its `check` record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Before a deploy changes anything, or `release preflight` alone.
    Preflight,
    /// Before a rollback changes anything.
    Rollback,
    /// Before a restart replaces the tasks.
    Restart,
    /// After a rollout, or `release verify` alone.
    Verify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct CheckResult {
    /// What was checked, naming the resource: `cluster`, `secret /x/jwt-secret`, …
    #[serde(rename = "check")]
    pub name: String,
    pub status: Status,
    /// Why it passed, failed, warned or was skipped.
    pub detail: String,
}

impl CheckResult {
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
    /// Passed or failed, as a yes/no check decides it.
    pub fn judged(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Self {
        let status = if ok { Status::Passed } else { Status::Failed };
        Self::new(name, status, detail)
    }

    /// The line people see: `failed  secret /x: 65 bytes, expected 64: …`.
    pub fn line(&self) -> String {
        format!("{:<7} {}: {}", self.status.as_str(), self.name, self.detail)
    }
}

/// Where each check's result goes the moment it is known.
pub trait CheckReporter {
    fn check(&self, stage: Stage, check: &CheckResult);
}

/// Every check's result, in the order they were recorded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<CheckResult>,
    /// How long the checks took.
    pub seconds: f64,
}

impl Report {
    /// Whether any check failed (the command must not change anything).
    pub fn failed(&self) -> bool {
        self.count(Status::Failed) > 0
    }

    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The failed checks' lines, for the one failure that refuses the change.
    pub fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
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
        serde_json::json!({
            "passed": self.count(Status::Passed),
            "failed": self.count(Status::Failed),
            "warnings": self.count(Status::Warning),
            "skipped": self.count(Status::Skipped),
            "seconds": self.seconds,
        })
    }
}

/// The runner: records each check of one stage, reports it at once, and keeps the report.
pub struct Checks<'a> {
    stage: Stage,
    reporter: &'a dyn CheckReporter,
    report: Report,
    started: Instant,
}

impl<'a> Checks<'a> {
    pub fn new(stage: Stage, reporter: &'a dyn CheckReporter) -> Self {
        Checks {
            stage,
            reporter,
            report: Report::default(),
            started: Instant::now(),
        }
    }

    /// Records one result and reports it.
    pub fn record(&mut self, check: CheckResult) {
        self.reporter.check(self.stage, &check);
        self.report.checks.push(check);
    }

    /// Records results in order (checks that ran together, reported once all are known).
    pub fn record_all(&mut self, checks: impl IntoIterator<Item = CheckResult>) {
        for check in checks {
            self.record(check);
        }
    }

    /// The report, with how long the checks took since the runner was made.
    pub fn finish(mut self) -> Report {
        self.report.seconds = self.started.elapsed().as_secs_f64();
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Seen(RefCell<Vec<(Stage, String)>>);
    impl CheckReporter for Seen {
        fn check(&self, stage: Stage, check: &CheckResult) {
            self.0.borrow_mut().push((stage, check.line()));
        }
    }

    #[test]
    fn each_check_is_reported_as_it_is_recorded_and_the_report_counts_each_status() {
        let seen = Seen::default();
        let mut checks = Checks::new(Stage::Rollback, &seen);
        checks.record(CheckResult::passed("cluster", "c is ACTIVE"));
        assert_eq!(seen.0.borrow().len(), 1, "reported before the next check");
        checks.record_all([
            CheckResult::failed("secret /x", "65 bytes, expected 64"),
            CheckResult::warning("stale secrets", "…"),
            CheckResult::skipped("image", "will be built"),
            CheckResult::judged("version", true, "1.2.0"),
            CheckResult::judged("revision app:7", false, "INACTIVE"),
        ]);
        let r = checks.finish();
        assert!(r.failed());
        assert_eq!(r.summary(), "2 passed, 2 failed, 1 warning, 1 skipped");
        assert_eq!(
            r.failures(),
            [
                "secret /x: 65 bytes, expected 64",
                "revision app:7: INACTIVE"
            ]
        );
        assert_eq!(
            seen.0.borrow()[1],
            (
                Stage::Rollback,
                "failed  secret /x: 65 bytes, expected 64".into()
            )
        );
    }

    #[test]
    fn a_check_serializes_as_its_record_fields() {
        let c = CheckResult::failed("image", "not found");
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"check": "image", "status": "failed", "detail": "not found"})
        );
    }
}
