//! Command-line arguments (clap). Parsing only: no behaviour lives here.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "release",
    version,
    about = "Ship a container release to AWS ECS from one declarative plan",
    after_long_help = "Examples:\n  release deploy plans/sales-prod.toml\n  release preflight                      # release.toml in the current directory\n  release deploy --release-version \"$GITHUB_REF_NAME\" plans/sales-prod.toml\n  release completions bash > /etc/bash_completion.d/release\n  release man > release.1"
)]
pub struct Cli {
    /// Output format: text (live display on a terminal, timestamped lines otherwise) or json (NDJSON on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub output: Format,

    /// With --output json, where the human log goes: plain (timestamped lines on stderr, so CI can keep both) or none.
    #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Plain, global = true, value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Colour the words passed, failed and warning on a terminal: auto (unless NO_COLOR is set), always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Print only warnings, errors and the final summary and result lines (NDJSON is unchanged).
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Show more detail (never secret values).
    #[arg(long, short, global = true)]
    pub verbose: bool,

    /// AWS profile (overrides AWS_PROFILE).
    #[arg(long, global = true, value_name = "PROFILE")]
    pub profile: Option<String>,

    /// AWS region (overrides the plan's service.region and AWS_REGION).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// Release version, e.g. 1.64.1 or v1.64.1 from a git tag (overrides the plan's release.version; an empty RELEASE_VERSION counts as unset).
    #[arg(
        long = "release-version",
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

/// The human log beside `--output json`'s NDJSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Timestamped lines on stderr.
    Plain,
    /// No human log: only the NDJSON on stdout.
    None,
}

/// When to colour terminal output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The shells `release completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Preflight, build-tag-push (or --image), register a digest-pinned revision, deploy, watch to N/N.
    #[command(
        after_long_help = "Examples:\n  release deploy plans/sales-prod.toml\n  release deploy                                   # release.toml in the current directory\n  release deploy plans/sales-prod.toml --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:…\n  release deploy plans/sales-prod.toml --release-version v1.64.2 --allow-downgrade"
    )]
    Deploy {
        /// The plan file (TOML; default: release.toml in the current directory).
        plan: Option<PathBuf>,
        /// Deploy an existing image (`repo:tag` or `repo@sha256:…`) instead of building.
        #[arg(long, value_name = "REF")]
        image: Option<String>,
        #[command(flatten)]
        build: BuildFlags,
        #[command(flatten)]
        checks: CheckFlags,
        /// Run the preflight, show what would change (as `release diff`) and stop: nothing is built, pushed, registered or deployed (exit 16 when the deploy would change something).
        #[arg(long)]
        dry_run: bool,
    },
    /// Show what a deploy would change: the rendered task definition against the running revision.
    #[command(
        after_long_help = "Examples:\n  release diff plans/sales-prod.toml\n  release diff plans/sales-prod.toml --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:…\n  release --output json diff plans/sales-prod.toml | jq '.changes'\n\nExit status: 0 when deploy would do nothing, 16 when it would register and deploy a revision."
    )]
    Diff {
        /// The plan file (TOML; default: release.toml in the current directory).
        plan: Option<PathBuf>,
        /// Compare with this existing image (`repo:tag` or `repo@sha256:…`) instead of the plan's release tag.
        #[arg(long, value_name = "REF")]
        image: Option<String>,
    },
    /// Write a plan and a template from a service that runs now: the start of a first release.
    #[command(
        after_long_help = "Examples:\n  release init --cluster sales-prod --service sales-prod-nginx_catalog\n  release init --cluster sales-prod --service sales-prod-nginx_catalog --region us-east-1 --dir infra\n\nWrites DIR/plans/SERVICE.toml and DIR/templates/FAMILY.json; refuses to overwrite either (exit 2)."
    )]
    Init {
        /// The ECS cluster the service runs in.
        #[arg(long)]
        cluster: String,
        /// The ECS service to start from.
        #[arg(long)]
        service: String,
        /// The directory to write plans/ and templates/ under.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Run every check deploy runs before its first change, and change nothing.
    #[command(
        after_long_help = "Examples:\n  release preflight plans/sales-prod.toml\n  release preflight plans/sales-prod.toml --image app:1.64.1\n  release preflight --output json | jq 'select(.event == \"check\")'"
    )]
    Preflight {
        /// The plan file (TOML; default: release.toml in the current directory).
        plan: Option<PathBuf>,
        /// Check this existing image instead of the plan's release tag.
        #[arg(long, value_name = "REF")]
        image: Option<String>,
        #[command(flatten)]
        checks: CheckFlags,
    },
    /// Build, tag and push the plan's image, and print its digest.
    #[command(
        after_long_help = "Examples:\n  release build plans/sales-prod.toml\n  IMAGE=$(release build plans/sales-prod.toml -q) && release deploy plans/sales-prod.toml --image \"$IMAGE\"\n  release build plans/sales-prod.toml --rebuild"
    )]
    Build {
        /// The plan file (TOML; default: release.toml in the current directory).
        plan: Option<PathBuf>,
        #[command(flatten)]
        build: BuildFlags,
    },
    /// Print the RegisterTaskDefinition request deploy would send, as JSON.
    #[command(
        after_long_help = "Examples:\n  release render plans/sales-prod.toml > request.json\n  release render plans/sales-prod.toml --image app@sha256:…"
    )]
    Render {
        /// The plan file (TOML; default: release.toml in the current directory).
        plan: Option<PathBuf>,
        /// Resolve this image's digest instead of the plan's release tag.
        #[arg(long, value_name = "REF")]
        image: Option<String>,
    },
    /// Show the service's deployments, counts and current revision.
    #[command(
        after_long_help = "Examples:\n  release status plans/sales-prod.toml\n  release status"
    )]
    Status {
        /// The plan file (TOML; default: release.toml in the current directory).
        plan: Option<PathBuf>,
    },
    /// Force a new deployment of the running revision (e.g. after a secret changed), watched.
    #[command(after_long_help = "Examples:\n  release restart plans/sales-prod.toml")]
    Restart {
        /// The plan file (TOML; default: release.toml in the current directory).
        plan: Option<PathBuf>,
    },
    /// Return the service to a chosen revision of its family, watched to N/N.
    #[command(
        after_long_help = "Examples:\n  release rollback plans/sales-prod.toml --to 96\n  release rollback plans/sales-prod.toml --dry-run\n  release rollback --cluster sales-prod --service sales-prod-nginx_catalog --timeout 15m"
    )]
    Rollback {
        /// The plan file (or give --cluster and --service; default: release.toml in the current directory).
        plan: Option<PathBuf>,
        /// The revision number to return to (default: the one that ran before the current one).
        #[arg(long, value_name = "N")]
        to: Option<i32>,
        /// The ECS cluster (with --service, instead of a plan).
        #[arg(long, requires = "service", conflicts_with = "plan")]
        cluster: Option<String>,
        /// The ECS service (with --cluster, instead of a plan).
        #[arg(long, requires = "cluster", conflicts_with = "plan")]
        service: Option<String>,
        /// Show the change and stop.
        #[arg(long)]
        dry_run: bool,
        /// How long to watch (default: the plan's rollout.timeout, else 10m).
        #[arg(long, value_parser = positive_duration, value_name = "DURATION")]
        timeout: Option<std::time::Duration>,
    },
    /// List the family's revisions, newest first, and which one runs now.
    #[command(after_long_help = "Examples:\n  release history plans/sales-prod.toml")]
    History {
        /// The plan file (TOML; default: release.toml in the current directory).
        plan: Option<PathBuf>,
    },
    /// Print the revision a service runs now as a request JSON: the start of a template.
    #[command(
        after_long_help = "Examples:\n  release export --cluster sales-prod --service sales-prod-nginx_catalog > templates/catalog.json\n  release export plans/sales-prod.toml\n  aws ecs describe-task-definition --task-definition app:7 | release export --from -"
    )]
    Export {
        /// With a plan, images of its repository become `{{ image }}` (default: release.toml in the current directory, unless --cluster/--service).
        plan: Option<PathBuf>,
        /// The ECS cluster (with --service, instead of a plan).
        #[arg(long, requires = "service", conflicts_with = "plan")]
        cluster: Option<String>,
        /// The ECS service (with --cluster, instead of a plan).
        #[arg(long, requires = "cluster", conflicts_with = "plan")]
        service: Option<String>,
        /// Convert saved `aws ecs describe-task-definition` output instead (no AWS call; `-` reads stdin).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["cluster", "service"])]
        from: Option<PathBuf>,
    },
    /// Check that what runs is what the plan says, and that it answers as it should.
    #[command(
        after_long_help = "Examples:\n  release verify plans/sales-prod.toml\n  release verify                # release.toml in the current directory"
    )]
    Verify {
        /// The plan file (TOML; default: release.toml in the current directory).
        plan: Option<PathBuf>,
    },
    /// Print a shell completion script to stdout.
    #[command(
        after_long_help = "Examples:\n  release completions bash > ~/.local/share/bash-completion/completions/release\n  release completions zsh > \"${fpath[1]}/_release\"\n  release completions fish > ~/.config/fish/completions/release.fish\n  release completions powershell >> $PROFILE"
    )]
    Completions {
        /// The shell to write the script for.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff) to stdout.
    #[command(after_long_help = "Examples:\n  release man > release.1 && man ./release.1")]
    Man,
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

    use super::{Cli, Command};
    use clap::Parser;

    #[test]
    fn arguments_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_argument_has_help_and_every_subcommand_examples() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let long = sub
                .get_after_long_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                long.starts_with("Examples:"),
                "{} has no Examples in its long help",
                sub.get_name()
            );
            for arg in sub.get_arguments() {
                if arg.get_id() == "help" || arg.get_id() == "version" {
                    continue;
                }
                assert!(
                    arg.get_help().is_some(),
                    "{} {} has no help",
                    sub.get_name(),
                    arg.get_id()
                );
            }
        }
        for arg in cmd.get_arguments() {
            assert!(arg.get_help().is_some(), "{} has no help", arg.get_id());
        }
    }

    #[test]
    fn release_version_is_its_own_flag_and_version_is_the_tools() {
        let cli =
            Cli::try_parse_from(["release", "status", "--release-version", "v1.2.3"]).unwrap();
        assert_eq!(cli.release_version.as_deref(), Some("v1.2.3"));
        assert!(matches!(cli.command, Command::Status { plan: None }));
        for flag in ["--version", "-V"] {
            let e = Cli::try_parse_from(["release", flag]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::DisplayVersion);
            assert!(e.to_string().contains(env!("CARGO_PKG_VERSION")));
        }
    }
}
