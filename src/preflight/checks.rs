//! The checks themselves: read-only AWS and registry calls, then one result per check.
//!
//! Order of work: ECS (cluster, service, running revision, running tasks) and the image
//! (repository, digest) concurrently; then the template, rendered with the resolved image
//! (or a placeholder digest); then batched GetParameters: decrypted only for the
//! parameters a `[[preflight.secret]]` rule or its `same_as` reads, without decryption for
//! those the rendered or running task definition only references (existence). A call that fails makes the checks depending on it fail with the reason; it never
//! stops the other checks.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_config::SdkConfig;
use aws_sdk_ecs::types::{self as ecs_types, DesiredStatus};

use super::{secret_rules, CheckResult, ImageToCheck, PreflightOptions, Report};
use crate::aws::ecr::{Ecr, RepositoryLookup};
use crate::aws::ecs::{Ecs, ServiceLookup};
use crate::aws::ssm::{self, Lookup};
use crate::check::{Checks, Stage};
use crate::exit::Result;
use crate::image::mutability::{tags_to_push, warning_key as mutability_warning_key};
use crate::image::platform::{self, Platform};
use crate::image::resolve;
use crate::output::{epoch_rfc3339, Output};
use crate::plan::{ecr_location, is_ecr_repository, Login, Plan, SecretRule, Version};
use crate::rollout::observation::{short_task_definition, Service, Task};
use crate::taskdef;
use crate::taskdef::name::family_of;
use crate::taskdef::release_tags;
use crate::template::{self, PinnedImage};

type Lookups = std::result::Result<BTreeMap<String, Lookup>, String>;

/// Runs every check; prints one line per check through `out` (record kind `check`);
/// returns the report and, when the image resolved, the pinned image.
pub async fn run(
    out: &Output,
    plan: &Plan,
    config: &SdkConfig,
    image: ImageToCheck,
    opts: &PreflightOptions,
) -> Result<(Report, Option<PinnedImage>)> {
    let (report, pinned, _) = run_with_snapshot(out, plan, config, image, opts).await?;
    Ok((report, pinned))
}

/// What preflight read of the service, for a deploy that goes on at once (no build in
/// between) to reuse instead of reading it again.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub service: Service,
    /// The running revision's `release:*` tags.
    pub running_tags: BTreeMap<String, String>,
    /// The running revision as a RegisterTaskDefinition request document (None when it
    /// could not be read).
    pub running_doc: Option<serde_json::Value>,
    /// The running revision as described, with its tags (None when it could not be read).
    pub running: Option<(ecs_types::TaskDefinition, Vec<ecs_types::Tag>)>,
    /// The service's RUNNING tasks as described then (None when they were not read).
    pub running_tasks: Option<Vec<Task>>,
    /// When it was read: an older reading is read again before a change.
    pub read_at: std::time::Instant,
}

/// [`run`], also returning the service as preflight read it (None when it could not).
pub async fn run_with_snapshot(
    out: &Output,
    plan: &Plan,
    config: &SdkConfig,
    image: ImageToCheck,
    opts: &PreflightOptions,
) -> Result<(Report, Option<PinnedImage>, Option<Snapshot>)> {
    // Shown once all have run (they run together), in a fixed order.
    let mut runner = Checks::new(Stage::Preflight, out);
    out.spinner("running preflight checks");
    let ecs = Ecs::new(config);
    let (env, ((repository, mutability), (image_check, pinned))) =
        tokio::join!(environment(&ecs, plan), async {
            tokio::join!(
                repository_check(plan, config, &image),
                image_check(plan, config, &image)
            )
        });

    // The template, with the real digest when there is one (what deploy will register).
    let placeholder_ref = match &image {
        ImageToCheck::Existing(r) => Some(r.clone()),
        ImageToCheck::WillBuild => resolve::reference(plan, None).ok(),
    };
    let for_template = pinned
        .clone()
        .or_else(|| placeholder_ref.as_ref().map(PinnedImage::placeholder));
    let rendered = for_template
        .as_ref()
        .map(|p| (template::render(plan, p), p));
    let template_check = match &rendered {
        Some((Ok(r), _)) => CheckResult::passed(
            "template",
            format!(
                "{} renders and converts: family {}, {} container{}{}",
                plan.task_definition.template.display(),
                r.request.family().unwrap_or_default(),
                r.request.container_definitions().len(),
                if r.request.container_definitions().len() == 1 {
                    ""
                } else {
                    "s"
                },
                if pinned.is_some() {
                    String::new()
                } else {
                    " (checked with a placeholder digest)".into()
                }
            ),
        ),
        Some((Err(e), _)) => CheckResult::failed("template", e.message.clone()),
        None => CheckResult::skipped("template", "no image reference to render it with"),
    };
    // The platform the plan builds for, against the task definition's runtimePlatform.
    let platform_check = match (
        &image,
        plan.build.as_ref().and_then(|b| b.platform.as_ref()),
    ) {
        (ImageToCheck::WillBuild, Some(p)) => match (&rendered, Platform::parse(p)) {
            (Some((Ok(r), _)), Some(built)) => {
                match platform::check(&built, r.request.runtime_platform()) {
                    Ok(said) => Some(CheckResult::passed(
                        "platform",
                        format!("build.platform {said}"),
                    )),
                    Err(why) => Some(CheckResult::failed(
                        "platform",
                        format!("build.platform: {why}"),
                    )),
                }
            }
            _ => Some(CheckResult::skipped(
                "platform",
                "the template does not render",
            )),
        },
        _ => None,
    };
    let refs: Option<Vec<(String, String, String)>> = match &rendered {
        Some((Ok(r), _)) => Some(taskdef::secret_refs(&r.request)),
        _ => None,
    };

    let value_froms = refs
        .iter()
        .flatten()
        .map(|(_, _, value_from)| value_from)
        .chain(env.running_refs.iter());
    let (names, lookups) = read_parameters(config, &plan.secrets, value_froms).await;

    if mutability.status == super::Status::Warning || repository.status == super::Status::Warning {
        // The build says it once, and does not again.
        out.mark_warned(&mutability_warning_key(&plan.image.repository));
    }
    let mut checks = vec![
        env.cluster,
        env.service,
        repository,
        mutability,
        image_check,
    ];
    checks.push(in_progress_check(plan, &env.found, opts));
    checks.push(strategy_check(plan, &env.found));
    checks.push(version_check(plan, &env.found, &env.running, opts));
    checks.push(template_check);
    checks.extend(platform_check);
    checks.extend(value_from_checks(refs.as_deref(), &lookups));
    let mut broken = Vec::new();
    for rule in &plan.secrets {
        let check = secret_rule_check(rule, &lookups);
        if check.status == super::Status::Failed {
            broken.push(ssm::parameter_name(&rule.name).to_string());
        }
        checks.push(check);
    }
    checks.push(stale_check(
        plan, &env.found, &env.tasks, &names, &lookups, &broken,
    ));

    out.clear_bar();
    runner.record_all(checks);
    let report = runner.finish();
    let snapshot = match (&env.found, &env.running) {
        (Found::Service(service), Ok(running)) => Some(Snapshot {
            service: (**service).clone(),
            running_tags: running
                .as_ref()
                .map(|(_, tags)| release_tags::read(tags))
                .unwrap_or_default(),
            running_doc: running.as_ref().map(|(td, tags)| {
                crate::taskdef::to_json(&crate::taskdef::from_described(td, tags))
            }),
            running: running.clone(),
            running_tasks: env.tasks.as_ref().ok().cloned(),
            read_at: env.read_at,
        }),
        _ => None,
    };
    Ok((report, pinned, snapshot))
}

/// The SSM parameters the checks need, in at most two GetParameters batches: values are read
/// (decrypted) only for the rules that judge them and their `same_as` partners; every other
/// parameter (a `valueFrom`) is only checked to exist, without decryption, so a role that may
/// not decrypt an unrelated parameter is not blocked. Returns every name read, and what was
/// found.
async fn read_parameters<'a>(
    config: &SdkConfig,
    rules: &[SecretRule],
    value_froms: impl Iterator<Item = &'a String>,
) -> (Vec<String>, Lookups) {
    let mut decrypted: Vec<String> = Vec::new();
    for rule in rules {
        decrypted.push(rule.name.clone());
        decrypted.extend(rule.same_as.clone());
    }
    decrypted.sort();
    decrypted.dedup();
    let mut names: Vec<String> = decrypted.clone();
    names.extend(value_froms.filter(|v| kind(v) == RefKind::Ssm).cloned());
    names.sort();
    names.dedup();
    // Secrets Manager secrets referenced through Parameter Store
    // (`/aws/reference/secretsmanager/…`) can only be read with WithDecryption=true (Systems
    // Manager user guide, "Referencing AWS Secrets Manager secrets from Parameter Store").
    for n in &names {
        if ssm::parameter_name(n).starts_with("/aws/reference/secretsmanager/")
            && !decrypted.contains(n)
        {
            decrypted.push(n.clone());
        }
    }
    let existence: Vec<String> = names
        .iter()
        .filter(|n| !decrypted.contains(n))
        .cloned()
        .collect();
    let (values, exists) = tokio::join!(
        async {
            if decrypted.is_empty() {
                Ok(BTreeMap::new())
            } else {
                ssm::get_parameters(config, &decrypted, true).await
            }
        },
        async {
            if existence.is_empty() {
                Ok(BTreeMap::new())
            } else {
                ssm::get_parameters(config, &existence, false).await
            }
        }
    );
    let lookups: Lookups = match (values, exists) {
        (Ok(mut v), Ok(e)) => {
            v.extend(e);
            Ok(v)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    (names, lookups)
}

/// The `[[preflight.secret]]` rules alone, every one (passed and failed): what deploy checks
/// again after a build.
pub async fn secret_checks(plan: &Plan, config: &SdkConfig) -> Vec<CheckResult> {
    if plan.secrets.is_empty() {
        return Vec::new();
    }
    let (_, lookups) = read_parameters(config, &plan.secrets, std::iter::empty()).await;
    plan.secrets
        .iter()
        .map(|rule| secret_rule_check(rule, &lookups))
        .collect()
}

/// What `restart` checks before it replaces the tasks, which read their secrets again: every
/// SSM `valueFrom` of the revision they will run exists, and the `[[preflight.secret]]`
/// rules pass (every check, passed and failed).
pub async fn restart_checks(
    plan: &Plan,
    config: &SdkConfig,
    revision: &aws_sdk_ecs::types::TaskDefinition,
) -> Vec<CheckResult> {
    let refs = taskdef::secret_refs(&taskdef::from_described(revision, &[]));
    let value_froms = refs.iter().map(|(_, _, value_from)| value_from);
    let (_, lookups) = read_parameters(config, &plan.secrets, value_froms).await;
    let mut checks = value_from_checks(Some(&refs), &lookups);
    checks.extend(
        plan.secrets
            .iter()
            .map(|rule| secret_rule_check(rule, &lookups)),
    );
    checks
}

/// The `[[preflight.secret]]` rules again, just before registering: a build can take minutes,
/// and a secret broken meanwhile must stop the release before it changes anything. Returns
/// the rules that now fail.
pub async fn recheck_secrets(plan: &Plan, config: &SdkConfig) -> Vec<CheckResult> {
    secret_checks(plan, config)
        .await
        .into_iter()
        .filter(|c| c.status == super::Status::Failed)
        .collect()
}

/// What ECS says about the plan's service.
struct Environment {
    cluster: CheckResult,
    service: CheckResult,
    found: Found,
    /// The running revision with its tags; Err is why it could not be read.
    running: std::result::Result<Option<(ecs_types::TaskDefinition, Vec<ecs_types::Tag>)>, String>,
    /// `valueFrom`s of the running revision (the values the running tasks hold).
    running_refs: Vec<String>,
    /// RUNNING tasks of the service.
    tasks: std::result::Result<Vec<Task>, String>,
    /// When the service, its revision and its tasks had been read.
    read_at: Instant,
}

/// The service, or why there is none to look at.
enum Found {
    Service(Box<Service>),
    Not(String),
}

async fn environment(ecs: &Ecs, plan: &Plan) -> Environment {
    let (cluster, name) = (plan.service.cluster.as_str(), plan.service.name.as_str());
    let family = plan.task_definition.family.as_str();
    // The reading's age counts from before the service was read.
    let read_at = Instant::now();
    let lookup = ecs.service(cluster, name).await;
    // An ACTIVE service means an ACTIVE cluster (DeleteCluster refuses a cluster that still
    // holds active services: ClusterContainsServicesException), so DescribeClusters is asked
    // only when the service does not settle it.
    let holds_active_service =
        matches!(&lookup, Ok(ServiceLookup::Found(s)) if s.status == "ACTIVE");
    let status = if holds_active_service {
        Ok(Some("ACTIVE".to_string()))
    } else {
        ecs.cluster_status(cluster).await
    };
    let cluster_check = match &status {
        Ok(Some(s)) if s == "ACTIVE" && holds_active_service => CheckResult::passed(
            "cluster",
            format!("cluster {cluster} is ACTIVE (it holds the ACTIVE service {name})"),
        ),
        Ok(Some(s)) if s == "ACTIVE" => {
            CheckResult::passed("cluster", format!("cluster {cluster} is ACTIVE"))
        }
        Ok(Some(s)) => {
            CheckResult::failed("cluster", format!("cluster {cluster} is {s}, not ACTIVE"))
        }
        Ok(None) => CheckResult::failed("cluster", format!("cluster {cluster} not found")),
        Err(e) => CheckResult::failed("cluster", e.message.clone()),
    };
    let cluster_missing = matches!(status, Ok(None));
    let (service_check, found) = match lookup {
        Ok(ServiceLookup::Found(s)) => {
            let runs = family_of(&s.task_definition);
            let check = if s.status != "ACTIVE" {
                CheckResult::failed(
                    "service",
                    format!(
                        "service {name} in cluster {cluster} is {}, not ACTIVE",
                        s.status
                    ),
                )
            } else if runs != family {
                CheckResult::failed(
                    "service",
                    format!(
                        "service {name} in cluster {cluster} runs family {runs} ({}), not the plan's family {family}",
                        short_task_definition(&s.task_definition)
                    ),
                )
            } else {
                CheckResult::passed(
                    "service",
                    format!(
                        "service {name} in cluster {cluster} is ACTIVE and runs {} ({}/{} running)",
                        short_task_definition(&s.task_definition),
                        s.running_count,
                        s.desired_count
                    ),
                )
            };
            (check, Found::Service(s))
        }
        Ok(ServiceLookup::MissingService) if !cluster_missing => (
            CheckResult::failed(
                "service",
                format!("service {name} not found in cluster {cluster}"),
            ),
            Found::Not(format!("service {name} not found")),
        ),
        Ok(ServiceLookup::MissingService | ServiceLookup::MissingCluster) => (
            CheckResult::skipped("service", format!("cluster {cluster} not found")),
            Found::Not(format!("cluster {cluster} not found")),
        ),
        Err(e) => (
            CheckResult::failed("service", e.message.clone()),
            Found::Not(format!("service {name} could not be read")),
        ),
    };

    let (running, tasks) = match &found {
        Found::Service(s) => {
            let (td, tasks) = tokio::join!(
                ecs.task_definition(&s.task_definition),
                ecs.tasks(cluster, name, DesiredStatus::Running, None)
            );
            (
                td.map_err(|e| e.message),
                tasks.map_err(|e| e.message).map(|ts| {
                    ts.into_iter()
                        .filter(|t| t.last_status == "RUNNING")
                        .collect()
                }),
            )
        }
        Found::Not(why) => (Err(why.clone()), Err(why.clone())),
    };
    let running_refs = match &running {
        Ok(Some((td, _))) => taskdef::described_secret_refs(td),
        _ => vec![],
    };
    Environment {
        cluster: cluster_check,
        service: service_check,
        found,
        running,
        running_refs,
        tasks,
        read_at,
    }
}

/// The repository (DescribeRepositories, for an ECR repository or `login = "ecr"`) and its
/// tag mutability: two checks from one call.
async fn repository_check(
    plan: &Plan,
    config: &SdkConfig,
    image: &ImageToCheck,
) -> (CheckResult, CheckResult) {
    let repository = &plan.image.repository;
    let lookup = if is_ecr_repository(repository) || plan.image.login == Login::Ecr {
        let location = ecr_location(repository);
        Some(
            Ecr::for_repository(config, repository)
                .repository(&location)
                .await
                .map_err(|e| e.message),
        )
    } else {
        None
    };
    repository_checks(
        repository,
        &plan.image.tags,
        lookup,
        matches!(image, ImageToCheck::WillBuild),
    )
}

/// The `repository` and `tag mutability` checks from what DescribeRepositories answered
/// (`None`: not an ECR repository, not asked). A denied call is a warning on the repository
/// check and skips the mutability check: every tag is pushed, as when nothing is known. On a
/// repository whose tag mutability keeps some of the plan's tags from moving, those tags are
/// not pushed (the version's tag is pushed once): a warning when the plan builds.
fn repository_checks(
    repository: &str,
    tags: &[String],
    lookup: Option<std::result::Result<RepositoryLookup, String>>,
    builds: bool,
) -> (CheckResult, CheckResult) {
    const MUTABILITY: &str = "tag mutability";
    let path = ecr_location(repository).name;
    let Some(lookup) = lookup else {
        return (
            CheckResult::skipped(
                "repository",
                format!("{repository} is not an ECR repository: the image check covers it"),
            ),
            CheckResult::skipped(
                MUTABILITY,
                format!("{repository} is not an ECR repository: every tag is pushed"),
            ),
        );
    };
    let mutability = match lookup {
        Ok(RepositoryLookup::Found(m)) => m,
        Ok(RepositoryLookup::NotFound) => {
            return (
                CheckResult::failed(
                    "repository",
                    format!("ECR repository {path} not found ({repository})"),
                ),
                CheckResult::skipped(MUTABILITY, format!("ECR repository {path} not found")),
            )
        }
        Ok(RepositoryLookup::Denied(why)) => {
            return (
                CheckResult::warning(
                    "repository",
                    format!("{why}: the repository and its tag mutability are not checked; every tag is pushed as the registry allows (grant ecr:DescribeRepositories to check them)"),
                ),
                CheckResult::skipped(
                    MUTABILITY,
                    "ECR DescribeRepositories was denied (see the repository check)",
                ),
            )
        }
        Err(e) => {
            return (
                CheckResult::failed("repository", e),
                CheckResult::skipped(MUTABILITY, "ECR DescribeRepositories failed"),
            )
        }
    };
    let exists = CheckResult::passed(
        "repository",
        format!("ECR repository {path} exists ({repository})"),
    );
    let (pushed, skipped) = tags_to_push(tags, Some(&mutability));
    let setting = mutability.describe();
    let list = |t: &[&String]| t.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let check = if mutability.setting == "MUTABLE" {
        CheckResult::passed(
            MUTABILITY,
            format!("ECR repository {path} is MUTABLE: every tag can be pushed"),
        )
    } else if !builds {
        CheckResult::passed(
            MUTABILITY,
            format!("ECR repository {path} is {setting}: nothing is pushed (the image is given)"),
        )
    } else if skipped.is_empty() {
        CheckResult::passed(
            MUTABILITY,
            format!(
                "ECR repository {path} is {setting}: {} can be pushed; a tag that exists is never overwritten",
                list(&pushed)
            ),
        )
    } else {
        CheckResult::warning(
            MUTABILITY,
            format!(
                "ECR repository {path} is {setting}: {} will not be pushed (ECR refuses to overwrite a tag that exists: ImageTagAlreadyExistsException); {} is pushed once and never moved",
                list(&skipped),
                list(&pushed)
            ),
        )
    };
    (exists, check)
}

async fn image_check(
    plan: &Plan,
    config: &SdkConfig,
    image: &ImageToCheck,
) -> (CheckResult, Option<PinnedImage>) {
    match image {
        ImageToCheck::WillBuild => {
            let from = plan
                .build
                .as_ref()
                .map(|b| format!(" from {}", b.context.display()))
                .unwrap_or_default();
            (
                CheckResult::skipped(
                    "image",
                    format!(
                        "will be built{from} and pushed as {}:{}",
                        plan.image.repository, plan.image.tags[0]
                    ),
                ),
                None,
            )
        }
        ImageToCheck::Existing(reference) => {
            match resolve::resolve(plan, config, reference).await {
                Ok(p) => (
                    CheckResult::passed("image", format!("{reference} resolves to {}", p.digest)),
                    Some(p),
                ),
                Err(e) => (CheckResult::failed("image", e.message), None),
            }
        }
    }
}

/// What a blue/green, linear or canary rollout needs beyond its bake: the time to start the
/// new tasks and shift traffic, allowed for when checking `rollout.timeout` against the bake.
pub const ROLLOUT_ALLOWANCE: std::time::Duration = std::time::Duration::from_secs(300);

/// The service's deployment controller, strategy, bake and alarms (API_DeploymentController,
/// API_DeploymentConfiguration). CODE_DEPLOY and EXTERNAL services refuse an UpdateService of
/// the task definition (API_UpdateService), so they fail here, before anything is built.
fn strategy_check(plan: &Plan, found: &Found) -> CheckResult {
    const NAME: &str = "deployment strategy";
    let s = match found {
        Found::Service(s) => s,
        Found::Not(why) => return CheckResult::skipped(NAME, why.clone()),
    };
    let name = &plan.service.name;
    match s.controller() {
        "ECS" => {}
        "CODE_DEPLOY" => {
            return CheckResult::failed(
                NAME,
                format!("service {name} uses the CODE_DEPLOY deployment controller: ECS accepts no new task definition through UpdateService for it; release a revision with CodeDeploy (aws deploy create-deployment with an AppSpec naming the task definition), or recreate the service with the ECS controller and a BLUE_GREEN strategy, which release follows"),
            )
        }
        other => {
            return CheckResult::failed(
                NAME,
                format!("service {name} uses the {other} deployment controller: new revisions go out as task sets (CreateTaskSet, UpdateServicePrimaryTaskSet) driven by your own tooling, which release does not do; use that tooling, or the ECS controller"),
            )
        }
    }
    let config = s.deployment_configuration.clone().unwrap_or_default();
    let strategy = s.strategy();
    let mut parts = vec![format!("controller ECS, strategy {strategy}")];
    let wait = config.designed_wait_minutes();
    if wait > 0 {
        parts.push(format!("{wait} min of bake and traffic-shift waits"));
    }
    match &config.deployment_circuit_breaker {
        Some(b) if b.enable => parts.push(format!(
            "circuit breaker on (rollback {})",
            if b.rollback { "on" } else { "off" }
        )),
        _ => parts.push("circuit breaker off".into()),
    }
    match config.alarms.as_ref().filter(|a| a.enable) {
        Some(a) => parts.push(format!(
            "alarms {} (rollback {}; ECS adds a bake computed from the alarms)",
            a.alarm_names.join(", "),
            if a.rollback { "on" } else { "off" }
        )),
        None => parts.push("no deployment alarms".into()),
    }
    let detail = parts.join(", ");
    if wait > 0 {
        let needed = std::time::Duration::from_secs(wait * 60) + ROLLOUT_ALLOWANCE;
        if plan.rollout.timeout < needed {
            return CheckResult::failed(
                NAME,
                format!(
                    "{detail}: rollout.timeout {} is shorter than those waits plus {} for the rollout; set rollout.timeout to at least {}",
                    humantime::format_duration(plan.rollout.timeout),
                    humantime::format_duration(ROLLOUT_ALLOWANCE),
                    humantime::format_duration(needed)
                ),
            );
        }
    }
    CheckResult::passed(NAME, detail)
}

fn in_progress_check(plan: &Plan, found: &Found, opts: &PreflightOptions) -> CheckResult {
    const NAME: &str = "deployments";
    let s = match found {
        Found::Service(s) => s,
        Found::Not(why) => return CheckResult::skipped(NAME, why.clone()),
    };
    let rolling: Vec<String> = s
        .deployments
        .iter()
        .filter(|d| d.rollout_state.as_deref() == Some("IN_PROGRESS") || d.status != "PRIMARY")
        .map(|d| {
            format!(
                "deployment {} of {} is {} {} ({}/{} running)",
                d.id,
                short_task_definition(&d.task_definition),
                d.status,
                d.rollout_state.as_deref().unwrap_or("-"),
                d.running_count,
                d.desired_count
            )
        })
        .collect();
    if rolling.is_empty() {
        return CheckResult::passed(
            NAME,
            format!("no deployment of service {} in progress", plan.service.name),
        );
    }
    let what = format!(
        "{}: another release is rolling on service {}",
        rolling.join("; "),
        plan.service.name
    );
    if opts.force {
        CheckResult::warning(NAME, format!("{what}; going on because of --force"))
    } else {
        CheckResult::failed(
            NAME,
            format!("{what}; wait for it to finish, or pass --force"),
        )
    }
}

fn version_check(
    plan: &Plan,
    found: &Found,
    running: &std::result::Result<Option<(ecs_types::TaskDefinition, Vec<ecs_types::Tag>)>, String>,
    opts: &PreflightOptions,
) -> CheckResult {
    const NAME: &str = "version";
    let current = match found {
        Found::Service(s) => short_task_definition(&s.task_definition).to_string(),
        Found::Not(why) => return CheckResult::skipped(NAME, why.clone()),
    };
    let tags = match running {
        Ok(Some((_, tags))) => release_tags::read(tags),
        Ok(None) => {
            return CheckResult::skipped(
                NAME,
                format!("the running revision {current} could not be found"),
            )
        }
        Err(e) => return CheckResult::failed(NAME, e.clone()),
    };
    let Some(text) = tags.get(release_tags::VERSION) else {
        return CheckResult::skipped(
            NAME,
            format!("the running revision {current} has no release:version tag"),
        );
    };
    let theirs = match Version::parse(text) {
        Ok(v) => v,
        Err(e) => {
            return CheckResult::skipped(
                NAME,
                format!("the running revision {current}'s release:version tag: {e}"),
            )
        }
    };
    let ours = &plan.version;
    match ours.cmp(&theirs) {
        std::cmp::Ordering::Greater => CheckResult::passed(
            NAME,
            format!("{ours} is above {theirs}, which {current} runs"),
        ),
        std::cmp::Ordering::Equal => CheckResult::passed(
            NAME,
            format!("{ours} is the version {current} runs: a redeploy"),
        ),
        std::cmp::Ordering::Less if opts.allow_downgrade => CheckResult::warning(
            NAME,
            format!("{ours} is lower than {theirs}, which {current} runs: a downgrade, allowed by --allow-downgrade"),
        ),
        std::cmp::Ordering::Less => CheckResult::failed(
            NAME,
            format!("{ours} is lower than {theirs}, which {current} runs: a downgrade; pass --allow-downgrade to deploy it anyway"),
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefKind {
    Ssm,
    SecretsManager,
    Other,
}

/// What a `valueFrom` names: an SSM parameter (name or ARN), a Secrets Manager secret, or else.
fn kind(value_from: &str) -> RefKind {
    if !value_from.starts_with("arn:") {
        return RefKind::Ssm;
    }
    match value_from.split(':').nth(2) {
        Some("ssm") => RefKind::Ssm,
        Some("secretsmanager") => RefKind::SecretsManager,
        _ => RefKind::Other,
    }
}

fn value_from_checks(
    refs: Option<&[(String, String, String)]>,
    lookups: &Lookups,
) -> Vec<CheckResult> {
    let Some(refs) = refs else {
        return vec![CheckResult::skipped(
            "secret references",
            "the template did not render",
        )];
    };
    if refs.is_empty() {
        return vec![CheckResult::passed(
            "secret references",
            "the task definition references no secrets",
        )];
    }
    refs.iter()
        .map(|(container, secret, value_from)| {
            let name = format!("valueFrom {container}/{secret}");
            match kind(value_from) {
                RefKind::SecretsManager => CheckResult::skipped(
                    name,
                    format!("Secrets Manager secret {value_from}: not checked"),
                ),
                RefKind::Other => CheckResult::skipped(
                    name,
                    format!("{value_from} is neither an SSM parameter nor a Secrets Manager secret: not checked"),
                ),
                RefKind::Ssm => match lookups {
                    Err(e) => CheckResult::failed(name, e.clone()),
                    Ok(found) => match found.get(value_from) {
                        Some(Lookup::Found(p)) => CheckResult::passed(
                            name,
                            format!("SSM parameter {} exists ({})", p.name, p.kind),
                        ),
                        Some(Lookup::Denied(why)) => CheckResult::failed(name, why.clone()),
                        _ => CheckResult::failed(
                            name,
                            format!("SSM parameter {value_from} not found (GetParameters lists it in InvalidParameters): the task could not start"),
                        ),
                    },
                },
            }
        })
        .collect()
}

fn secret_rule_check(rule: &SecretRule, lookups: &Lookups) -> CheckResult {
    let name = format!("secret {}", rule.name);
    let found = match lookups {
        Err(e) => return CheckResult::failed(name, e.clone()),
        Ok(f) => f,
    };
    let p = match found.get(&rule.name) {
        Some(Lookup::Found(p)) => p,
        Some(Lookup::Denied(why)) => return CheckResult::failed(name, why.clone()),
        _ => {
            return CheckResult::failed(
                name,
                format!(
                    "SSM parameter {} not found (GetParameters lists it in InvalidParameters; rule at {})",
                    rule.name, rule.position
                ),
            )
        }
    };
    let value = &p.value;
    let mut findings = secret_rules::check(value.expose(), rule);
    let mut same = None;
    if let Some(other) = &rule.same_as {
        match found.get(other) {
            Some(Lookup::Found(o)) if o.value.sha256() == value.sha256() => {
                same = Some(format!(", identical to {other}"))
            }
            Some(Lookup::Found(o)) => findings.push(format!(
                "differs from {other} (sha256 {}… vs {}…, {} vs {} bytes)",
                value.fingerprint(),
                o.value.fingerprint(),
                value.len(),
                o.value.len()
            )),
            Some(Lookup::Denied(why)) => findings.push(format!("same_as {other}: {why}")),
            _ => findings.push(format!("same_as {other}: SSM parameter not found")),
        }
    }
    let secure = p.kind == "SecureString";
    let insecure = format!(
        "it is a {}, not a SecureString: its value is stored unencrypted",
        p.kind
    );
    if !findings.is_empty() {
        let also = if secure {
            String::new()
        } else {
            format!("; {insecure}")
        };
        return CheckResult::failed(
            name,
            format!(
                "{}{also} (sha256 {}…; rule at {})",
                findings.join("; "),
                value.fingerprint(),
                rule.position
            ),
        );
    }
    let facts = format!(
        "{} bytes, sha256 {}…, version {}{}",
        value.len(),
        value.fingerprint(),
        p.version,
        same.unwrap_or_default()
    );
    if secure {
        CheckResult::passed(name, format!("SecureString, {facts}"))
    } else {
        CheckResult::warning(name, format!("{insecure}; {facts}"))
    }
}

fn stale_check(
    plan: &Plan,
    found: &Found,
    tasks: &std::result::Result<Vec<Task>, String>,
    names: &[String],
    lookups: &Lookups,
    broken: &[String],
) -> CheckResult {
    const NAME: &str = "stale secrets";
    if let Found::Not(why) = found {
        return CheckResult::skipped(NAME, why.clone());
    }
    let tasks = match tasks {
        Ok(t) => t,
        Err(e) => return CheckResult::failed(NAME, e.clone()),
    };
    let lookups = match lookups {
        Ok(l) => l,
        Err(e) => return CheckResult::failed(NAME, e.clone()),
    };
    if tasks.is_empty() {
        return CheckResult::skipped(
            NAME,
            format!("no running tasks in service {}", plan.service.name),
        );
    }
    let mut seen = Vec::new();
    let mut stale = Vec::new();
    for n in names {
        let Some(Lookup::Found(p)) = lookups.get(n) else {
            continue;
        };
        if seen.contains(&p.name) {
            continue;
        }
        seen.push(p.name.clone());
        let Some(modified) = p.last_modified else {
            continue;
        };
        let older = tasks
            .iter()
            .filter(|t| t.started_at.is_some_and(|s| s < modified))
            .count();
        if older > 0 {
            stale.push(format!(
                "SSM parameter {} changed at {}, after {older} of the {} running tasks of service {} started{}",
                p.name,
                epoch_rfc3339(modified),
                tasks.len(),
                plan.service.name,
                if broken.contains(&p.name) {
                    " (and fails its rule above: fix it before replacing the tasks)"
                } else {
                    ""
                }
            ));
        }
    }
    if stale.is_empty() {
        return CheckResult::passed(
            NAME,
            format!(
                "no checked parameter changed since the {} running task{} started",
                tasks.len(),
                if tasks.len() == 1 { "" } else { "s" }
            ),
        );
    }
    CheckResult::warning(
        NAME,
        format!(
            "{}: those tasks still hold the old value until they are replaced (a deploy replaces them; or run `release restart {}`)",
            stale.join("; "),
            plan.path().display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_from_kinds() {
        assert_eq!(kind("/x/y"), RefKind::Ssm);
        assert_eq!(kind("arn:aws:ssm:us-east-1:1:parameter/x"), RefKind::Ssm);
        assert_eq!(
            kind("arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf"),
            RefKind::SecretsManager
        );
        assert_eq!(kind("arn:aws:s3:::bucket/x"), RefKind::Other);
    }

    fn found(
        setting: &str,
        filters: &[&str],
    ) -> Option<std::result::Result<RepositoryLookup, String>> {
        Some(Ok(RepositoryLookup::Found(
            crate::image::mutability::TagMutability::with_wildcards(setting, filters),
        )))
    }

    #[test]
    fn tag_mutability_checks() {
        let repo = "1.dkr.ecr.us-east-1.amazonaws.com/app";
        let tags: Vec<String> = vec!["1.2.3".into(), "latest".into()];
        let (r, m) = repository_checks(repo, &tags, found("MUTABLE", &[]), true);
        assert_eq!(
            (r.status, m.status),
            (super::super::Status::Passed, super::super::Status::Passed)
        );
        // Immutable: `latest` is left out, once, as a warning; the version's tag is pushed.
        let (r, m) = repository_checks(repo, &tags, found("IMMUTABLE", &[]), true);
        assert_eq!(r.status, super::super::Status::Passed);
        assert_eq!(m.status, super::super::Status::Warning);
        assert!(
            m.detail
                .starts_with("ECR repository app is IMMUTABLE: latest will not be pushed"),
            "{}",
            m.detail
        );
        assert!(m.detail.contains("1.2.3 is pushed once"), "{}", m.detail);
        // An exclusion that keeps `latest` mutable: nothing to warn about.
        let (_, m) = repository_checks(
            repo,
            &tags,
            found("IMMUTABLE_WITH_EXCLUSION", &["lat*"]),
            true,
        );
        assert_eq!(m.status, super::super::Status::Passed, "{}", m.detail);
        assert!(m.detail.contains("(exclusions: lat*)"), "{}", m.detail);
        // Without filters in the answer: immutable for every tag, and said.
        let (_, m) = repository_checks(repo, &tags, found("IMMUTABLE_WITH_EXCLUSION", &[]), true);
        assert_eq!(m.status, super::super::Status::Warning);
        assert!(m.detail.contains("treated as IMMUTABLE"), "{}", m.detail);
        // Nothing is pushed with --image.
        let (_, m) = repository_checks(repo, &tags, found("IMMUTABLE", &[]), false);
        assert_eq!(m.status, super::super::Status::Passed);
    }

    #[test]
    fn a_denied_describe_repositories_warns_and_fails_nothing() {
        let tags: Vec<String> = vec!["1.2.3".into(), "latest".into()];
        let denied = Some(Ok(RepositoryLookup::Denied(
            "ECR DescribeRepositories app: AccessDeniedException: not allowed".into(),
        )));
        let (r, m) =
            repository_checks("1.dkr.ecr.us-east-1.amazonaws.com/app", &tags, denied, true);
        assert_eq!(r.status, super::super::Status::Warning);
        assert!(r.detail.contains("AccessDeniedException"), "{}", r.detail);
        assert!(r.detail.contains("every tag is pushed"), "{}", r.detail);
        assert_eq!(m.status, super::super::Status::Skipped);
        // Not found is still a failure; not ECR is skipped.
        let (r, _) = repository_checks(
            "1.dkr.ecr.us-east-1.amazonaws.com/app",
            &tags,
            Some(Ok(RepositoryLookup::NotFound)),
            true,
        );
        assert_eq!(r.status, super::super::Status::Failed);
        let (r, m) = repository_checks("registry.example/app", &tags, None, true);
        assert_eq!(
            (r.status, m.status),
            (super::super::Status::Skipped, super::super::Status::Skipped)
        );
    }

    #[test]
    fn family_of_an_arn() {
        assert_eq!(
            family_of("arn:aws:ecs:us-east-1:1:task-definition/local-app:3"),
            "local-app"
        );
    }
}
