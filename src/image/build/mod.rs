//! Build, tag and push the plan's image (`[build]`), and return it pinned by digest.
//!
//! Idempotent: when the version's tag is already in the registry, nothing is built or pushed
//! and its digest is reused (unless `--rebuild`). Otherwise: the `before` commands, the
//! builder's `build` with every tag, a login with ECR's token in a private
//! DOCKER_CONFIG (or the user's own docker credentials), a push of every tag, and a check
//! that every tag resolves to the pushed digest. A version's tag is never moved to another
//! image without `--retag`, and never in an ECR repository whose tag mutability keeps it
//! (there, tags such as `latest` are not pushed either: ECR would refuse them). The builder is
//! docker, podman, buildah or any docker-compatible CLI, run as child processes.

mod before;
mod builder;
pub mod choice;
mod log;
mod login;
pub mod process;
mod push_digest;
mod verify;

use aws_config::SdkConfig;

use crate::aws::ecr::{Ecr, RepositoryLookup};
use crate::exit::{ExitCode, Failure, Result};
use crate::image::mutability::{self, TagMutability};
use crate::image::platform;
use crate::image::reference::ImageRef;
use crate::image::registry::{self, ResolveError};
use crate::image::resolve;
use crate::output::{short_duration, Event, Output};
use crate::plan::{ecr_location, is_ecr_repository, BuildSpec, BuilderMode, Login, Plan};
use crate::redact::Redactor;
use crate::template::PinnedImage;
use builder::Builder;
use log::BuildLog;
use login::PrivateConfig;

/// `--rebuild` / `--retag`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildOptions {
    /// Build and push even when the version's tag already exists in the registry.
    pub rebuild: bool,
    /// Allow pushing a different digest under an existing version tag.
    pub retag: bool,
}

/// Steps 1-4 of issue 6; returns the pushed image pinned by digest.
///
/// A signal stops the build (its children's process groups are stopped, the private docker
/// config removed) with exit 130/143/129; nothing is registered.
pub async fn build_and_push(
    out: &Output,
    plan: &Plan,
    config: &SdkConfig,
    opts: &BuildOptions,
) -> Result<PinnedImage> {
    let spec = plan.build.as_ref().ok_or_else(|| {
        Failure::usage(format!(
            "{}: the plan has no [build] table, so there is nothing to build",
            plan.path().display()
        ))
    })?;
    let _handled = crate::interrupt::Handled::new();
    out.group(&format!("build {}:{}", plan.image.repository, plan.version));
    let result = tokio::select! {
        r = run(out, plan, spec, config, opts) => r,
        // Dropping the build stops its children's process groups and removes the private
        // docker config before the message is printed.
        sig = crate::interrupt::wait() => Err(Failure::new(
            sig.exit_code(),
            format!("interrupted by {} while building: its commands were stopped; nothing was registered or deployed (tags pushed before the interruption stay in the registry)", sig.name()),
        )),
    };
    out.clear_bar();
    out.end_group();
    result
}

/// One step on screen: a line, and a spinner with its elapsed time until dropped.
struct Step<'a>(&'a Output);

impl<'a> Step<'a> {
    fn begin(out: &'a Output, message: &str) -> Step<'a> {
        out.step(message);
        out.spinner(message);
        Step(out)
    }
}

impl Drop for Step<'_> {
    fn drop(&mut self) {
        self.0.clear_bar();
    }
}

async fn run(
    out: &Output,
    plan: &Plan,
    spec: &BuildSpec,
    config: &SdkConfig,
    opts: &BuildOptions,
) -> Result<PinnedImage> {
    let started = std::time::Instant::now();
    let repository = plan.image.repository.as_str();
    let tags = &plan.image.tags;
    let version_tag = tags[0].as_str();
    let version_ref = ImageRef::parse(&format!("{repository}:{version_tag}"))
        .map_err(|e| Failure::usage(format!("image.repository: {e}")))?;
    let host = version_ref.host.clone();

    // 0. Idempotence: the version's tag, when the registry has it, is the release's image.
    let (creds, existing) = look_up(out, plan, config, &version_ref).await?;
    if let (Some(digest), false) = (&existing, opts.rebuild) {
        return Ok(reused(out, &version_ref, version_tag, digest));
    }

    // The repository's tag mutability (ECR DescribeRepositories), before anything is built or
    // pushed: tags it will not let move are left out, and a version's tag it will not let move
    // stops a rebuild that would have to move it.
    let mutability = tag_mutability(out, plan, config).await;

    let log = BuildLog::create(&plan.task_definition.family, plan.version.as_str())?;
    out.info(&format!(
        "build log: {} (removed if the build succeeds)",
        log.path().display()
    ));
    let builder = Builder {
        program: &spec.cli,
        plan_path: plan.path(),
        out,
        log: &log,
    };
    let choice = ready(out, plan, spec, &builder).await?;
    // 1-2. The `before` commands, then the build with every tag.
    let references: Vec<String> = tags.iter().map(|t| format!("{repository}:{t}")).collect();
    before_and_build(out, plan, spec, &builder, &log, &choice, &references).await?;

    // A version's tag is immutable: compare before pushing anything.
    if let Some(existing) = &existing {
        let rebuilt = Rebuilt {
            version_ref: &version_ref,
            existing,
            local: &references[0],
            mutability: mutability.as_ref(),
        };
        rebuilt.compare(out, opts, &builder, creds.as_ref()).await?;
    }

    // 3. Log in (ECR's token, in a private docker config), or use the user's credentials.
    let private = match (plan.image.login, &creds) {
        (Login::Ecr, Some(c)) => {
            let _step = Step::begin(out, &format!("logging in to {host} with ECR's token"));
            let private = PrivateConfig::create()?;
            private.login(out, &log, &spec.cli, &host, c).await?;
            Some(private)
        }
        _ => None,
    };

    // 4. Push every tag the repository lets move (the version's first) and take the digest
    // from the push output.
    let pushed_tags = tags_to_push(out, repository, tags, mutability.as_ref());
    let digest = push(
        out,
        &builder,
        tags,
        &references,
        &pushed_tags,
        private.as_ref(),
    )
    .await?;
    drop(private);

    {
        let _step = Step::begin(
            out,
            &format!("checking that every tag resolves to {digest}"),
        );
        verify::registry_tags(repository, &pushed_tags, &digest, creds.as_ref()).await?;
        verify::ecr_tags(config, repository, &pushed_tags, &digest).await?;
    }
    if let Some(existing) = existing.as_ref().filter(|e| **e != digest) {
        out.warn(&format!("{version_ref} moved from {existing} to {digest}"));
    }
    let image = version_ref.pinned(&digest);
    let pinned = PinnedImage {
        image: image.clone(),
        digest: digest.clone(),
    };
    {
        let _step = Step::begin(out, "checking the pushed image's platform");
        check_platform(out, plan, &version_ref, &pinned, creds.as_ref()).await?;
    }

    log.remove();
    out.emit(
        &format!(
            "pushed {repository}:{} as {digest} in {}",
            pushed_tags.join(","),
            short_duration(started.elapsed())
        ),
        Event::ImagePushed {
            image: image.to_string(),
            digest: digest.to_string(),
            tags: pushed_tags.clone(),
        },
    );
    Ok(pinned)
}

/// The version's tag is in the registry and no rebuild was asked: its image is the release's.
fn reused(out: &Output, version_ref: &ImageRef, tag: &str, digest: &str) -> PinnedImage {
    let image = version_ref.pinned(digest);
    out.emit(
        &format!(
            "{version_ref} is already in the registry as {digest}: reused, nothing built or pushed (--rebuild builds it again)"
        ),
        Event::ImageReused {
            image: image.to_string(),
            digest: digest.to_string(),
            tag: tag.to_string(),
        },
    );
    PinnedImage {
        image,
        digest: digest.to_string(),
    }
}

/// The builder answers, and which of its builders builds. podman and buildah have one
/// builder (buildah's), whatever build.builder asks of docker: nothing to probe for; docker's
/// legacy builder, asked for, needs no probe either.
async fn ready(
    out: &Output,
    plan: &Plan,
    spec: &BuildSpec,
    builder: &Builder<'_>,
) -> Result<choice::Choice> {
    {
        let _step = Step::begin(out, &format!("checking the builder `{}`", spec.cli));
        builder.check().await?;
    }
    let containers = crate::plan::containers_cli(&spec.cli).is_some();
    if spec.builder == BuilderMode::Legacy && !containers {
        return Ok(choice::Choice::legacy());
    }
    let _step =
        (!containers).then(|| Step::begin(out, "checking whether it can build with BuildKit"));
    choose(out, plan, spec, &builder.probe().await)
}

/// The tags to push: those the repository lets move, the version's first. Tags an immutable
/// ECR repository keeps are left out, said once.
fn tags_to_push(
    out: &Output,
    repository: &str,
    tags: &[String],
    mutability: Option<&TagMutability>,
) -> Vec<String> {
    let (to_push, skipped) = mutability::tags_to_push(tags, mutability);
    if let (false, Some(m)) = (skipped.is_empty(), mutability) {
        let names = skipped
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let key = mutability::warning_key(repository);
        let said = format!(
            "ECR repository {} is {}: {names} will not be pushed (ECR refuses to overwrite a tag that exists: ImageTagAlreadyExistsException); {} is pushed once and never moved",
            ecr_location(repository).name,
            m.describe(),
            tags[0]
        );
        if !out.warn_once(&key, &said) {
            out.info(&format!(
                "not pushing {names} (tag mutability, see the warning above)"
            ));
        }
    }
    to_push.iter().map(|t| t.to_string()).collect()
}

/// The registry's credentials, and the digest the version's tag holds there (None: not
/// pushed yet).
async fn look_up(
    out: &Output,
    plan: &Plan,
    config: &SdkConfig,
    version_ref: &ImageRef,
) -> Result<(Option<registry::Credentials>, Option<String>)> {
    let _step = Step::begin(out, &format!("looking for {version_ref} in the registry"));
    let creds = resolve::credentials(plan, config, version_ref)
        .await
        .map_err(|f| {
            Failure::new(
                ExitCode::Login,
                format!("cannot log in to {}: {}", version_ref.host, f.message),
            )
        })?;
    let existing = match registry::resolve_digest(version_ref, creds.as_ref()).await {
        Ok(d) => Some(d),
        Err(ResolveError::NotFound(_)) => None,
        Err(e) => return Err(verify::registry_failure(e)),
    };
    Ok((creds, existing))
}

/// The `before` commands, then the build with every tag, with the build secrets rendered
/// now (not with the plan: only a build needs their variables). Their values are hidden in
/// the output of every command from here on: the `before` commands inherit the environment
/// they came from, and BuildKit does not mask what a RUN step prints.
async fn before_and_build(
    out: &Output,
    plan: &Plan,
    spec: &BuildSpec,
    builder: &Builder<'_>,
    log: &BuildLog,
    choice: &choice::Choice,
    references: &[String],
) -> Result<()> {
    let secrets = plan.build_secrets()?;
    // Without secrets it hides nothing.
    let redactor = Redactor::new(
        secrets
            .iter()
            .map(|(_, value)| String::from_utf8_lossy(value.expose()).into_owned()),
    );
    for command in &spec.before {
        let shown = redactor.apply(command);
        let _step = Step::begin(out, &format!("running before: {shown}"));
        before::run(out, log, spec, plan.version.as_str(), command, &redactor).await?;
    }
    let _step = Step::begin(
        out,
        &format!(
            "building {}:{} with {} ({})",
            plan.image.repository,
            plan.image.tags.join(","),
            spec.cli,
            choice.kind.describe()
        ),
    );
    builder
        .build(spec, choice, references, &secrets, &redactor)
        .await
}

/// A rebuild of a version whose tag the registry already has.
struct Rebuilt<'a> {
    version_ref: &'a ImageRef,
    /// The digest the version's tag holds.
    existing: &'a str,
    /// The local reference of the rebuilt image.
    local: &'a str,
    mutability: Option<&'a TagMutability>,
}

impl Rebuilt<'_> {
    /// A version's tag is immutable: the rebuilt image must be the one it holds (compared
    /// before anything is pushed), unless `--retag` and a repository that lets it move.
    async fn compare(
        &self,
        out: &Output,
        opts: &BuildOptions,
        builder: &Builder<'_>,
        creds: Option<&registry::Credentials>,
    ) -> Result<()> {
        let (version_ref, existing) = (self.version_ref, self.existing);
        // The repository keeps the version's tag where it is (tag immutability).
        let version_immutable = self.mutability.is_some_and(|m| {
            version_ref
                .tag
                .as_deref()
                .is_some_and(|t| m.is_immutable(t))
        });
        if opts.retag && !version_immutable {
            out.warn(&format!(
                "--retag: {version_ref} holds {existing}; it will point at the new build"
            ));
            return Ok(());
        }
        let _step = Step::begin(
            out,
            &format!("comparing the rebuilt image with {version_ref}"),
        );
        let local_id = builder.image_id(self.local).await?;
        verify::version_tag_unchanged(version_ref, existing, &local_id, creds)
            .await
            .map_err(|f| match self.mutability {
                // --retag cannot help: the repository keeps the tag where it is.
                Some(m) if version_immutable && f.code == ExitCode::Digest => {
                    verify::immutable_version_tag(
                        version_ref,
                        existing,
                        m,
                        if opts.retag {
                            "the rebuilt image, which differs from it, cannot replace it (not even with --retag): nothing was pushed"
                        } else {
                            "the rebuilt image, which differs from it, cannot replace it: nothing was pushed"
                        },
                    )
                }
                _ => f,
            })?;
        out.info(&format!(
            "the rebuilt image is the one {version_ref} holds ({local_id}): pushing it again"
        ));
        Ok(())
    }
}

/// Pushes every tag to push (the version's first) and returns the digest the pushes
/// reported: they must all report the same one.
async fn push(
    out: &Output,
    builder: &Builder<'_>,
    tags: &[String],
    references: &[String],
    pushed_tags: &[String],
    private: Option<&PrivateConfig>,
) -> Result<String> {
    let mut pushed: Option<String> = None;
    for (tag, reference) in tags
        .iter()
        .zip(references)
        .filter(|(t, _)| pushed_tags.contains(t))
    {
        let _step = Step::begin(out, &format!("pushing {reference}"));
        let digest = builder.push(reference, tag, private).await?;
        out.debug(&format!("{reference}: {digest}"));
        match &pushed {
            Some(first) if *first != digest => {
                return Err(Failure::new(
                    ExitCode::Digest,
                    format!(
                        "the push of {reference} reported {digest}, but {} reported {first}: stopping; nothing was registered",
                        references[0]
                    ),
                ))
            }
            Some(_) => {}
            None => pushed = Some(digest),
        }
    }
    Ok(pushed.expect("a plan has at least one tag"))
}

/// The pushed image's `os`/`architecture` (its config, from the registry) against the
/// `runtimePlatform` of the task definition the plan renders with it: a mismatch stops the
/// release before anything is registered (ECS would start tasks that cannot run it).
async fn check_platform(
    out: &Output,
    plan: &Plan,
    version_ref: &ImageRef,
    pinned: &PinnedImage,
    creds: Option<&registry::Credentials>,
) -> Result<()> {
    let rendered = match crate::template::render(plan, pinned) {
        Ok(r) => r,
        Err(e) => {
            // deploy renders it again before registering, and stops there.
            out.warn(&format!(
                "the pushed image's platform is not checked: the task definition does not render: {}",
                e.message
            ));
            return Ok(());
        }
    };
    let pushed = pushed_platform(version_ref, &pinned.digest, creds)
        .await
        .map_err(verify::registry_failure)?;
    let pushed = pushed.map_err(|why| {
        Failure::new(
            ExitCode::Build,
            format!(
                "the pushed image {} {why}: its platform cannot be checked; nothing was registered",
                pinned.image
            ),
        )
    })?;
    match platform::check(&pushed, rendered.request.runtime_platform()) {
        Ok(said) => {
            out.info(&format!("the pushed image's platform: {said}"));
            Ok(())
        }
        Err(why) => Err(Failure::new(
            ExitCode::Build,
            format!(
                "{}: {why}. It was pushed; nothing was registered or deployed",
                pinned.image
            ),
        )),
    }
}

/// `os/architecture` of an image in the registry, from its manifest's config blob; `Err`
/// says why there is none.
async fn pushed_platform(
    version_ref: &ImageRef,
    digest: &str,
    creds: Option<&registry::Credentials>,
) -> std::result::Result<std::result::Result<platform::Platform, String>, ResolveError> {
    let at = ImageRef::parse(&version_ref.pinned(digest))
        .map_err(|e| ResolveError::Other(format!("{version_ref}: {e}")))?;
    let (_, manifest) = registry::fetch_manifest(&at, creds).await?;
    let Some(config) = verify::config_digest(&manifest) else {
        // buildx without --provenance=false, or a multi-platform build: not one image.
        return Ok(Err(
            "is an index (a list of images), not one image manifest".to_string(),
        ));
    };
    let config = registry::fetch_blob_json(&at, config, creds).await?;
    let field = |k: &str| config.get(k).and_then(|v| v.as_str()).map(str::to_string);
    Ok(match (field("os"), field("architecture")) {
        (Some(os), Some(architecture)) => Ok(platform::Platform { os, architecture }),
        _ => Err("has no os/architecture in its config".to_string()),
    })
}

/// The builder from `build.builder` and the probe: a fallback to the legacy builder is said
/// once (a warning); `buildkit` (or `podman`) that cannot be had, and secrets with a builder
/// that cannot mount them, stop the build before anything runs or is pushed.
fn choose(
    out: &Output,
    plan: &Plan,
    spec: &BuildSpec,
    probe: &choice::Probe,
) -> Result<choice::Choice> {
    let c = choice::choose(spec.builder, &spec.cli, probe).map_err(|why| {
        Failure::new(
            ExitCode::Preflight,
            format!(
                "{}: {why}; nothing was built or pushed",
                plan.path().display()
            ),
        )
    })?;
    if !c.kind.mounts_secrets() && !spec.secret_ids.is_empty() {
        let why = c
            .fallback
            .as_deref()
            .unwrap_or("build.builder is \"legacy\"");
        return Err(Failure::new(
            ExitCode::Preflight,
            format!(
                "{}: build.secrets needs BuildKit, podman or buildah (RUN --mount=type=secret), but {why}: install the buildx plugin (https://docs.docker.com/go/buildx/), or build with podman or buildah (build.builder = \"podman\" or \"buildah\"). Nothing was built or pushed",
                plan.path().display(),
            ),
        ));
    }
    if let Some(why) = &c.fallback {
        out.warn_once(
            &format!("builder:{}", spec.cli),
            &format!("building with the legacy builder (deprecated by Docker): {why}; install the buildx plugin to build with BuildKit"),
        );
    }
    out.debug(&format!("builder: {}", c.kind.describe()));
    Ok(c)
}

/// The repository's tag mutability for an ECR repository (or `login = "ecr"`), from
/// DescribeRepositories; `None` when it is not one, is not found (the push will say so), or
/// cannot be read: then every tag is pushed, as before, after one warning (preflight's, when it
/// gave it).
async fn tag_mutability(out: &Output, plan: &Plan, config: &SdkConfig) -> Option<TagMutability> {
    let repository = plan.image.repository.as_str();
    if !is_ecr_repository(repository) && plan.image.login != Login::Ecr {
        return None;
    }
    let location = ecr_location(repository);
    let why = match Ecr::for_repository(config, repository)
        .repository(&location)
        .await
    {
        Ok(RepositoryLookup::Found(m)) => return Some(m),
        Ok(RepositoryLookup::NotFound) => return None,
        Ok(RepositoryLookup::Denied(why)) => why,
        Err(f) => f.message,
    };
    out.warn_once(
        &mutability::warning_key(repository),
        &format!("{why}: the repository's tag mutability is not known; every tag is pushed as the registry allows"),
    );
    None
}
