//! Which image a release runs: a reference resolved to its manifest digest in the
//! registry, with the credentials the plan calls for (ECR's token, or the docker config).

use aws_config::SdkConfig;

use crate::aws::ecr::Ecr;
use crate::exit::{ExitCode, Failure, Result};
use crate::image::reference::ImageRef;
use crate::image::registry::{self, Credentials, ResolveError};
use crate::plan::{Login, Plan};
use crate::template::PinnedImage;

/// Parses `--image`, or the plan's repository with its first tag, and checks it belongs to the plan.
pub fn reference(plan: &Plan, image: Option<&str>) -> Result<ImageRef> {
    let text = match image {
        Some(i) => i.to_string(),
        None => format!("{}:{}", plan.image.repository, plan.image.tags[0]),
    };
    let parsed = ImageRef::parse(&text).map_err(|e| Failure::usage(format!("--image: {e}")))?;
    if parsed.repository() != plan.image.repository {
        return Err(Failure::usage(format!(
            "--image {text} is not in the plan's repository {} ({}: image.repository)",
            plan.image.repository,
            plan.path().display()
        )));
    }
    Ok(parsed)
}

/// Registry credentials for the plan's repository.
pub async fn credentials(
    plan: &Plan,
    config: &SdkConfig,
    image: &ImageRef,
) -> Result<Option<Credentials>> {
    credentials_for(plan.image.login, config, image).await
}

/// Registry credentials for an image: ECR's token (from the registry's own region) or the
/// docker config's entry for its host.
pub async fn credentials_for(
    login: Login,
    config: &SdkConfig,
    image: &ImageRef,
) -> Result<Option<Credentials>> {
    match login {
        Login::Ecr => Ecr::for_repository(config, &image.repository())
            .credentials()
            .await
            .map(Some),
        Login::Docker => Ok(registry::docker_credentials(&image.host)),
    }
}

/// Resolves a reference to `repository@digest`. A missing image is a failed check (exit 3).
pub async fn resolve(plan: &Plan, config: &SdkConfig, image: &ImageRef) -> Result<PinnedImage> {
    let creds = credentials(plan, config, image).await?;
    match registry::resolve_digest(image, creds.as_ref()).await {
        Ok(digest) => Ok(PinnedImage {
            image: image.pinned(&digest),
            digest,
        }),
        Err(ResolveError::NotFound(m)) => Err(Failure::new(ExitCode::Preflight, m)),
        Err(ResolveError::Unauthorized(m)) => Err(Failure::new(ExitCode::Preflight, m)),
        Err(ResolveError::Other(m)) => Err(Failure::aws(m)),
    }
}
