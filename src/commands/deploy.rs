//! `release deploy PLAN [--image REF]`: register a revision pinned by digest, force a new
//! deployment, and watch our deployment (not whatever is PRIMARY) to N/N.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::Ctx;
use crate::aws::ecs::{release_tags, Ecs};
use crate::cli::{BuildFlags, CheckFlags};
use crate::deployment::{
    bullet, interrupted, revision_of, show_failed_task_logs, timed_out, Deployer, Followed,
};
use crate::diff::Standing;
use crate::exit::{ExitCode, Failure, Result};
use crate::output::{short_duration, Event};
use crate::plan::{OnFailure, Plan};
use crate::preflight::{self, ImageToCheck, PreflightOptions};
use crate::rollout::decision::Verdict;
use crate::rollout::observation::{short_task_definition, Service};
use crate::rollout::settle::{settle, End, Followup};
use crate::watch::WatchEnd;
use crate::{build, release_image, taskdef, template};

/// What `deploy` was asked for beyond the plan.
pub struct Args<'a> {
    /// `--image`: deploy this existing image instead of building.
    pub image: Option<&'a str>,
    pub build: BuildFlags,
    pub checks: CheckFlags,
    /// `--dry-run`: preflight and the diff, then stop (nothing built, registered, deployed).
    pub dry_run: bool,
}

pub async fn run(ctx: &Ctx, plan_path: &Path, args: Args<'_>) -> Result<ExitCode> {
    let started = Instant::now();
    let out = &ctx.out;
    if args.image.is_some() && (args.build.rebuild || args.build.retag) {
        return Err(Failure::usage(
            "--rebuild and --retag build and push an image; with --image nothing is built: drop one of them",
        ));
    }
    let plan = ctx.load_plan(plan_path)?;
    let builds = args.image.is_none() && plan.build.is_some();
    let reference = release_image::reference(&plan, args.image)?;
    // Everything that can be checked offline is checked before the first AWS call: the
    // template, and the verify checks (their env() values) that run after the deploy.
    template::render(&plan, &template::PinnedImage::placeholder(&reference))?;
    plan.http_checks()?;

    let config = ctx.aws_config(Some(&plan)).await?;
    ctx.show_identity(&config, Some(&plan)).await?;
    let ecs = Ecs::new(&config);
    let (cluster, name) = (plan.service.cluster.as_str(), plan.service.name.as_str());

    // Every check that can fail runs before the first change (push, registration, update).
    out.step(&format!(
        "preflight of {} {} for {cluster}/{name}",
        plan.path().display(),
        plan.version
    ));
    let to_check = if builds {
        ImageToCheck::WillBuild
    } else {
        ImageToCheck::Existing(reference.clone())
    };
    let opts = PreflightOptions {
        force: args.checks.force,
        allow_downgrade: args.checks.allow_downgrade,
    };
    let (report, resolved, snapshot) =
        preflight::checks::run_with_snapshot(out, &plan, &config, to_check, &opts).await?;
    if report.failed() {
        out.summary(
            &format!(
                "preflight failed: {}; nothing was built, registered or deployed",
                report.summary()
            ),
            ExitCode::Preflight.code(),
            report.summary_fields(),
        );
        return Ok(ExitCode::Preflight);
    }
    if args.dry_run {
        let source = match resolved {
            Some(p) if args.image.is_some() => super::diff::ImageSource::Given(p),
            Some(p) => super::diff::ImageSource::Registry(p),
            None => {
                super::diff::image_source(
                    &plan,
                    &config,
                    &reference,
                    args.image.is_some(),
                    args.build.rebuild,
                )
                .await?
            }
        };
        return super::diff::show(ctx, &plan, &config, source).await;
    }
    let pinned = if builds {
        let opts = build::BuildOptions {
            rebuild: args.build.rebuild,
            retag: args.build.retag,
        };
        build::build_and_push(out, &plan, &config, &opts).await?
    } else {
        match resolved {
            Some(p) => p,
            None => release_image::resolve(&plan, &config, &reference).await?,
        }
    };
    out.info(&format!("image {}", pinned.image));
    if builds {
        // The build may have taken minutes: the secrets must still pass before any change.
        let broken = preflight::checks::recheck_secrets(&plan, &config).await;
        if !broken.is_empty() {
            for c in &broken {
                out.emit(&c.line(), c.event());
            }
            return Err(Failure::new(
                ExitCode::Preflight,
                format!(
                    "{} secret rule{} failed after the build (the parameter changed while it ran): the image is pushed, nothing was registered or deployed",
                    broken.len(),
                    if broken.len() == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    // What runs just before we change it: preflight's reading when nothing was built in
    // between (it is seconds old); read again after a build, which may have taken minutes.
    let (before, running_tags, running_doc) = match snapshot.filter(|_| !builds) {
        Some(s) => (s.service, s.running_tags, s.running_doc),
        None => {
            let before = ecs
                .existing_service(cluster, name, "nothing was registered or deployed")
                .await?;
            let (tags, doc) = match ecs.task_definition(&before.task_definition).await? {
                Some((td, tags)) => (
                    release_tags(&tags),
                    Some(taskdef::to_json(&taskdef::from_described(&td, &tags))),
                ),
                None => Default::default(),
            };
            (before, tags, doc)
        }
    };
    let rendered = template::render(&plan, &pinned)?;
    let content_hash = rendered.content_hash.clone();

    // Register nothing when the running revision already has this content and digest, or
    // is the same task definition registered outside release (then it gets our tags).
    let standing = crate::diff::standing(
        &running_tags,
        running_doc.as_ref(),
        &taskdef::to_json(&rendered.request),
        &rendered.content_hash,
        &pinned.digest,
        plan.version.as_str(),
    );
    let adopted = standing == Standing::SameDefinitionUntagged
        && adopt(out, &ecs, &before.task_definition, &rendered.request).await;
    let identical = standing == Standing::SameRelease || adopted;
    if identical {
        let steady = before.deployments.len() == 1
            && before.running_count == before.desired_count
            && before.deployments[0].rollout_state.as_deref() != Some("FAILED");
        out.emit(
            &format!(
                "{} already runs this release (version {}, {}): nothing registered{}{}",
                short_task_definition(&before.task_definition),
                plan.version,
                pinned.digest,
                if steady {
                    ", nothing deployed"
                } else {
                    "; the service is not steady: see `release status`"
                },
                if adopted {
                    "; it was registered outside release and now carries this release's tags"
                } else {
                    ""
                }
            ),
            Event::Unchanged {
                task_definition_arn: before.task_definition.clone(),
                task_definition: short_task_definition(&before.task_definition).to_string(),
                digest: Some(pinned.digest.clone()),
                image: Some(pinned.image.clone()),
                version: Some(plan.version.to_string()),
                adopted: Some(adopted),
            },
        );
        let report = crate::verify::run(out, &plan, &ecs).await?;
        let (end, result) = if report.failed() > 0 {
            (End::VerifyFailed, "verify_failed")
        } else {
            (End::Succeeded, "unchanged")
        };
        let code = settle(end, Followup::Nothing);
        // Every deploy ends with its summary, a no-op included.
        out.summary(
            &format!(
                "nothing to do: {} already runs {} ({}); {} in {}",
                short_task_definition(&before.task_definition),
                plan.version,
                pinned.digest,
                if report.failed() > 0 { "verify failed" } else { "verified" },
                short_duration(started.elapsed())
            ),
            code.code(),
            json!({
                "result": result, "version": plan.version.as_str(),
                "digest": pinned.digest, "image": pinned.image, "task_definition": before.task_definition,
                "seconds": started.elapsed().as_secs_f64(), "ecs_calls": ecs.calls(),
                "ecs_calls_by_action": ecs.calls_by_action(),
            }),
        );
        return Ok(code);
    }

    out.step(&format!(
        "registering a revision of {}",
        plan.task_definition.family
    ));
    let mut request = rendered.request;
    // Lets `release rollback` without --to find what ran before this release.
    request.tags.get_or_insert_with(Vec::new).push(
        aws_sdk_ecs::types::Tag::builder()
            .key("release:previous")
            .value(before.task_definition.clone())
            .build(),
    );
    let registered = match ecs.register(request).await {
        Ok(td) => td,
        Err(e) if e.outcome_unknown => {
            // ECS may have registered it: look for it instead of registering a second one.
            out.warn(&format!(
                "{}: ECS may have registered it; reading the family back",
                e.message
            ));
            let found = find_registered(&ecs, &plan, &content_hash, &pinned.digest)
                .await?
                .ok_or_else(|| {
                    Failure::aws(format!(
                        "{}\nno revision of {} with this release's content appeared after {} reads: nothing was registered or deployed; run the deploy again",
                        e.message,
                        plan.task_definition.family,
                        crate::rollout::decision::VISIBILITY_GRACE_READS
                    ))
                })?;
            // It may be an older revision with the same content: make its release:previous
            // name what runs now, as this registration would have.
            if let Some(arn) = found.task_definition_arn() {
                if let Err(e) = ecs
                    .tag(arn, "release:previous", &before.task_definition)
                    .await
                {
                    out.warn(&format!("cannot record what ran before: {}", e.message));
                }
            }
            found
        }
        Err(e) => return Err(e.into()),
    };
    let new_arn = registered
        .task_definition_arn()
        .unwrap_or_default()
        .to_string();
    crate::interrupt::changed(
        format!(
            "revision {} is registered (unused); the service still runs {}",
            short_task_definition(registered.task_definition_arn().unwrap_or_default()),
            short_task_definition(&before.task_definition)
        ),
        None,
    );
    out.emit(
        &format!(
            "registered {} ({})",
            short_task_definition(&new_arn),
            pinned.image
        ),
        Event::Registered {
            task_definition_arn: new_arn.clone(),
            task_definition: short_task_definition(&new_arn).to_string(),
            revision: registered.revision(),
        },
    );

    // From here on the service may change: any error says what state it left and how to undo it.
    let after_registration = async {
        let deployer = Deployer {
            ecs: &ecs,
            out,
            cluster,
            service: name,
            rollout: &plan.rollout,
            tag_previous: false,
        };
        let outcome = deployer.deploy(&new_arn, &before).await?;
        let old = short_task_definition(&before.task_definition).to_string();
        let new = short_task_definition(&new_arn).to_string();
        let verdict = match outcome.end {
            WatchEnd::Interrupted(sig) => {
                let status = format!("release status {}", plan.path().display());
                let undo = format!(
                    "release rollback {} --to {}",
                    plan.path().display(),
                    revision_of(&before.task_definition)
                );
                return Ok(interrupted(out, sig, &outcome.target, &status, Some(&undo)));
            }
            WatchEnd::Verdict(v) => v,
        };
        let summary = |verdict: &Verdict, extra: serde_json::Value| {
            let mut v = json!({
                "version": plan.version.as_str(), "digest": pinned.digest, "image": pinned.image,
                "task_definition": new_arn, "previous_task_definition": before.task_definition,
                "deployment": outcome.target.deployment_id, "seconds": started.elapsed().as_secs_f64(),
                "polls": outcome.stats.polls, "ecs_calls": ecs.calls(), "verdict": verdict,
                "watch_calls": outcome.stats.calls, "ecs_calls_by_action": ecs.calls_by_action(),
                "service_deployment_api": outcome.stats.service_deployment_api,
                "undo": format!("release rollback {} --to {}", plan.path().display(), revision_of(&before.task_definition)),
            });
            if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
                o.extend(e);
            }
            v
        };
        match &verdict {
            Verdict::Succeeded { running, desired } => {
                out.emit(
                    &format!("{new} rolled out: {running}/{desired} running"),
                    Event::RolledOut {
                        task_definition_arn: new_arn.clone(),
                        task_definition: new.clone(),
                        running: *running,
                        desired: *desired,
                    },
                );
                let report = crate::verify::run(out, &plan, &ecs).await?;
                if report.failed() > 0 {
                    out.emit(
                        &format!(
                            "deploy of {} as {new} failed its verify ({} checks failed)",
                            plan.version,
                            report.failed()
                        ),
                        Event::Failed {
                            reasons: None,
                            rolled_back_by: None,
                            verify_failed: Some(report.failed()),
                        },
                    );
                    return after_failure(
                        &deployer,
                        &plan,
                        &before,
                        &new,
                        End::VerifyFailed,
                        summary(&verdict, json!({ "verify_failed": report.failed() })),
                    )
                    .await;
                }
                let code = settle(End::Succeeded, Followup::Nothing);
                out.summary(
                    &format!(
                        "released {} ({}) as {new} (was {old}): {running}/{desired} running, verified, in {}",
                        plan.version,
                        pinned.digest,
                        short_duration(started.elapsed())
                    ),
                    code.code(),
                    summary(&verdict, json!({})),
                );
                Ok(code)
            }
            Verdict::RolledBackByEcs { to, reasons } => {
                out.emit(
                    &format!(
                        "deploy of {} as {new} failed; ECS is rolling the service back to {} (its circuit breaker or deployment alarms; the reasons say which):\n{}",
                        plan.version,
                        short_task_definition(to),
                        bullet(reasons)
                    ),
                    Event::Failed {
                        reasons: Some(reasons.clone()),
                        rolled_back_by: Some("ecs".into()),
                        verify_failed: None,
                    },
                );
                show_failed_task_logs(
                    out,
                    &ecs,
                    &config,
                    cluster,
                    name,
                    &new_arn,
                    &outcome.target.deployment_id,
                )
                .await;
                let rollback = deployer
                    .follow_ecs_rollback(to, &new_arn, &outcome.target.deployment_id)
                    .await?;
                let done = matches!(rollback, Followed::Verdict(Verdict::Succeeded { .. }));
                let outcome = match &rollback {
                    Followed::Interrupted(sig, target) => {
                        let status = format!("release status {}", plan.path().display());
                        return Ok(interrupted(out, *sig, target, &status, None));
                    }
                    Followed::Verdict(Verdict::Succeeded { running, desired }) => {
                        format!("{running}/{desired} running")
                    }
                    Followed::Verdict(v) => format!(
                        "ECS's rollback did not complete either ({}); {}",
                        verdict_name(v),
                        undo_hint(&plan, &before)
                    ),
                    Followed::NotFound => format!(
                        "release could not find ECS's rollback deployment to follow, so it is not confirmed: see `release status {}`",
                        plan.path().display()
                    ),
                };
                // 1 only when the rollback was seen to its end; else 4 (README, Exit codes).
                let code = settle(End::RolledBackByEcs { confirmed: done }, Followup::Nothing);
                out.summary(
                    &format!(
                        "deploy of {} as {new} failed and ECS rolled the service back to {}: {outcome}; release started no second rollback:\n{}",
                        plan.version,
                        short_task_definition(to),
                        bullet(reasons)
                    ),
                    code.code(),
                    summary(&verdict, json!({ "rolled_back_by": "ecs", "rollback_succeeded": done })),
                );
                Ok(code)
            }
            Verdict::Failed { reasons } | Verdict::Stalled { reasons, .. } => {
                let (what, end) = match &verdict {
                    Verdict::Stalled { .. } => ("stalled", End::Stalled),
                    _ => ("failed", End::Failed),
                };
                out.emit(
                    &format!(
                        "deploy of {} as {new} {what}:\n{}",
                        plan.version,
                        bullet(reasons)
                    ),
                    Event::Failed {
                        reasons: Some(reasons.clone()),
                        rolled_back_by: None,
                        verify_failed: None,
                    },
                );
                show_failed_task_logs(
                    out,
                    &ecs,
                    &config,
                    cluster,
                    name,
                    &new_arn,
                    &outcome.target.deployment_id,
                )
                .await;
                after_failure(
                    &deployer,
                    &plan,
                    &before,
                    &new,
                    end,
                    summary(&verdict, json!({})),
                )
                .await
            }
            Verdict::Superseded {
                by,
                task_definition,
            } => {
                let code = settle(End::Superseded, Followup::Nothing);
                out.summary(
                    &format!(
                        "deploy of {} was superseded: deployment {by} of {} (not started by this release) took over; {new} is not what runs",
                        plan.version,
                        short_task_definition(task_definition)
                    ),
                    code.code(),
                    summary(&verdict, json!({})),
                );
                Ok(code)
            }
            Verdict::TimedOut { progress, reasons } => {
                let code = settle(End::TimedOut, Followup::Nothing);
                out.summary(
                    &format!(
                        "{}; {}",
                        timed_out(&new, plan.rollout.timeout, progress, reasons),
                        undo_hint(&plan, &before)
                    ),
                    code.code(),
                    summary(&verdict, json!({})),
                );
                Ok(code)
            }
            Verdict::Progressing(_) => unreachable!("the watch ends only on a terminal verdict"),
        }
    };
    after_registration.await.map_err(|f| {
        Failure::new(
            f.code,
            format!(
                "{}\nrevision {} is registered and the service may be deploying it: see `release status {}`; {}",
                f.message,
                short_task_definition(&new_arn),
                plan.path().display(),
                undo_hint(&plan, &before)
            ),
        )
    })
}

/// The revision a RegisterTaskDefinition whose answer was lost created, if ECS shows it: the
/// Tags the running revision, registered outside release with the same task definition,
/// with the release's `release:*` tags (TagResource; no revision, no deployment). False, with
/// a warning, when it cannot: deploy then registers a revision as it would otherwise.
async fn adopt(
    out: &crate::output::Output,
    ecs: &Ecs,
    running_arn: &str,
    request: &aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput,
) -> bool {
    let tags: Vec<(String, String)> = request
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .filter(|(k, _)| k.starts_with("release:"))
        .collect();
    match ecs.tag_all(running_arn, &tags).await {
        Ok(()) => true,
        Err(e) => {
            out.warn(&format!(
                "{} is this release's task definition, registered outside release, but cannot carry its tags ({}): registering a revision instead",
                short_task_definition(running_arn),
                e.message
            ));
            false
        }
    }
}

/// newest revisions of the family carrying this release's content, digest and version
/// (read a few times: reads are eventually consistent).
async fn find_registered(
    ecs: &Ecs,
    plan: &Plan,
    content: &str,
    digest: &str,
) -> Result<Option<aws_sdk_ecs::types::TaskDefinition>> {
    for read in 0..crate::rollout::decision::VISIBILITY_GRACE_READS {
        if read > 0 {
            tokio::time::sleep(plan.rollout.poll).await;
        }
        for (td, tags) in ecs
            .newest_revisions(&plan.task_definition.family, 5)
            .await?
        {
            let tags = release_tags(&tags);
            if tags.get("release:content").map(String::as_str) == Some(content)
                && tags.get("release:digest").map(String::as_str) == Some(digest)
                && tags.get("release:version").map(String::as_str) == Some(plan.version.as_str())
            {
                return Ok(Some(td));
            }
        }
    }
    Ok(None)
}

/// After a failed deploy: roll back to what ran before when the plan says so, watched, and
/// report both outcomes; else say what state was left and how to undo it.
pub async fn after_failure(
    deployer: &Deployer<'_>,
    plan: &Plan,
    before: &Service,
    new: &str,
    end: End,
    summary: serde_json::Value,
) -> Result<ExitCode> {
    let out = deployer.out;
    let old = short_task_definition(&before.task_definition).to_string();
    if plan.rollout.on_failure == OnFailure::Stop {
        let code = settle(end, Followup::Left);
        out.summary(
            &format!(
                "the service is left on {new} (rollout.on_failure = \"stop\"); {}",
                undo_hint(plan, before)
            ),
            code.code(),
            summary,
        );
        return Ok(code);
    }
    out.step(&format!(
        "rolling back to {old} (rollout.on_failure = \"rollback\")"
    ));
    let rollback = deployer.deploy(&before.task_definition, before).await?;
    let (followup, text) = match rollback.end {
        WatchEnd::Verdict(Verdict::Succeeded { running, desired }) => (
            Followup::RolledBack,
            format!("release rolled the service back to {old}: {running}/{desired} running"),
        ),
        WatchEnd::Verdict(v) => (
            Followup::RollbackFailed,
            format!(
                "the rollback to {old} did not succeed either ({}); the service needs a person: release status {}",
                verdict_name(&v),
                plan.path().display()
            ),
        ),
        WatchEnd::Interrupted(sig) => {
            let status = format!("release status {}", plan.path().display());
            let undo = format!("release rollback {} --to {}", plan.path().display(), revision_of(&before.task_definition));
            return Ok(interrupted(out, sig, &rollback.target, &status, Some(&undo)));
        }
    };
    let mut summary = summary;
    if let Some(o) = summary.as_object_mut() {
        o.insert("rolled_back_by".into(), json!("release"));
        o.insert(
            "rollback_deployment".into(),
            json!(rollback.target.deployment_id),
        );
        o.insert(
            "rollback_succeeded".into(),
            json!(followup == Followup::RolledBack),
        );
    }
    let code = settle(end, followup);
    out.summary(&text, code.code(), summary);
    Ok(code)
}

fn verdict_name(v: &Verdict) -> &'static str {
    v.name()
}

/// The exact command that returns the service to where it was.
fn undo_hint(plan: &Plan, before: &Service) -> String {
    format!(
        "to return to {}: release rollback {} --to {}  (or: aws ecs update-service --cluster {} --service {} --task-definition {} --force-new-deployment)",
        short_task_definition(&before.task_definition),
        plan.path().display(),
        revision_of(&before.task_definition),
        plan.service.cluster,
        plan.service.name,
        short_task_definition(&before.task_definition)
    )
}
