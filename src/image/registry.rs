//! Registry adapter: resolves an image tag to its manifest digest with a HEAD request,
//! using the Docker Registry HTTP API v2 (which ECR and distribution both speak).
//!
//! The Accept header lists the OCI manifest, Docker v2 manifest, OCI index and Docker
//! manifest list; without all four, distribution answers with a converted schema1 manifest
//! whose digest changes on every request, or 404.

use std::fmt;
use std::path::PathBuf;

use base64::Engine;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::image::reference::{is_digest, ImageRef};

pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// Registry credentials. The password never appears in Debug output.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    password: String,
}

impl Credentials {
    pub fn new(username: &str, password: &str) -> Self {
        Credentials {
            username: username.to_string(),
            password: password.to_string(),
        }
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials {{ username: {:?}, password: <redacted> }}",
            self.username
        )
    }
}

/// Why a digest could not be resolved.
#[derive(Debug)]
pub enum ResolveError {
    /// The registry says the tag or digest does not exist.
    NotFound(String),
    /// Authentication failed.
    Unauthorized(String),
    /// Anything else (network, unexpected answer).
    Other(String),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::NotFound(m) | ResolveError::Unauthorized(m) | ResolveError::Other(m) => {
                f.write_str(m)
            }
        }
    }
}

/// The scheme docker itself would use: plain HTTP only for loopback registries.
pub fn base_url(host: &str) -> String {
    let name = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    if name == "localhost" || name.starts_with("127.") || name == "[::1]" {
        format!("http://{host}")
    } else {
        format!("https://{host}")
    }
}

/// HEAD /v2/<name>/manifests/<reference> and return `Docker-Content-Digest`.
pub async fn resolve_digest(
    image: &ImageRef,
    creds: Option<&Credentials>,
) -> Result<String, ResolveError> {
    let resp = manifest_request(reqwest::Method::HEAD, image, creds).await?;
    content_digest(image, resp.headers(), None)
}

/// GET /v2/<name>/manifests/<reference>: the digest and the manifest document (used to compare
/// an image's config digest, i.e. its local image id, with what a tag holds).
///
/// ECR answers a manifest GET without `Docker-Content-Digest` (only its HEAD carries it:
/// aws/containers-roadmap#1931), and the distribution spec makes the header optional on a GET
/// ("SHOULD"); the digest is then the sha256 of the manifest's exact bytes, which is what a
/// manifest digest is (OCI distribution spec, "Pulling manifests"; OCI image spec, "Digests").
pub async fn fetch_manifest(
    image: &ImageRef,
    creds: Option<&Credentials>,
) -> Result<(String, serde_json::Value), ResolveError> {
    let resp = manifest_request(reqwest::Method::GET, image, creds).await?;
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.map_err(|e| {
        ResolveError::Other(format!(
            "{image}: the registry's manifest answer was cut short: {e}"
        ))
    })?;
    let digest = content_digest(image, &headers, Some(&bytes))?;
    let body = serde_json::from_slice(&bytes).map_err(|e| {
        ResolveError::Other(format!(
            "{image}: the registry sent a manifest that is not JSON: {e}"
        ))
    })?;
    Ok((digest, body))
}

/// The digest of a successful manifest answer, checked against a pinned reference: its
/// `Docker-Content-Digest`, or, when the header is absent and the body is at hand (a GET),
/// `sha256:` of the body's exact bytes. A HEAD has no body: there the header is required.
fn content_digest(
    image: &ImageRef,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) -> Result<String, ResolveError> {
    let digest = match (header(headers, "docker-content-digest"), body) {
        (Some(d), _) => d,
        (None, Some(bytes)) => sha256_of(bytes),
        (None, None) => {
            return Err(ResolveError::Other(format!(
                "{image}: the registry sent no Docker-Content-Digest header"
            )))
        }
    };
    if !is_digest(&digest) {
        return Err(ResolveError::Other(format!(
            "{image}: the registry answered an unexpected digest `{digest}`"
        )));
    }
    if let Some(wanted) = &image.digest {
        if wanted != &digest {
            return Err(ResolveError::Other(format!(
                "{image}: the registry answered digest {digest}"
            )));
        }
    }
    Ok(digest)
}

/// GET /v2/<name>/blobs/<digest> of a JSON blob (an image config), checked against its
/// digest (OCI distribution spec, "Pulling blobs").
pub async fn fetch_blob_json(
    image: &ImageRef,
    digest: &str,
    creds: Option<&Credentials>,
) -> Result<serde_json::Value, ResolveError> {
    let resp = request(
        reqwest::Method::GET,
        image,
        &format!("blobs/{digest}"),
        "application/vnd.oci.image.config.v1+json, application/vnd.docker.container.image.v1+json, */*",
        creds,
    )
    .await?;
    let bytes = resp.bytes().await.map_err(|e| {
        ResolveError::Other(format!(
            "{image}: the registry's blob {digest} was cut short: {e}"
        ))
    })?;
    let got = sha256_of(&bytes);
    if got != digest {
        return Err(ResolveError::Other(format!(
            "{image}: the registry sent blob {digest} with the content of {got}"
        )));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ResolveError::Other(format!("{image}: blob {digest} is not JSON: {e}")))
}

/// Sends a manifest request with the full Accept list, answering an auth challenge once;
/// returns the successful response or the error its status means.
async fn manifest_request(
    method: reqwest::Method,
    image: &ImageRef,
    creds: Option<&Credentials>,
) -> Result<reqwest::Response, ResolveError> {
    let path = format!("manifests/{}", image.reference());
    request(method, image, &path, MANIFEST_ACCEPT, creds).await
}

/// A registry request for `/v2/<name>/<path>`, answering an auth challenge once.
async fn request(
    method: reqwest::Method,
    image: &ImageRef,
    path: &str,
    accept: &str,
    creds: Option<&Credentials>,
) -> Result<reqwest::Response, ResolveError> {
    let url = format!("{}/v2/{}/{path}", base_url(&image.host), image.path);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| ResolveError::Other(format!("HTTP client: {e}")))?;
    let send = |auth: Option<String>| {
        let mut req = client.request(method.clone(), &url).header(ACCEPT, accept);
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        req.send()
    };
    let net = |e: reqwest::Error| {
        ResolveError::Other(format!(
            "{image}: cannot reach the registry at {}: {e}",
            image.host
        ))
    };
    let mut resp = send(None).await.map_err(net)?;
    if resp.status() == StatusCode::UNAUTHORIZED {
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let auth = authorize(&client, &challenge, creds, image).await?;
        resp = send(Some(auth)).await.map_err(net)?;
    }
    match resp.status() {
        s if s.is_success() => Ok(resp),
        StatusCode::NOT_FOUND => Err(ResolveError::NotFound(format!(
            "{image}: not found in the registry ({} {} answered 404)",
            image.host, image.path
        ))),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            Err(ResolveError::Unauthorized(format!(
                "{image}: the registry refused our credentials ({}){}",
                resp.status(),
                if creds.is_none() {
                    "; no credentials were found for this registry"
                } else {
                    ""
                }
            )))
        }
        s => Err(ResolveError::Other(format!(
            "{image}: the registry answered {s}"
        ))),
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Answers a `WWW-Authenticate` challenge: Basic directly, Bearer through the token endpoint.
async fn authorize(
    client: &reqwest::Client,
    challenge: &str,
    creds: Option<&Credentials>,
    image: &ImageRef,
) -> Result<String, ResolveError> {
    let lower = challenge.to_ascii_lowercase();
    if lower.starts_with("bearer") {
        let params = challenge_params(challenge);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                ResolveError::Other(format!("{image}: Bearer challenge without realm"))
            })?;
        let mut query: Vec<(String, String)> =
            params.into_iter().filter(|(k, _)| k != "realm").collect();
        if !query.iter().any(|(k, _)| k == "scope") {
            query.push(("scope".into(), format!("repository:{}:pull", image.path)));
        }
        let mut req = client.get(&realm).query(&query);
        if let Some(c) = creds {
            req = req.header(AUTHORIZATION, c.basic());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ResolveError::Other(format!("{image}: token endpoint {realm}: {e}")))?;
        if !resp.status().is_success() {
            return Err(ResolveError::Unauthorized(format!(
                "{image}: the registry's token endpoint refused us ({})",
                resp.status()
            )));
        }
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| ResolveError::Other(format!("{image}: token endpoint answer: {e}")))?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| ResolveError::Other(format!("{image}: token endpoint sent no token")))?;
        Ok(format!("Bearer {token}"))
    } else {
        match creds {
            Some(c) => Ok(c.basic()),
            None => Err(ResolveError::Unauthorized(format!(
                "{image}: the registry wants credentials and none were found (log in with docker, or set [image] login = \"ecr\")"
            ))),
        }
    }
}

/// `Bearer realm="x",service="y"` -> [(realm, x), (service, y)].
fn challenge_params(challenge: &str) -> Vec<(String, String)> {
    let rest = challenge.split_once(' ').map(|(_, r)| r).unwrap_or("");
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .skip_while(|c| *c == ',' || c.is_whitespace())
            .take_while(|c| *c != '=')
            .collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                value.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_string(), value));
    }
    out
}

/// The docker config file the `docker` CLI itself would read.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// Credentials for a registry host from the docker config: `auths[host].auth`, or a
/// credential helper (`credHelpers[host]`, then `credsStore`) run as `docker-credential-<name> get`.
pub fn docker_credentials(host: &str) -> Option<Credentials> {
    let text = std::fs::read_to_string(docker_config_path()?).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let auths = config.get("auths").and_then(|a| a.as_object());
    if let Some(entry) = auths.and_then(|a| {
        a.iter()
            .find(|(k, _)| {
                k.trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    == host
            })
            .map(|(_, v)| v)
    }) {
        if let Some(auth) = entry
            .get("auth")
            .and_then(|a| a.as_str())
            .filter(|a| !a.is_empty())
        {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (u, p) = text.split_once(':')?;
            return Some(Credentials::new(u, p));
        }
    }
    let helper = config
        .get("credHelpers")
        .and_then(|h| h.get(host))
        .or_else(|| config.get("credsStore"))
        .and_then(|h| h.as_str())?;
    credential_helper(helper, host)
}

fn credential_helper(helper: &str, host: &str) -> Option<Credentials> {
    use std::io::Write;
    let mut child = std::process::Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(host.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(Credentials::new(
        v.get("Username")?.as_str()?,
        v.get("Secret")?.as_str()?,
    ))
}

/// `sha256:<hex>` of bytes: an OCI content digest (OCI image spec, "Digests").
fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let p = challenge_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull""#,
        );
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
        assert_eq!(p[2].0, "scope");
    }

    #[test]
    fn loopback_is_plain_http() {
        assert_eq!(base_url("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(
            base_url("1.dkr.ecr.us-east-1.amazonaws.com"),
            "https://1.dkr.ecr.us-east-1.amazonaws.com"
        );
    }

    fn pinned(digest: &str) -> ImageRef {
        ImageRef::parse(&format!("127.0.0.1:5000/app@{digest}")).unwrap()
    }

    const MANIFEST: &[u8] = br#"{"schemaVersion":2,"config":{"digest":"sha256:abc"}}"#;
    /// `printf %s "$MANIFEST" | sha256sum`
    const MANIFEST_DIGEST: &str =
        "sha256:630bd41428b0d1ede77fff1b3cb8ff18ebc82fec62ee7b46b38c94ea761a5213";

    #[test]
    fn without_the_header_a_get_digest_is_the_sha256_of_the_exact_bytes() {
        let digest = format!("sha256:{:x}", Sha256::digest(MANIFEST));
        assert_eq!(digest, MANIFEST_DIGEST);
        let tag = ImageRef::parse("127.0.0.1:5000/app:1.0.0").unwrap();
        let none = HeaderMap::new();
        assert_eq!(
            content_digest(&tag, &none, Some(MANIFEST)).unwrap(),
            MANIFEST_DIGEST
        );
        // Other bytes (here, one more space: the same JSON) are another digest.
        let spaced = br#"{"schemaVersion":2, "config":{"digest":"sha256:abc"}}"#;
        assert_ne!(
            content_digest(&tag, &none, Some(spaced)).unwrap(),
            MANIFEST_DIGEST
        );
        // Still checked against a pinned digest.
        assert!(content_digest(&pinned(MANIFEST_DIGEST), &none, Some(MANIFEST)).is_ok());
        let other = format!("sha256:{}", "1".repeat(64));
        let e = content_digest(&pinned(&other), &none, Some(MANIFEST)).unwrap_err();
        assert!(e.to_string().contains(MANIFEST_DIGEST), "{e}");
        // A HEAD (no body) still needs the header.
        let e = content_digest(&tag, &none, None).unwrap_err();
        assert!(e.to_string().contains("no Docker-Content-Digest"), "{e}");
    }

    #[test]
    fn the_header_wins_when_present() {
        let tag = ImageRef::parse("127.0.0.1:5000/app:1.0.0").unwrap();
        let other = format!("sha256:{}", "2".repeat(64));
        let mut h = HeaderMap::new();
        h.insert("docker-content-digest", other.parse().unwrap());
        assert_eq!(content_digest(&tag, &h, Some(MANIFEST)).unwrap(), other);
        assert_eq!(content_digest(&tag, &h, None).unwrap(), other);
        h.insert("docker-content-digest", "md5:x".parse().unwrap());
        assert!(content_digest(&tag, &h, None).is_err());
    }

    #[test]
    fn credentials_debug_hides_password() {
        let c = Credentials::new("AWS", "hunter2-very-secret");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
