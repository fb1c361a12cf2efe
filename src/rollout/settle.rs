//! Settlement: the one place where the end of a rollout (its verdict, and what followed a
//! failure) becomes the process exit code. Pure and table-tested for every verdict and every
//! follow-up; deploy, rollback and restart all settle here (README, "Exit codes").

use crate::exit::ExitCode;

/// How a watched rollout (and, for deploy, its verify) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Succeeded,
    /// The rollout succeeded but verify found the service differs from the plan.
    VerifyFailed,
    Failed,
    Stalled,
    /// ECS rolled back; `confirmed` when release saw that rollback to its end.
    RolledBackByEcs {
        confirmed: bool,
    },
    Superseded,
    TimedOut,
}

/// What release did after a failed rollout or verify (`rollout.on_failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followup {
    /// Nothing to follow up: success, superseded, timed out, ECS's own rollback, or a command
    /// (rollback, restart) that never rolls back by itself.
    Nothing,
    /// `on_failure = "stop"`: the service is left where the rollout left it.
    Left,
    /// release rolled back to what ran before, and that rollback succeeded.
    RolledBack,
    /// release rolled back, and that rollback did not succeed either.
    RollbackFailed,
}

/// The exit code of a rollout's end.
pub fn settle(end: End, followup: Followup) -> ExitCode {
    let rolled_back = followup == Followup::RolledBack;
    match end {
        End::Succeeded => ExitCode::Success,
        End::VerifyFailed if rolled_back => ExitCode::RolledBack,
        End::VerifyFailed => ExitCode::Verify,
        End::Failed if rolled_back => ExitCode::RolledBack,
        End::Failed => ExitCode::Failed,
        End::Stalled if rolled_back => ExitCode::RolledBack,
        End::Stalled => ExitCode::Stalled,
        End::RolledBackByEcs { confirmed: true } => ExitCode::RolledBack,
        End::RolledBackByEcs { confirmed: false } => ExitCode::Failed,
        End::Superseded => ExitCode::Failed,
        End::TimedOut => ExitCode::Timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_and_followup_has_its_documented_code() {
        use End::*;
        use Followup::*;
        let ends = [
            Succeeded,
            VerifyFailed,
            Failed,
            Stalled,
            RolledBackByEcs { confirmed: true },
            RolledBackByEcs { confirmed: false },
            Superseded,
            TimedOut,
        ];
        let followups = [Nothing, Left, RolledBack, RollbackFailed];
        // (end, followup) -> code; README "Exit codes".
        let want = |e: End, f: Followup| -> i32 {
            match (e, f) {
                (Succeeded, _) => 0,
                (VerifyFailed | Failed | Stalled, RolledBack) => 1,
                (VerifyFailed, _) => 6,
                (Failed, _) => 4,
                (Stalled, _) => 15,
                (RolledBackByEcs { confirmed: true }, _) => 1,
                (RolledBackByEcs { confirmed: false }, _) => 4,
                (Superseded, _) => 4,
                (TimedOut, _) => 5,
            }
        };
        for e in ends {
            for f in followups {
                assert_eq!(settle(e, f).code(), want(e, f), "{e:?} {f:?}");
            }
        }
    }
}
