//! SSM Parameter Store: GetParameters, batched (SSM takes at most 10 names per call), with
//! decryption only when the caller reads values (API_GetParameters `WithDecryption`; without
//! it SecureString values stay encrypted and no kms:Decrypt is needed). Values come back as
//! [`SecretValue`]s; errors never carry a value. A batch denied by IAM or KMS is retried
//! name by name, so the denial names the one parameter and the permission it lacks.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::{Region, SdkConfig};
use aws_sdk_ssm::Client;

use super::describe;
use crate::secret::SecretValue;

/// SSM's limit of names per GetParameters call.
pub const BATCH: usize = 10;

/// One parameter as GetParameters returned it.
#[derive(Debug)]
pub struct Parameter {
    /// The name SSM reports (`/x/y`).
    pub name: String,
    pub arn: Option<String>,
    /// `String`, `SecureString` or `StringList`.
    pub kind: String,
    /// Decrypted value (redacted in Debug, wiped on drop).
    pub value: SecretValue,
    /// LastModifiedDate, epoch seconds.
    pub last_modified: Option<f64>,
    pub version: i64,
}

/// What GetParameters said about one requested name.
#[derive(Debug)]
pub enum Lookup {
    /// Shared, not copied: two references (a name and an ARN) may name one parameter.
    Found(Arc<Parameter>),
    /// Listed in `InvalidParameters` (or not returned at all).
    Missing,
    /// Reading this parameter was denied: why, naming the permission.
    Denied(String),
}

/// The region an SSM ARN names, if the reference is an ARN.
pub fn arn_region(reference: &str) -> Option<&str> {
    let mut parts = reference.splitn(6, ':');
    let (arn, _partition, service, region) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (arn == "arn" && service == "ssm" && !region.is_empty()).then_some(region)
}

/// `arn:aws:ssm:REGION:ACCOUNT:parameter/x/y` → `/x/y` (`parameter/x` → `x`); names unchanged.
pub fn parameter_name(reference: &str) -> &str {
    if !reference.starts_with("arn:") {
        return reference;
    }
    match reference.splitn(6, ':').nth(5) {
        Some(resource) => match resource.strip_prefix("parameter") {
            Some(rest) if rest.starts_with('/') && rest[1..].contains('/') => rest,
            Some(rest) => rest.strip_prefix('/').unwrap_or(rest),
            None => reference,
        },
        None => reference,
    }
}

/// Looks up every reference (names or ARNs), in as few GetParameters calls as possible:
/// one per region and 10 names. Returns one entry per distinct reference, keyed as given.
/// Err is a one-line reason that holds no value.
pub async fn get_parameters(
    config: &SdkConfig,
    references: &[String],
    decrypt: bool,
) -> Result<BTreeMap<String, Lookup>, String> {
    let default_region = config.region().map(|r| r.as_ref().to_string());
    let mut by_region: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
    for r in references {
        let region = arn_region(r)
            .map(str::to_string)
            .filter(|r| Some(r) != default_region.as_ref());
        let list = by_region.entry(region).or_default();
        if !list.contains(r) {
            list.push(r.clone());
        }
    }
    let mut found = BTreeMap::new();
    for (region, names) in by_region {
        let client = match region {
            None => Client::new(config),
            Some(r) => Client::new(&config.to_builder().region(Region::new(r)).build()),
        };
        for chunk in names.chunks(BATCH) {
            match batch(&client, chunk, decrypt, &mut found).await {
                Ok(()) => {}
                // One denied parameter must not hide the others: ask for each alone.
                Err(Denial::Denied(_)) if chunk.len() > 1 => {
                    for name in chunk {
                        match batch(&client, std::slice::from_ref(name), decrypt, &mut found).await
                        {
                            Ok(()) => {}
                            Err(Denial::Denied(why)) => {
                                found.insert(name.clone(), Lookup::Denied(why));
                            }
                            Err(Denial::Other(e)) => return Err(e),
                        }
                    }
                }
                Err(Denial::Denied(why)) => {
                    found.insert(chunk[0].clone(), Lookup::Denied(why));
                }
                Err(Denial::Other(e)) => return Err(e),
            }
        }
    }
    Ok(found)
}

/// Why a GetParameters call failed.
enum Denial {
    /// IAM or KMS refused (AccessDeniedException, or a KMS error).
    Denied(String),
    Other(String),
}

async fn batch(
    client: &Client,
    names: &[String],
    decrypt: bool,
    found: &mut BTreeMap<String, Lookup>,
) -> Result<(), Denial> {
    let out = client
        .get_parameters()
        .set_names(Some(names.to_vec()))
        .with_decryption(decrypt)
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_ssm::error::ProvideErrorMetadata;
            let code = e.code().unwrap_or_default().to_string();
            let text = format!("SSM GetParameters {}: {}", names.join(", "), describe(&e));
            if code.starts_with("KMS") || code == "InvalidKeyId" {
                Denial::Denied(format!(
                    "{text} (the role may not decrypt it: kms:Decrypt on the parameter's KMS key)"
                ))
            } else if code == "AccessDeniedException" {
                let permission = if text.contains("kms:") || text.contains("KMS") {
                    "kms:Decrypt on the parameter's KMS key"
                } else {
                    "ssm:GetParameters on the parameter"
                };
                Denial::Denied(format!("{text} (needs {permission})"))
            } else {
                Denial::Other(text)
            }
        })?;
    let invalid: Vec<String> = out.invalid_parameters().to_vec();
    let parameters: Vec<Arc<Parameter>> = out
        .parameters
        .unwrap_or_default()
        .into_iter()
        .map(|mut p| {
            Arc::new(Parameter {
                name: p.name.take().unwrap_or_default(),
                arn: p.arn.take(),
                kind: p
                    .r#type
                    .as_ref()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                // Moves the String into the SecretValue: no copy of the value is left behind here.
                value: SecretValue::from_string(p.value.take().unwrap_or_default()),
                last_modified: p.last_modified_date.map(|d| d.as_secs_f64()),
                version: p.version,
            })
        })
        .collect();
    for name in names {
        if invalid.iter().any(|i| i == name) {
            found.insert(name.clone(), Lookup::Missing);
            continue;
        }
        let short = parameter_name(name);
        let lookup = parameters
            .iter()
            .find(|p| p.name == *name || p.arn.as_deref() == Some(name.as_str()))
            .or_else(|| parameters.iter().find(|p| p.name == short))
            .map_or(Lookup::Missing, |p| Lookup::Found(Arc::clone(p)));
        found.insert(name.clone(), lookup);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_and_names() {
        let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/local/app/jwt-secret";
        assert_eq!(parameter_name(arn), "/local/app/jwt-secret");
        assert_eq!(arn_region(arn), Some("us-east-1"));
        assert_eq!(
            parameter_name("arn:aws:ssm:us-east-1:123456789012:parameter/plain"),
            "plain"
        );
        assert_eq!(parameter_name("/x/y"), "/x/y");
        assert_eq!(arn_region("/x/y"), None);
        assert_eq!(
            arn_region("arn:aws:secretsmanager:us-east-1:1:secret:x"),
            None
        );
    }
}
