//! The image's platform against the task definition's `runtimePlatform`. Pure.
//!
//! ECS: `runtimePlatform.cpuArchitecture` is `X86_64` or `ARM64` and
//! `operatingSystemFamily` `LINUX` or a `WINDOWS_SERVER_*` family (API reference
//! "RuntimePlatform", https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RuntimePlatform.html);
//! a task definition without it runs Linux on X86_64 (Developer Guide "Amazon ECS task
//! definition parameters", "Runtime platform",
//! https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#runtime-platform).
//! Docker names platforms `os/arch[/variant]` with Go's names, `amd64` and `arm64` (Docker
//! "Multi-platform builds", https://docs.docker.com/build/building/multi-platform/), and an
//! image's config carries `os` and `architecture` (OCI image spec, "Image configuration",
//! https://github.com/opencontainers/image-spec/blob/main/config.md).

use aws_sdk_ecs::types::RuntimePlatform;

/// An `os/architecture` pair in docker's names (`linux/amd64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)
    }
}

impl Platform {
    /// `os/arch[/variant]` as `--platform` takes it (the variant is not compared).
    pub fn parse(text: &str) -> Option<Platform> {
        let mut parts = text.trim().split('/');
        let os = parts.next().filter(|s| !s.is_empty())?.to_ascii_lowercase();
        let architecture = parts.next().filter(|s| !s.is_empty())?.to_ascii_lowercase();
        Some(Platform { os, architecture })
    }
}

/// What a task definition's `runtimePlatform` runs, in docker's names; what it says as ECS
/// words it, for messages.
pub fn of_task_definition(runtime: Option<&RuntimePlatform>) -> (Platform, String) {
    let arch = runtime
        .and_then(|r| r.cpu_architecture())
        .map(|a| a.as_str().to_string());
    let family = runtime
        .and_then(|r| r.operating_system_family())
        .map(|f| f.as_str().to_string());
    let architecture = match arch.as_deref() {
        None | Some("X86_64") => "amd64".to_string(),
        Some("ARM64") => "arm64".to_string(),
        Some(other) => other.to_ascii_lowercase(),
    };
    let os = match family.as_deref() {
        None | Some("LINUX") => "linux",
        Some(_) => "windows",
    };
    let said = match runtime {
        None => "no runtimePlatform (ECS runs it as LINUX on X86_64)".to_string(),
        Some(_) => format!(
            "runtimePlatform {} on {}",
            family.as_deref().unwrap_or("LINUX (default)"),
            arch.as_deref().unwrap_or("X86_64 (default)")
        ),
    };
    (
        Platform {
            os: os.to_string(),
            architecture,
        },
        said,
    )
}

/// The image's platform (from `build.platform`, or the pushed image's config) against the
/// task definition's: `Err` says what differs.
pub fn check(image: &Platform, runtime: Option<&RuntimePlatform>) -> Result<String, String> {
    let (wanted, said) = of_task_definition(runtime);
    if *image == wanted {
        Ok(format!("{image} matches the task definition's {said}"))
    } else {
        Err(format!(
            "the image is {image}, but the task definition has {said}, which runs {wanted} images: its tasks would fail to start (exec format error). Build for {wanted} (build.platform = \"{wanted}\"), or set runtimePlatform to the image's"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{CpuArchitecture, OsFamily};

    fn runtime(arch: Option<CpuArchitecture>, os: Option<OsFamily>) -> RuntimePlatform {
        RuntimePlatform::builder()
            .set_cpu_architecture(arch)
            .set_operating_system_family(os)
            .build()
    }

    #[test]
    fn parses_docker_platforms() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!((p.os.as_str(), p.architecture.as_str()), ("linux", "arm64"));
        assert_eq!(
            Platform::parse("linux/amd64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(Platform::parse("linux"), None);
        assert_eq!(Platform::parse(""), None);
    }

    #[test]
    fn absent_runtime_platform_is_linux_x86_64() {
        let amd64 = Platform::parse("linux/amd64").unwrap();
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert!(check(&amd64, None).is_ok());
        let e = check(&arm64, None).unwrap_err();
        assert!(e.contains("the image is linux/arm64"), "{e}");
        assert!(
            e.contains("no runtimePlatform (ECS runs it as LINUX on X86_64)"),
            "{e}"
        );
        // A runtimePlatform with only the OS family: X86_64 still.
        let linux = runtime(None, Some(OsFamily::Linux));
        assert!(check(&amd64, Some(&linux)).is_ok());
        assert!(check(&arm64, Some(&linux)).is_err());
    }

    #[test]
    fn x86_64_is_amd64_and_arm64_is_arm64() {
        let amd64 = Platform::parse("linux/amd64").unwrap();
        let arm64 = Platform::parse("linux/arm64/v8").unwrap();
        let x86 = runtime(Some(CpuArchitecture::X8664), Some(OsFamily::Linux));
        let arm = runtime(Some(CpuArchitecture::Arm64), None);
        assert!(check(&amd64, Some(&x86)).is_ok());
        assert!(check(&arm64, Some(&arm)).is_ok());
        let e = check(&amd64, Some(&arm)).unwrap_err();
        assert!(
            e.contains("runtimePlatform LINUX (default) on ARM64"),
            "{e}"
        );
        assert!(e.contains("build.platform = \"linux/arm64\""), "{e}");
        assert!(check(&arm64, Some(&x86)).is_err());
        // A Windows task definition does not run a Linux image.
        let windows = runtime(
            Some(CpuArchitecture::X8664),
            Some(OsFamily::WindowsServer2022Core),
        );
        assert!(check(&amd64, Some(&windows)).is_err());
    }
}
