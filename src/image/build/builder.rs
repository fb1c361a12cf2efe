//! The builder CLI (`build.cli`: docker, podman, buildah or any docker-compatible CLI), run
//! as child processes: is it there and does it answer (docker: its daemon), can it use
//! BuildKit (the probe `choice.rs` judges), `build`, the local image id (`image inspect`;
//! buildah: `inspect --type image`) and `push`.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use super::choice::{self, Choice, Probe};
use super::log::BuildLog;
use super::login::PrivateConfig;
use super::process::{describe_status, indent, Child, Finished, RunError};
use super::push_digest;
use crate::exit::{ExitCode, Failure, Result};
use crate::image::reference::is_digest;
use crate::output::Output;
use crate::plan::{containers_cli, BuildSpec, ContainersCli};
use crate::redact::Redactor;
use crate::secret::SecretValue;

/// How long `<builder> version` may take before the daemon counts as not answering.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Builder<'a> {
    pub program: &'a str,
    /// The plan file, named in messages about `build.cli`.
    pub plan_path: &'a Path,
    pub out: &'a Output,
    pub log: &'a BuildLog,
}

impl Builder<'_> {
    fn child(&self) -> Child<'static> {
        Child::new(self.program)
    }

    /// A failure to start the builder at all (the binary is missing or cannot be run).
    fn missing(&self, e: &std::io::Error) -> Failure {
        let why = if e.kind() == std::io::ErrorKind::NotFound {
            "was not found".to_string()
        } else {
            format!("cannot be run ({e})")
        };
        Failure::new(
            ExitCode::BuilderMissing,
            format!(
                "the builder `{}` {why} (build.cli in {}; default `docker`, or the tool build.builder names): install it, or set build.cli (and build.builder) to one that is installed",
                self.program,
                self.plan_path.display()
            ),
        )
    }

    /// `<builder> version`: the binary exists and its daemon answers.
    pub async fn check(&self) -> Result<()> {
        let run = self
            .child()
            .args(["version"])
            .quiet()
            .timeout(VERSION_TIMEOUT)
            .run(self.out, self.log)
            .await;
        let detail = match run {
            Err(RunError::Spawn(e)) => return Err(self.missing(&e)),
            Ok(done) if done.status.success() => return Ok(()),
            Ok(done) => format!(
                "`{} version` ended with {}:\n{}",
                self.program,
                describe_status(&done.status),
                indent(&done.tail)
            ),
            Err(e) => format!("`{} version`: {e}", self.program),
        };
        if let Some(tool) = containers_cli(self.program) {
            // podman and buildah have no daemon: the CLI itself failed.
            return Err(Failure::new(
                ExitCode::DaemonDown,
                format!(
                    "`{} version` failed: {detail}\ncheck the {} installation (its storage and registries configuration)",
                    self.program,
                    tool.name()
                ),
            ));
        }
        let host = std::env::var("DOCKER_HOST")
            .map(|h| format!(" (DOCKER_HOST={h})"))
            .unwrap_or_default();
        Err(Failure::new(
            ExitCode::DaemonDown,
            format!(
                "the {} daemon does not answer{host}: {detail}\nstart it, or point DOCKER_HOST (or the docker context) at a running one",
                self.program
            ),
        ))
    }

    /// What the CLI can build with: `<cli> buildx version`, and without buildx the client's
    /// version (podman and buildah build with buildah's builder: nothing is asked).
    pub async fn probe(&self) -> Probe {
        let containers = containers_cli(self.program);
        if containers.is_some() {
            return Probe {
                containers,
                buildx: false,
                client_version: None,
            };
        }
        let buildx = matches!(
            self.child()
                .args(["buildx", "version"])
                .quiet()
                .timeout(VERSION_TIMEOUT)
                .run(self.out, self.log)
                .await,
            Ok(done) if done.status.success()
        );
        if buildx {
            // buildx is BuildKit: the client's version does not matter.
            return Probe {
                containers,
                buildx,
                client_version: None,
            };
        }
        let client_version = match self
            .child()
            .args(["version", "--format", "{{.Client.Version}}"])
            .quiet()
            .keep_output()
            .timeout(VERSION_TIMEOUT)
            .run(self.out, self.log)
            .await
        {
            Ok(done) => done
                .stdout
                .iter()
                .map(|l| l.trim().to_string())
                .find(|l| !l.is_empty()),
            Err(_) => None,
        };
        Probe {
            containers,
            buildx,
            client_version,
        }
    }

    /// The build with the chosen builder, every tag, and the secrets in the child's
    /// environment (`--secret id=ID,env=VAR`: the values never reach argv or the log).
    pub async fn build(
        &self,
        spec: &BuildSpec,
        choice: &Choice,
        references: &[String],
        secrets: &[(String, SecretValue)],
        redactor: &Redactor,
    ) -> Result<()> {
        // Absolute, so that the paths hold whatever the builder's working directory.
        let absolute = |p: &Path| {
            std::fs::canonicalize(p)
                .or_else(|_| std::path::absolute(p))
                .unwrap_or_else(|_| p.to_path_buf())
        };
        let (context, dockerfile) = (absolute(&spec.context), absolute(&spec.dockerfile));
        let ids: Vec<String> = secrets.iter().map(|(id, _)| id.clone()).collect();
        let (args, buildkit) = choice::command(
            choice.kind,
            &choice::Request {
                platform: spec.platform.as_deref(),
                network: spec.network.as_deref(),
                dockerfile: &dockerfile,
                context: &context,
                args: &spec.args,
                references,
                secret_ids: &ids,
            },
        );
        let mut child = self.child().args(&args).current_dir(&context);
        if let Some(v) = buildkit {
            child = child.env("DOCKER_BUILDKIT", v);
        }
        for (i, (_, value)) in secrets.iter().enumerate() {
            child = child.env(
                choice::secret_env(i),
                std::ffi::OsStr::from_bytes(value.expose()),
            );
        }
        // BuildKit does not mask what a RUN step prints: should one print a secret, it is
        // hidden here before any line is shown or written to the build log.
        child = child.redact(redactor.clone());
        let done = self.finish(child, ExitCode::Build, "build").await?;
        if done.status.success() {
            return Ok(());
        }
        Err(Failure::new(
            ExitCode::Build,
            format!(
                "`{} build` of {} with {} failed ({}):\n{}\nfull log: {}",
                self.program,
                references.first().map(String::as_str).unwrap_or(""),
                choice.kind.describe(),
                describe_status(&done.status),
                indent(&done.tail),
                self.log.path().display()
            ),
        ))
    }

    /// The local image id (`sha256:…`) of a reference: its config digest on the classic image
    /// store and in containers-storage, its manifest digest on the containerd store
    /// (`verify::same_image` takes both). buildah has no `image inspect`:
    /// `buildah inspect --type image` (buildah-inspect(1)), one line.
    pub async fn image_id(&self, reference: &str) -> Result<String> {
        let args: &[&str] = match containers_cli(self.program) {
            Some(ContainersCli::Buildah) => {
                &["inspect", "--type", "image", "--format", "{{.FromImageID}}"]
            }
            _ => &["image", "inspect", "--format", "{{.Id}}"],
        };
        let asked = args[..args.len() - 2].join(" ");
        let child = self.child().args(args).args([reference]).keep_output();
        let done = self.finish(child, ExitCode::Build, &asked).await?;
        let id = done
            .stdout
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .map(|l| {
                if l.starts_with("sha256:") {
                    l.to_string()
                } else {
                    format!("sha256:{l}")
                }
            });
        match id {
            Some(id) if done.status.success() && is_digest(&id) => Ok(id),
            _ => Err(Failure::new(
                ExitCode::Build,
                format!(
                    "`{} {asked} {reference}` gave no image id ({}):\n{}",
                    self.program,
                    describe_status(&done.status),
                    indent(&done.tail)
                ),
            )),
        }
    }

    /// `<builder> push REF` (inside the private config when logged in with ECR's token);
    /// returns the digest the push reported.
    pub async fn push(
        &self,
        reference: &str,
        tag: &str,
        config: Option<&PrivateConfig>,
    ) -> Result<String> {
        let digest_file = config
            .map(|c| c.path().to_path_buf())
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("release-digest-{}-{tag}", std::process::id()));
        let mut child = self.child().args(["push"]);
        if containers_cli(self.program).is_some() {
            child = child.args([
                std::ffi::OsStr::new("--digestfile"),
                digest_file.as_os_str(),
            ]);
        }
        child = child.args([reference]).keep_output();
        if let Some(c) = config {
            child = c.apply(child);
        }
        let done = self.finish(child, ExitCode::Push, "push").await?;
        if !done.status.success() {
            return Err(Failure::new(
                ExitCode::Push,
                format!(
                    "push of {reference} failed ({}):\n{}\nfull log: {}",
                    describe_status(&done.status),
                    indent(&done.tail),
                    self.log.path().display()
                ),
            ));
        }
        let from_file = std::fs::read_to_string(&digest_file)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|d| is_digest(d));
        let _ = std::fs::remove_file(&digest_file);
        from_file
            .or_else(|| push_digest::parse(&done.stdout, tag))
            .ok_or_else(|| {
                Failure::new(
                    ExitCode::Digest,
                    format!(
                        "push of {reference} succeeded but reported no digest (no `{tag}: digest: sha256:… size: N` line):\n{}\nfull log: {}",
                        indent(&done.tail),
                        self.log.path().display()
                    ),
                )
            })
    }

    /// Runs a builder command; a builder that vanished since `check` is still "missing".
    async fn finish(&self, child: Child<'_>, code: ExitCode, what: &str) -> Result<Finished> {
        match child.run(self.out, self.log).await {
            Ok(done) => Ok(done),
            Err(RunError::Spawn(e)) => Err(self.missing(&e)),
            Err(e) => Err(Failure::new(
                code,
                format!("`{} {what}`: {e}", self.program),
            )),
        }
    }
}
