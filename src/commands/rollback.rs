//! `release rollback [PLAN] --to N`: return the service to revision N of its family, after
//! checking that N exists, is ACTIVE and that its images still resolve in their registry;
//! watched exactly like a deploy. Never deregisters anything.

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::TaskDefinitionStatus;
use serde_json::json;

use super::Ctx;
use crate::aws::ecs::{release_tags, Ecs};
use crate::exit::{ExitCode, Failure, Result};
use crate::image::reference::ImageRef;
use crate::image::registry::{self, ResolveError};
use crate::image::resolve;
use crate::output::Event;
use crate::plan::{is_ecr_repository, Login, OnFailure, RolloutSpec};
use crate::rollout::decision::Verdict;
use crate::rollout::deployment::{bullet, interrupted, revision_of, timed_out, Deployer, Followed};
use crate::rollout::observation::short_task_definition;
use crate::rollout::settle::{settle, End, Followup};
use crate::rollout::watch::WatchEnd;

/// The rollback's pre-checks failed: every problem, one failure (exit 3), nothing changed.
fn refused(problems: &[String]) -> Failure {
    Failure::new(
        ExitCode::Preflight,
        format!("rollback refused; nothing changed:\n{}", bullet(problems)),
    )
}

/// What `rollback` was pointed at.
pub struct Args<'a> {
    pub plan: Option<&'a Path>,
    pub to: Option<i32>,
    pub cluster: Option<&'a str>,
    pub service: Option<&'a str>,
    pub dry_run: bool,
    pub timeout: Option<Duration>,
}

pub async fn run(ctx: &Ctx, args: Args<'_>) -> Result<ExitCode> {
    let started = Instant::now();
    let out = &ctx.out;
    let plan = args.plan.map(|p| ctx.load_plan(p)).transpose()?;
    let (cluster, name) = match (&plan, args.cluster, args.service) {
        (Some(p), _, _) => (p.service.cluster.clone(), p.service.name.clone()),
        (None, Some(c), Some(s)) => (c.to_string(), s.to_string()),
        _ => {
            return Err(Failure::usage(
                "rollback needs a PLAN, or --cluster and --service",
            ))
        }
    };
    let mut rollout = plan
        .as_ref()
        .map(|p| p.rollout.clone())
        .unwrap_or(RolloutSpec {
            timeout: Duration::from_secs(600),
            poll: Duration::from_secs(2),
            stall: Duration::from_secs(180),
            on_failure: OnFailure::Stop,
        });
    if let Some(t) = args.timeout {
        rollout.timeout = t;
    }
    let config = ctx.aws_config(plan.as_ref()).await?;
    out.set_target(&cluster, &name, config.region().map(|r| r.as_ref()));
    ctx.show_identity(&config, plan.as_ref()).await?;
    let ecs = Ecs::new(&config);

    let before = ecs
        .existing_service(&cluster, &name, "nothing changed")
        .await?;
    let current_arn = before.task_definition.clone();
    let current = short_task_definition(&current_arn).to_string();
    let (family, current_rev) = current
        .rsplit_once(':')
        .map(|(f, r)| (f.to_string(), r.parse::<i32>().unwrap_or(0)))
        .ok_or_else(|| {
            Failure::aws(format!(
                "service {name} runs `{current_arn}`, not a family:revision"
            ))
        })?;
    // Every pre-check runs, and all their problems are reported together (exit 3, nothing
    // changed), as preflight does.
    let mut problems: Vec<String> = Vec::new();
    if let Some(p) = &plan {
        if p.task_definition.family != family {
            problems.push(format!(
                "service {name} runs family {family}, but the plan's task_definition.family is {}",
                p.task_definition.family
            ));
        }
    }
    if before.controller() != "ECS" {
        problems.push(format!(
            "service {name} uses the {} deployment controller: ECS accepts no task definition through UpdateService for it",
            before.controller()
        ));
    }
    let current_tags = match ecs.task_definition(&current_arn).await? {
        Some((_, tags)) => release_tags(&tags),
        None => Default::default(),
    };

    let to = match args.to {
        Some(n) => n,
        None => match current_tags
            .get("release:previous")
            .and_then(|arn| revision_of(arn).parse::<i32>().ok())
        {
            Some(n) => {
                out.info(&format!("revision {current_rev} was deployed over revision {n} (its release:previous tag)"));
                n
            }
            None => {
                out.warn(&format!(
                    "revision {current_rev} carries no release:previous tag; assuming revision {} ran before it (use --to N to choose)",
                    current_rev - 1
                ));
                current_rev - 1
            }
        },
    };
    if to == current_rev && !problems.is_empty() {
        return Err(refused(&problems));
    }
    if to == current_rev {
        let text = format!("{cluster}/{name} already runs {current}: nothing changed (`release restart` replaces its tasks)");
        out.emit(
            &text,
            Event::Unchanged {
                task_definition_arn: current_arn.clone(),
                task_definition: current.clone(),
                digest: None,
                image: None,
                version: None,
                adopted: None,
            },
        );
        // Every command ends with its summary, a no-op rollback included.
        out.summary(
            &format!("nothing to do: {text}"),
            ExitCode::Success.code(),
            json!({ "result": "unchanged", "task_definition": current_arn }),
        );
        return Ok(ExitCode::Success);
    }
    if to < 1 {
        problems.push(format!(
            "there is no revision before {family}:{current_rev}"
        ));
        return Err(refused(&problems));
    }
    let wanted = format!("{family}:{to}");
    let Some((td, tags)) = ecs.task_definition(&wanted).await? else {
        let latest = ecs
            .revisions(&family, TaskDefinitionStatus::Active)
            .await
            .ok()
            .and_then(|r| r.last().map(|a| short_task_definition(a).to_string()));
        problems.push(format!(
            "revision {to} of family {family} does not exist{}",
            latest
                .map(|l| format!(" (the latest is {l})"))
                .unwrap_or_default()
        ));
        return Err(refused(&problems));
    };
    let status = td
        .status()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    if status != "ACTIVE" {
        problems.push(format!(
            "revision {wanted} is {status} (deregistered): ECS cannot deploy it"
        ));
    }
    let target_arn = td.task_definition_arn().unwrap_or(&wanted).to_string();
    let target_tags = release_tags(&tags);

    // Lifecycle policies delete old images: check each still resolves before changing anything.
    let mut missing = Vec::new();
    // One token per registry host, however many containers use it.
    let mut tokens = std::collections::HashMap::new();
    for c in td.container_definitions() {
        let Some(image) = c.image() else { continue };
        let Ok(reference) = ImageRef::parse(image) else {
            out.warn(&format!(
                "container {}: cannot check image `{image}` (not host/repo:tag or @digest)",
                c.name().unwrap_or("?")
            ));
            continue;
        };
        let login = match &plan {
            Some(p) if reference.repository() == p.image.repository => p.image.login,
            _ if is_ecr_repository(&reference.repository()) => Login::Ecr,
            _ => Login::Docker,
        };
        let creds = match tokens.get(&reference.host) {
            Some(c) => c,
            None => {
                let c = resolve::credentials_for(login, &config, &reference).await?;
                tokens.entry(reference.host.clone()).or_insert(c)
            }
        };
        match registry::resolve_digest(&reference, creds.as_ref()).await {
            Ok(_) => out.info(&format!("image {image}: resolves")),
            Err(ResolveError::NotFound(m)) => {
                missing.push(format!("container {}: {m}", c.name().unwrap_or("?")))
            }
            Err(e) => missing.push(format!("container {}: {e}", c.name().unwrap_or("?"))),
        }
    }
    if !missing.is_empty() {
        problems.push(format!(
            "revision {wanted} cannot run: its images do not resolve:\n{}",
            bullet(&missing)
        ));
    }
    if !problems.is_empty() {
        return Err(refused(&problems));
    }

    let show = |tags: &std::collections::BTreeMap<String, String>, key: &str| {
        tags.get(key).cloned().unwrap_or_else(|| "?".into())
    };
    out.emit(
        &format!(
            "rollback of {cluster}/{name}:\n  revision: {current} -> {wanted}\n  version:  {} -> {}\n  digest:   {} -> {}",
            show(&current_tags, "release:version"),
            show(&target_tags, "release:version"),
            show(&current_tags, "release:digest"),
            show(&target_tags, "release:digest"),
        ),
        Event::Change {
            from: current_arn.clone(),
            to: target_arn.clone(),
            from_version: current_tags.get("release:version").cloned(),
            to_version: target_tags.get("release:version").cloned(),
            from_digest: current_tags.get("release:digest").cloned(),
            to_digest: target_tags.get("release:digest").cloned(),
            dry_run: args.dry_run,
        },
    );
    if args.dry_run {
        out.info("dry run: nothing changed");
        return Ok(ExitCode::Success);
    }

    let deployer = Deployer {
        ecs: &ecs,
        out,
        cluster: &cluster,
        service: &name,
        rollout: &rollout,
        tag_previous: true,
    };
    let outcome = deployer.deploy(&target_arn, &before).await?;
    let undo = match args.plan {
        Some(p) => format!("release rollback {} --to {current_rev}", p.display()),
        None => format!("release rollback --cluster {cluster} --service {name} --to {current_rev}"),
    };
    let verdict = match outcome.end {
        WatchEnd::Interrupted(sig) => {
            let status = match args.plan {
                Some(p) => format!("release status {}", p.display()),
                None => format!("aws ecs describe-services --cluster {cluster} --services {name}"),
            };
            return Ok(interrupted(out, sig, &outcome.target, &status, Some(&undo)));
        }
        WatchEnd::Verdict(v) => v,
    };
    let summary = json!({
        "from": current_arn, "to": target_arn, "deployment": outcome.target.deployment_id,
        "seconds": started.elapsed().as_secs_f64(), "polls": outcome.stats.polls,
        "ecs_calls": ecs.calls(), "ecs_calls_by_action": ecs.calls_by_action(), "verdict": verdict,
    });
    let (code, text) = match &verdict {
        Verdict::Succeeded { running, desired } => (
            settle(End::Succeeded, Followup::Nothing),
            format!("rolled back {cluster}/{name} to {wanted}: {running}/{desired} running"),
        ),
        Verdict::TimedOut { progress, reasons } => (
            settle(End::TimedOut, Followup::Nothing),
            format!("{}; to return to {current}: {undo}", timed_out(&wanted, rollout.timeout, progress, reasons)),
        ),
        Verdict::Failed { reasons } => (
            settle(End::Failed, Followup::Nothing),
            format!(
                "the rollback to {wanted} failed:\n{}\nthe service is left on {wanted} (deployment {}); to return to {current}: {undo}",
                bullet(reasons),
                outcome.target.deployment_id
            ),
        ),
        Verdict::RolledBackByEcs { to, reasons } => {
            let back = deployer
                .follow_ecs_rollback(to, &target_arn, &outcome.target.deployment_id)
                .await?;
            if let Followed::Interrupted(sig, target) = &back {
                let status = format!("release status --cluster {cluster} --service {name}");
                return Ok(interrupted(out, *sig, target, &status, None));
            }
            let confirmed = matches!(back, Followed::Verdict(Verdict::Succeeded { .. }));
            (
                settle(End::RolledBackByEcs { confirmed }, Followup::Nothing),
                format!(
                    "the rollback to {wanted} failed and ECS (its circuit breaker or deployment alarms) returned the service to {}{}:\n{}",
                    short_task_definition(to),
                    match back {
                        Followed::Verdict(Verdict::Succeeded { running, desired }) => format!(" ({running}/{desired} running)"),
                        Followed::Verdict(_) => " (which did not complete either: see `release status`)".into(),
                        _ => " (release could not find its deployment to follow: see `release status`)".into(),
                    },
                    bullet(reasons)
                ),
            )
        }
        Verdict::Superseded { by, .. } => (
            settle(End::Superseded, Followup::Nothing),
            format!("the rollback to {wanted} was superseded by deployment {by}, which release did not start"),
        ),
        Verdict::Stalled { reasons, .. } => (
            settle(End::Stalled, Followup::Nothing),
            format!(
                "the rollback to {wanted} stalled:\n{}\nthe service is left on {wanted} (deployment {}); to return to {current}: {undo}",
                bullet(reasons),
                outcome.target.deployment_id
            ),
        ),
        Verdict::Progressing(_) => unreachable!("the watch ends only on a terminal verdict"),
    };
    out.summary(&text, code.code(), summary);
    Ok(code)
}
