//! `release verify [PLAN]`: the service is steady, runs the plan's release with the digests it
//! pins, and answers the plan's HTTP checks. Exit code 6 when a check fails.

use std::path::Path;

use super::Ctx;
use crate::aws::ecs::Ecs;
use crate::exit::{ExitCode, Result};

pub async fn run(ctx: &Ctx, plan_path: &Path) -> Result<ExitCode> {
    let plan = ctx.load_plan(plan_path)?;
    let config = ctx.aws_config(Some(&plan)).await?;
    let ecs = Ecs::new(&config);
    let report = crate::verify::run(&ctx.out, &plan, &ecs).await?;
    Ok(crate::rollout::settle::verified(
        report.count(crate::check::Status::Failed),
    ))
}
