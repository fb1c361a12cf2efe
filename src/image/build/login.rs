//! Logging the builder in to the registry with ECR's token: `<builder> login --username AWS
//! --password-stdin <host>` inside a private DOCKER_CONFIG (a fresh 0700 temp directory),
//! so the token never reaches argv, the user's docker config, the log or the output, and is
//! removed with the directory when the push is over.

use std::path::Path;

use super::log::BuildLog;
use super::process::{describe_status, indent, Child};
use crate::exit::{ExitCode, Failure, Result};
use crate::image::registry::{docker_config_path, Credentials};
use crate::output::Output;

/// A private docker config directory; removed when dropped.
pub struct PrivateConfig {
    dir: tempfile::TempDir,
}

impl PrivateConfig {
    /// Creates the directory. It keeps the user's docker context (`currentContext` and the
    /// `contexts` store) so the builder talks to the same daemon, and nothing else.
    pub fn create() -> Result<PrivateConfig> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("release-docker-config-");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Only we may read the token docker login writes here.
            builder.permissions(std::fs::Permissions::from_mode(0o700));
        }
        let dir = builder.tempdir().map_err(|e| {
            Failure::new(
                ExitCode::Login,
                format!("cannot create a private docker config directory: {e}"),
            )
        })?;
        let mut config = serde_json::json!({ "auths": {} });
        if let Some(user_config) = docker_config_path() {
            let current = std::fs::read_to_string(&user_config)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v.get("currentContext").cloned());
            if let Some(current) = current {
                config["currentContext"] = current;
            }
            #[cfg(unix)]
            if let Some(contexts) = user_config.parent().map(|d| d.join("contexts")) {
                if contexts.is_dir() {
                    let _ = std::os::unix::fs::symlink(&contexts, dir.path().join("contexts"));
                }
            }
        }
        std::fs::write(dir.path().join("config.json"), config.to_string()).map_err(|e| {
            Failure::new(
                ExitCode::Login,
                format!("cannot write the private docker config: {e}"),
            )
        })?;
        Ok(PrivateConfig { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Points a builder command at this config (docker reads DOCKER_CONFIG, podman and buildah
    /// REGISTRY_AUTH_FILE).
    pub fn apply<'a>(&self, child: Child<'a>) -> Child<'a> {
        child
            .env("DOCKER_CONFIG", self.path())
            .env("REGISTRY_AUTH_FILE", self.path().join("config.json"))
    }

    /// `<builder> login --username USER --password-stdin HOST`, the password on stdin.
    pub async fn login(
        &self,
        out: &Output,
        log: &BuildLog,
        builder: &str,
        host: &str,
        creds: &Credentials,
    ) -> Result<()> {
        let password = creds.password().as_bytes();
        let child = self.apply(
            Child::new(builder)
                .args([
                    "login",
                    "--username",
                    &creds.username,
                    "--password-stdin",
                    host,
                ])
                .stdin(password),
        );
        let failed = |detail: String| {
            Failure::new(
                ExitCode::Login,
                format!(
                    "login to {host} failed: `{builder} login --password-stdin` with ECR's token {detail}\nfull log: {}",
                    log.path().display()
                ),
            )
        };
        match child.run(out, log).await {
            Ok(done) if done.status.success() => Ok(()),
            Ok(done) => Err(failed(format!(
                "ended with {}:\n{}",
                describe_status(&done.status),
                indent(&done.tail)
            ))),
            Err(e) => Err(failed(format!("could not run: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_private_config_is_private_and_removed() {
        let config = PrivateConfig::create().unwrap();
        let path = config.path().to_path_buf();
        let text = std::fs::read_to_string(path.join("config.json")).unwrap();
        assert!(text.contains("\"auths\":{}"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        drop(config);
        assert!(!path.exists());
    }
}
