//! `release build PLAN [--rebuild] [--retag]`: build, tag and push the plan's image (steps
//! 1-4 of deploy) and print it pinned by digest, for pipelines that build in one job and
//! deploy in another with `release deploy PLAN --image <repository>@<digest>`.

use std::path::Path;

use super::Ctx;
use crate::cli::BuildFlags;
use crate::exit::{ExitCode, Failure, Result};
use crate::image::build::{build_and_push, BuildOptions};
use crate::output::Event;

pub async fn run(ctx: &Ctx, plan_path: &Path, flags: BuildFlags) -> Result<ExitCode> {
    let plan = ctx.load_plan(plan_path)?;
    if plan.build.is_none() {
        return Err(Failure::usage(format!(
            "{}: the plan has no [build] table: add one (see README.md, \"Building\") or deploy an existing image with `release deploy {} --image REF`",
            plan_path.display(),
            plan_path.display()
        )));
    }
    let config = ctx.aws_config(Some(&plan)).await?;
    ctx.show_identity(&config, Some(&plan)).await?;
    let opts = BuildOptions {
        rebuild: flags.rebuild,
        retag: flags.retag,
    };
    let pinned = build_and_push(&ctx.out, &plan, &config, &opts).await?;
    // stdout carries only the result: `repository@sha256:…` (NDJSON in JSON mode).
    ctx.out.result(
        &pinned.image,
        &pinned.image,
        Event::Result {
            image: pinned.image.clone(),
            digest: pinned.digest.clone(),
            version: plan.version.to_string(),
        },
    );
    Ok(ExitCode::Success)
}
