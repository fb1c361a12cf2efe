//! Starting a deployment and watching it to its end: shared by deploy, rollback and
//! restart so that each is watched, judged and reported the same way.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::aws::ecs::Ecs;
use crate::exit::{ExitCode, Failure, Result};
use crate::output::{Event, Output};
use crate::plan::RolloutSpec;
use crate::rollout::decision::{Target, Verdict};
use crate::rollout::observation::{short_task_definition, Service};
use crate::rollout::settle::{settle, Address, Context, EcsRollback, Ending, Followup, Role};
use crate::rollout::watch::{Watch, WatchEnd, WatchStats};
use crate::taskdef::release_tags;

/// Where a deployment happens and how it is watched.
pub struct Deployer<'a> {
    pub ecs: &'a Ecs,
    pub out: &'a Output,
    pub cluster: &'a str,
    pub service: &'a str,
    pub rollout: &'a RolloutSpec,
    /// Tag the deployed revision `release:previous` = what ran before (TagResource). Deploy
    /// registers its revision with that tag already, so it passes false: one call less.
    pub tag_previous: bool,
}

/// How following ECS's rollback ended.
pub enum Followed {
    /// The rollback deployment's verdict.
    Verdict(Verdict),
    /// ECS's rollback deployment was not listed within the visibility grace.
    NotFound,
    /// A signal stopped the watch: the rollback goes on in ECS.
    Interrupted(crate::interrupt::Signal, Target),
}

impl Followed {
    /// What the settlement needs to know of it; None when a signal stopped the following.
    pub fn seen(&self) -> Option<EcsRollback> {
        match self {
            Followed::Verdict(Verdict::Succeeded { running, desired }) => {
                Some(EcsRollback::Completed {
                    running: *running,
                    desired: *desired,
                })
            }
            Followed::Verdict(v) => Some(EcsRollback::Incomplete(v.name())),
            Followed::NotFound => Some(EcsRollback::NotFound),
            Followed::Interrupted(..) => None,
        }
    }
}

/// A watched deployment's end, ECS's rollback followed when it made one.
pub enum Concluded {
    /// The terminal verdict, and what release saw of ECS's rollback (for `RolledBackByEcs`).
    Ended {
        verdict: Verdict,
        ecs_rollback: Option<EcsRollback>,
    },
    /// A signal stopped the watch; it was reported, and this is the exit code.
    Interrupted(ExitCode),
}

/// How a rollout that is all the command does (restart, rollback) is settled and reported.
pub struct Settling<'a> {
    pub role: Role<'a>,
    /// How the service is named in the commands the summary suggests.
    pub address: &'a Address,
    /// The command that undoes the deployment, shown if a signal stops the watch.
    pub undo: Option<&'a str>,
    /// When the command started (the summary's `seconds`).
    pub started: Instant,
    /// The command's own summary fields.
    pub fields: serde_json::Value,
}

/// The end of a watched deployment.
pub struct Outcome {
    pub target: Target,
    pub end: WatchEnd,
    pub stats: WatchStats,
}

impl Deployer<'_> {
    /// UpdateService(task_definition, forceNewDeployment) and watch the deployment it created.
    /// The timeout counts from the UpdateService call: a long build or preflight before it
    /// takes nothing from the rollout's time.
    pub async fn deploy(&self, task_definition: &str, before: &Service) -> Result<Outcome> {
        let started = Instant::now();
        let target = self.start(task_definition, before).await?;
        let deployment = target.deployment_id.clone();
        self.follow(target, started).await.map_err(|f| {
            // The watch failed, not the deployment: say what goes on and how to undo it.
            let undo = match self.undo(task_definition, before) {
                Some(undo) => format!(
                    "; to return to {}: {undo}",
                    short_task_definition(&before.task_definition)
                ),
                None => String::new(),
            };
            Failure::new(
                f.code,
                format!(
                    "{}\ndeployment {deployment} of {} was started and goes on in ECS without release: see `{}`{undo}",
                    f.message,
                    short_task_definition(task_definition),
                    self.address().status()
                ),
            )
        })
    }

    /// The verdict of `outcome`, with ECS's rollback followed to its end when ECS made one
    /// (release starts no second one); an interruption is reported with how to see the
    /// service (`address`) and, while ours was watched, how to undo it (`undo`).
    pub async fn conclude(
        &self,
        outcome: &Outcome,
        address: &Address,
        undo: Option<&str>,
    ) -> Result<Concluded> {
        let verdict = match &outcome.end {
            WatchEnd::Interrupted(sig) => {
                let code = interrupted(self.out, *sig, &outcome.target, &address.status(), undo);
                return Ok(Concluded::Interrupted(code));
            }
            WatchEnd::Verdict(v) => v.clone(),
        };
        let ecs_rollback = match &verdict {
            Verdict::RolledBackByEcs { to, .. } => {
                let back = self
                    .follow_ecs_rollback(
                        to,
                        &outcome.target.task_definition,
                        &outcome.target.deployment_id,
                    )
                    .await?;
                if let Followed::Interrupted(sig, target) = &back {
                    let code = interrupted(self.out, *sig, target, &address.status(), None);
                    return Ok(Concluded::Interrupted(code));
                }
                back.seen()
            }
            _ => None,
        };
        Ok(Concluded::Ended {
            verdict,
            ecs_rollback,
        })
    }

    /// Deploys `task_definition`, watches it, follows ECS's rollback, settles the end and
    /// emits the summary, for a command whose rollout is all it does (nothing verified,
    /// nothing rolled back by release): restart and rollback.
    pub async fn deploy_and_settle(
        &self,
        task_definition: &str,
        before: &Service,
        how: Settling<'_>,
    ) -> Result<ExitCode> {
        let rollout = self.deploy(task_definition, before).await?;
        let (verdict, ecs_rollback) = match self.conclude(&rollout, how.address, how.undo).await? {
            Concluded::Ended {
                verdict,
                ecs_rollback,
            } => (verdict, ecs_rollback),
            Concluded::Interrupted(code) => return Ok(code),
        };
        let settled = settle(
            Ending {
                verdict: &verdict,
                verify_failed: None,
                ecs_rollback,
                followup: Followup::Nothing,
            },
            how.role,
            Context {
                cluster: self.cluster,
                service: self.service,
                address: how.address,
                previous: &before.task_definition,
                deployment: &rollout.target.deployment_id,
                elapsed: how.started.elapsed(),
                timeout: self.rollout.timeout,
            },
        );
        let mut fields = self.rollout_fields(&rollout, &verdict, how.started, how.fields);
        fields["next"] = serde_json::json!(settled.next);
        self.out
            .summary(&settled.summary, settled.exit_code.code(), fields);
        Ok(settled.exit_code)
    }

    /// The summary fields every watched rollout reports (its deployment, time, polls, the
    /// ECS calls of the command and the verdict), with the command's own (`extra`) added.
    pub fn rollout_fields(
        &self,
        rollout: &Outcome,
        verdict: &Verdict,
        started: Instant,
        extra: serde_json::Value,
    ) -> serde_json::Value {
        let mut fields = serde_json::json!({
            "deployment": rollout.target.deployment_id,
            "seconds": started.elapsed().as_secs_f64(), "polls": rollout.stats.polls,
            "ecs_calls": self.ecs.calls(), "ecs_calls_by_action": self.ecs.calls_by_action(),
            "verdict": verdict,
        });
        if let (Some(all), serde_json::Value::Object(own)) = (fields.as_object_mut(), extra) {
            all.extend(own);
        }
        fields
    }

    /// Watches a deployment already started (by us, or by ECS's own rollback).
    pub async fn follow(&self, target: Target, started: Instant) -> Result<Outcome> {
        let watch = Watch {
            ecs: self.ecs,
            out: self.out,
            cluster: self.cluster,
            service: self.service,
            rollout: self.rollout,
            started,
        };
        let (end, stats) = watch.run(&target).await?;
        self.out.debug(&format!(
            "{} polls ({} failed), {} ECS API calls so far",
            stats.polls,
            stats.failed_polls,
            self.ecs.calls()
        ));
        Ok(Outcome { target, end, stats })
    }

    /// The command that returns the service to what it ran `before` a deployment of
    /// `task_definition`; none when that is the same revision (a restart).
    fn undo(&self, task_definition: &str, before: &Service) -> Option<String> {
        (task_definition != before.task_definition).then(|| {
            self.address()
                .rollback_to(revision_of(&before.task_definition))
        })
    }

    /// The service by cluster and name, as commands that need no plan name it.
    fn address(&self) -> Address {
        Address::Service {
            cluster: self.cluster.to_string(),
            service: self.service.to_string(),
        }
    }

    async fn start(&self, task_definition: &str, before: &Service) -> Result<Target> {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        self.out.step(&format!(
            "deploying {} to {}/{}",
            short_task_definition(task_definition),
            self.cluster,
            self.service
        ));
        let known: Vec<String> = before.deployments.iter().map(|d| d.id.clone()).collect();
        let undo = self.undo(task_definition, before);
        crate::interrupt::changed(
            format!(
                "UpdateService to {} was sent: the service may be deploying it",
                short_task_definition(task_definition)
            ),
            undo.clone(),
        );
        let after = match self
            .ecs
            .update_service(self.cluster, self.service, task_definition)
            .await
        {
            Ok(after) => after,
            Err(e) if e.outcome_unknown => {
                // ECS may have applied it: read the service back instead of sending it again
                // (a second forced deployment), and watch the deployment if it started.
                self.out.warn(&format!(
                    "{}: ECS may have applied it; reading the service back",
                    e.message
                ));
                match self.read_back(task_definition, &known).await? {
                    Some(service) => service,
                    None => {
                        return Err(Failure::aws(format!(
                            "{}\nafter {} reads the service shows no new deployment of {}: the UpdateService most likely did not apply; see `release status`",
                            e.message,
                            crate::rollout::decision::VISIBILITY_GRACE_READS,
                            short_task_definition(task_definition)
                        )))
                    }
                }
            }
            Err(e) => {
                return Err(Failure::aws(format!(
                    "{}\nthis UpdateService changed nothing: the service still runs what it ran before the call to {}",
                    e.message,
                    short_task_definition(task_definition)
                )))
            }
        };
        if self.tag_previous && task_definition != before.task_definition {
            // What ran before this revision, for `release rollback` without --to; replaced on
            // every deployment of the revision, so it names the latest one.
            if let Err(e) = self
                .ecs
                .tag(
                    task_definition,
                    release_tags::PREVIOUS,
                    &before.task_definition,
                )
                .await
            {
                self.out
                    .warn(&format!("cannot record what ran before: {}", e.message));
            }
        }
        let ours = after
            .deployments
            .iter()
            .find(|d| d.status == "PRIMARY" && d.task_definition == task_definition && !known.contains(&d.id))
            .ok_or_else(|| {
                Failure::aws(format!(
                    "UpdateService started no new PRIMARY deployment of {task_definition}; the service may be changing: see `release status`"
                ))
            })?;
        // The service deployment this UpdateService started (API_UpdateService returns the
        // service with `currentServiceDeployment`); an endpoint without the API gives none.
        let service_deployment = after
            .current_service_deployment
            .clone()
            .filter(|arn| before.current_service_deployment.as_ref() != Some(arn));
        if service_deployment.is_none() {
            self.out.info(
                "ECS named no new service deployment for this UpdateService (no currentServiceDeployment): judging the rollout from the service's deployment list",
            );
        }
        let target = Target {
            deployment_id: ours.id.clone(),
            task_definition: task_definition.to_string(),
            previous_task_definition: Some(before.task_definition.clone()),
            since,
            service_deployment,
            known_before: known.clone(),
        };
        crate::interrupt::changed(
            format!(
                "the service is deploying {} (deployment {}); ECS goes on without release",
                short_task_definition(task_definition),
                target.deployment_id
            ),
            undo,
        );
        self.out.emit(
            &format!(
                "deployment {} of {} started; watching it (timeout {})",
                target.deployment_id,
                short_task_definition(task_definition),
                humantime::format_duration(self.rollout.timeout)
            ),
            Event::DeploymentStarted {
                deployment: target.deployment_id.clone(),
                task_definition_arn: task_definition.to_string(),
                task_definition: short_task_definition(task_definition).to_string(),
            },
        );
        Ok(target)
    }
}

impl Deployer<'_> {
    /// After a write whose answer was lost: the service as ECS shows it once a new PRIMARY
    /// deployment of `task_definition` is listed, within the visibility grace; None when it
    /// never shows.
    async fn read_back(&self, task_definition: &str, known: &[String]) -> Result<Option<Service>> {
        for read in 0..crate::rollout::decision::VISIBILITY_GRACE_READS {
            if read > 0 {
                tokio::time::sleep(self.rollout.poll).await;
            }
            let service = self
                .ecs
                .existing_service(self.cluster, self.service, "cannot read the service back")
                .await?;
            if service.deployments.iter().any(|d| {
                d.status == "PRIMARY"
                    && d.task_definition == task_definition
                    && !known.contains(&d.id)
            }) {
                self.out.info(&format!(
                    "ECS applied the UpdateService: a deployment of {} started",
                    short_task_definition(task_definition)
                ));
                return Ok(Some(service));
            }
        }
        Ok(None)
    }

    /// After ECS's circuit breaker rolled our deployment back: follow ECS's rollback
    /// deployment (the PRIMARY on `to`) until it ends, so that "rolled back" is reported only
    /// once the old revision runs again. None when no such deployment is listed.
    pub async fn follow_ecs_rollback(
        &self,
        to: &str,
        failed: &str,
        ours: &str,
    ) -> Result<Followed> {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        // ECS's rollback deployment may not be visible at once (eventual consistency).
        let mut found = None;
        for read in 0..crate::rollout::decision::VISIBILITY_GRACE_READS {
            if read > 0 {
                tokio::time::sleep(self.rollout.poll).await;
            }
            let service = self
                .ecs
                .existing_service(self.cluster, self.service, "cannot follow ECS's rollback")
                .await?;
            // Not our failed deployment (a restart's rollback runs the same revision).
            if let Some(p) = service
                .deployments
                .iter()
                .find(|d| d.status == "PRIMARY" && d.task_definition == to && d.id != ours)
            {
                let known = service
                    .deployments
                    .iter()
                    .filter(|d| d.id != p.id)
                    .map(|d| d.id.clone())
                    .collect();
                found = Some((p.clone(), known));
                break;
            }
        }
        let Some((primary, known_before)) = found else {
            return Ok(Followed::NotFound);
        };
        self.out.step(&format!(
            "following ECS's rollback: deployment {} of {}",
            primary.id,
            short_task_definition(to)
        ));
        let target = Target {
            deployment_id: primary.id.clone(),
            task_definition: to.to_string(),
            previous_task_definition: Some(failed.to_string()),
            since,
            service_deployment: None,
            known_before,
        };
        let outcome = self.follow(target, Instant::now()).await?;
        Ok(match outcome.end {
            WatchEnd::Verdict(v) => Followed::Verdict(v),
            WatchEnd::Interrupted(sig) => Followed::Interrupted(sig, outcome.target),
        })
    }
}

pub use crate::rollout::settle::{bullet, revision_of};

/// What to tell the user, and the exit code, when a watch was interrupted: the deployment
/// goes on; how to see it and, when there is one, how to undo it.
pub fn interrupted(
    out: &Output,
    signal: crate::interrupt::Signal,
    target: &Target,
    status_cmd: &str,
    undo_cmd: Option<&str>,
) -> ExitCode {
    let undo = undo_cmd
        .map(|u| format!("\n  undo it:  {u}"))
        .unwrap_or_default();
    let message = format!(
        "interrupted by {}: stopped watching; deployment {} of {} goes on in ECS.\n  see it:   {status_cmd}{undo}",
        signal.name(),
        target.deployment_id,
        short_task_definition(&target.task_definition),
    );
    out.emit(
        &message,
        Event::Interrupted {
            deployment: target.deployment_id.clone(),
            signal: signal.name().to_string(),
            status_command: status_cmd.to_string(),
            rollback_command: undo_cmd.map(str::to_string),
        },
    );
    out.summary_for_machines(
        &message,
        signal.exit_code().code(),
        serde_json::json!({
            "deployment": target.deployment_id, "signal": signal.name(),
            "status_command": status_cmd, "rollback_command": undo_cmd,
        }),
    );
    signal.exit_code()
}

/// How many lines of a failed container's log a failure shows.
pub const LOG_LINES: i32 = 5;

/// Which deployment's failed tasks to show, and what the caller already read of them (empty
/// or None: read now).
pub struct FailedTasks<'a> {
    pub cluster: &'a str,
    pub service: &'a str,
    pub task_definition_arn: &'a str,
    pub deployment_id: &'a str,
    /// The deployment's stopped tasks as the watch last read them.
    pub known_tasks: &'a [crate::rollout::observation::Task],
    /// The task definition as RegisterTaskDefinition answered.
    pub known_definition: Option<&'a aws_sdk_ecs::types::TaskDefinition>,
}

/// After a failure: the last lines the first stopped task of `deployment_id` wrote, per
/// awslogs container (the one that exited non-zero first), so the app's own reason stands
/// next to ECS's. The values of the secrets the revision injects are redacted from them; when
/// one cannot be read to redact it (a Secrets Manager reference, a denied parameter) the lines
/// are not shown, and the line says why. Never fails the command: a reason it cannot read
/// is said once, as a warning.
pub async fn show_failed_task_logs(
    out: &Output,
    ecs: &Ecs,
    config: &aws_config::SdkConfig,
    failed: FailedTasks<'_>,
) {
    let listed;
    let tasks = if failed.known_tasks.is_empty() {
        listed = match ecs
            .tasks(
                failed.cluster,
                failed.service,
                aws_sdk_ecs::types::DesiredStatus::Stopped,
                Some(failed.deployment_id),
            )
            .await
        {
            Ok(t) => t,
            Err(e) => return out.warn(&format!("cannot list the stopped tasks: {}", e.message)),
        };
        listed.as_slice()
    } else {
        failed.known_tasks
    };
    if tasks.is_empty() {
        return;
    }
    let arn = failed.task_definition_arn;
    let described;
    let td = match failed.known_definition {
        Some(td) => td,
        None => match ecs.task_definition(arn).await {
            Ok(Some((td, _))) => {
                described = td;
                &described
            }
            Ok(None) => return,
            Err(e) => return out.warn(&format!("cannot read {arn}: {}", e.message)),
        },
    };
    let streams = crate::rollout::task_logs::streams(td, tasks);
    if streams.is_empty() {
        return;
    }
    let redactor = match secret_redactor(config, td).await {
        Ok(r) => r,
        Err(why) => {
            out.info(&format!(
                "  the containers' log lines are not shown: {why}, so they could not be redacted"
            ));
            return;
        }
    };
    for s in streams {
        let lines = match last_lines(config, &s).await {
            Ok(l) if l.is_empty() => {
                out.info(&format!(
                    "  no log lines of {} in task {} yet (CloudWatch Logs {} {})",
                    s.container, s.task_id, s.group, s.stream
                ));
                continue;
            }
            Ok(l) => l,
            Err(e) => {
                out.warn(&format!("cannot read the log of {}: {e}", s.container));
                continue;
            }
        };
        // One shown line per line the app wrote, without control characters (no escape
        // sequences, no line that starts a CI workflow command), secrets redacted.
        let lines: Vec<String> = lines
            .iter()
            .flat_map(|l| {
                l.split(['\n', '\r'])
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let clean: String = l
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                redactor.apply_then_cut(&clean, 300)
            })
            .collect();
        let skip = lines.len().saturating_sub(LOG_LINES as usize);
        let lines: Vec<String> = lines.into_iter().skip(skip).collect();
        out.emit(
            &format!(
                "  last log lines of {} in task {}{} (CloudWatch Logs {} {}):\n{}",
                s.container,
                s.task_id,
                s.exit_code
                    .map(|c| format!(", exit code {c}"))
                    .unwrap_or_default(),
                s.group,
                s.stream,
                lines
                    .iter()
                    .map(|l| format!("    | {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            Event::TaskLog {
                task_id: s.task_id.clone(),
                container: s.container.clone(),
                exit_code: s.exit_code,
                log_group: s.group.clone(),
                log_stream: s.stream.clone(),
                lines,
            },
        );
    }
}

/// The last lines of a container's stream. Delivery to CloudWatch Logs lags the container's
/// exit (the awslogs driver sends in batches), so an empty answer is asked again twice, a
/// second apart.
async fn last_lines(
    config: &aws_config::SdkConfig,
    s: &crate::rollout::task_logs::LogStream,
) -> std::result::Result<Vec<String>, String> {
    let mut tries = 0;
    loop {
        tries += 1;
        let lines = crate::aws::logs::last_lines(
            config,
            s.region.as_deref(),
            &s.group,
            &s.stream,
            LOG_LINES,
        )
        .await?;
        if !lines.is_empty() || tries >= 3 {
            return Ok(lines);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// A redactor holding the values of every secret the revision injects (SSM parameters, read
/// with decryption); Err names the first it cannot read.
async fn secret_redactor(
    config: &aws_config::SdkConfig,
    td: &aws_sdk_ecs::types::TaskDefinition,
) -> std::result::Result<crate::redact::Redactor, String> {
    let refs = crate::taskdef::described_secret_refs(td);
    if let Some(sm) = refs.iter().find(|r| r.contains(":secretsmanager:")) {
        return Err(format!("the secret {sm} is in Secrets Manager"));
    }
    if refs.is_empty() {
        return Ok(crate::redact::Redactor::new(Vec::new()));
    }
    let lookups = crate::aws::ssm::get_parameters(config, &refs, true).await?;
    let mut values = Vec::new();
    for r in &refs {
        match lookups.get(r) {
            Some(crate::aws::ssm::Lookup::Found(p)) => {
                // The app may print the value without the whitespace it carries (a trailing
                // newline): redact both forms.
                let value = String::from_utf8_lossy(p.value.expose()).into_owned();
                let trimmed = value.trim().to_string();
                if !trimmed.is_empty() && trimmed != value {
                    values.push(trimmed);
                }
                values.push(value);
            }
            _ => return Err(format!("the secret {r} could not be read")),
        }
    }
    Ok(crate::redact::Redactor::new(values))
}
