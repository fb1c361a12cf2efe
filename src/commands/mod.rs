//! One module per command; each composes the core and the adapters.

pub mod build;
pub mod deploy;
pub mod export;
pub mod history;
pub mod preflight;
pub mod render;
pub mod restart;
pub mod rollback;
pub mod status;
pub mod verify;

use std::path::Path;

use aws_config::SdkConfig;
use serde_json::json;

use crate::aws;
use crate::cli::{Cli, Command, Format};
use crate::exit::Result;
use crate::output::Output;
use crate::plan::{Overrides, Plan};

/// The plan `release verify` reads when none is given.
pub const DEFAULT_PLAN: &str = "release.toml";

/// What every command gets: the output, AWS settings, and plan overrides.
pub struct Ctx {
    pub out: Output,
    pub aws: aws::Settings,
    pub overrides: Overrides,
}

impl Ctx {
    pub fn load_plan(&self, path: &Path) -> Result<Plan> {
        Plan::load(path, &self.overrides)
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
    crate::interrupt::install(args.output == Format::Json);
    let ctx = Ctx {
        out: Output::new(args.output == Format::Json, args.verbose),
        aws: aws::Settings {
            region_flag: args.region.clone(),
            profile: args.profile.clone(),
            plan_region: None,
        },
        overrides: Overrides {
            // An empty RELEASE_VERSION (a CI variable defined but not set) means "not given";
            // an explicit empty --version still fails as not a version.
            version: args.release_version.clone().filter(|v| {
                !v.is_empty() || std::env::var("RELEASE_VERSION").map_or(true, |e| !e.is_empty())
            }),
        },
    };
    let result = match &args.command {
        Command::Deploy {
            plan,
            image,
            build,
            checks,
        } => {
            let args = deploy::Args {
                image: image.as_deref(),
                build: *build,
                checks: *checks,
            };
            deploy::run(&ctx, plan, args).await
        }
        Command::Render { plan, image } => render::run(&ctx, plan, image.as_deref()).await,
        Command::Status { plan } => status::run(&ctx, plan).await,
        Command::History { plan } => history::run(&ctx, plan).await,
        Command::Export {
            plan,
            from: Some(file),
            ..
        } => export::from_file(&ctx, plan.as_deref(), file),
        Command::Export {
            plan,
            cluster,
            service,
            from: None,
        } => {
            export::run(
                &ctx,
                plan.as_deref(),
                cluster.as_deref(),
                service.as_deref(),
            )
            .await
        }
        Command::Verify { plan } => match plan {
            Some(p) => verify::run(&ctx, p).await,
            None => verify::run(&ctx, Path::new(DEFAULT_PLAN)).await,
        },
        Command::Rollback {
            plan,
            to,
            cluster,
            service,
            dry_run,
            timeout,
        } => {
            let args = rollback::Args {
                plan: plan.as_deref(),
                to: *to,
                cluster: cluster.as_deref(),
                service: service.as_deref(),
                dry_run: *dry_run,
                timeout: *timeout,
            };
            rollback::run(&ctx, args).await
        }
        Command::Preflight {
            plan,
            image,
            checks,
        } => preflight::run(&ctx, plan, image.as_deref(), *checks).await,
        Command::Restart { plan } => restart::run(&ctx, plan).await,
        Command::Build { plan, build } => build::run(&ctx, plan, *build).await,
    };
    match result {
        Ok(code) => code.code(),
        Err(failure) => {
            ctx.out.clear_bar();
            ctx.out.record(
                "error",
                &format!("error: {}", failure.message),
                json!({ "exit_code": failure.code.code() }),
            );
            failure.code.code()
        }
    }
}
