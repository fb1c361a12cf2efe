//! Preflight: every check `release deploy` runs before its first change, and `release
//! preflight` runs alone, through the one check runner (`crate::check`). Every check runs
//! even when others fail, so one run shows everything that is wrong; each gives one line:
//! passed, failed (why), warning, or skipped (why). Secrets a rule judges are read with
//! decryption and checked without being shown; other referenced parameters are only checked
//! to exist.

pub mod checks;
pub mod secret_rules;

pub use crate::check::{CheckResult, Report, Status};
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
