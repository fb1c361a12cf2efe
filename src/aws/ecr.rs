//! ECR calls: registry credentials from GetAuthorizationToken, repositories, images.

use aws_config::SdkConfig;
use aws_sdk_ecr::Client;
use base64::Engine;

use super::describe;
use crate::exit::{Failure, Result};
use crate::registry::Credentials;

pub struct Ecr {
    client: Client,
}

impl Ecr {
    pub fn new(config: &SdkConfig) -> Ecr {
        Ecr {
            client: Client::new(config),
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

    /// Whether an ECR repository exists.
    pub async fn repository_exists(&self, name: &str) -> Result<bool> {
        match self
            .client
            .describe_repositories()
            .repository_names(name)
            .send()
            .await
        {
            Ok(out) => Ok(!out.repositories().is_empty()),
            Err(e) => {
                let d = describe(&e);
                if d.starts_with("RepositoryNotFoundException") {
                    Ok(false)
                } else {
                    Err(Failure::aws(format!(
                        "ECR DescribeRepositories {name}: {d}"
                    )))
                }
            }
        }
    }
}
