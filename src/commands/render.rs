//! `release render PLAN [--image REF]`: print exactly the RegisterTaskDefinition request
//! deploy would send, as JSON (save it, edit it, use it as a template).

use std::path::Path;

use super::Ctx;
use crate::exit::{ExitCode, Result};
use crate::image::resolve;
use crate::output::Event;
use crate::{taskdef, template};

pub async fn run(ctx: &Ctx, plan_path: &Path, image: Option<&str>) -> Result<ExitCode> {
    let plan = ctx.load_plan(plan_path)?;
    let reference = resolve::reference(&plan, image)?;
    // Check the template before asking the registry anything.
    template::render(&plan, &template::PinnedImage::placeholder(&reference))?;
    let config = ctx.aws_config(Some(&plan)).await?;
    let pinned = resolve::resolve(&plan, &config, &reference).await?;
    let rendered = template::render(&plan, &pinned)?;
    let json = taskdef::to_json(&rendered.request);
    ctx.out.result(
        &serde_json::to_string_pretty(&json).unwrap_or_default(),
        &format!(
            "rendered {} for {}",
            plan.task_definition.family, pinned.image
        ),
        Event::Document { document: json },
    );
    Ok(ExitCode::Success)
}
