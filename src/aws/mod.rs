//! Thin adapters over the AWS SDK: configuration, ECS, ECR and SSM calls.
//!
//! Everything here performs network I/O and converts SDK types into the core's plain types;
//! decisions live elsewhere.

pub mod ecr;
pub mod ecs;
pub mod ssm;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::error::ProvideErrorMetadata;

/// Where to take AWS settings from, most specific first.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--region`: overrides the plan and the environment.
    pub region_flag: Option<String>,
    /// `--profile`: overrides `AWS_PROFILE`.
    pub profile: Option<String>,
    /// The plan's `service.region`: overrides the environment.
    pub plan_region: Option<String>,
}

impl Settings {
    /// The region to force: `--region`, else the plan's; None leaves it to the environment
    /// (`AWS_REGION`, the profile).
    pub fn region(&self) -> Option<&str> {
        self.region_flag.as_deref().or(self.plan_region.as_deref())
    }
}

/// Loads the standard provider chain (profiles, SSO, env keys, `AWS_ENDPOINT_URL`) with our overrides.
pub async fn load(settings: &Settings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = &settings.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = settings.region() {
        loader = loader.region(Region::new(r.to_string()));
    }
    loader.load().await
}

/// How an SDK error should be treated by a poll loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// ThrottlingException and friends: back off and try again.
    Throttled,
    /// Could not reach AWS (connection, timeout): back off and try again.
    Network,
    /// Anything else: report it.
    Other,
}

/// Classifies an SDK error for retry decisions.
pub fn classify<E, R>(err: &aws_sdk_ecs::error::SdkError<E, R>) -> ErrorKind
where
    E: ProvideErrorMetadata,
{
    use aws_sdk_ecs::error::SdkError;
    match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            ErrorKind::Network
        }
        SdkError::ServiceError(e) => match e.err().code() {
            Some(
                "ThrottlingException"
                | "Throttling"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "ServerException",
            ) => ErrorKind::Throttled,
            _ => ErrorKind::Other,
        },
        _ => ErrorKind::Other,
    }
}

/// A one-line description of an SDK error: the service's code and message when there is one.
pub fn describe<E, R>(err: &aws_sdk_ecs::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ecs::error::SdkError;
    match err {
        SdkError::ServiceError(e) => {
            let inner = e.err();
            match (inner.code(), inner.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => aws_sdk_ecs::error::DisplayErrorContext(err).to_string(),
            }
        }
        _ => aws_sdk_ecs::error::DisplayErrorContext(err).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_precedence_is_flag_then_plan_then_environment() {
        let mut s = Settings::default();
        assert_eq!(s.region(), None);
        s.plan_region = Some("eu-west-1".into());
        assert_eq!(s.region(), Some("eu-west-1"));
        s.region_flag = Some("us-west-2".into());
        assert_eq!(s.region(), Some("us-west-2"));
    }
}
