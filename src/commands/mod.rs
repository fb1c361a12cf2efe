//! One module per command; each composes the core and the adapters.

pub mod build;
pub mod deploy;
pub mod diff;
pub mod export;
pub mod history;
pub mod init;
pub mod preflight;
pub mod render;
pub mod restart;
pub mod rollback;
pub mod status;
pub mod verify;

use std::path::{Path, PathBuf};

use aws_config::SdkConfig;

use crate::aws;
use crate::cli::{Cli, Command, Format};
use crate::exit::Result;
use crate::output::Output;
use crate::plan::{Overrides, Plan};

/// The plan every command reads when none is given (and it exists, where the plan is optional).
pub const DEFAULT_PLAN: &str = "release.toml";

/// The plan given, else `release.toml` in the current directory; a usage error when neither.
fn plan_or_default(plan: &Option<PathBuf>) -> Result<PathBuf> {
    match plan {
        Some(p) => Ok(p.clone()),
        None if Path::new(DEFAULT_PLAN).is_file() => Ok(PathBuf::from(DEFAULT_PLAN)),
        None => Err(crate::exit::Failure::usage(format!(
            "no PLAN given and no {DEFAULT_PLAN} in the current directory: pass the plan file, e.g. release deploy plans/app.toml"
        ))),
    }
}

/// For commands whose plan is optional: the plan given, else `release.toml` when it exists
/// and `use_default` (nothing else, such as --cluster and --service, names the service).
fn optional_plan(plan: &Option<PathBuf>, use_default: bool) -> Option<PathBuf> {
    plan.clone().or_else(|| {
        (use_default && Path::new(DEFAULT_PLAN).is_file()).then(|| PathBuf::from(DEFAULT_PLAN))
    })
}

/// What every command gets: the output, AWS settings, and plan overrides.
pub struct Ctx {
    pub out: Output,
    pub aws: aws::Settings,
    pub overrides: Overrides,
}

impl Ctx {
    pub fn load_plan(&self, path: &Path) -> Result<Plan> {
        let plan = Plan::load(path, &self.overrides)?;
        self.out.set_target(
            &plan.service.cluster,
            &plan.service.name,
            plan.service.region.as_deref(),
        );
        Ok(plan)
    }

    /// AWS configuration for a plan: `--region` > plan region > environment; the
    /// credentials are resolved now, so that an unknown profile or none at all is one clear
    /// error before the first AWS call.
    pub async fn aws_config(&self, plan: Option<&Plan>) -> Result<SdkConfig> {
        let mut settings = self.aws.clone();
        settings.plan_region = plan.and_then(|p| p.service.region.clone());
        if let Some(w) = aws::ignored_profile_warning(&settings) {
            self.out.warn(&w);
        }
        let config = aws::load(&settings).await;
        if config.region().is_none() {
            return Err(crate::exit::Failure::usage(
                "no AWS region: pass --region, set service.region in the plan, or set AWS_REGION (or a region in the profile)",
            ));
        }
        aws::identity::check_credentials(&config, settings.profile.as_deref()).await?;
        if let Some(p) = plan {
            self.out.set_target(
                &p.service.cluster,
                &p.service.name,
                config.region().map(|r| r.as_ref()),
            );
        }
        Ok(config)
    }

    /// Shows who a changing command acts as (STS GetCallerIdentity), and refuses an account
    /// other than the plan's `service.account` (exit 3, nothing changed).
    pub async fn show_identity(&self, config: &SdkConfig, plan: Option<&Plan>) -> Result<()> {
        let who = aws::identity::caller(config)
            .await
            .map_err(crate::exit::Failure::aws)?;
        self.out.info(&aws::identity::line(
            &who,
            config,
            self.aws.profile.as_deref(),
        ));
        if let Some(want) = plan.and_then(|p| p.service.account.as_deref()) {
            if who.account != want {
                return Err(crate::exit::Failure::new(
                    crate::exit::ExitCode::Preflight,
                    format!(
                        "the credentials belong to account {}, but the plan's service.account is {want}: nothing was changed; use the profile or role of account {want}",
                        who.account
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Runs the command and returns the process exit code.
pub async fn run(args: Cli) -> i32 {
    crate::interrupt::install(crate::interrupt::OutputFlags {
        json: args.output == Format::Json,
        quiet: args.quiet,
        color: args.color,
        log_format: args.log_format,
    });
    match args.command {
        Command::Completions { shell } => return print_completions(shell),
        Command::Man => return print_man(),
        _ => {}
    }
    let ctx = context(&args);
    let started = std::time::Instant::now();
    ctx.out.set_command(command_name(&args.command));
    let result = dispatch(&ctx, &args.command).await;
    // A dry run is no deploy: it writes no GitHub step outputs.
    let deploy = matches!(args.command, Command::Deploy { dry_run: false, .. });
    finish(&ctx, result, deploy, started)
}

/// The output, AWS settings and plan overrides the global flags ask for.
fn context(args: &Cli) -> Ctx {
    Ctx {
        out: Output::new(args.output == Format::Json, args.verbose)
            .configure(args.quiet, args.color)
            .log_format(args.log_format),
        aws: aws::Settings {
            region_flag: args.region.clone(),
            profile: args.profile.clone(),
            plan_region: None,
        },
        overrides: Overrides {
            // An empty RELEASE_VERSION (a CI variable defined but not set) means "not given";
            // an explicit empty --release-version still fails as not a version.
            version: args.release_version.clone().filter(|v| {
                !v.is_empty() || std::env::var("RELEASE_VERSION").map_or(true, |e| !e.is_empty())
            }),
        },
    }
}

/// Hands the command to its module.
async fn dispatch(ctx: &Ctx, command: &Command) -> Result<crate::exit::ExitCode> {
    match command {
        Command::Deploy {
            plan,
            image,
            build,
            checks,
            dry_run,
        } => {
            let args = deploy::Args {
                image: image.as_deref(),
                build: *build,
                checks: *checks,
                dry_run: *dry_run,
            };
            deploy::run(ctx, &plan_or_default(plan)?, args).await
        }
        Command::Render { plan, image } => {
            render::run(ctx, &plan_or_default(plan)?, image.as_deref()).await
        }
        Command::Diff { plan, image } => {
            diff::run(ctx, &plan_or_default(plan)?, image.as_deref()).await
        }
        Command::Init {
            cluster,
            service,
            dir,
        } => init::run(ctx, cluster, service, dir).await,
        Command::Status { plan } => status::run(ctx, &plan_or_default(plan)?).await,
        Command::History { plan } => history::run(ctx, &plan_or_default(plan)?).await,
        Command::Export {
            plan,
            from: Some(file),
            ..
        } => export::from_file(ctx, optional_plan(plan, true).as_deref(), file),
        Command::Export {
            plan,
            cluster,
            service,
            from: None,
        } => {
            let plan = optional_plan(plan, cluster.is_none());
            export::run(ctx, plan.as_deref(), cluster.as_deref(), service.as_deref()).await
        }
        Command::Verify { plan } => verify::run(ctx, &plan_or_default(plan)?).await,
        Command::Rollback {
            plan,
            to,
            cluster,
            service,
            dry_run,
            timeout,
        } => {
            let plan = optional_plan(plan, cluster.is_none());
            let args = rollback::Args {
                plan: plan.as_deref(),
                to: *to,
                cluster: cluster.as_deref(),
                service: service.as_deref(),
                dry_run: *dry_run,
                timeout: *timeout,
            };
            rollback::run(ctx, args).await
        }
        Command::Preflight {
            plan,
            image,
            checks,
        } => preflight::run(ctx, &plan_or_default(plan)?, image.as_deref(), *checks).await,
        Command::Restart { plan } => restart::run(ctx, &plan_or_default(plan)?).await,
        Command::Build { plan, build } => build::run(ctx, &plan_or_default(plan)?, *build).await,
        Command::Completions { .. } | Command::Man => unreachable!("handled before dispatch"),
    }
}

/// The exit code of a result: an error is shown once; GitHub's step outputs are written
/// (a failure to write them is a warning), and the summary is the stream's last record.
fn finish(
    ctx: &Ctx,
    result: Result<crate::exit::ExitCode>,
    deploy: bool,
    started: std::time::Instant,
) -> i32 {
    let mut error = None;
    let code = match result {
        Ok(code) => code.code(),
        Err(failure) => {
            error = Some(format!("error: {}", failure.message));
            ctx.out.clear_bar();
            ctx.out.emit(
                &format!("error: {}", failure.message),
                crate::output::Event::Error {
                    exit_code: failure.code.code(),
                    source: failure.snippet,
                },
            );
            failure.code.code()
        }
    };
    ctx.out.finish(deploy, code);
    ctx.out
        .close(code, started.elapsed().as_secs_f64(), error.as_deref());
    code
}

/// The command's name, as its summary record gives it.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Deploy { .. } => "deploy",
        Command::Render { .. } => "render",
        Command::Diff { .. } => "diff",
        Command::Init { .. } => "init",
        Command::Status { .. } => "status",
        Command::History { .. } => "history",
        Command::Export { .. } => "export",
        Command::Verify { .. } => "verify",
        Command::Rollback { .. } => "rollback",
        Command::Preflight { .. } => "preflight",
        Command::Restart { .. } => "restart",
        Command::Build { .. } => "build",
        Command::Completions { .. } => "completions",
        Command::Man => "man",
    }
}

/// `release completions SHELL`: the script on stdout.
fn print_completions(shell: crate::cli::Shell) -> i32 {
    use clap::CommandFactory;
    use clap_complete::Shell as S;
    let shell = match shell {
        crate::cli::Shell::Bash => S::Bash,
        crate::cli::Shell::Zsh => S::Zsh,
        crate::cli::Shell::Fish => S::Fish,
        crate::cli::Shell::Powershell => S::PowerShell,
    };
    let mut cmd = Cli::command();
    // Generated into a buffer, then written: a closed pipe is a write error (exit 2), not a
    // panic inside the generator.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "release", &mut script);
    write_stdout(&script)
}

/// Writes a command's whole result to stdout: 0, or 2 when stdout cannot take it (exit 1
/// means "rolled back").
fn write_stdout(bytes: &[u8]) -> i32 {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Ok(()) => 0,
        Err(_) => crate::exit::ExitCode::Usage.code(),
    }
}

/// `release man`: the man page (roff) on stdout.
fn print_man() -> i32 {
    use clap::CommandFactory;
    let mut page = Vec::new();
    if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut page) {
        eprintln!("error: cannot render the man page: {e}");
        return crate::exit::ExitCode::Usage.code();
    }
    write_stdout(&page)
}
