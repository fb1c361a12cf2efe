//! `release preflight PLAN [--image REF] [--force] [--allow-downgrade]`: run every check
//! deploy runs before its first change, change nothing, and exit 3 when any check failed.

use std::path::Path;

use super::Ctx;
use crate::cli::CheckFlags;
use crate::exit::{ExitCode, Result};
use crate::image::resolve;
use crate::plan::Plan;
use crate::preflight::{self, ImageToCheck, PreflightOptions};

pub async fn run(
    ctx: &Ctx,
    plan_path: &Path,
    image: Option<&str>,
    checks: CheckFlags,
) -> Result<ExitCode> {
    let out = &ctx.out;
    let plan = ctx.load_plan(plan_path)?;
    // The verify checks deploy runs last must render now (their env() values are set).
    plan.http_checks()?;
    let to_check = match image {
        None if plan.build.is_some() => ImageToCheck::WillBuild,
        _ => ImageToCheck::Existing(resolve::reference(&plan, image)?),
    };
    let config = ctx.aws_config(Some(&plan)).await?;
    ctx.show_identity(&config, Some(&plan)).await?;
    let opts = PreflightOptions {
        force: checks.force,
        allow_downgrade: checks.allow_downgrade,
    };
    out.step(&step(&plan));
    let (report, _) = preflight::run(out, &plan, &config, to_check, &opts).await?;
    let failed = report.failed();
    let code = if failed {
        ExitCode::Preflight
    } else {
        ExitCode::Success
    };
    out.summary(
        &format!(
            "preflight {}: {} (in {:.1}s){}",
            if failed { "failed" } else { "passed" },
            report.summary(),
            report.seconds,
            if failed { "; nothing was changed" } else { "" }
        ),
        code.code(),
        report.summary_fields(),
    );
    Ok(code)
}

/// The step line of a preflight: which plan and version, for which service.
pub fn step(plan: &Plan) -> String {
    format!(
        "preflight of {} {} for {}/{}",
        plan.path().display(),
        plan.version,
        plan.service.cluster,
        plan.service.name
    )
}
