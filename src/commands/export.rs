//! `release export`: the revision a service runs now, as a RegisterTaskDefinition request
//! (read-only fields dropped, tags kept): the starting point of a template. With a plan, the
//! images of the plan's repository become `{{ image }}` and the family `{{ family }}`.

use std::path::Path;

use serde_json::Value;

use super::Ctx;
use crate::aws::ecs::Ecs;
use crate::exit::{ExitCode, Failure, Result};
use crate::output::Event;
use crate::taskdef;
use crate::taskdef::release_tags;

pub async fn run(
    ctx: &Ctx,
    plan_path: Option<&Path>,
    cluster: Option<&str>,
    service: Option<&str>,
) -> Result<ExitCode> {
    let plan = plan_path.map(|p| ctx.load_plan(p)).transpose()?;
    let (cluster, name) = match (&plan, cluster, service) {
        (Some(p), _, _) => (p.service.cluster.clone(), p.service.name.clone()),
        (None, Some(c), Some(s)) => (c.to_string(), s.to_string()),
        _ => {
            return Err(Failure::usage(
                "export needs a PLAN, or --cluster and --service",
            ))
        }
    };
    let config = ctx.aws_config(plan.as_ref()).await?;
    let ecs = Ecs::new(&config);
    let (_, td, tags) = ecs
        .running_revision(&cluster, &name, "nothing to export")
        .await?;
    let tags: Vec<_> = tags
        .into_iter()
        .filter(|t| !release_tags::is_release_tag(t.key().unwrap_or("")))
        .collect();
    let mut doc = taskdef::to_json(&taskdef::from_described(&td, &tags));
    if let Some(p) = &plan {
        taskdef::template_placeholders(&mut doc, &p.image.repository);
    }
    Ok(show(ctx, doc))
}

/// Converts saved `aws ecs describe-task-definition` output, offline.
pub fn from_file(ctx: &Ctx, plan_path: Option<&Path>, file: &Path) -> Result<ExitCode> {
    let plan = plan_path.map(|p| ctx.load_plan(p)).transpose()?;
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?;
    let described: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("{}: not JSON: {e}", file.display())))?;
    let request = taskdef::described_json_to_request_json(&described);
    // Check it converts, naming the path of anything the API would refuse.
    let input = taskdef::to_request(&request)
        .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?;
    let mut doc = taskdef::to_json(&input);
    if let Some(p) = &plan {
        taskdef::template_placeholders(&mut doc, &p.image.repository);
    }
    Ok(show(ctx, doc))
}

/// The template, pretty-printed on stdout (one `document` record under `--output json`).
fn show(ctx: &Ctx, doc: Value) -> ExitCode {
    ctx.out.result(
        &serde_json::to_string_pretty(&doc).unwrap_or_default(),
        "exported the task definition as a template",
        Event::Document { document: doc },
    );
    ExitCode::Success
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_images_become_placeholders() {
        let mut doc = serde_json::json!({
            "family": "x",
            "containerDefinitions": [
                {"name": "a", "image": "h.io/app@sha256:00"},
                {"name": "b", "image": "h.io/app:1.0"},
                {"name": "c", "image": "h.io/sidecar:2"}
            ]
        });
        taskdef::template_placeholders(&mut doc, "h.io/app");
        assert_eq!(doc["family"], "{{ family }}");
        assert_eq!(doc["containerDefinitions"][0]["image"], "{{ image }}");
        assert_eq!(doc["containerDefinitions"][1]["image"], "{{ image }}");
        assert_eq!(doc["containerDefinitions"][2]["image"], "h.io/sidecar:2");
    }
}
