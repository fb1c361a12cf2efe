//! `release diff PLAN [--image REF]` (and `release deploy PLAN --dry-run`): the task
//! definition the plan renders against the revision the service runs, normalised
//! (`crate::diff`), as a unified diff and a structured record, and what deploy would do
//! (build or reuse the image, register or not, deploy or not). Changes nothing.
//! Exit 0 when deploy would do nothing, 16 when it would register and deploy.

use std::io::IsTerminal;
use std::path::Path;

use aws_config::SdkConfig;
use serde_json::{json, Value};

use super::Ctx;
use crate::aws::ecs::Ecs;
use crate::exit::{ExitCode, Result};
use crate::image::reference::ImageRef;
use crate::image::resolve;
use crate::output::Event;
use crate::plan::Plan;
use crate::rollout::observation::short_task_definition;
use crate::taskdef::release_tags;
use crate::template::{PinnedImage, PLACEHOLDER_DIGEST};
use crate::{diff, taskdef, template};

/// Where the image of the release would come from.
pub enum ImageSource {
    /// `--image`, resolved to its digest.
    Given(PinnedImage),
    /// The plan's release tag, already in the registry (reused, nothing built).
    Registry(PinnedImage),
    /// Not in the registry (or `--rebuild`): deploy would build and push it.
    WillBuild(ImageRef),
}

pub async fn run(ctx: &Ctx, plan_path: &Path, image: Option<&str>) -> Result<ExitCode> {
    let plan = ctx.load_plan(plan_path)?;
    let reference = resolve::reference(&plan, image)?;
    // Check the template before asking anything.
    template::render(&plan, &template::PinnedImage::placeholder(&reference))?;
    let config = ctx.aws_config(Some(&plan)).await?;
    let source = image_source(&plan, &config, &reference, image.is_some(), false).await?;
    show(ctx, &plan, &config, source).await
}

/// Resolves the image deploy would run, without building anything.
pub async fn image_source(
    plan: &Plan,
    config: &SdkConfig,
    reference: &ImageRef,
    given: bool,
    rebuild: bool,
) -> Result<ImageSource> {
    if given {
        return Ok(ImageSource::Given(
            resolve::resolve(plan, config, reference).await?,
        ));
    }
    if plan.build.is_none() {
        return Ok(ImageSource::Registry(
            resolve::resolve(plan, config, reference).await?,
        ));
    }
    if rebuild {
        return Ok(ImageSource::WillBuild(reference.clone()));
    }
    match resolve::resolve(plan, config, reference).await {
        Ok(p) => Ok(ImageSource::Registry(p)),
        Err(f) if f.code == ExitCode::Preflight => Ok(ImageSource::WillBuild(reference.clone())),
        Err(e) => Err(e),
    }
}

/// Compares, prints, and returns 0 (nothing would change) or 16 (deploy would register and
/// deploy a revision).
pub async fn show(
    ctx: &Ctx,
    plan: &Plan,
    config: &SdkConfig,
    source: ImageSource,
) -> Result<ExitCode> {
    let (cluster, name) = (plan.service.cluster.as_str(), plan.service.name.as_str());
    let (service, td, tags) = Ecs::new(config)
        .running_revision(cluster, name, "nothing to compare")
        .await?;
    let pinned = pinned_image(&source);
    let rendered = template::render(plan, &pinned)?;
    let running = taskdef::to_json(&taskdef::from_described(&td, &tags));
    let wanted = taskdef::to_json(&rendered.request);
    let (before, after) = (compared(&running), compared(&wanted));
    // The same test deploy makes before it registers anything (src/commands/deploy.rs).
    let standing = if matches!(source, ImageSource::WillBuild(_)) {
        diff::Standing::Different
    } else {
        diff::standing(
            &release_tags::read(&tags),
            Some(&running),
            &wanted,
            &rendered.content_hash,
            &pinned.digest,
            plan.version.as_str(),
        )
    };
    let current = short_task_definition(&service.task_definition).to_string();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let found = Comparison {
        changes: diff::changes(&before.doc, &after.doc),
        tag_changes: diff::tag_changes(&before.release_tags, &after.release_tags),
        unified: diff::unified(
            &pretty(&before.doc),
            &pretty(&after.doc),
            &format!("running {current} ({cluster}/{name})"),
            &format!("{} (version {})", plan.path().display(), plan.version),
            // Colour only when the diff itself goes to a terminal, not into a file or a pipe.
            ctx.out.color() && std::io::stdout().is_terminal(),
        ),
        current,
        standing,
    };
    if !found.unified.is_empty() {
        ctx.out.document(found.unified.trim_end());
    }
    let lines = found.lines(plan, &image_action(plan, &source), &pinned.digest);
    let identical = found.standing == diff::Standing::SameRelease;
    let adopt = found.standing == diff::Standing::SameDefinitionUntagged;
    ctx.out.emit(
        &lines.join("\n"),
        Event::Diff {
            task_definition_arn: service.task_definition.clone(),
            changes: found
                .changes
                .iter()
                .map(|c| json!({ "path": c.path, "before": c.before, "after": c.after }))
                .collect(),
            release_tags: found
                .tag_changes
                .iter()
                .map(|(k, b, a)| json!({ "key": k, "before": b, "after": a }))
                .collect(),
            image: json!({ "action": image_kind(plan, &source), "image": pinned.image, "digest": pinned.digest }),
            register: !identical && !adopt,
            deploy: !identical && !adopt,
            tag: adopt,
            unified: found.unified,
        },
    );
    Ok(if identical {
        ExitCode::Success
    } else {
        ExitCode::Changes
    })
}

/// A task definition normalised for the comparison. Deploy adds `release:previous` when it
/// registers; it says nothing about the content.
fn compared(doc: &Value) -> diff::Normalised {
    let mut normalised = diff::normalise(doc);
    normalised.release_tags.remove(release_tags::PREVIOUS);
    normalised
}

/// The running revision against the plan's, normalised.
struct Comparison {
    /// The running revision, `family:revision`.
    current: String,
    changes: Vec<diff::Change>,
    tag_changes: Vec<(String, Option<String>, Option<String>)>,
    standing: diff::Standing,
    unified: String,
}

impl Comparison {
    /// The human lines: what changes, the release tags, the image, and what deploy would do.
    fn lines(&self, plan: &Plan, image_action: &str, digest: &str) -> Vec<String> {
        let current = &self.current;
        let mut lines = Vec::new();
        lines.push(if self.changes.is_empty() {
            format!("task definition: no change against {current} (normalised: ECS defaults, key order and release:* tags set apart)")
        } else {
            format!(
                "task definition: {} change{} against {current}: {}",
                self.changes.len(),
                if self.changes.len() == 1 { "" } else { "s" },
                self.changes
                    .iter()
                    .map(|c| c.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        if !self.tag_changes.is_empty() {
            lines.push(format!(
                "release tags: {}",
                self.tag_changes
                    .iter()
                    .map(|(k, b, a)| format!(
                        "{k} {} -> {}",
                        b.as_deref().unwrap_or("(none)"),
                        a.as_deref().unwrap_or("(none)")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        lines.push(format!("image: {image_action}"));
        lines.push(match self.standing {
            diff::Standing::SameRelease => format!(
                "deploy would do nothing: {current} already runs this release (version {}, {digest}): nothing registered, nothing deployed",
                plan.version
            ),
            diff::Standing::SameDefinitionUntagged => format!(
                "deploy would tag {current} with this release's tags (it is this task definition, registered outside release): nothing registered, nothing deployed"
            ),
            diff::Standing::Different => {
                let why = if self.changes.is_empty() {
                    "the running revision's release:* tags name another release"
                } else {
                    "the task definition changes"
                };
                let (cluster, name) = (&plan.service.cluster, &plan.service.name);
                format!(
                    "deploy would register a revision of {} and deploy it to {cluster}/{name} ({why})",
                    plan.task_definition.family
                )
            }
        });
        lines
    }
}

/// The image the diff renders with: for an image still to be built, a placeholder digest.
fn pinned_image(source: &ImageSource) -> PinnedImage {
    match source {
        ImageSource::Given(p) | ImageSource::Registry(p) => p.clone(),
        ImageSource::WillBuild(r) => PinnedImage {
            image: r.pinned(PLACEHOLDER_DIGEST),
            digest: PLACEHOLDER_DIGEST.to_string(),
        },
    }
}

/// What deploy would do with the image, in words.
fn image_action(plan: &Plan, source: &ImageSource) -> String {
    match source {
        ImageSource::Given(p) => format!("deploy {} (--image)", p.image),
        ImageSource::Registry(p) if plan.build.is_some() => format!(
            "reuse {} (the version's tag is in the registry: nothing built)",
            p.image
        ),
        ImageSource::Registry(p) => format!("deploy {}", p.image),
        ImageSource::WillBuild(r) => format!(
            "build and push {r} (the diff shows a placeholder digest for the image to be built)"
        ),
    }
}

/// What deploy would do with the image, as the record's `image.action`.
fn image_kind(plan: &Plan, source: &ImageSource) -> &'static str {
    match source {
        ImageSource::Given(_) => "given",
        ImageSource::Registry(_) if plan.build.is_some() => "reuse",
        ImageSource::Registry(_) => "registry",
        ImageSource::WillBuild(_) => "build",
    }
}
