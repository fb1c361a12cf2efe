//! Thin adapters over the AWS SDK: configuration, ECS, ECR and SSM calls.
//!
//! Everything here performs network I/O and converts SDK types into the core's plain types;
//! decisions live elsewhere.

pub mod ecr;
pub mod ecs;
pub mod identity;
pub mod logs;
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

/// Loads the standard provider chain (env keys, profiles, SSO, web identity, container and
/// instance credentials, `AWS_ENDPOINT_URL`) with our overrides, in the AWS CLI's order:
/// `--profile` wins over the environment's keys (its credentials come from that profile
/// only); without it, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` win over `AWS_PROFILE`
/// (AWS CLI user guide, "Configuration settings and precedence").
pub async fn load(settings: &Settings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = &settings.profile {
        loader = loader.profile_name(p).credentials_provider(
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(p)
                .build(),
        );
    }
    if let Some(r) = settings.region() {
        loader = loader.region(Region::new(r.to_string()));
    }
    loader
        .timeout_config(timeouts())
        .retry_config(reads_retry())
        .load()
        .await
}

/// Retries of reads (writes are never retried by the SDK: see aws::ecs): throttling and
/// transient errors are retried 5 times with jittered back-off up to 5 s, so that a throttled
/// read in verify or preflight does not end a release.
pub fn reads_retry() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(5)
        .with_max_backoff(std::time::Duration::from_secs(5))
}

/// Timeouts on every AWS client, so that a hung endpoint ends a call (and a watch's deadline
/// holds): connect 5 s, read 20 s, one attempt 25 s, the call with its retries 90 s.
pub fn timeouts() -> aws_config::timeout::TimeoutConfig {
    use std::time::Duration;
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(20))
        .operation_attempt_timeout(Duration::from_secs(25))
        .operation_timeout(Duration::from_secs(90))
        .build()
}

/// When the environment holds both access keys and `AWS_PROFILE` (and no `--profile` was
/// given), the keys win, as in the AWS CLI: a line saying so, since the profile is ignored.
pub fn ignored_profile_warning(settings: &Settings) -> Option<String> {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
    (settings.profile.is_none() && set("AWS_ACCESS_KEY_ID") && set("AWS_PROFILE")).then(|| {
        "AWS_ACCESS_KEY_ID and AWS_PROFILE are both set: the keys win (as in the AWS CLI) and the profile is not used; pass --profile to use it".to_string()
    })
}

/// The Display texts of an error and its sources, joined (no Debug, no bodies).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    chain(err)
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
pub fn classify<E>(
    err: &aws_sdk_ecs::error::SdkError<E, aws_sdk_ecs::config::http::HttpResponse>,
) -> ErrorKind
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
                | "ServerException"
                | "InternalFailure"
                | "ServiceUnavailable",
            ) => ErrorKind::Throttled,
            // A 5xx without an AWS error code (a proxy's or load balancer's 502/503) is
            // transient too: the ECS API reference's Common Errors list 5xx as server faults.
            _ if e.raw().status().as_u16() >= 500 => ErrorKind::Throttled,
            _ => ErrorKind::Other,
        },
        _ => ErrorKind::Other,
    }
}

/// A one-line description of an SDK error for people: the service's error code and message,
/// or what went wrong on the way (no credentials, no region, the endpoint unreachable or
/// silent, an answer that could not be read) and what to do. Never a Debug dump and never a
/// response body: a body may hold secret values (an SSM answer that failed to parse carries
/// every decrypted value of its batch).
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
                (Some(c), Some(m)) => format!("{c}: {m}{}", hint_for_code(c)),
                (Some(c), None) => format!("{c}{}", hint_for_code(c)),
                _ => "the service answered with an error it did not name (an HTTP error without an AWS error code; a proxy or a load balancer may have answered instead of AWS)".into(),
            }
        }
        SdkError::ResponseError(_) => {
            "the answer could not be read (malformed or cut short); it is not shown, as it may hold secret values".into()
        }
        SdkError::TimeoutError(_) => {
            "no answer within the timeout: the endpoint is slow, hung or unreachable".into()
        }
        SdkError::ConstructionFailure(_) | SdkError::DispatchFailure(_) => {
            transport_or_setup(&chain(err))
        }
        _ => transport_or_setup(&chain(err)),
    }
}

/// The Display texts of an error and its sources, joined (no Debug, no bodies).
fn chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// What a failure before or on the way to AWS means, from its (Display) chain.
pub fn transport_or_setup(chain: &str) -> String {
    let lower = chain.to_ascii_lowercase();
    let what = if lower.contains("expired") {
        "the AWS credentials have expired: refresh them (`aws sso login --profile P`, or new keys)"
    } else if lower.contains("credential") || lower.contains("no providers in chain") {
        "no AWS credentials: tried --profile / AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the shared config and credentials files (including SSO), web identity, and the ECS container and EC2 instance metadata; run `aws configure`, or `aws sso login --profile P` and pass --profile P"
    } else if lower.contains("region") {
        "no AWS region: pass --region, set service.region in the plan, or AWS_REGION"
    } else if lower.contains("dns") || lower.contains("lookup") || lower.contains("resolve") {
        "the endpoint's host name does not resolve (check AWS_ENDPOINT_URL, the region, and the network)"
    } else if lower.contains("refused") {
        "the endpoint refused the connection (nothing listens there: check AWS_ENDPOINT_URL and the network)"
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "no answer within the timeout: the endpoint is slow, hung or unreachable"
    } else if lower.contains("certificate") || lower.contains("tls") {
        "the TLS connection to the endpoint failed (a proxy or a certificate problem)"
    } else if lower.contains("connect")
        || lower.contains("io error")
        || lower.contains("reset")
        || lower.contains("broken pipe")
    {
        "the connection to the endpoint failed or was cut (check the network and AWS_ENDPOINT_URL)"
    } else {
        "the request could not be sent"
    };
    // The chain's own words say which part failed; they carry no body.
    let detail: String = chain.chars().take(300).collect();
    if detail.is_empty() {
        what.to_string()
    } else {
        format!("{what} ({detail})")
    }
}

/// What to do about a service error code that says who you are or what you may do.
fn hint_for_code(code: &str) -> &'static str {
    match code {
        "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" => {
            " (the credentials have expired: refresh them, e.g. `aws sso login --profile P`)"
        }
        "UnrecognizedClientException" | "InvalidClientTokenId" | "InvalidSignatureException"
        | "SignatureDoesNotMatch" => {
            " (the credentials are not valid for this account or endpoint: check --profile, AWS_PROFILE and the access keys)"
        }
        "AccessDeniedException" | "AccessDenied" => {
            " (the principal lacks the permission named above: grant it, or use a role that has it)"
        }
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" => {
            " (AWS is throttling these calls: release backs off and retries reads; wait and run it again)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_say_what_happened_and_what_to_do() {
        let cases = [
            ("dispatch failure: io error: error trying to connect: tcp connect error: Connection refused (os error 111)", "refused the connection"),
            ("failed to construct request: no credentials: the credential provider was not enabled: no providers in chain provided credentials", "no AWS credentials"),
            ("dispatch failure: other: the credentials provider returned an expired token", "expired"),
            ("failed to construct request: no region was set", "no AWS region"),
            ("dispatch failure: io error: dns error: failed to lookup address information", "does not resolve"),
            ("timeout: operation timed out", "no answer within the timeout"),
        ];
        for (chain, want) in cases {
            let text = transport_or_setup(chain);
            assert!(text.contains(want), "{chain} -> {text}");
            assert!(!text.contains("DispatchFailure {"), "{text}");
        }
        assert!(hint_for_code("ExpiredTokenException").contains("aws sso login"));
        assert!(hint_for_code("AccessDeniedException").contains("permission"));
        assert_eq!(hint_for_code("ClusterNotFoundException"), "");
    }

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
