//! The builder CLI (`build.builder`: docker, podman or any docker-compatible CLI), run as
//! child processes: is it there and does its daemon answer, `build` with the classic
//! builder, `image inspect` and `push`.

use std::path::Path;
use std::time::Duration;

use super::log::BuildLog;
use super::login::PrivateConfig;
use super::process::{describe_status, indent, Child, Finished, RunError};
use super::push_digest;
use crate::exit::{ExitCode, Failure, Result};
use crate::image::reference::is_digest;
use crate::output::Output;
use crate::plan::BuildSpec;

/// How long `<builder> version` may take before the daemon counts as not answering.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Builder<'a> {
    pub program: &'a str,
    /// The plan file, named in messages about `build.builder`.
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
                "the builder `{}` {why} (build.builder in {}; default `docker`): install it, or set build.builder to a docker-compatible CLI such as podman",
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

    /// `<builder> build --platform … -f … --build-arg K=V … -t REF … CONTEXT` (classic builder).
    pub async fn build(&self, spec: &BuildSpec, references: &[String]) -> Result<()> {
        // Absolute, so that the paths hold whatever the builder's working directory.
        let absolute = |p: &Path| {
            std::fs::canonicalize(p)
                .or_else(|_| std::path::absolute(p))
                .unwrap_or_else(|_| p.to_path_buf())
        };
        let (context, dockerfile) = (absolute(&spec.context), absolute(&spec.dockerfile));
        let mut args: Vec<String> = vec!["build".into()];
        if let Some(p) = &spec.platform {
            args.extend(["--platform".into(), p.clone()]);
        }
        args.extend(["-f".into(), dockerfile.display().to_string()]);
        for (k, v) in &spec.args {
            args.extend(["--build-arg".into(), format!("{k}={v}")]);
        }
        for r in references {
            args.extend(["-t".into(), r.clone()]);
        }
        args.push(context.display().to_string());
        let child = self
            .child()
            .args(&args)
            .env("DOCKER_BUILDKIT", "0")
            .current_dir(&context);
        let done = self.finish(child, ExitCode::Build, "build").await?;
        if done.status.success() {
            return Ok(());
        }
        Err(Failure::new(
            ExitCode::Build,
            format!(
                "`{} build` of {} failed ({}):\n{}\nfull log: {}",
                self.program,
                references.first().map(String::as_str).unwrap_or(""),
                describe_status(&done.status),
                indent(&done.tail),
                self.log.path().display()
            ),
        ))
    }

    /// The local image id (`sha256:…`, the digest of its config) of a reference.
    pub async fn image_id(&self, reference: &str) -> Result<String> {
        let child = self
            .child()
            .args(["image", "inspect", "--format", "{{.Id}}", reference])
            .keep_output();
        let done = self.finish(child, ExitCode::Build, "image inspect").await?;
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
                    "`{} image inspect {reference}` gave no image id ({}):\n{}",
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
        if push_digest::is_podman(self.program) {
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
