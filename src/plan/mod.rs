//! The plan: one TOML file that says what to release, where, and how to watch it.
//!
//! Loading reads the TOML strictly (unknown keys, wrong types and missing keys are errors
//! anchored at `file:line:col`), then renders every string value through minijinja with
//! `version` and `env()`, then resolves paths relative to the plan file. Nothing here talks
//! to the network. Every key is documented in README.md ("Plan reference").

pub mod source;
pub mod version;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::exit::{Failure, Result};
use crate::jinja;
use crate::secret::SecretValue;
pub use source::Source;
pub use version::Version;

type Text = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    service: RawService,
    release: Option<RawRelease>,
    image: RawImage,
    task_definition: RawTaskDefinition,
    rollout: Option<RawRollout>,
    build: Option<RawBuild>,
    preflight: Option<RawPreflight>,
    verify: Option<RawVerify>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerify {
    #[serde(default)]
    http: Vec<RawHttpCheck>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpCheck {
    name: Text,
    url: Text,
    method: Option<Text>,
    #[serde(default)]
    headers: BTreeMap<String, Text>,
    body: Option<Text>,
    expect: RawExpect,
    retries: Option<Spanned<u32>>,
    timeout: Option<Text>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    status: Option<Spanned<u16>>,
    body_contains: Option<Text>,
    #[serde(default)]
    json: Vec<RawJsonExpect>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJsonExpect {
    pointer: Text,
    non_empty: Option<bool>,
    equals: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreflight {
    #[serde(default)]
    secret: Vec<RawSecretRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecretRule {
    name: Text,
    length: Option<Spanned<usize>>,
    min_length: Option<Spanned<usize>>,
    max_length: Option<Spanned<usize>>,
    charset: Option<Text>,
    same_as: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    context: Text,
    dockerfile: Option<Text>,
    platform: Option<Text>,
    #[serde(default)]
    before: Vec<Text>,
    #[serde(default)]
    args: BTreeMap<String, Text>,
    builder: Option<Text>,
    cli: Option<Text>,
    network: Option<Text>,
    #[serde(default)]
    secrets: BTreeMap<String, Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    region: Option<Text>,
    account: Option<Text>,
    cluster: Text,
    name: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelease {
    version: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    repository: Text,
    tags: Option<Spanned<Vec<Text>>>,
    login: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTaskDefinition {
    family: Text,
    template: Text,
    #[serde(default)]
    vars: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    allow_unpinned_images: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRollout {
    timeout: Option<Text>,
    poll: Option<Text>,
    stall: Option<Text>,
    on_failure: Option<Text>,
}

/// Values given on the command line (or environment) that override the plan.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--release-version` / `RELEASE_VERSION`.
    pub version: Option<String>,
}

/// How to obtain registry credentials for the image repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// ECR GetAuthorizationToken (the default for `*.dkr.ecr.*.amazonaws.com` repositories).
    Ecr,
    /// The user's docker config (`$DOCKER_CONFIG/config.json`).
    Docker,
}

/// What to do when a deploy fails after it changed the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Return the service to the revision that ran before, and watch that.
    Rollback,
    /// Leave the service as it is and say how to roll back.
    Stop,
}

#[derive(Debug, Clone)]
pub struct ServiceTarget {
    /// The plan's region; `--region` overrides it, and it overrides the environment's.
    pub region: Option<String>,
    /// The AWS account the service lives in: commands that change AWS refuse credentials
    /// of another account.
    pub account: Option<String>,
    pub cluster: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// `host/path` without tag or digest.
    pub repository: String,
    /// Rendered tags; the first is the release's own tag.
    pub tags: Vec<String>,
    pub login: Login,
}

#[derive(Debug, Clone)]
pub struct TaskDefinitionSpec {
    pub family: String,
    /// Absolute (or plan-relative resolved) path of the template.
    pub template: PathBuf,
    /// `vars.*` of the template context, rendered.
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub allow_unpinned_images: bool,
}

/// The characters a secret may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// `A-Z a-z 0-9 - _` (and `=` padding at the end).
    Base64Url,
    /// `0-9 a-f A-F`.
    Hex,
    /// `A-Z a-z 0-9`.
    Alnum,
    /// Printable ASCII, 0x21..=0x7e (no spaces).
    Printable,
}

impl Charset {
    pub const NAMES: [&'static str; 4] = ["base64url", "hex", "alnum", "printable"];

    pub fn name(self) -> &'static str {
        match self {
            Charset::Base64Url => "base64url",
            Charset::Hex => "hex",
            Charset::Alnum => "alnum",
            Charset::Printable => "printable",
        }
    }
}

/// One `[[preflight.secret]]` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRule {
    /// SSM parameter name or ARN.
    pub name: String,
    /// Exact byte length.
    pub length: Option<usize>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub charset: Option<Charset>,
    /// Another parameter that must hold byte-identical content.
    pub same_as: Option<String>,
    /// `file:line:col` of the rule, for messages.
    pub position: String,
}

/// One `[[verify.http]]` check. Its Debug hides secret header values and URL credentials.
#[derive(Clone)]
pub struct HttpCheck {
    pub name: String,
    pub url: String,
    pub method: String,
    /// Header name, value, and whether the value is a secret (from `env()`, or a header named
    /// Authorization, Cookie or *-Token): secrets are redacted in every output.
    pub headers: Vec<(String, String, bool)>,
    pub body: Option<String>,
    pub expect: HttpExpect,
    pub retries: u32,
    pub timeout: Duration,
}

impl std::fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v, secret)| (k.as_str(), if *secret { "<redacted>" } else { v.as_str() }))
            .collect();
        f.debug_struct("HttpCheck")
            .field("name", &self.name)
            .field("url", &crate::redact::display_url(&self.url))
            .field("method", &self.method)
            .field("headers", &headers)
            .field(
                "body",
                &self.body.as_ref().map(|b| format!("<{} bytes>", b.len())),
            )
            .field("expect", &self.expect)
            .field("retries", &self.retries)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Debug, Clone, Default)]
pub struct HttpExpect {
    /// Expected status (default 200).
    pub status: u16,
    pub body_contains: Option<String>,
    pub json: Vec<JsonExpect>,
}

/// An expectation on the JSON body at an RFC 6901 pointer.
#[derive(Debug, Clone)]
pub struct JsonExpect {
    pub pointer: String,
    /// The value must be present and not null, "", [] or {}.
    pub non_empty: bool,
    pub equals: Option<serde_json::Value>,
}

/// Whether a header's value is a secret by its name.
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization"
        || n == "cookie"
        || n == "proxy-authorization"
        || n.ends_with("-token")
        || n == "x-api-key"
}

/// How to build the release's image (`[build]`).
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// The build context directory (resolved against the plan file's directory).
    pub context: PathBuf,
    /// The Dockerfile (resolved against the context).
    pub dockerfile: PathBuf,
    /// `--platform`, e.g. `linux/amd64`.
    pub platform: Option<String>,
    /// Shell commands run in the context first, with RELEASE_VERSION set.
    pub before: Vec<String>,
    /// `--build-arg NAME=VALUE`, rendered.
    pub args: BTreeMap<String, String>,
    /// Which of docker's builders builds (`build.builder`, default auto).
    pub builder: BuilderMode,
    /// Any docker-compatible CLI (`build.cli`, default `docker`).
    pub cli: String,
    /// `--network` of the build's RUN steps (`build.network`); `None`: docker's default.
    pub network: Option<String>,
    /// The ids of `build.secrets`, in order; their values are rendered only when the build
    /// runs ([`Plan::build_secrets`]).
    pub secret_ids: Vec<String>,
}

/// A builder CLI of the containers tools: one builder each (buildah's), no daemon, images in
/// containers-storage, and the push's digest written to `--digestfile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainersCli {
    Podman,
    Buildah,
}

impl ContainersCli {
    pub fn name(self) -> &'static str {
        match self {
            ContainersCli::Podman => "podman",
            ContainersCli::Buildah => "buildah",
        }
    }
}

/// Which containers-tools CLI a builder CLI is, by its file name (`podman`,
/// `/usr/bin/buildah`, …); `None` for docker and other docker-compatible CLIs.
pub fn containers_cli(cli: &str) -> Option<ContainersCli> {
    let name = std::path::Path::new(cli).file_name()?.to_str()?;
    if name.starts_with("podman") {
        Some(ContainersCli::Podman)
    } else if name.starts_with("buildah") {
        Some(ContainersCli::Buildah)
    } else {
        None
    }
}

/// `build.builder`: which of docker's builders builds the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuilderMode {
    /// BuildKit whenever the CLI can use it (buildx, or a CLI with BuildKit built in), else
    /// the legacy builder, with a warning that says why.
    Auto,
    /// BuildKit, or a failure when the CLI cannot use it.
    BuildKit,
    /// The legacy builder (`DOCKER_BUILDKIT=0`), deprecated by Docker.
    Legacy,
    /// podman's own builder (buildah's); `build.cli` defaults to `podman`.
    Podman,
    /// The buildah CLI; `build.cli` defaults to `buildah`.
    Buildah,
}

impl BuilderMode {
    pub const NAMES: &'static [&'static str] = &["auto", "buildkit", "legacy", "podman", "buildah"];

    /// The containers-tools CLI this mode builds with, if it names one.
    pub fn containers_cli(self) -> Option<ContainersCli> {
        match self {
            BuilderMode::Podman => Some(ContainersCli::Podman),
            BuilderMode::Buildah => Some(ContainersCli::Buildah),
            _ => None,
        }
    }
}

/// The raw `build.secrets` templates: their `Debug` shows the ids only, never a value.
#[derive(Clone, Default)]
struct RawSecrets(BTreeMap<String, Text>);

impl std::fmt::Debug for RawSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

#[derive(Debug, Clone)]
pub struct RolloutSpec {
    pub timeout: Duration,
    pub poll: Duration,
    /// How long our deployment may run no task while ECS reports it cannot place one
    /// before the watch calls it stalled (`rollout.stall`, default 3m).
    pub stall: Duration,
    pub on_failure: OnFailure,
}

/// A loaded, rendered plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub source: Source,
    /// sha256 of the plan file's bytes (the `release:plan` tag).
    pub sha256: String,
    pub service: ServiceTarget,
    pub version: Version,
    pub image: ImageSpec,
    pub task_definition: TaskDefinitionSpec,
    pub rollout: RolloutSpec,
    /// `[build]`, when the plan builds its image.
    pub build: Option<BuildSpec>,
    /// `[[preflight.secret]]` rules.
    pub secrets: Vec<SecretRule>,
    /// `[[verify.http]]`, rendered only when verify runs (its `env()` values, tokens
    /// among them, are needed by verify alone).
    verify: Option<RawVerify>,
    /// `build.secrets`, rendered only when the build runs.
    build_secrets: RawSecrets,
}

impl Plan {
    /// Reads, checks and renders the plan at `path`. Errors exit with code 2.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Plan> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!("{}: cannot read the plan: {e}", path.display()))
        })?;
        Plan::parse(Source::new(path, text), overrides)
    }

    /// Checks and renders a plan already read into memory.
    pub fn parse(source: Source, overrides: &Overrides) -> Result<Plan> {
        let raw: RawPlan = toml::from_str(&source.text).map_err(|e| toml_error(&source, &e))?;
        let sha256 = hex(&Sha256::digest(source.text.as_bytes()));
        let dir = source
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();

        let version = resolve_version(&source, &raw, overrides)?;
        let r = Renderer {
            source: &source,
            version: version.as_str(),
        };

        let service = ServiceTarget {
            region: raw.service.region.as_ref().map(|t| r.text(t)).transpose()?,
            account: match &raw.service.account {
                None => None,
                Some(t) => {
                    let a = r.text(t)?;
                    if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(source.failure_at(
                            &t.span(),
                            format!("service.account is `{a}`; expected a 12-digit AWS account id"),
                        ));
                    }
                    Some(a)
                }
            },
            cluster: r.nonempty(&raw.service.cluster, "service.cluster")?,
            name: r.nonempty(&raw.service.name, "service.name")?,
        };

        let repository = r.nonempty(&raw.image.repository, "image.repository")?;
        check_repository(&source, &raw.image.repository, &repository)?;
        let tags = match &raw.image.tags {
            Some(tags) => tags
                .get_ref()
                .iter()
                .map(|t| r.tag(t))
                .collect::<Result<Vec<_>>>()?,
            None => vec![version.as_str().to_string()],
        };
        if tags.is_empty() {
            return Err(source.failure_at(
                &raw.image.tags.as_ref().map(|t| t.span()).unwrap_or(0..0),
                "image.tags is empty; a release needs at least one tag (the first is the one deploy resolves), e.g. [\"{{ version }}\"]",
            ));
        }
        let login = match &raw.image.login {
            None if is_ecr_repository(&repository) => Login::Ecr,
            None => Login::Docker,
            Some(t) => match r.text(t)?.as_str() {
                "ecr" => Login::Ecr,
                "docker" => Login::Docker,
                other => {
                    return Err(source.failure_at(
                        &t.span(),
                        format!("image.login is `{other}`; expected \"ecr\" or \"docker\""),
                    ))
                }
            },
        };

        let template_text = &raw.task_definition.template;
        let template = dir.join(r.nonempty(template_text, "task_definition.template")?);
        if !template.is_file() {
            return Err(source.failure_at(
                &template_text.span(),
                format!(
                    "task_definition.template: no such file {}",
                    template.display()
                ),
            ));
        }
        let mut vars = serde_json::Map::new();
        for (key, value) in &raw.task_definition.vars {
            vars.insert(key.clone(), r.value(value.get_ref(), &value.span())?);
        }

        let rollout = match &raw.rollout {
            None => RolloutSpec {
                timeout: Duration::from_secs(600),
                poll: Duration::from_secs(2),
                stall: Duration::from_secs(180),
                on_failure: OnFailure::Rollback,
            },
            Some(ro) => RolloutSpec {
                timeout: r.duration(ro.timeout.as_ref(), "rollout.timeout", 600)?,
                poll: r.duration(ro.poll.as_ref(), "rollout.poll", 2)?,
                stall: r.duration(ro.stall.as_ref(), "rollout.stall", 180)?,
                on_failure: match &ro.on_failure {
                    None => OnFailure::Rollback,
                    Some(t) => match r.text(t)?.as_str() {
                        "rollback" => OnFailure::Rollback,
                        "stop" => OnFailure::Stop,
                        other => {
                            return Err(source.failure_at(
                                &t.span(),
                                format!(
                                    "rollout.on_failure is `{other}`; expected \"rollback\" or \"stop\""
                                ),
                            ))
                        }
                    },
                },
            },
        };

        let task_definition = TaskDefinitionSpec {
            family: r.nonempty(&raw.task_definition.family, "task_definition.family")?,
            template,
            vars,
            allow_unpinned_images: raw.task_definition.allow_unpinned_images,
        };

        let build = match &raw.build {
            None => None,
            Some(b) => {
                let context = dir.join(r.nonempty(&b.context, "build.context")?);
                if !context.is_dir() {
                    return Err(source.failure_at(
                        &b.context.span(),
                        format!("build.context: no such directory {}", context.display()),
                    ));
                }
                let dockerfile = match &b.dockerfile {
                    Some(d) => context.join(r.nonempty(d, "build.dockerfile")?),
                    None => context.join("Dockerfile"),
                };
                if !dockerfile.is_file() {
                    let span = b
                        .dockerfile
                        .as_ref()
                        .map(|d| d.span())
                        .unwrap_or(b.context.span());
                    return Err(source.failure_at(
                        &span,
                        format!("build.dockerfile: no such file {}", dockerfile.display()),
                    ));
                }
                let builder = builder_mode(&r, b.builder.as_ref())?;
                let cli = match (&b.cli, builder.containers_cli()) {
                    (Some(t), _) => r.nonempty(t, "build.cli")?,
                    (None, Some(tool)) => tool.name().into(),
                    (None, None) => "docker".into(),
                };
                if let (Some(tool), Some(t)) = (builder.containers_cli(), &b.cli) {
                    if containers_cli(&cli) != Some(tool) {
                        let name = tool.name();
                        return Err(source.failure_at(
                            &t.span(),
                            format!("build.builder is \"{name}\", but build.cli is `{cli}`: set build.cli = \"{name}\" (or remove it)"),
                        ));
                    }
                }
                Some(BuildSpec {
                    context,
                    dockerfile,
                    platform: match &b.platform {
                        None => None,
                        Some(t) => {
                            let p = r.nonempty(t, "build.platform")?;
                            if crate::image::platform::Platform::parse(&p).is_none() {
                                return Err(source.failure_at(
                                    &t.span(),
                                    format!("build.platform is `{p}`; expected os/architecture, e.g. \"linux/amd64\" or \"linux/arm64\""),
                                ));
                            }
                            Some(p)
                        }
                    },
                    before: b.before.iter().map(|c| r.text(c)).collect::<Result<_>>()?,
                    args: b
                        .args
                        .iter()
                        .map(|(k, v)| Ok((k.clone(), r.text(v)?)))
                        .collect::<Result<_>>()?,
                    builder,
                    cli,
                    network: b
                        .network
                        .as_ref()
                        .map(|t| r.nonempty(t, "build.network"))
                        .transpose()?,
                    secret_ids: b.secrets.keys().cloned().collect(),
                })
            }
        };
        if let (Some(spec), Some(b)) = (&build, &raw.build) {
            check_secrets(&source, b, spec)?;
        }

        let mut secrets = Vec::new();
        for rule in raw.preflight.iter().flat_map(|p| p.secret.iter()) {
            let charset = match &rule.charset {
                None => None,
                Some(t) => Some(match r.text(t)?.as_str() {
                    "base64url" => Charset::Base64Url,
                    "hex" => Charset::Hex,
                    "alnum" => Charset::Alnum,
                    "printable" => Charset::Printable,
                    other => {
                        return Err(source.failure_at(
                            &t.span(),
                            format!(
                                "preflight.secret.charset is `{other}`{}; expected one of {}",
                                crate::suggest::hint(other, Charset::NAMES),
                                Charset::NAMES.join(", ")
                            ),
                        ))
                    }
                }),
            };
            let n = |v: &Option<Spanned<usize>>| v.as_ref().map(|s| *s.get_ref());
            if rule.length.is_some() && (rule.min_length.is_some() || rule.max_length.is_some()) {
                return Err(source.failure_at(
                    &rule.name.span(),
                    "preflight.secret: give either length, or min_length/max_length, not both",
                ));
            }
            if let (Some(lo), Some(hi)) = (n(&rule.min_length), n(&rule.max_length)) {
                if lo > hi {
                    return Err(source.failure_at(
                        &rule.name.span(),
                        format!("preflight.secret: min_length {lo} is above max_length {hi}"),
                    ));
                }
            }
            secrets.push(SecretRule {
                name: r.nonempty(&rule.name, "preflight.secret.name")?,
                length: n(&rule.length),
                min_length: n(&rule.min_length),
                max_length: n(&rule.max_length),
                charset,
                same_as: rule
                    .same_as
                    .as_ref()
                    .map(|t| r.nonempty(t, "preflight.secret.same_as"))
                    .transpose()?,
                position: source.position(rule.name.span().start),
            });
        }

        Ok(Plan {
            build_secrets: RawSecrets(
                raw.build
                    .as_ref()
                    .map(|b| b.secrets.clone())
                    .unwrap_or_default(),
            ),
            verify: raw.verify.clone(),
            secrets,
            build,
            sha256,
            service,
            version,
            image: ImageSpec {
                repository,
                tags,
                login,
            },
            task_definition,
            rollout,
            source,
        })
    }

    /// The plan's path as given.
    pub fn path(&self) -> &Path {
        &self.source.path
    }

    /// `build.secrets`, rendered now (errors name `file:line:col`, never a value): each id
    /// with its value, held in a type that redacts.
    pub fn build_secrets(&self) -> Result<Vec<(String, SecretValue)>> {
        let r = Renderer {
            source: &self.source,
            version: self.version.as_str(),
        };
        self.build_secrets
            .0
            .iter()
            .map(|(id, t)| Ok((id.clone(), SecretValue::from_string(r.text(t)?))))
            .collect()
    }

    /// The `[[verify.http]]` checks, rendered now (errors name `file:line:col`).
    pub fn http_checks(&self) -> Result<Vec<HttpCheck>> {
        let r = Renderer {
            source: &self.source,
            version: self.version.as_str(),
        };
        let source = &self.source;
        let raw = &self.verify;
        let mut http_checks = Vec::new();
        for c in raw.iter().flat_map(|v| v.http.iter()) {
            let method = match &c.method {
                Some(m) => r.nonempty(m, "verify.http.method")?.to_ascii_uppercase(),
                None => "GET".into(),
            };
            if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
                .contains(&method.as_str())
            {
                return Err(source.failure_at(
                    &c.method.as_ref().map(|m| m.span()).unwrap_or(c.name.span()),
                    format!("verify.http.method `{method}` is not an HTTP method"),
                ));
            }
            let url = r.nonempty(&c.url, "verify.http.url")?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(source.failure_at(
                    &c.url.span(),
                    format!("verify.http.url `{url}` must start with http:// or https://"),
                ));
            }
            let mut headers = Vec::new();
            for (k, v) in &c.headers {
                let secret = is_secret_header(k) || v.get_ref().contains("env(");
                headers.push((k.clone(), r.text(v)?, secret));
            }
            let mut json = Vec::new();
            for j in &c.expect.json {
                let pointer = r.text(&j.pointer)?;
                if !(pointer.is_empty() || pointer.starts_with('/')) {
                    return Err(source.failure_at(
                        &j.pointer.span(),
                        format!("verify.http.expect.json.pointer `{pointer}` must be a JSON pointer such as /result/tools"),
                    ));
                }
                json.push(JsonExpect {
                    pointer,
                    non_empty: j.non_empty.unwrap_or(false),
                    equals: j
                        .equals
                        .as_ref()
                        .map(|e| r.value(e.get_ref(), &e.span()))
                        .transpose()?,
                });
            }
            http_checks.push(HttpCheck {
                name: r.nonempty(&c.name, "verify.http.name")?,
                url,
                method,
                headers,
                body: c.body.as_ref().map(|b| r.text(b)).transpose()?,
                expect: HttpExpect {
                    status: c
                        .expect
                        .status
                        .as_ref()
                        .map(|s| *s.get_ref())
                        .unwrap_or(200),
                    body_contains: c
                        .expect
                        .body_contains
                        .as_ref()
                        .map(|b| r.text(b))
                        .transpose()?,
                    json,
                },
                retries: c.retries.as_ref().map(|r| *r.get_ref()).unwrap_or(0),
                timeout: r.duration(c.timeout.as_ref(), "verify.http.timeout", 10)?,
            });
        }

        Ok(http_checks)
    }
}

/// Whether a repository is hosted by ECR (`<account>.dkr.ecr.<region>.amazonaws.com/...`).
pub fn is_ecr_repository(repository: &str) -> bool {
    let host = repository.split('/').next().unwrap_or("");
    host.contains(".dkr.ecr.")
        && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
}

/// Where an ECR repository lives, read from its host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrLocation {
    /// The registry's account (`registryId`), when the host is an ECR host.
    pub account: Option<String>,
    /// The registry's region, when the host is an ECR host.
    pub region: Option<String>,
    /// The repository name inside the registry (`quiltdata/catalog`).
    pub name: String,
}

/// `<account>.dkr.ecr.<region>.amazonaws.com/<name>` -> its parts; for another host (a registry
/// that takes ECR's token, as the sandbox's), only the name.
pub fn ecr_location(repository: &str) -> EcrLocation {
    let (host, name) = repository.split_once('/').unwrap_or((repository, ""));
    let ecr = is_ecr_repository(repository);
    let parts: Vec<&str> = host.split('.').collect();
    EcrLocation {
        account: parts
            .first()
            .filter(|a| ecr && !a.is_empty() && a.chars().all(|c| c.is_ascii_digit()))
            .map(|a| a.to_string()),
        region: parts.get(3).filter(|_| ecr).map(|r| r.to_string()),
        name: name.to_string(),
    }
}

fn check_repository(source: &Source, raw: &Text, repository: &str) -> Result<()> {
    let last = repository.rsplit('/').next().unwrap_or("");
    if repository.contains('@') || last.contains(':') || !repository.contains('/') {
        return Err(source.failure_at(
            &raw.span(),
            format!(
                "image.repository is `{repository}`; expected host/name without a tag or digest, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/app"
            ),
        ));
    }
    Ok(())
}

fn resolve_version(source: &Source, raw: &RawPlan, overrides: &Overrides) -> Result<Version> {
    if let Some(v) = &overrides.version {
        return Version::parse(v).map_err(|e| Failure::usage(format!("--release-version: {e}")));
    }
    let text = raw.release.as_ref().and_then(|r| r.version.as_ref());
    match text {
        Some(t) => Version::parse(t.get_ref())
            .map_err(|e| source.failure_at(&t.span(), format!("release.version: {e}"))),
        None => Err(Failure::usage(format!(
            "{}: no version: set release.version in the plan, or pass --release-version (or RELEASE_VERSION)",
            source.path.display()
        ))),
    }
}

/// `build.builder`: "auto" (default), "buildkit", "legacy", "podman" or "buildah".
fn builder_mode(r: &Renderer, t: Option<&Text>) -> Result<BuilderMode> {
    let Some(t) = t else {
        return Ok(BuilderMode::Auto);
    };
    Ok(match r.text(t)?.as_str() {
        "auto" => BuilderMode::Auto,
        "buildkit" => BuilderMode::BuildKit,
        "legacy" => BuilderMode::Legacy,
        "podman" => BuilderMode::Podman,
        "buildah" => BuilderMode::Buildah,
        other => {
            // Before BuildKit, build.builder named the CLI: say where that went.
            let moved = if other.contains('/') || other == "docker" {
                format!(" (the builder CLI is `build.cli` now: cli = \"{other}\")")
            } else {
                crate::suggest::hint(other, BuilderMode::NAMES.iter().copied())
            };
            return Err(Failure::usage(r.source.error_at(
                &t.span(),
                format!(
                    "build.builder is `{other}`{moved}; expected one of {}",
                    BuilderMode::NAMES.join(", ")
                ),
            )));
        }
    })
}

/// `build.secrets`: ids BuildKit accepts, and never with the legacy builder (it has no
/// secret mounts: a Dockerfile that needs one would fail, and a build arg would keep the value
/// in the image's history).
/// A build secret's id and that BuildKit will build it. The errors name the position but
/// show no line (no snippet): a secret's line may hold its value.
fn check_secrets(source: &Source, raw: &RawBuild, spec: &BuildSpec) -> Result<()> {
    for (id, t) in &raw.secrets {
        let valid = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(Failure::usage(source.error_at(
                &t.span(),
                format!("build.secrets: `{id}` is not a valid secret id ([A-Za-z0-9_.-]+)"),
            )));
        }
        // podman and buildah have one builder (buildah's), which mounts secrets, whatever
        // build.builder says.
        if spec.builder == BuilderMode::Legacy && containers_cli(&spec.cli).is_none() {
            let span = raw.builder.as_ref().map(|b| b.span()).unwrap_or(t.span());
            return Err(Failure::usage(source.error_at(
                &span,
                "build.secrets needs BuildKit, podman or buildah (RUN --mount=type=secret), but build.builder is \"legacy\": the legacy builder has no secret mounts. Set build.builder = \"auto\", \"buildkit\", \"podman\" or \"buildah\"",
            )));
        }
    }
    Ok(())
}

/// Renders plan string values, anchoring errors at the value's position.
struct Renderer<'a> {
    source: &'a Source,
    version: &'a str,
}

impl Renderer<'_> {
    fn render(&self, template: &str, span: &Range<usize>) -> Result<String> {
        if !template.contains("{{") && !template.contains("{%") {
            return Ok(template.to_string());
        }
        let env = jinja::environment();
        env.render_str(template, minijinja::context! { version => self.version })
            .map_err(|e| self.source.failure_at(span, jinja::describe(&e)))
    }

    fn text(&self, t: &Text) -> Result<String> {
        self.render(t.get_ref(), &t.span())
    }

    fn nonempty(&self, t: &Text, key: &str) -> Result<String> {
        let value = self.text(t)?;
        if value.trim().is_empty() {
            return Err(Failure::usage(
                self.source.error_at(&t.span(), format!("{key} is empty")),
            ));
        }
        Ok(value)
    }

    fn tag(&self, t: &Text) -> Result<String> {
        let tag = self.text(t)?;
        let valid = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(self.source.failure_at(
                &t.span(),
                format!("image.tags: `{tag}` is not a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"),
            ));
        }
        Ok(tag)
    }

    fn value(&self, v: &toml::Value, span: &Range<usize>) -> Result<serde_json::Value> {
        Ok(match v {
            toml::Value::String(s) => serde_json::Value::String(self.render(s, span)?),
            toml::Value::Integer(i) => serde_json::Value::from(*i),
            toml::Value::Float(f) => serde_json::Value::from(*f),
            toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
            toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
            toml::Value::Array(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|i| self.value(i, span))
                    .collect::<Result<_>>()?,
            ),
            toml::Value::Table(t) => serde_json::Value::Object(
                t.iter()
                    .map(|(k, i)| Ok((k.clone(), self.value(i, span)?)))
                    .collect::<Result<_>>()?,
            ),
        })
    }

    fn duration(&self, t: Option<&Text>, key: &str, default_secs: u64) -> Result<Duration> {
        let Some(t) = t else {
            return Ok(Duration::from_secs(default_secs));
        };
        let text = self.text(t)?;
        match humantime::parse_duration(&text) {
            Ok(d) if !d.is_zero() => Ok(d),
            _ => Err(self.source.failure_at(
                &t.span(),
                format!(
                    "{key} is `{text}`; expected a duration such as \"90s\", \"10m\" or \"1h 30m\""
                ),
            )),
        }
    }
}

/// Turns a TOML/serde error into `file:line:col: message (did you mean …?)`, at its line.
fn toml_error(source: &Source, err: &toml::de::Error) -> Failure {
    let span = err.span().unwrap_or(0..0);
    let message = err.message().trim().to_string();
    let table = source.table_at(span.start);
    let names: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let text = if let Some(rest) = message.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or("");
        let expected = &names[1.min(names.len())..];
        let place = table.map(|t| format!(" in [{t}]")).unwrap_or_default();
        format!(
            "unknown key `{key}`{place}{}; known keys: {}",
            crate::suggest::hint(key, expected.iter().copied()),
            expected.join(", ")
        )
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or("");
        match table {
            Some(t) => format!("missing key `{key}` in [{t}]"),
            None => format!("missing key or table `{key}`"),
        }
    } else {
        match table {
            Some(t) => format!("{message} (in [{t}])"),
            None => message,
        }
    };
    source.failure_at(&span, text)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[service]
region  = "us-east-1"
cluster = "sales-prod"
name    = "sales-prod-nginx_catalog"

[release]
version = "1.64.1a9"

[image]
repository = "850787717197.dkr.ecr.us-east-1.amazonaws.com/quiltdata/catalog"
tags = ["{{ version }}", "latest"]

[task_definition]
family   = "sales-prod-nginx_catalog"
template = "Cargo.toml"
[task_definition.vars]
jwt_secret_arn = "arn:aws:ssm:us-east-1:850787717197:parameter/quilt/mcp-server/jwt-secret"
home = "{{ env('RELEASE_PLAN_TEST_HOME', 'none') }}"

[rollout]
timeout = "10m"
poll    = "2s"
"#;

    fn parse(text: &str) -> Result<Plan> {
        // Template paths resolve against the plan's directory: the crate root here.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test.toml");
        Plan::parse(Source::new(&path, text.to_string()), &Overrides::default())
    }

    fn err(text: &str) -> String {
        let e = parse(text).unwrap_err();
        assert_eq!(e.code, crate::exit::ExitCode::Usage);
        e.message
    }

    #[test]
    fn empty_tags_and_a_bad_account_are_errors_at_their_place() {
        let msg = err(&GOOD.replace(r#"tags = ["{{ version }}", "latest"]"#, "tags = []"));
        assert!(msg.contains("image.tags is empty"), "{msg}");
        assert!(msg.contains("test.toml:12:8:"), "line of the key: {msg}");
        let msg = err(&GOOD.replace(
            "cluster = \"sales-prod\"",
            "account = \"12345\"\ncluster = \"sales-prod\"",
        ));
        assert!(msg.contains("12-digit AWS account id"), "{msg}");
        let ok = parse(&GOOD.replace(
            "cluster = \"sales-prod\"",
            "account = \"850787717197\"\ncluster = \"sales-prod\"",
        ))
        .unwrap();
        assert_eq!(ok.service.account.as_deref(), Some("850787717197"));
    }

    #[test]
    fn parses_the_production_shape() {
        let plan = parse(GOOD).unwrap();
        assert_eq!(plan.service.cluster, "sales-prod");
        assert_eq!(plan.version.as_str(), "1.64.1a9");
        assert_eq!(plan.image.tags, vec!["1.64.1a9", "latest"]);
        assert_eq!(plan.image.login, Login::Ecr);
        assert_eq!(plan.rollout.timeout, Duration::from_secs(600));
        assert_eq!(plan.rollout.poll, Duration::from_secs(2));
        assert_eq!(plan.rollout.on_failure, OnFailure::Rollback);
        assert_eq!(plan.task_definition.vars["home"], "none");
        assert_eq!(plan.sha256.len(), 64);
    }

    #[test]
    fn version_override_wins() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test.toml");
        let o = Overrides {
            version: Some("2.0.0".into()),
        };
        let plan = Plan::parse(Source::new(&path, GOOD.into()), &o).unwrap();
        assert_eq!(plan.image.tags, vec!["2.0.0", "latest"]);
    }

    #[test]
    fn misspelt_key_names_position_and_suggestion() {
        let msg = err(&GOOD.replace("cluster = ", "clustr = "));
        assert!(msg.contains("test.toml:4:1:"), "{msg}");
        assert!(msg.contains("unknown key `clustr` in [service]"), "{msg}");
        assert!(msg.contains("did you mean `cluster`?"), "{msg}");
    }

    #[test]
    fn unknown_table_is_an_error() {
        let msg = err(&format!("{GOOD}\n[rolout]\npoll = \"1s\"\n"));
        assert!(msg.contains("unknown key `rolout`"), "{msg}");
        assert!(msg.contains("did you mean `rollout`?"), "{msg}");
    }

    #[test]
    fn wrong_type_and_missing_key() {
        let msg = err(&GOOD.replace("cluster = \"sales-prod\"", "cluster = 3"));
        assert!(msg.contains("test.toml:4:11:"), "{msg}");
        assert!(msg.contains("invalid type"), "{msg}");
        let msg = err(&GOOD.replace("cluster = \"sales-prod\"\n", ""));
        assert!(msg.contains("missing key `cluster` in [service]"), "{msg}");
    }

    #[test]
    fn unset_env_names_variable_and_position() {
        let msg = err(&GOOD.replace(
            "'RELEASE_PLAN_TEST_HOME', 'none'",
            "'RELEASE_PLAN_TEST_SURELY_UNSET'",
        ));
        assert!(msg.contains("test.toml:19:8:"), "{msg}");
        assert!(
            msg.contains("RELEASE_PLAN_TEST_SURELY_UNSET is not set"),
            "{msg}"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(err(&GOOD.replace("\"1.64.1a9\"", "\"latest\"")).contains("not a version"));
        assert!(err(&GOOD.replace("\"10m\"", "\"ten\"")).contains("rollout.timeout"));
        assert!(err(&GOOD.replace("Cargo.toml", "nope.json")).contains("no such file"));
        assert!(
            err(&GOOD.replace("quiltdata/catalog\"", "quiltdata/catalog:1\""))
                .contains("without a tag")
        );
        assert!(err(&GOOD.replace("\"latest\"]", "\"bad tag\"]")).contains("not a valid image tag"));
    }

    /// GOOD with a `[build]` table (the context is the crate root, its Dockerfile exists).
    fn with_build(keys: &str) -> String {
        format!("{GOOD}\n[build]\ncontext = \".\"\ndockerfile = \"Cargo.toml\"\n{keys}\n")
    }

    #[test]
    fn build_builder_cli_network_and_platform() {
        let plan = parse(&with_build("")).unwrap();
        let b = plan.build.unwrap();
        assert_eq!(b.builder, BuilderMode::Auto);
        assert_eq!(b.cli, "docker");
        assert_eq!(b.network, None);
        assert!(b.secret_ids.is_empty());
        let plan = parse(&with_build(
            "builder = \"buildkit\"\ncli = \"/usr/bin/docker\"\nnetwork = \"host\"\nplatform = \"linux/arm64\"",
        ))
        .unwrap();
        let b = plan.build.unwrap();
        assert_eq!(b.builder, BuilderMode::BuildKit);
        assert_eq!(b.cli, "/usr/bin/docker");
        assert_eq!(b.network.as_deref(), Some("host"));
        assert_eq!(b.platform.as_deref(), Some("linux/arm64"));
        assert_eq!(
            parse(&with_build("builder = \"legacy\""))
                .unwrap()
                .build
                .unwrap()
                .builder,
            BuilderMode::Legacy
        );
        // The CLI used to be build.builder: the error says where it went.
        let msg = err(&with_build("builder = \"docker\""));
        assert!(msg.contains("test.toml:28:11:"), "{msg}");
        assert!(
            msg.contains("the builder CLI is `build.cli` now: cli = \"docker\""),
            "{msg}"
        );
        // podman's builder: build.cli follows unless it is set.
        let b = parse(&with_build("builder = \"podman\""))
            .unwrap()
            .build
            .unwrap();
        assert_eq!((b.builder, b.cli.as_str()), (BuilderMode::Podman, "podman"));
        // podman's and buildah's builder mounts secrets whatever build.builder says.
        let b = parse(&with_build(
            "builder = \"legacy\"\ncli = \"podman\"\nsecrets = { T = \"x\" }",
        ))
        .unwrap()
        .build
        .unwrap();
        assert_eq!(b.secret_ids, ["T"]);
        let b = parse(&with_build("builder = \"buildah\""))
            .unwrap()
            .build
            .unwrap();
        assert_eq!(
            (b.builder, b.cli.as_str()),
            (BuilderMode::Buildah, "buildah")
        );
        let msg = err(&with_build("builder = \"buildah\"\ncli = \"podman\""));
        assert!(msg.contains("build.cli = \"buildah\""), "{msg}");
        let msg = err(&with_build(
            "builder = \"podman\"\ncli = \"/usr/bin/docker\"",
        ));
        assert!(msg.contains("test.toml:29:"), "{msg}");
        assert!(msg.contains("build.cli = \"podman\""), "{msg}");
        assert_eq!(
            containers_cli("/usr/bin/podman"),
            Some(ContainersCli::Podman)
        );
        assert_eq!(containers_cli("buildah"), Some(ContainersCli::Buildah));
        assert_eq!(containers_cli("docker"), None);
        assert_eq!(containers_cli("/opt/podman/bin/docker"), None);
        let msg = err(&with_build("builder = \"buildkt\""));
        assert!(msg.contains("did you mean `buildkit`?"), "{msg}");
        let msg = err(&with_build("platform = \"amd64\""));
        assert!(
            msg.contains("build.platform is `amd64`; expected os/architecture"),
            "{msg}"
        );
    }

    #[test]
    fn build_secrets_are_rendered_only_when_asked_and_never_shown() {
        let text = with_build(
            "secrets = { NPM_TOKEN = \"{{ env('RELEASE_PLAN_TEST_TOKEN', 'tok-3f9a') }}\", \"a.b-c\" = \"x\" }",
        );
        let plan = parse(&text).unwrap();
        assert_eq!(
            plan.build.as_ref().unwrap().secret_ids,
            vec!["NPM_TOKEN", "a.b-c"]
        );
        let debug = format!("{plan:?}");
        assert!(
            !debug.contains("tok-3f9a") && !debug.contains("RELEASE_PLAN_TEST_TOKEN"),
            "{debug}"
        );
        let secrets = plan.build_secrets().unwrap();
        assert_eq!(secrets[0].0, "NPM_TOKEN");
        assert_eq!(secrets[0].1.expose(), b"tok-3f9a");
        assert!(!format!("{secrets:?}").contains("tok-3f9a"));
        // An unset variable is an error at its place when the build asks, not before.
        let text =
            with_build("secrets = { NPM_TOKEN = \"{{ env('RELEASE_PLAN_TEST_SURELY_UNSET') }}\" }");
        let plan = parse(&text).unwrap();
        let e = plan.build_secrets().unwrap_err();
        assert!(e.message.contains("test.toml:28:25:"), "{}", e.message);
        assert!(
            e.message
                .contains("RELEASE_PLAN_TEST_SURELY_UNSET is not set"),
            "{}",
            e.message
        );
        // Ids BuildKit takes; none with the legacy builder.
        let msg = err(&with_build("secrets = { \"a,b\" = \"x\" }"));
        assert!(msg.contains("`a,b` is not a valid secret id"), "{msg}");
        let msg = err(&with_build("builder = \"legacy\"\nsecrets = { T = \"x\" }"));
        assert!(msg.contains("test.toml:28:11:"), "{msg}");
        assert!(msg.contains("build.secrets needs BuildKit"), "{msg}");
    }

    #[test]
    fn ecr_location_reads_account_and_region() {
        let l = ecr_location("850787717197.dkr.ecr.us-east-1.amazonaws.com/quiltdata/catalog");
        assert_eq!(l.account.as_deref(), Some("850787717197"));
        assert_eq!(l.region.as_deref(), Some("us-east-1"));
        assert_eq!(l.name, "quiltdata/catalog");
        let l = ecr_location("127.0.0.1:5000/app");
        assert_eq!((l.account, l.region, l.name.as_str()), (None, None, "app"));
    }

    #[test]
    fn ecr_detection() {
        assert!(is_ecr_repository("1.dkr.ecr.us-east-1.amazonaws.com/a"));
        assert!(!is_ecr_repository("127.0.0.1:5000/app"));
    }
}
