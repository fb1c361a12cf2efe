//! Who a command acts as: the credentials chosen (as the AWS CLI chooses them), checked
//! before any call, and STS GetCallerIdentity's account and principal, shown before any
//! change.

use aws_config::SdkConfig;
use aws_sdk_ecs::config::ProvideCredentials;

use super::describe;
use crate::exit::{ExitCode, Failure};

/// The account and principal STS says the credentials belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

/// Resolves the credentials now, so that an unknown profile or missing credentials is one
/// clear error before the first AWS call (never a half-done command).
pub async fn check_credentials(config: &SdkConfig, profile: Option<&str>) -> Result<(), Failure> {
    let Some(provider) = config.credentials_provider() else {
        return Err(Failure::new(
            ExitCode::Aws,
            "no AWS credentials provider is configured",
        ));
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let chain = super::error_chain(&e);
            let lower = chain.to_ascii_lowercase();
            match profile {
                // A profile no file defines: "profile `p` was not defined", or, with no
                // config files at all, a provider that loaded nothing.
                Some(p)
                    if lower.contains("not defined")
                        || lower.contains("not enabled")
                        || lower.contains("no profile") =>
                {
                    Err(Failure::usage(format!(
                        "--profile {p}: no such profile in the AWS config or credentials files (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE); `aws configure list-profiles` lists them"
                    )))
                }
                _ => Err(Failure::new(
                    ExitCode::Aws,
                    super::transport_or_setup(&chain),
                )),
            }
        }
    }
}

/// STS GetCallerIdentity.
pub async fn caller(config: &SdkConfig) -> Result<Identity, String> {
    let out = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| format!("STS GetCallerIdentity: {}", describe(&e)))?;
    Ok(Identity {
        account: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
    })
}

/// `as arn:… (account 1234…, region us-east-1, profile prod)`.
pub fn line(identity: &Identity, config: &SdkConfig, profile: Option<&str>) -> String {
    format!(
        "as {} (account {}, region {}{})",
        identity.arn,
        identity.account,
        config.region().map(|r| r.as_ref()).unwrap_or("not set"),
        profile
            .map(|p| format!(", profile {p}"))
            .unwrap_or_default()
    )
}
