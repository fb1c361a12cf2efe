//! `release deploy PLAN [--image REF]`: register a revision pinned by digest, force a new
//! deployment, and watch our deployment (not whatever is PRIMARY) to N/N.

use std::path::Path;
use std::time::Instant;

use aws_config::SdkConfig;
use aws_sdk_ecs::types::{Tag, TaskDefinition};
use serde_json::{json, Value};

use super::Ctx;
use crate::aws::ecs::Ecs;
use crate::cli::{BuildFlags, CheckFlags};
use crate::diff::Standing;
use crate::exit::{ExitCode, Failure, Result};
use crate::image::reference::ImageRef;
use crate::image::{build, resolve};
use crate::output::{short_duration, Event, Output};
use crate::plan::{OnFailure, Plan};
use crate::preflight::{self, ImageToCheck, PreflightOptions};
use crate::rollout::decision::Verdict;
use crate::rollout::deployment::{
    bullet, interrupted, revision_of, show_failed_task_logs, Deployer, FailedTasks, Followed,
    Outcome,
};
use crate::rollout::observation::{short_task_definition, Service};
use crate::rollout::settle::{
    settle, verified, Address, Context, EcsRollback, Ending, Followup, Role,
};
use crate::rollout::watch::WatchEnd;
use crate::taskdef::release_tags;
use crate::template::PinnedImage;
use crate::{taskdef, template};

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
    refuse_conflicting_flags(&args)?;
    let plan = ctx.load_plan(plan_path)?;
    let builds = args.image.is_none() && plan.build.is_some();
    let reference = resolve::reference(&plan, args.image)?;
    // Everything that can be checked offline is checked before the first AWS call: the
    // template, and the verify checks (their env() values) that run after the deploy.
    template::render(&plan, &template::PinnedImage::placeholder(&reference))?;
    plan.http_checks()?;

    let config = ctx.aws_config(Some(&plan)).await?;
    ctx.show_identity(&config, Some(&plan)).await?;
    let ecs = Ecs::new(&config);
    let asked = Asked {
        plan: &plan,
        config: &config,
        reference: &reference,
        args: &args,
        builds,
    };
    let Some((resolved, snapshot)) = preflight(out, &asked).await? else {
        return Ok(ExitCode::Preflight);
    };
    if args.dry_run {
        return dry_run(ctx, &asked, resolved).await;
    }
    let pinned = image(out, &asked, resolved).await?;
    // What runs just before we change it: preflight's reading while it is seconds old (no
    // build in between, or one that reused the version's tag); read again after a build
    // that took longer.
    let running = match snapshot.filter(|s| s.read_at.elapsed() < FRESH_READING) {
        Some(s) => s,
        None => running_now(&ecs, &plan).await?,
    };
    let rendered = template::render(&plan, &pinned)?;
    // Register nothing when the running revision already has this content and digest, or
    // is the same task definition registered outside release (then it gets our tags).
    let standing = crate::diff::standing(
        &running.running_tags,
        running.running_doc.as_ref(),
        &taskdef::to_json(&rendered.request),
        &rendered.content_hash,
        &pinned.digest,
        plan.version.as_str(),
    );
    // An adopted revision, with its tags as they now are (not read back: a read right after
    // TagResource may not show them yet).
    let adopted_revision = match (&standing, &running.running) {
        (Standing::SameDefinitionUntagged, Some((td, tags))) => adopt(
            out,
            &ecs,
            &running.service.task_definition,
            &rendered.request,
            tags,
        )
        .await
        .map(|tags| (td.clone(), tags)),
        _ => None,
    };
    let adopted = adopted_revision.is_some();
    let release = Release {
        plan: &plan,
        ecs: &ecs,
        config: &config,
        pinned: &pinned,
        before: &running.service,
        running_revision: adopted_revision.as_ref().or(running.running.as_ref()),
        running_tasks: running.running_tasks.as_deref(),
        started,
    };
    if standing == Standing::SameRelease || adopted {
        return release.nothing_to_do(out, adopted).await;
    }
    let registered = release.register(out, rendered).await?;
    // From here on the service may change: any error says what state it left and how to undo it.
    release
        .roll_out(out, &registered)
        .await
        .map_err(|f| release.left_registered(f, &registered.arn))
}

/// `--image` with `--rebuild` or `--retag`: one says build, the other says do not.
fn refuse_conflicting_flags(args: &Args<'_>) -> Result<()> {
    if args.image.is_some() && (args.build.rebuild || args.build.retag) {
        return Err(Failure::usage(
            "--rebuild and --retag build and push an image; with --image nothing is built: drop one of them",
        ));
    }
    Ok(())
}

/// What this deploy was asked for: the plan, where, which image, and the flags.
#[derive(Clone, Copy)]
struct Asked<'a> {
    plan: &'a Plan,
    config: &'a SdkConfig,
    reference: &'a ImageRef,
    args: &'a Args<'a>,
    /// The image is built (the plan has [build] and no --image was given).
    builds: bool,
}

/// Every check that can fail, before the first change (push, registration, update). None
/// when one failed (its summary is out); else the image preflight resolved and what it read
/// of the service.
async fn preflight(
    out: &Output,
    asked: &Asked<'_>,
) -> Result<Option<(Option<PinnedImage>, Option<preflight::checks::Snapshot>)>> {
    let Asked {
        plan,
        config,
        reference,
        args,
        builds,
    } = *asked;
    out.step(&super::preflight::step(plan));
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
        preflight::checks::run_with_snapshot(out, plan, config, to_check, &opts).await?;
    if report.failed() {
        out.summary(
            &format!(
                "preflight failed: {}; nothing was built, registered or deployed",
                report.summary()
            ),
            ExitCode::Preflight.code(),
            report.summary_fields(),
        );
        return Ok(None);
    }
    Ok(Some((resolved, snapshot)))
}

/// `--dry-run`: after preflight, the diff and what deploy would do; nothing changes.
async fn dry_run(ctx: &Ctx, asked: &Asked<'_>, resolved: Option<PinnedImage>) -> Result<ExitCode> {
    let Asked {
        plan,
        config,
        reference,
        args,
        ..
    } = *asked;
    let source = match resolved {
        Some(p) if args.image.is_some() => super::diff::ImageSource::Given(p),
        Some(p) => super::diff::ImageSource::Registry(p),
        None => {
            super::diff::image_source(
                plan,
                config,
                reference,
                args.image.is_some(),
                args.build.rebuild,
            )
            .await?
        }
    };
    super::diff::show(ctx, plan, config, source).await
}

/// The image to deploy, pinned by digest: built and pushed (then the secret rules again, as
/// the build may have taken minutes), or the one preflight resolved.
async fn image(
    out: &Output,
    asked: &Asked<'_>,
    resolved: Option<PinnedImage>,
) -> Result<PinnedImage> {
    let (plan, config, args, builds) = (asked.plan, asked.config, asked.args, asked.builds);
    let pinned = if builds {
        let opts = build::BuildOptions {
            rebuild: args.build.rebuild,
            retag: args.build.retag,
        };
        build::build_and_push(out, plan, config, &opts).await?
    } else {
        match resolved {
            Some(p) => p,
            None => resolve::resolve(plan, config, asked.reference).await?,
        }
    };
    out.info(&format!("image {}", pinned.image));
    if builds {
        // The build may have taken minutes: the secrets must still pass before any change.
        let mut checks = crate::check::Checks::new(crate::check::Stage::Preflight, out);
        checks.record_all(preflight::checks::recheck_secrets(plan, config).await);
        let broken = checks.finish().failures();
        if !broken.is_empty() {
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
    Ok(pinned)
}

/// The service and its running revision, read now.
async fn running_now(ecs: &Ecs, plan: &Plan) -> Result<preflight::checks::Snapshot> {
    let service = ecs
        .existing_service(
            &plan.service.cluster,
            &plan.service.name,
            "nothing was registered or deployed",
        )
        .await?;
    let running = ecs.task_definition(&service.task_definition).await?;
    let (running_tags, running_doc) = match &running {
        Some((td, tags)) => (
            release_tags::read(tags),
            Some(taskdef::to_json(&taskdef::from_described(td, tags))),
        ),
        None => Default::default(),
    };
    Ok(preflight::checks::Snapshot {
        service,
        running_tags,
        running_doc,
        running,
        running_tasks: None,
        read_at: Instant::now(),
    })
}

/// How old preflight's reading of the service may be to stand for "what runs now" at the
/// first change; an older one (a build ran in between) is read again.
const FRESH_READING: std::time::Duration = std::time::Duration::from_secs(10);

/// One release on its way: what it deploys, to what, since when.
struct Release<'a> {
    plan: &'a Plan,
    ecs: &'a Ecs,
    config: &'a SdkConfig,
    pinned: &'a PinnedImage,
    /// The service as it was before this release changed anything.
    before: &'a Service,
    /// Its running revision as described then, with its tags.
    running_revision: Option<&'a (
        aws_sdk_ecs::types::TaskDefinition,
        Vec<aws_sdk_ecs::types::Tag>,
    )>,
    /// Its RUNNING tasks as preflight described them (None when they were read no more).
    running_tasks: Option<&'a [crate::rollout::observation::Task]>,
    started: Instant,
}

impl Release<'_> {
    /// The service already runs this release: nothing registered or deployed; verify it.
    async fn nothing_to_do(&self, out: &Output, adopted: bool) -> Result<ExitCode> {
        let (plan, pinned, before, ecs, started) =
            (self.plan, self.pinned, self.before, self.ecs, self.started);
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
        // Verify starts from the reading this decision was made on (seconds old), and an
        // adopted revision with the tags just written.
        let known = crate::verify::Known {
            service: before,
            running: self.running_revision,
            tasks: self.running_tasks,
        };
        let report = crate::verify::run_with(out, plan, ecs, Some(known)).await?;
        let result = if report.failed() {
            "verify_failed"
        } else {
            "unchanged"
        };
        let code = verified(report.count(crate::check::Status::Failed));
        // Every deploy ends with its summary, a no-op included.
        out.summary(
            &format!(
                "nothing to do: {} already runs {} ({}); {} in {}",
                short_task_definition(&before.task_definition),
                plan.version,
                pinned.digest,
                if report.failed() { "verify failed" } else { "verified" },
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
        Ok(code)
    }

    /// Registers the rendered revision (tagged with what ran before) and returns its ARN. A
    /// registration whose answer was lost is looked for instead of registered twice.
    async fn register(&self, out: &Output, rendered: template::Rendered) -> Result<Registered> {
        let (plan, pinned, before, ecs) = (self.plan, self.pinned, self.before, self.ecs);
        let content_hash = rendered.content_hash.clone();
        out.step(&format!(
            "registering a revision of {}",
            plan.task_definition.family
        ));
        let mut request = rendered.request;
        // Lets `release rollback` without --to find what ran before this release.
        request.tags.get_or_insert_with(Vec::new).push(
            aws_sdk_ecs::types::Tag::builder()
                .key(release_tags::PREVIOUS)
                .value(before.task_definition.clone())
                .build(),
        );
        let (registered, described) = match ecs.register(request).await {
            Ok((td, tags)) => (td.clone(), Some((td, tags))),
            Err(e) if e.outcome_unknown => {
                // ECS may have registered it: look for it instead of registering a second one.
                out.warn(&format!(
                    "{}: ECS may have registered it; reading the family back",
                    e.message
                ));
                let found = find_registered(ecs, plan, &content_hash, &pinned.digest)
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
                        .tag(arn, release_tags::PREVIOUS, &before.task_definition)
                        .await
                    {
                        out.warn(&format!("cannot record what ran before: {}", e.message));
                    }
                }
                // Its tags changed since it was read: verify reads it again.
                (found, None)
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
                short_task_definition(&new_arn),
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
        Ok(Registered {
            arn: new_arn,
            described,
        })
    }
    /// UpdateService, the watch of our deployment, what follows its verdict (verify, or
    /// `on_failure`), and the summary `settle` decides.
    async fn roll_out(&self, out: &Output, registered: &Registered) -> Result<ExitCode> {
        let new_arn = registered.arn.as_str();
        let deployer = Deployer {
            ecs: self.ecs,
            out,
            cluster: &self.plan.service.cluster,
            service: &self.plan.service.name,
            rollout: &self.plan.rollout,
            tag_previous: false,
        };
        let outcome = deployer.deploy(new_arn, self.before).await?;
        let address = self.address();
        let verdict = match &outcome.end {
            WatchEnd::Interrupted(sig) => {
                let undo = self.undo_command();
                let status = address.status();
                return Ok(interrupted(
                    out,
                    *sig,
                    &outcome.target,
                    &status,
                    Some(&undo),
                ));
            }
            WatchEnd::Verdict(v) => v.clone(),
        };
        let w = Watched {
            deployer: &deployer,
            outcome: &outcome,
            described: registered.described.as_ref(),
            new_arn,
            new: short_task_definition(new_arn),
        };
        let followed = match &verdict {
            Verdict::Succeeded { running, desired } => {
                self.succeeded(&w, *running, *desired).await?
            }
            Verdict::RolledBackByEcs { to, reasons } => {
                self.rolled_back_by_ecs(&w, to, reasons).await?
            }
            Verdict::Failed { reasons } | Verdict::Stalled { reasons, .. } => {
                self.failed(&w, &verdict, reasons).await;
                self.after_failure(&w).await?
            }
            Verdict::Superseded { .. } | Verdict::TimedOut { .. } => AfterRollout::default(),
            Verdict::Progressing(_) => unreachable!("the watch ends only on a terminal verdict"),
        };
        let followed = match followed.interrupted {
            Some(code) => return Ok(code),
            None => followed,
        };
        Ok(self.conclude(out, &w, &address, &verdict, followed))
    }

    /// Settles the release's end and says so in one summary.
    fn conclude(
        &self,
        out: &Output,
        w: &Watched<'_>,
        address: &Address,
        verdict: &Verdict,
        after: AfterRollout,
    ) -> ExitCode {
        let settled = settle(
            Ending {
                verdict,
                verify_failed: after.verify_failed,
                ecs_rollback: after.ecs_rollback,
                followup: after.followup,
            },
            Role::Deploy {
                version: self.plan.version.as_str(),
                digest: &self.pinned.digest,
                new: w.new,
            },
            Context {
                cluster: &self.plan.service.cluster,
                service: &self.plan.service.name,
                address,
                previous: &self.before.task_definition,
                deployment: &w.outcome.target.deployment_id,
                elapsed: self.started.elapsed(),
                timeout: self.plan.rollout.timeout,
            },
        );
        let mut extra = json!({ "next": settled.next });
        if let Some(n) = after.verify_failed {
            extra["verify_failed"] = json!(n);
        }
        if let Some(seen) = after.ecs_rollback {
            extra["rolled_back_by"] = json!("ecs");
            extra["rollback_succeeded"] = json!(matches!(seen, EcsRollback::Completed { .. }));
        }
        if let Some(id) = &after.rollback_deployment {
            extra["rolled_back_by"] = json!("release");
            extra["rollback_deployment"] = json!(id);
            extra["rollback_succeeded"] =
                json!(matches!(after.followup, Followup::RolledBack { .. }));
        }
        out.summary(
            &settled.summary,
            settled.exit_code.code(),
            self.summary(w, verdict, extra),
        );
        settled.exit_code
    }

    /// Rolled out: verify it; a failed verify is a failed release (`on_failure` applies).
    async fn succeeded(&self, w: &Watched<'_>, running: i32, desired: i32) -> Result<AfterRollout> {
        let (out, plan, new) = (w.deployer.out, self.plan, w.new);
        out.emit(
            &format!("{new} rolled out: {running}/{desired} running"),
            Event::RolledOut {
                task_definition_arn: w.new_arn.to_string(),
                task_definition: new.to_string(),
                running,
                desired,
            },
        );
        // Verify starts from the watch's last reading of the service (it just saw it steady)
        // and the revision as it was registered.
        let known = w
            .outcome
            .stats
            .last_service
            .as_ref()
            .map(|service| crate::verify::Known {
                service,
                running: w.described,
                tasks: None,
            });
        let report = crate::verify::run_with(out, plan, self.ecs, known).await?;
        if !report.failed() {
            return Ok(AfterRollout::default());
        }
        out.emit(
            &format!(
                "deploy of {} as {new} failed its verify ({} checks failed)",
                plan.version,
                report.count(crate::check::Status::Failed)
            ),
            Event::Failed {
                reasons: None,
                rolled_back_by: None,
                verify_failed: Some(report.count(crate::check::Status::Failed)),
            },
        );
        Ok(AfterRollout {
            verify_failed: Some(report.count(crate::check::Status::Failed)),
            ..self.after_failure(w).await?
        })
    }

    /// ECS rolls the service back (its breaker or alarms): say why at once, show the failed
    /// task's log, then follow ECS's rollback to its end; release starts no second one. An
    /// interruption is reported, and its exit code returned in `interrupted`.
    async fn rolled_back_by_ecs(
        &self,
        w: &Watched<'_>,
        to: &str,
        reasons: &[String],
    ) -> Result<AfterRollout> {
        let (out, plan, new) = (w.deployer.out, self.plan, w.new);
        out.emit(
            &format!(
                "deploy of {} as {new} failed; ECS is rolling the service back to {} (its circuit breaker or deployment alarms; the reasons say which):\n{}",
                plan.version,
                short_task_definition(to),
                bullet(reasons)
            ),
            Event::Failed {
                reasons: Some(reasons.to_vec()),
                rolled_back_by: Some("ecs".into()),
                verify_failed: None,
            },
        );
        self.show_task_logs(w).await;
        let rollback = w
            .deployer
            .follow_ecs_rollback(to, w.new_arn, &w.outcome.target.deployment_id)
            .await?;
        if let Followed::Interrupted(sig, target) = &rollback {
            let status = self.address().status();
            return Ok(AfterRollout {
                interrupted: Some(interrupted(out, *sig, target, &status, None)),
                ..AfterRollout::default()
            });
        }
        Ok(AfterRollout {
            ecs_rollback: rollback.seen(),
            ..AfterRollout::default()
        })
    }

    /// Failed or stalled, and ECS did not roll back: say why, with the failed task's log.
    async fn failed(&self, w: &Watched<'_>, verdict: &Verdict, reasons: &[String]) {
        let what = match verdict {
            Verdict::Stalled { .. } => "stalled",
            _ => "failed",
        };
        w.deployer.out.emit(
            &format!(
                "deploy of {} as {} {what}:\n{}",
                self.plan.version,
                w.new,
                bullet(reasons)
            ),
            Event::Failed {
                reasons: Some(reasons.to_vec()),
                rolled_back_by: None,
                verify_failed: None,
            },
        );
        self.show_task_logs(w).await;
    }

    /// After a failed rollout or verify: roll back to what ran before when the plan says so
    /// (watched), else leave the service where it is.
    async fn after_failure(&self, w: &Watched<'_>) -> Result<AfterRollout> {
        let (deployer, before) = (w.deployer, self.before);
        if self.plan.rollout.on_failure == OnFailure::Stop {
            return Ok(AfterRollout {
                followup: Followup::Left,
                ..AfterRollout::default()
            });
        }
        deployer.out.step(&format!(
            "rolling back to {} (rollout.on_failure = \"rollback\")",
            short_task_definition(&before.task_definition)
        ));
        let rollback = deployer.deploy(&before.task_definition, before).await?;
        let followup = match rollback.end {
            WatchEnd::Verdict(Verdict::Succeeded { running, desired }) => {
                Followup::RolledBack { running, desired }
            }
            WatchEnd::Verdict(v) => Followup::RollbackFailed(v.name()),
            WatchEnd::Interrupted(sig) => {
                let status = self.address().status();
                let undo = self.undo_command();
                let code = interrupted(deployer.out, sig, &rollback.target, &status, Some(&undo));
                return Ok(AfterRollout {
                    interrupted: Some(code),
                    ..AfterRollout::default()
                });
            }
        };
        Ok(AfterRollout {
            followup,
            rollback_deployment: Some(rollback.target.deployment_id),
            ..AfterRollout::default()
        })
    }

    async fn show_task_logs(&self, w: &Watched<'_>) {
        let failed = FailedTasks {
            cluster: &self.plan.service.cluster,
            service: &self.plan.service.name,
            task_definition_arn: w.new_arn,
            deployment_id: &w.outcome.target.deployment_id,
            known_tasks: &w.outcome.stats.stopped_tasks,
            known_definition: w.described.map(|(td, _)| td),
        };
        show_failed_task_logs(w.deployer.out, self.ecs, self.config, failed).await;
    }

    /// `release rollback PLAN --to N`: back to what ran before this release.
    fn undo_command(&self) -> String {
        self.address()
            .rollback_to(revision_of(&self.before.task_definition))
    }

    /// An error after the revision was registered: the state it left and how to undo it.
    fn left_registered(&self, f: Failure, new_arn: &str) -> Failure {
        let (cluster, service) = (&self.plan.service.cluster, &self.plan.service.name);
        Failure::new(
            f.code,
            format!(
                "{}\nrevision {} is registered and the service may be deploying it: see `{}`; {}",
                f.message,
                short_task_definition(new_arn),
                self.address().status(),
                self.address()
                    .undo_hint(cluster, service, &self.before.task_definition)
            ),
        )
    }

    /// How commands name this release's service: by its plan.
    fn address(&self) -> Address {
        Address::Plan(self.plan.path().to_path_buf())
    }

    /// The summary's results for a watched release, with `extra` added.
    fn summary(&self, w: &Watched<'_>, verdict: &Verdict, extra: Value) -> Value {
        let (plan, pinned, stats) = (self.plan, self.pinned, &w.outcome.stats);
        let mut own = json!({
            "version": plan.version.as_str(), "digest": pinned.digest, "image": pinned.image,
            "task_definition": w.new_arn, "previous_task_definition": self.before.task_definition,
            "watch_calls": stats.calls, "service_deployment_api": stats.service_deployment_api,
            "undo": self.undo_command(),
        });
        if let (Some(o), Value::Object(e)) = (own.as_object_mut(), extra) {
            o.extend(e);
        }
        w.deployer
            .rollout_fields(w.outcome, verdict, self.started, own)
    }
}

/// A deployment release started and watched to its verdict.
struct Watched<'a> {
    deployer: &'a Deployer<'a>,
    outcome: &'a Outcome,
    /// The new revision as RegisterTaskDefinition answered, with its tags: verify reads it
    /// from here instead of describing it again.
    described: Option<&'a (TaskDefinition, Vec<Tag>)>,
    new_arn: &'a str,
    /// `family:revision` of the new revision.
    new: &'a str,
}

/// Tags the running revision, registered outside release with the same task definition,
/// with the release's `release:*` tags (TagResource; no revision, no deployment), and returns
/// its tags as they now are (a read right after a write may not show it yet: reads are
/// eventually consistent). None, with a warning, when it cannot: deploy then registers a
/// revision as it would otherwise.
async fn adopt(
    out: &crate::output::Output,
    ecs: &Ecs,
    running_arn: &str,
    request: &aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput,
    existing: &[Tag],
) -> Option<Vec<Tag>> {
    let stale_previous = release_tags::read(existing).contains_key(release_tags::PREVIOUS);
    let tags: Vec<(String, String)> = request
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .filter(|(k, _)| release_tags::is_release_tag(k))
        .collect();
    out.step(&format!(
        "tagging {} with this release's tags (the same task definition, registered outside release)",
        short_task_definition(running_arn)
    ));
    crate::interrupt::changed(
        format!(
            "{} may carry this release's tags; nothing was registered or deployed",
            short_task_definition(running_arn)
        ),
        None,
    );
    // A release:previous left by another tool would send `release rollback` (without --to)
    // somewhere this release never ran from.
    let mut removed = Vec::new();
    if stale_previous {
        match ecs.untag(running_arn, release_tags::PREVIOUS).await {
            Ok(()) => removed.push(release_tags::PREVIOUS),
            Err(e) => out.warn(&format!(
                "cannot remove the stale release:previous of {}: {}",
                short_task_definition(running_arn),
                e.message
            )),
        }
    }
    match ecs.tag_all(running_arn, &tags).await {
        Ok(()) => Some(release_tags::after_tagging(existing, &tags, &removed)),
        Err(e) => {
            out.warn(&format!(
                "{} is this release's task definition, registered outside release, but cannot carry its tags ({}): registering a revision instead",
                short_task_definition(running_arn),
                e.message
            ));
            None
        }
    }
}

/// The revision a RegisterTaskDefinition whose answer was lost created, if ECS shows it: the
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
            let tags = release_tags::read(&tags);
            if release_tags::same_release(&tags, content, digest, plan.version.as_str()) {
                return Ok(Some(td));
            }
        }
    }
    Ok(None)
}

/// The revision deploy registered: its ARN and, when ECS's answer carried it, its
/// description and tags.
struct Registered {
    arn: String,
    described: Option<(TaskDefinition, Vec<Tag>)>,
}

/// What followed a watched rollout's verdict, for the settlement.
#[derive(Default)]
struct AfterRollout {
    /// The rollout succeeded and this many verify checks failed.
    verify_failed: Option<usize>,
    /// What release saw of ECS's rollback.
    ecs_rollback: Option<EcsRollback>,
    followup: Followup,
    /// The deployment of release's own rollback.
    rollback_deployment: Option<String>,
    /// A signal stopped release's rollback's watch: reported, with this exit code.
    interrupted: Option<ExitCode>,
}
