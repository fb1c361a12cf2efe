//! Checking what the registry holds: every pushed tag must resolve (registry HEAD, and for
//! ECR also DescribeImages) to the digest the push reported; and a version's tag that
//! already exists is not moved to a different image unless asked.

use aws_config::SdkConfig;

use crate::aws::ecr::Ecr;
use crate::exit::{ExitCode, Failure, Result};
use crate::image::mutability::TagMutability;
use crate::image::reference::ImageRef;
use crate::image::registry::{self, Credentials, ResolveError};
use crate::plan::{ecr_location, is_ecr_repository};

/// A registry answer that is not about the image itself (network, credentials) as a failure.
pub fn registry_failure(e: ResolveError) -> Failure {
    match e {
        ResolveError::Unauthorized(m) => Failure::new(ExitCode::Login, m),
        ResolveError::NotFound(m) | ResolveError::Other(m) => Failure::aws(m),
    }
}

fn tag_ref(repository: &str, tag: &str) -> Result<ImageRef> {
    ImageRef::parse(&format!("{repository}:{tag}")).map_err(Failure::usage)
}

/// HEAD each tag in the registry; each must answer `digest`.
pub async fn registry_tags(
    repository: &str,
    tags: &[String],
    digest: &str,
    creds: Option<&Credentials>,
) -> Result<()> {
    for tag in tags {
        let image = tag_ref(repository, tag)?;
        let found = match registry::resolve_digest(&image, creds).await {
            Ok(d) => d,
            Err(ResolveError::NotFound(_)) => "nothing (404)".to_string(),
            Err(e) => return Err(registry_failure(e)),
        };
        if found != digest {
            return Err(disagreement(&format!(
                "after the push, the registry resolves {image} to {found}, but the push reported {digest}"
            )));
        }
    }
    Ok(())
}

/// For an ECR repository: DescribeImages must list each tag with `digest`.
pub async fn ecr_tags(
    config: &SdkConfig,
    repository: &str,
    tags: &[String],
    digest: &str,
) -> Result<()> {
    if !is_ecr_repository(repository) {
        return Ok(());
    }
    let location = ecr_location(repository);
    let ecr = Ecr::for_repository(config, repository);
    for tag in tags {
        let found = ecr
            .image_digest(location.account.as_deref(), &location.name, tag)
            .await?;
        if found.as_deref() != Some(digest) {
            return Err(disagreement(&format!(
                "after the push, ECR DescribeImages lists {repository}:{tag} as {}, but the push reported {digest}",
                found.as_deref().unwrap_or("missing")
            )));
        }
    }
    Ok(())
}

fn disagreement(what: &str) -> Failure {
    Failure::new(
        ExitCode::Digest,
        format!("{what}: stopping; nothing was registered"),
    )
}

/// The config digest (the image id) of a single-image manifest; `None` for an index.
pub fn config_digest(manifest: &serde_json::Value) -> Option<&str> {
    manifest
        .get("config")
        .and_then(|c| c.get("digest"))
        .and_then(|d| d.as_str())
}

/// Whether the local image (`docker image inspect .Id`) is the image a tag holds. The id is
/// the config digest on docker's classic image store, but the manifest (or index) digest on
/// the containerd image store (Docker's "containerd image store" page: images are stored as
/// OCI content, addressed by their manifest; the default store for new installs since Engine
/// 29, https://docs.docker.com/engine/storage/containerd/): either shape is the same image.
pub fn same_image(local_id: &str, remote_digest: &str, remote_config: Option<&str>) -> bool {
    local_id == remote_digest || remote_config == Some(local_id)
}

/// With `--rebuild` and without `--retag`: the freshly built image (`local_id`) must be the
/// image the version's tag already holds, or nothing is pushed.
pub async fn version_tag_unchanged(
    image: &ImageRef,
    existing: &str,
    local_id: &str,
    creds: Option<&Credentials>,
) -> Result<()> {
    let (remote_digest, manifest) = registry::fetch_manifest(image, creds)
        .await
        .map_err(registry_failure)?;
    match config_digest(&manifest) {
        remote if same_image(local_id, &remote_digest, remote) => Ok(()),
        remote => Err(Failure::new(
            ExitCode::Digest,
            format!(
                "refusing to move {image}: it holds {existing}, and the rebuilt image differs from it (image id {local_id}; the registry's {}). Nothing was pushed: bump the version, or pass --retag to replace the tag",
                remote
                    .map(|r| format!("image id {r}"))
                    .unwrap_or_else(|| "is a manifest list".to_string())
            ),
        )),
    }
}

/// A version's tag that exists in an ECR repository that will not let it move (tag
/// mutability): a failed check before anything is pushed (exit 3), naming the repository, the
/// tag and the image it holds. `what` says what was asked and what was done.
pub fn immutable_version_tag(
    image: &ImageRef,
    existing: &str,
    mutability: &TagMutability,
    what: &str,
) -> Failure {
    let repository = image.repository();
    let name = ecr_location(&repository).name;
    Failure::new(
        ExitCode::Preflight,
        format!(
            "{image} already holds {existing}, and ECR repository {name} is {}: ECR refuses to overwrite the tag {} (ImageTagAlreadyExistsException), so {what}; nothing was registered or deployed. Bump the version to release other content",
            mutability.describe(),
            image.tag.as_deref().unwrap_or_default(),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_digest_of_a_manifest_and_of_an_index() {
        let m = serde_json::json!({"schemaVersion": 2, "config": {"digest": "sha256:abc"}});
        assert_eq!(config_digest(&m), Some("sha256:abc"));
        let i = serde_json::json!({"schemaVersion": 2, "manifests": []});
        assert_eq!(config_digest(&i), None);
    }

    #[test]
    fn the_local_image_id_matches_on_either_image_store() {
        let (manifest, config) = ("sha256:aaaa", "sha256:cccc");
        // Classic store: .Id is the config digest.
        assert!(same_image(config, manifest, Some(config)));
        // containerd store: .Id is the manifest digest (also of an index, which has no config).
        assert!(same_image(manifest, manifest, Some(config)));
        assert!(same_image(manifest, manifest, None));
        // Another image, in either shape, is not the same.
        assert!(!same_image("sha256:bbbb", manifest, Some(config)));
        assert!(!same_image("sha256:bbbb", manifest, None));
    }
}
