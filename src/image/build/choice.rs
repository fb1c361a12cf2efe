//! Which builder builds (docker's BuildKit or legacy builder, podman's or buildah's), from
//! `build.builder` and what the CLI answered, and the command line each one takes. Pure: the probes themselves are child processes in
//! `builder.rs`.
//!
//! Docker's sources for each rule:
//! - BuildKit is the default builder since Engine 23.0; the legacy builder is deprecated
//!   ("Legacy builder", https://docs.docker.com/engine/deprecated/#legacy-builder-fallback and
//!   "BuildKit", https://docs.docker.com/build/buildkit/).
//! - Since CLI 23.0, `docker build` uses BuildKit through the buildx plugin only; without the
//!   plugin it falls back to the legacy builder, and `DOCKER_BUILDKIT=1` fails ("BuildKit is
//!   enabled but the buildx component is missing or broken"). A CLI before 23.0 (Debian's
//!   20.10) has BuildKit built in, turned on with `DOCKER_BUILDKIT=1` ("Getting started",
//!   https://docs.docker.com/build/buildkit/#getting-started).
//! - buildx adds provenance attestations by default, which turns the pushed image into an
//!   index; `--provenance=false` keeps it one manifest, the digest ECS pulls
//!   ("Provenance attestations", https://docs.docker.com/build/metadata/attestations/slsa-provenance/).
//! - Secrets: `--secret id=ID,env=VAR` mounts the value of VAR at `/run/secrets/ID` for
//!   `RUN --mount=type=secret,id=ID` only, never in a layer or the history ("Build secrets",
//!   https://docs.docker.com/build/building/secrets/).
//! - podman and buildah build with buildah's builder (not docker's legacy builder, not
//!   BuildKit), which takes the same `--secret id=ID,env=VAR` and `RUN --mount=type=secret`
//!   (podman-build(1), buildah-build(1), "--secret"); podman 4.3 and buildah 1.28 (Debian 12)
//!   were tested.

use std::collections::BTreeMap;
use std::path::Path;

use crate::plan::{BuilderMode, ContainersCli};

/// What the builder CLI answered before the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The CLI is podman or buildah (whose builder is buildah's, not BuildKit); nothing else
    /// is asked of it.
    pub containers: Option<ContainersCli>,
    /// `<cli> buildx version` succeeded.
    pub buildx: bool,
    /// `<cli> version --format {{.Client.Version}}`, when it answered.
    pub client_version: Option<String>,
}

/// The builder a build runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `<cli> buildx build --load --provenance=false`.
    Buildx,
    /// `DOCKER_BUILDKIT=1 <cli> build` (a CLI before 23.0, BuildKit built in).
    BuiltIn,
    /// `DOCKER_BUILDKIT=0 <cli> build`.
    Legacy,
    /// `podman build`: podman's own builder (buildah's).
    Podman,
    /// `buildah build`.
    Buildah,
}

impl From<ContainersCli> for Kind {
    fn from(tool: ContainersCli) -> Kind {
        match tool {
            ContainersCli::Podman => Kind::Podman,
            ContainersCli::Buildah => Kind::Buildah,
        }
    }
}

impl Kind {
    /// Whether `RUN --mount=type=secret` works: BuildKit and buildah's builder (podman,
    /// buildah), not docker's legacy builder.
    pub fn mounts_secrets(self) -> bool {
        self != Kind::Legacy
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::Buildx => "BuildKit (buildx)",
            Kind::BuiltIn => "BuildKit (built into the docker CLI)",
            Kind::Legacy => "the legacy builder",
            Kind::Podman => "podman's buildah builder",
            Kind::Buildah => "buildah",
        }
    }
}

/// The builder chosen, and, when auto fell back to the legacy builder, why (said once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub kind: Kind,
    pub fallback: Option<String>,
}

impl Choice {
    /// The legacy builder, asked for (`build.builder = "legacy"`): no fallback to report.
    pub fn legacy() -> Choice {
        Choice {
            kind: Kind::Legacy,
            fallback: None,
        }
    }
}

/// The first number of a version such as `20.10.24+dfsg1` or `28.2.2`.
fn major(version: &str) -> Option<u32> {
    version
        .trim()
        .trim_start_matches('v')
        .split(['.', '-', '+'])
        .next()?
        .parse()
        .ok()
}

/// How a docker CLI can build with BuildKit, or why it cannot.
fn buildkit(cli: &str, probe: &Probe) -> Result<Kind, String> {
    if probe.buildx {
        return Ok(Kind::Buildx);
    }
    match probe.client_version.as_deref().map(|v| (v, major(v))) {
        // BuildKit came with 18.09; before 23.0 the CLI carries it (DOCKER_BUILDKIT=1).
        Some((v, Some(m))) if m < 23 && (m > 18 || v.starts_with("18.09")) => Ok(Kind::BuiltIn),
        Some((v, Some(m))) if m < 23 => Err(format!(
            "docker CLI {v} predates BuildKit (18.09) and `{cli} buildx version` failed"
        )),
        Some((v, _)) => Err(format!(
            "`{cli} buildx version` failed (no buildx plugin), and docker CLI {v} (23.0 or later) uses BuildKit only through buildx"
        )),
        None => Err(format!(
            "`{cli} buildx version` failed (no buildx plugin), and `{cli} version` gave no client version"
        )),
    }
}

/// `build.builder` and the probe → the builder, or why `buildkit` (or `podman`, `buildah`)
/// cannot be had.
pub fn choose(mode: BuilderMode, cli: &str, probe: &Probe) -> Result<Choice, String> {
    let chosen = |kind| Choice {
        kind,
        fallback: None,
    };
    let mismatch = |name: &str| {
        format!(
            "build.builder is \"{name}\", but build.cli `{cli}` is not {name}: set build.cli = \"{name}\" (or remove it)"
        )
    };
    // podman and buildah have one builder each (buildah's), whatever auto or legacy would
    // ask of docker.
    if let Some(tool) = probe.containers {
        let name = tool.name();
        return match mode {
            BuilderMode::Auto | BuilderMode::Legacy => Ok(chosen(tool.into())),
            BuilderMode::BuildKit => Err(format!(
                "build.builder is \"buildkit\", but `{cli}` is {name}, which builds with buildah's builder, not BuildKit: set build.builder = \"{name}\" (or \"auto\")"
            )),
            m if m.containers_cli() == Some(tool) => Ok(chosen(tool.into())),
            m => Err(mismatch(m.containers_cli().map(ContainersCli::name).unwrap_or_default())),
        };
    }
    match mode {
        BuilderMode::Podman | BuilderMode::Buildah => Err(mismatch(
            mode.containers_cli().map(ContainersCli::name).unwrap_or_default(),
        )),
        BuilderMode::Legacy => Ok(Choice::legacy()),
        BuilderMode::BuildKit => buildkit(cli, probe).map(chosen).map_err(|why| {
            format!(
                "build.builder is \"buildkit\", but {why}: install the buildx plugin (https://docs.docker.com/go/buildx/), or set build.builder = \"auto\" to fall back to the legacy builder"
            )
        }),
        BuilderMode::Auto => Ok(match buildkit(cli, probe) {
            Ok(kind) => chosen(kind),
            Err(why) => Choice {
                kind: Kind::Legacy,
                fallback: Some(why),
            },
        }),
    }
}

/// What a build is asked for, rendered (paths absolute).
pub struct Request<'a> {
    pub platform: Option<&'a str>,
    pub network: Option<&'a str>,
    pub dockerfile: &'a Path,
    pub context: &'a Path,
    pub args: &'a BTreeMap<String, String>,
    pub references: &'a [String],
    /// The secret ids, in order; the value of the i-th is in the child's environment as
    /// [`secret_env`]`(i)`.
    pub secret_ids: &'a [String],
}

/// The environment variable that carries the i-th secret's value to the CLI (never argv).
pub fn secret_env(i: usize) -> String {
    format!("RELEASE_BUILD_SECRET_{i}")
}

/// The arguments of the build, and `DOCKER_BUILDKIT` as it must be set (`None`: left alone).
pub fn command(kind: Kind, r: &Request) -> (Vec<String>, Option<&'static str>) {
    let mut args: Vec<String> = match kind {
        Kind::Buildx => ["buildx", "build", "--load", "--provenance=false"]
            .map(String::from)
            .to_vec(),
        Kind::BuiltIn | Kind::Legacy | Kind::Podman => vec!["build".into()],
        // buildah caches layers only when asked (`--layers`; podman and docker do by default):
        // a second version reuses the unchanged ones.
        Kind::Buildah => vec!["build".into(), "--layers".into()],
    };
    if matches!(kind, Kind::Buildx | Kind::BuiltIn) {
        // One line per step in the log, whatever the terminal.
        args.push("--progress=plain".into());
    }
    if let Some(p) = r.platform {
        args.extend(["--platform".into(), p.into()]);
    }
    if let Some(n) = r.network {
        args.extend(["--network".into(), n.into()]);
    }
    args.extend(["-f".into(), r.dockerfile.display().to_string()]);
    for (k, v) in r.args {
        args.extend(["--build-arg".into(), format!("{k}={v}")]);
    }
    for (i, id) in r.secret_ids.iter().enumerate() {
        args.extend(["--secret".into(), format!("id={id},env={}", secret_env(i))]);
    }
    for reference in r.references {
        args.extend(["-t".into(), reference.clone()]);
    }
    args.push(r.context.display().to_string());
    let buildkit = match kind {
        Kind::Buildx | Kind::Podman | Kind::Buildah => None,
        Kind::BuiltIn => Some("1"),
        Kind::Legacy => Some("0"),
    };
    (args, buildkit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(buildx: bool, version: Option<&str>) -> Probe {
        Probe {
            containers: None,
            buildx,
            client_version: version.map(String::from),
        }
    }

    #[test]
    fn auto_takes_buildx_then_a_built_in_buildkit_then_falls_back_with_the_reason() {
        let c = choose(BuilderMode::Auto, "docker", &probe(true, Some("28.2.2"))).unwrap();
        assert_eq!((c.kind, c.fallback), (Kind::Buildx, None));
        let c = choose(
            BuilderMode::Auto,
            "docker",
            &probe(false, Some("20.10.24+dfsg1")),
        )
        .unwrap();
        assert_eq!((c.kind, c.fallback), (Kind::BuiltIn, None));
        let c = choose(BuilderMode::Auto, "docker", &probe(false, Some("28.2.2"))).unwrap();
        assert_eq!(c.kind, Kind::Legacy);
        let why = c.fallback.unwrap();
        assert!(why.contains("docker CLI 28.2.2 (23.0 or later)"), "{why}");
        let c = choose(BuilderMode::Auto, "docker", &probe(false, None)).unwrap();
        assert_eq!(c.kind, Kind::Legacy);
        assert!(c.fallback.unwrap().contains("no client version"));
        let c = choose(BuilderMode::Auto, "docker", &probe(false, Some("18.06.1"))).unwrap();
        assert_eq!(c.kind, Kind::Legacy);
        let c = choose(BuilderMode::Auto, "docker", &probe(false, Some("18.09.0"))).unwrap();
        assert_eq!(c.kind, Kind::BuiltIn);
        let podman = Probe {
            containers: Some(ContainersCli::Podman),
            ..probe(true, Some("4.3.1"))
        };
        for mode in [BuilderMode::Auto, BuilderMode::Podman, BuilderMode::Legacy] {
            let c = choose(mode, "podman", &podman).unwrap();
            assert_eq!((c.kind, c.fallback), (Kind::Podman, None), "{mode:?}");
        }
        let buildah = Probe {
            containers: Some(ContainersCli::Buildah),
            ..probe(false, None)
        };
        for mode in [BuilderMode::Auto, BuilderMode::Buildah, BuilderMode::Legacy] {
            let c = choose(mode, "buildah", &buildah).unwrap();
            assert_eq!((c.kind, c.fallback), (Kind::Buildah, None), "{mode:?}");
        }
        assert!(Kind::Podman.mounts_secrets() && Kind::Buildah.mounts_secrets());
        assert!(!Kind::Legacy.mounts_secrets());
        let e = choose(BuilderMode::BuildKit, "podman", &podman).unwrap_err();
        assert!(e.contains("buildah"), "{e}");
        let e = choose(BuilderMode::Podman, "docker", &probe(true, Some("28.2.2"))).unwrap_err();
        assert!(e.contains("build.cli = \"podman\""), "{e}");
        let e = choose(BuilderMode::Buildah, "podman", &podman).unwrap_err();
        assert!(e.contains("build.cli = \"buildah\""), "{e}");
    }

    #[test]
    fn buildkit_is_refused_where_it_cannot_be_had_and_legacy_is_never_probed_for() {
        let e = choose(
            BuilderMode::BuildKit,
            "docker",
            &probe(false, Some("28.2.2")),
        )
        .unwrap_err();
        assert!(e.contains("build.builder is \"buildkit\""), "{e}");
        assert!(e.contains("install the buildx plugin"), "{e}");
        let c = choose(
            BuilderMode::BuildKit,
            "docker",
            &probe(false, Some("20.10.5")),
        )
        .unwrap();
        assert_eq!(c.kind, Kind::BuiltIn);
        let c = choose(BuilderMode::Legacy, "docker", &probe(true, Some("28.2.2"))).unwrap();
        assert_eq!((c.kind, c.fallback), (Kind::Legacy, None));
    }

    #[test]
    fn the_command_of_each_builder() {
        let args = BTreeMap::from([("VERSION".to_string(), "1.0.0".to_string())]);
        let references = vec!["r/app:1.0.0".to_string(), "r/app:latest".to_string()];
        let ids = vec!["NPM_TOKEN".to_string()];
        let r = Request {
            platform: Some("linux/amd64"),
            network: Some("none"),
            dockerfile: Path::new("/ctx/Dockerfile"),
            context: Path::new("/ctx"),
            args: &args,
            references: &references,
            secret_ids: &ids,
        };
        let (a, env) = command(Kind::Buildx, &r);
        assert_eq!(
            a.join(" "),
            "buildx build --load --provenance=false --progress=plain --platform linux/amd64 --network none -f /ctx/Dockerfile --build-arg VERSION=1.0.0 --secret id=NPM_TOKEN,env=RELEASE_BUILD_SECRET_0 -t r/app:1.0.0 -t r/app:latest /ctx"
        );
        assert_eq!(env, None);
        let (a, env) = command(Kind::BuiltIn, &r);
        assert!(a.join(" ").starts_with("build --progress=plain --platform"));
        assert_eq!(env, Some("1"));
        let r = Request {
            network: None,
            secret_ids: &[],
            ..r
        };
        let (a, env) = command(Kind::Legacy, &r);
        assert_eq!(
            a.join(" "),
            "build --platform linux/amd64 -f /ctx/Dockerfile --build-arg VERSION=1.0.0 -t r/app:1.0.0 -t r/app:latest /ctx"
        );
        assert_eq!(env, Some("0"));
        let (a, env) = command(
            Kind::Podman,
            &Request {
                secret_ids: &ids,
                ..r
            },
        );
        assert_eq!(
            a.join(" "),
            "build --platform linux/amd64 -f /ctx/Dockerfile --build-arg VERSION=1.0.0 --secret id=NPM_TOKEN,env=RELEASE_BUILD_SECRET_0 -t r/app:1.0.0 -t r/app:latest /ctx"
        );
        assert_eq!(env, None, "podman does not read DOCKER_BUILDKIT");
    }
}
