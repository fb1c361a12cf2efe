//! ECR calls: registry credentials from GetAuthorizationToken, repositories and their tag
//! mutability (DescribeRepositories), images (DescribeImages, to check what a pushed tag holds).

use aws_config::{Region, SdkConfig};
use aws_sdk_ecr::Client;
use base64::Engine;

use super::describe;
use crate::exit::{Failure, Result};
use crate::image::mutability::TagMutability;
use crate::image::registry::Credentials;
use crate::plan::{ecr_location, EcrLocation};

pub struct Ecr {
    client: Client,
}

/// What DescribeRepositories says of one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryLookup {
    Found(TagMutability),
    NotFound,
    /// AccessDeniedException, described (operation, repository, code and message).
    Denied(String),
}

fn tag_mutability(r: &aws_sdk_ecr::types::Repository) -> TagMutability {
    TagMutability {
        setting: r
            .image_tag_mutability()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "MUTABLE".into()),
        exclusions: r
            .image_tag_mutability_exclusion_filters()
            .iter()
            .map(|f| (f.filter_type().as_str().to_string(), f.filter().to_string()))
            .collect(),
    }
}

impl Ecr {
    pub fn new(config: &SdkConfig) -> Ecr {
        Ecr {
            client: Client::new(config),
        }
    }

    /// A client for the registry that holds `repository`: in the region its host names, which
    /// may differ from the configured one.
    pub fn for_repository(config: &SdkConfig, repository: &str) -> Ecr {
        match ecr_location(repository).region {
            Some(r) if config.region().map(|c| c.as_ref()) != Some(r.as_str()) => {
                Ecr::new(&config.to_builder().region(Region::new(r)).build())
            }
            _ => Ecr::new(config),
        }
    }

    /// The repository and its tag mutability (DescribeRepositories in its account's registry):
    /// `imageTagMutability` and `imageTagMutabilityExclusionFilters` of the Repository it
    /// returns (API reference "DescribeRepositories",
    /// <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeRepositories.html>,
    /// and "Repository", <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_Repository.html>).
    /// A denied call (AccessDeniedException: a role without `ecr:DescribeRepositories`) is
    /// [`RepositoryLookup::Denied`], for the caller to warn about and go on.
    pub async fn repository(&self, location: &EcrLocation) -> Result<RepositoryLookup> {
        let result = self
            .client
            .describe_repositories()
            .repository_names(&location.name)
            .set_registry_id(location.account.clone())
            .send()
            .await;
        match result {
            Ok(out) => Ok(match out.repositories().first() {
                Some(r) => RepositoryLookup::Found(tag_mutability(r)),
                None => RepositoryLookup::NotFound,
            }),
            Err(e) => {
                let d = describe(&e);
                if d.starts_with("RepositoryNotFoundException") {
                    Ok(RepositoryLookup::NotFound)
                } else if d.starts_with("AccessDenied") {
                    Ok(RepositoryLookup::Denied(format!(
                        "ECR DescribeRepositories {}: {d}",
                        location.name
                    )))
                } else {
                    Err(Failure::aws(format!(
                        "ECR DescribeRepositories {}: {d}",
                        location.name
                    )))
                }
            }
        }
    }

    /// Registry credentials from GetAuthorizationToken (`AWS:<password>`, base64).
    pub async fn credentials(&self) -> Result<Credentials> {
        let out = self
            .client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| Failure::aws(format!("ECR GetAuthorizationToken: {}", describe(&e))))?;
        let data = out
            .authorization_data()
            .first()
            .and_then(|d| d.authorization_token())
            .ok_or_else(|| Failure::aws("ECR GetAuthorizationToken returned no token"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Failure::aws(
                    "ECR GetAuthorizationToken returned a token that is not base64 user:password",
                )
            })?;
        let (user, password) = decoded.split_once(':').ok_or_else(|| {
            Failure::aws("ECR GetAuthorizationToken returned a token without user:password")
        })?;
        Ok(Credentials::new(user, password))
    }

    /// The digest ECR records for `tag` in a repository (DescribeImages), or `None` when the
    /// tag (or the repository) is not there. `registry_id` is the account of the registry host.
    pub async fn image_digest(
        &self,
        registry_id: Option<&str>,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>> {
        let id = aws_sdk_ecr::types::ImageIdentifier::builder()
            .image_tag(tag)
            .build();
        match self
            .client
            .describe_images()
            .set_registry_id(registry_id.map(str::to_string))
            .repository_name(repository)
            .image_ids(id)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .image_details()
                .iter()
                .find_map(|d| d.image_digest().map(str::to_string))),
            Err(e) => {
                let d = describe(&e);
                if d.starts_with("ImageNotFoundException")
                    || d.starts_with("RepositoryNotFoundException")
                {
                    Ok(None)
                } else {
                    Err(Failure::aws(format!(
                        "ECR DescribeImages {repository}:{tag}: {d}"
                    )))
                }
            }
        }
    }
}
