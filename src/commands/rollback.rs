//! `release rollback [PLAN] --to N`: return the service to revision N of its family, after
//! checking that N exists, is ACTIVE and that its images still resolve in their registry;
//! watched exactly like a deploy. Never deregisters anything.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{TaskDefinition, TaskDefinitionStatus};
use serde_json::json;

use super::Ctx;
use crate::aws::ecs::Ecs;
use crate::check::{CheckResult, Checks, Report, Stage};
use crate::exit::{ExitCode, Failure, Result};
use crate::image::reference::ImageRef;
use crate::image::registry::{self, ResolveError};
use crate::image::resolve;
use crate::output::{Event, Output};
use crate::plan::{is_ecr_repository, Login, OnFailure, Plan, RolloutSpec};
use crate::rollout::deployment::{bullet, Deployer, Settling};
use crate::rollout::observation::{short_task_definition, Service};
use crate::rollout::settle::{Address, Role};
use crate::taskdef::name::{revision_number, TaskDefinitionRef};
use crate::taskdef::release_tags;

/// The rollback's pre-checks failed: every failed check, one failure (exit 3), nothing
/// changed.
fn refused(report: &Report) -> Failure {
    Failure::new(
        ExitCode::Preflight,
        format!(
            "rollback refused; nothing changed:\n{}",
            bullet(&report.failures())
        ),
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

/// The revision the service runs, and its release tags.
struct Current {
    arn: String,
    /// `family:revision`.
    short: String,
    family: String,
    revision: i32,
    tags: BTreeMap<String, String>,
}

/// The revision the rollback returns to.
struct Wanted {
    arn: String,
    /// `family:revision`.
    short: String,
    definition: TaskDefinition,
    tags: BTreeMap<String, String>,
}

pub async fn run(ctx: &Ctx, args: Args<'_>) -> Result<ExitCode> {
    let started = Instant::now();
    let out = &ctx.out;
    let plan = args.plan.map(|p| ctx.load_plan(p)).transpose()?;
    let (address, cluster, service) = &addressed(plan.as_ref(), &args)?;
    let rollout = rollout_spec(plan.as_ref(), args.timeout);
    let config = ctx.aws_config(plan.as_ref()).await?;
    out.set_target(cluster, service, config.region().map(|r| r.as_ref()));
    ctx.show_identity(&config, plan.as_ref()).await?;
    let ecs = Ecs::new(&config);

    let before = ecs
        .existing_service(cluster, service, "nothing changed")
        .await?;
    let current = current_revision(&ecs, &before).await?;
    // Every pre-check runs through the check runner, each shown as it is known, and all
    // failures are reported together (exit 3, nothing changed), as preflight does.
    let mut checks = Checks::new(Stage::Rollback, out);
    checks.record_all(service_checks(plan.as_ref(), &before, &current));
    let to = chosen_revision(out, args.to, &current);
    if to == current.revision {
        let report = checks.finish();
        if report.failed() {
            return Err(refused(&report));
        }
        return Ok(unchanged(out, cluster, service, &current));
    }
    let (check, wanted) = wanted_revision(&ecs, &current, to).await?;
    checks.record(check);
    if let Some(wanted) = &wanted {
        checks.record_all(image_checks(&config, plan.as_ref(), wanted).await?);
    }
    let report = checks.finish();
    let Some(wanted) = wanted.filter(|_| !report.failed()) else {
        return Err(refused(&report));
    };
    show_change(out, cluster, service, &current, &wanted, args.dry_run);
    if args.dry_run {
        out.info("dry run: nothing changed");
        return Ok(ExitCode::Success);
    }
    let deployer = Deployer {
        ecs: &ecs,
        out,
        cluster,
        service,
        rollout: &rollout,
        tag_previous: true,
    };
    roll_back(&deployer, address, &before, &current, &wanted, started).await
}

/// The cluster and service, from the plan or the flags, and how the summary's commands
/// name them: by the plan when there is one.
fn addressed(plan: Option<&Plan>, args: &Args<'_>) -> Result<(Address, String, String)> {
    match (plan, args.plan, args.cluster, args.service) {
        (Some(p), Some(path), _, _) => Ok((
            Address::Plan(path.to_path_buf()),
            p.service.cluster.clone(),
            p.service.name.clone(),
        )),
        (None, _, Some(c), Some(s)) => Ok((
            Address::Service {
                cluster: c.to_string(),
                service: s.to_string(),
            },
            c.to_string(),
            s.to_string(),
        )),
        _ => Err(Failure::usage(
            "rollback needs a PLAN, or --cluster and --service",
        )),
    }
}

/// The plan's rollout settings (or, without a plan, 10 minutes, 2 s polls, 3 minutes to
/// stall, no rollback of the rollback), with `--timeout` over them.
fn rollout_spec(plan: Option<&Plan>, timeout: Option<Duration>) -> RolloutSpec {
    let mut rollout = plan.map(|p| p.rollout.clone()).unwrap_or(RolloutSpec {
        timeout: Duration::from_secs(600),
        poll: Duration::from_secs(2),
        stall: Duration::from_secs(180),
        on_failure: OnFailure::Stop,
    });
    if let Some(t) = timeout {
        rollout.timeout = t;
    }
    rollout
}

/// The running revision, parsed, with its release tags.
async fn current_revision(ecs: &Ecs, before: &Service) -> Result<Current> {
    let arn = before.task_definition.clone();
    let parsed = TaskDefinitionRef::parse(&arn);
    let Some(revision) = parsed.revision else {
        return Err(Failure::aws(format!(
            "service {} runs `{arn}`, not a family:revision",
            before.service_name
        )));
    };
    let (short, family) = (parsed.short.to_string(), parsed.family.to_string());
    let tags = match ecs.task_definition(&arn).await? {
        Some((_, tags)) => release_tags::read(&tags),
        None => Default::default(),
    };
    Ok(Current {
        arn,
        short,
        family,
        revision,
        tags,
    })
}

/// Whether the service itself allows the rollback: the plan's family (with a plan), and a
/// deployment controller that takes a task definition through UpdateService.
fn service_checks(plan: Option<&Plan>, before: &Service, current: &Current) -> Vec<CheckResult> {
    let mut checks = Vec::new();
    if let Some(p) = plan {
        let ours = p.task_definition.family == current.family;
        checks.push(CheckResult::judged(
            "family",
            ours,
            if ours {
                format!(
                    "service {} runs family {}, the plan's",
                    before.service_name, current.family
                )
            } else {
                format!(
                    "service {} runs family {}, but the plan's task_definition.family is {}",
                    before.service_name, current.family, p.task_definition.family
                )
            },
        ));
    }
    let controller = before.controller();
    checks.push(CheckResult::judged(
        "deployment controller",
        controller == "ECS",
        if controller == "ECS" {
            "ECS: UpdateService takes the revision".to_string()
        } else {
            format!(
                "service {} uses the {controller} deployment controller: ECS accepts no task definition through UpdateService for it",
                before.service_name,
            )
        },
    ));
    checks
}

/// `--to N`, else the running revision's `release:previous`, else the revision before it.
fn chosen_revision(out: &Output, to: Option<i32>, current: &Current) -> i32 {
    if let Some(n) = to {
        return n;
    }
    let rev = current.revision;
    match current
        .tags
        .get(release_tags::PREVIOUS)
        .and_then(|arn| revision_number(arn))
    {
        Some(n) => {
            out.info(&format!(
                "revision {rev} was deployed over revision {n} (its release:previous tag)"
            ));
            n
        }
        None => {
            out.warn(&format!(
                "revision {rev} carries no release:previous tag; assuming revision {} ran before it (use --to N to choose)",
                rev - 1
            ));
            rev - 1
        }
    }
}

/// The service already runs the revision asked for: nothing changes, and the summary says so.
fn unchanged(out: &Output, cluster: &str, service: &str, current: &Current) -> ExitCode {
    let text = format!(
        "{cluster}/{service} already runs {}: nothing changed (`release restart` replaces its tasks)",
        current.short
    );
    out.emit(
        &text,
        Event::Unchanged {
            task_definition_arn: current.arn.clone(),
            task_definition: current.short.clone(),
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
        json!({ "result": "unchanged", "task_definition": current.arn }),
    );
    ExitCode::Success
}

/// Revision `to` of the family, when it exists; a problem when it does not or is not ACTIVE.
async fn wanted_revision(
    ecs: &Ecs,
    current: &Current,
    to: i32,
) -> Result<(CheckResult, Option<Wanted>)> {
    let family = &current.family;
    let short = format!("{family}:{to}");
    let name = "target revision";
    if to < 1 {
        let why = format!("there is no revision before {family}:{}", current.revision);
        return Ok((CheckResult::failed(name, why), None));
    }
    let Some((definition, tags)) = ecs.task_definition(&short).await? else {
        let latest = ecs
            .revisions(family, TaskDefinitionStatus::Active)
            .await
            .ok()
            .and_then(|r| r.last().map(|a| short_task_definition(a).to_string()));
        let why = format!(
            "revision {to} of family {family} does not exist{}",
            latest
                .map(|l| format!(" (the latest is {l})"))
                .unwrap_or_default()
        );
        return Ok((CheckResult::failed(name, why), None));
    };
    let status = definition
        .status()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    let check = if status == "ACTIVE" {
        CheckResult::passed(name, format!("{short} is ACTIVE"))
    } else {
        CheckResult::failed(
            name,
            format!("revision {short} is {status} (deregistered): ECS cannot deploy it"),
        )
    };
    let wanted = Wanted {
        arn: definition
            .task_definition_arn()
            .unwrap_or(&short)
            .to_string(),
        short,
        tags: release_tags::read(&tags),
        definition,
    };
    Ok((check, Some(wanted)))
}

/// Lifecycle policies delete old images: each of the revision's images must still resolve
/// in its registry (one token per registry host, however many containers use it). One
/// check per container.
async fn image_checks(
    config: &aws_config::SdkConfig,
    plan: Option<&Plan>,
    wanted: &Wanted,
) -> Result<Vec<CheckResult>> {
    let mut checks = Vec::new();
    let mut tokens = std::collections::HashMap::new();
    for c in wanted.definition.container_definitions() {
        let Some(image) = c.image() else { continue };
        let name = format!("image of container {}", c.name().unwrap_or("?"));
        let Ok(reference) = ImageRef::parse(image) else {
            checks.push(CheckResult::warning(
                name,
                format!("cannot check `{image}` (not host/repo:tag or @digest)"),
            ));
            continue;
        };
        let login = match plan {
            Some(p) if reference.repository() == p.image.repository => p.image.login,
            _ if is_ecr_repository(&reference.repository()) => Login::Ecr,
            _ => Login::Docker,
        };
        let creds = match tokens.get(&reference.host) {
            Some(c) => c,
            None => {
                let c = resolve::credentials_for(login, config, &reference).await?;
                tokens.entry(reference.host.clone()).or_insert(c)
            }
        };
        checks.push(
            match registry::resolve_digest(&reference, creds.as_ref()).await {
                Ok(_) => CheckResult::passed(name, format!("{image} resolves")),
                Err(ResolveError::NotFound(m)) => {
                    CheckResult::failed(name, format!("revision {} cannot run: {m}", wanted.short))
                }
                Err(e) => CheckResult::failed(name, e.to_string()),
            },
        );
    }
    Ok(checks)
}

/// The change, revision, version and digest, before it is made (or instead, with --dry-run).
fn show_change(
    out: &Output,
    cluster: &str,
    service: &str,
    current: &Current,
    wanted: &Wanted,
    dry_run: bool,
) {
    let show = |tags: &BTreeMap<String, String>, key: &str| {
        tags.get(key).cloned().unwrap_or_else(|| "?".into())
    };
    out.emit(
        &format!(
            "rollback of {cluster}/{service}:\n  revision: {} -> {}\n  version:  {} -> {}\n  digest:   {} -> {}",
            current.short,
            wanted.short,
            show(&current.tags, release_tags::VERSION),
            show(&wanted.tags, release_tags::VERSION),
            show(&current.tags, release_tags::DIGEST),
            show(&wanted.tags, release_tags::DIGEST),
        ),
        Event::Change {
            from: current.arn.clone(),
            to: wanted.arn.clone(),
            from_version: current.tags.get(release_tags::VERSION).cloned(),
            to_version: wanted.tags.get(release_tags::VERSION).cloned(),
            from_digest: current.tags.get(release_tags::DIGEST).cloned(),
            to_digest: wanted.tags.get(release_tags::DIGEST).cloned(),
            dry_run,
        },
    );
}

/// UpdateService to the wanted revision, watched to its verdict, and settled.
async fn roll_back(
    deployer: &Deployer<'_>,
    address: &Address,
    before: &Service,
    current: &Current,
    wanted: &Wanted,
    started: Instant,
) -> Result<ExitCode> {
    let undo = address.rollback_to(&current.revision.to_string());
    let how = Settling {
        role: Role::Rollback { to: &wanted.short },
        address,
        undo: Some(&undo),
        started,
        fields: json!({ "from": current.arn, "to": wanted.arn }),
    };
    deployer.deploy_and_settle(&wanted.arn, before, how).await
}
