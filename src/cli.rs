//! Command-line arguments (clap). Parsing only: no behaviour lives here.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "release",
    version,
    about = "Ship a container release to AWS ECS from one declarative plan",
    disable_version_flag = true
)]
pub struct Cli {
    /// Print release's own version (`--version` sets the release's version).
    #[arg(short = 'V', long = "tool-version", action = clap::ArgAction::Version)]
    pub tool_version: Option<bool>,

    /// Output format: text (live display on a terminal, timestamped lines otherwise) or json (NDJSON on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub output: Format,

    /// Show more detail (never secret values).
    #[arg(long, short, global = true)]
    pub verbose: bool,

    /// AWS profile (overrides AWS_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,

    /// AWS region (overrides the plan's service.region and AWS_REGION).
    #[arg(long, global = true)]
    pub region: Option<String>,

    /// Release version (overrides the plan's release.version).
    #[arg(
        long = "version",
        global = true,
        env = "RELEASE_VERSION",
        value_name = "VERSION"
    )]
    pub release_version: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Preflight, build-tag-push (or --image), register a digest-pinned revision, deploy, watch to N/N.
    Deploy {
        /// The plan file (TOML).
        plan: PathBuf,
        /// Deploy an existing image (`repo:tag` or `repo@sha256:…`) instead of building.
        #[arg(long)]
        image: Option<String>,
        #[command(flatten)]
        build: BuildFlags,
        #[command(flatten)]
        checks: CheckFlags,
    },
    /// Run every check deploy runs before its first change, and change nothing.
    Preflight {
        plan: PathBuf,
        /// Check this existing image instead of the plan's release tag.
        #[arg(long)]
        image: Option<String>,
        #[command(flatten)]
        checks: CheckFlags,
    },
    /// Build, tag and push the plan's image, and print its digest.
    Build {
        plan: PathBuf,
        #[command(flatten)]
        build: BuildFlags,
    },
    /// Print the RegisterTaskDefinition request deploy would send, as JSON.
    Render {
        plan: PathBuf,
        /// Resolve this image's digest instead of the plan's release tag.
        #[arg(long)]
        image: Option<String>,
    },
    /// Show the service's deployments, counts and current revision.
    Status { plan: PathBuf },
    /// Force a new deployment of the running revision (e.g. after a secret changed), watched.
    Restart { plan: PathBuf },
    /// Return the service to a chosen revision of its family, watched to N/N.
    Rollback {
        /// The plan file (or give --cluster and --service).
        plan: Option<PathBuf>,
        /// The revision number to return to (default: the one that ran before the current one).
        #[arg(long)]
        to: Option<i32>,
        #[arg(long, requires = "service", conflicts_with = "plan")]
        cluster: Option<String>,
        #[arg(long, requires = "cluster", conflicts_with = "plan")]
        service: Option<String>,
        /// Show the change and stop.
        #[arg(long)]
        dry_run: bool,
        /// How long to watch (default: the plan's rollout.timeout, else 10m).
        #[arg(long, value_parser = positive_duration)]
        timeout: Option<std::time::Duration>,
    },
    /// List the family's revisions, newest first, and which one runs now.
    History { plan: PathBuf },
    /// Print the revision a service runs now as a request JSON: the start of a template.
    Export {
        /// With a plan, images of its repository become `{{ image }}`.
        plan: Option<PathBuf>,
        #[arg(long, requires = "service", conflicts_with = "plan")]
        cluster: Option<String>,
        #[arg(long, requires = "cluster", conflicts_with = "plan")]
        service: Option<String>,
        /// Convert saved `aws ecs describe-task-definition` output instead (no AWS call; `-` reads stdin).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["cluster", "service"])]
        from: Option<PathBuf>,
    },
    /// Check that what runs is what the plan says, and that it answers as it should.
    Verify {
        /// The plan file (default: release.toml in the current directory).
        plan: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct BuildFlags {
    /// Build and push even when the version's tag already exists in the registry.
    #[arg(long)]
    pub rebuild: bool,
    /// Allow pushing a different digest under an existing version tag.
    #[arg(long)]
    pub retag: bool,
}

#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct CheckFlags {
    /// Proceed although another deployment is in progress.
    #[arg(long)]
    pub force: bool,
    /// Proceed although the version is lower than the running one.
    #[arg(long)]
    pub allow_downgrade: bool,
}

/// A duration such as `90s` or `10m`, more than zero.
fn positive_duration(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be more than zero, e.g. 90s or 10m".into()),
        Err(e) => Err(format!("{e}; expected a duration such as 90s or 10m")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn arguments_are_consistent() {
        super::Cli::command().debug_assert();
    }
}
