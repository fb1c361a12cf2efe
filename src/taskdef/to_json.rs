//! SDK `RegisterTaskDefinitionInput` -> canonical request JSON.
//!
//! Canonical: camelCase keys in API order, absent values and empty lists and
//! maps omitted, map entries (`dockerLabels`, `options`...) sorted by key, and
//! container `cpu` omitted when 0 (the SDK cannot tell 0 from unset). Members
//! the SDK stores without an `Option` (required ones such as `secrets[].name`)
//! are always written.

use std::collections::HashMap;

use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_sdk_ecs::types::{
    ContainerDefinition, ContainerDependency, ContainerRestartPolicy, Device,
    DockerVolumeConfiguration, EfsAuthorizationConfig, EfsVolumeConfiguration, EnvironmentFile,
    EphemeralStorage, FSxWindowsFileServerAuthorizationConfig,
    FSxWindowsFileServerVolumeConfiguration, FirelensConfiguration, HealthCheck, HostEntry,
    HostVolumeProperties, KernelCapabilities, KeyValuePair, LinuxParameters, LogConfiguration,
    MountPoint, NvidiaMpsAllocation, PortMapping, ProxyConfiguration, RepositoryCredentials,
    ResourceRequirement, RuntimePlatform, S3FilesVolumeConfiguration, Secret, SharingStrategy,
    SystemControl, Tag, TaskDefinitionPlacementConstraint, Tmpfs, Ulimit, Volume, VolumeFrom,
};
use serde_json::{Map, Value};

// `inferenceAccelerators` (Elastic Inference) is deprecated in the SDK, but the
// API still accepts it, so it is converted like any other member.
#[allow(deprecated)]
use aws_sdk_ecs::types::InferenceAccelerator;

/// Converts an SDK input to its canonical request document; see the module
/// docs. `to_request(&to_json(&x)) == Ok(x)` for any `x` from `to_request`.
#[allow(deprecated)] // inferenceAccelerators
pub fn to_json(input: &RegisterTaskDefinitionInput) -> Value {
    let mut o = Obj::default();
    o.str("family", input.family());
    o.str("taskRoleArn", input.task_role_arn());
    o.str("executionRoleArn", input.execution_role_arn());
    o.str("networkMode", input.network_mode().map(|m| m.as_str()));
    o.list(
        "containerDefinitions",
        input.container_definitions(),
        container_definition,
    );
    o.list("volumes", input.volumes(), volume);
    o.list(
        "placementConstraints",
        input.placement_constraints(),
        placement_constraint,
    );
    o.strs(
        "requiresCompatibilities",
        input.requires_compatibilities().iter().map(|c| c.as_str()),
    );
    o.str("cpu", input.cpu());
    o.str("memory", input.memory());
    o.list("tags", input.tags(), tag);
    o.str("pidMode", input.pid_mode().map(|m| m.as_str()));
    o.str("ipcMode", input.ipc_mode().map(|m| m.as_str()));
    o.obj(
        "proxyConfiguration",
        input.proxy_configuration(),
        proxy_configuration,
    );
    o.list(
        "inferenceAccelerators",
        input.inference_accelerators(),
        inference_accelerator,
    );
    o.obj(
        "ephemeralStorage",
        input.ephemeral_storage(),
        ephemeral_storage,
    );
    o.obj(
        "runtimePlatform",
        input.runtime_platform(),
        runtime_platform,
    );
    o.bool("enableFaultInjection", input.enable_fault_injection());
    o.into()
}

/// A JSON object under construction; every method skips absent and empty
/// values.
#[derive(Default)]
struct Obj(Map<String, Value>);

impl Obj {
    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_string(), value.into());
    }

    fn str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.set(key, v);
        }
    }

    fn int(&mut self, key: &str, value: Option<i32>) {
        if let Some(v) = value {
            self.set(key, v);
        }
    }

    fn bool(&mut self, key: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.set(key, v);
        }
    }

    fn strs<'s>(&mut self, key: &str, values: impl IntoIterator<Item = &'s str>) {
        let values: Vec<Value> = values.into_iter().map(Value::from).collect();
        if !values.is_empty() {
            self.set(key, values);
        }
    }

    fn strings(&mut self, key: &str, values: &[String]) {
        self.strs(key, values.iter().map(String::as_str));
    }

    fn ints(&mut self, key: &str, values: &[i32]) {
        if !values.is_empty() {
            self.set(key, values.to_vec());
        }
    }

    fn obj<T>(&mut self, key: &str, value: Option<&T>, write: fn(&T) -> Value) {
        if let Some(v) = value {
            self.set(key, write(v));
        }
    }

    fn list<T>(&mut self, key: &str, values: &[T], write: fn(&T) -> Value) {
        if !values.is_empty() {
            self.set(key, values.iter().map(write).collect::<Vec<_>>());
        }
    }

    fn string_map(&mut self, key: &str, map: Option<&HashMap<String, String>>) {
        let Some(map) = map.filter(|m| !m.is_empty()) else {
            return;
        };
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort();
        let object: Map<String, Value> = entries
            .into_iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        self.set(key, object);
    }
}

impl From<Obj> for Value {
    fn from(o: Obj) -> Value {
        Value::Object(o.0)
    }
}

fn container_definition(c: &ContainerDefinition) -> Value {
    let mut o = Obj::default();
    o.str("name", c.name());
    o.str("image", c.image());
    o.obj(
        "repositoryCredentials",
        c.repository_credentials(),
        repository_credentials,
    );
    o.int("cpu", Some(c.cpu()).filter(|cpu| *cpu != 0));
    o.int("memory", c.memory());
    o.int("memoryReservation", c.memory_reservation());
    o.strings("links", c.links());
    o.list("portMappings", c.port_mappings(), port_mapping);
    o.bool("essential", c.essential());
    o.obj("restartPolicy", c.restart_policy(), restart_policy);
    o.strings("entryPoint", c.entry_point());
    o.strings("command", c.command());
    o.list("environment", c.environment(), key_value_pair);
    o.list("environmentFiles", c.environment_files(), environment_file);
    o.list("mountPoints", c.mount_points(), mount_point);
    o.list("volumesFrom", c.volumes_from(), volume_from);
    o.obj("linuxParameters", c.linux_parameters(), linux_parameters);
    o.list("secrets", c.secrets(), secret);
    o.list("dependsOn", c.depends_on(), container_dependency);
    o.int("startTimeout", c.start_timeout());
    o.int("stopTimeout", c.stop_timeout());
    o.str(
        "versionConsistency",
        c.version_consistency().map(|v| v.as_str()),
    );
    o.str("hostname", c.hostname());
    o.str("user", c.user());
    o.str("workingDirectory", c.working_directory());
    o.bool("disableNetworking", c.disable_networking());
    o.bool("privileged", c.privileged());
    o.bool("readonlyRootFilesystem", c.readonly_root_filesystem());
    o.strings("dnsServers", c.dns_servers());
    o.strings("dnsSearchDomains", c.dns_search_domains());
    o.list("extraHosts", c.extra_hosts(), host_entry);
    o.strings("dockerSecurityOptions", c.docker_security_options());
    o.bool("interactive", c.interactive());
    o.bool("pseudoTerminal", c.pseudo_terminal());
    o.string_map("dockerLabels", c.docker_labels());
    o.list("ulimits", c.ulimits(), ulimit);
    o.obj("logConfiguration", c.log_configuration(), log_configuration);
    o.obj("healthCheck", c.health_check(), health_check);
    o.list("systemControls", c.system_controls(), system_control);
    o.list(
        "resourceRequirements",
        c.resource_requirements(),
        resource_requirement,
    );
    o.obj(
        "firelensConfiguration",
        c.firelens_configuration(),
        firelens_configuration,
    );
    o.strings("credentialSpecs", c.credential_specs());
    o.into()
}

fn repository_credentials(r: &RepositoryCredentials) -> Value {
    let mut o = Obj::default();
    o.set("credentialsParameter", r.credentials_parameter());
    o.into()
}

fn port_mapping(p: &PortMapping) -> Value {
    let mut o = Obj::default();
    o.int("containerPort", p.container_port());
    o.int("hostPort", p.host_port());
    o.str("protocol", p.protocol().map(|p| p.as_str()));
    o.str("name", p.name());
    o.str("appProtocol", p.app_protocol().map(|p| p.as_str()));
    o.str("containerPortRange", p.container_port_range());
    o.into()
}

fn restart_policy(r: &ContainerRestartPolicy) -> Value {
    let mut o = Obj::default();
    o.set("enabled", r.enabled());
    o.ints("ignoredExitCodes", r.ignored_exit_codes());
    o.int("restartAttemptPeriod", r.restart_attempt_period());
    o.into()
}

fn key_value_pair(kv: &KeyValuePair) -> Value {
    let mut o = Obj::default();
    o.str("name", kv.name());
    o.str("value", kv.value());
    o.into()
}

fn environment_file(f: &EnvironmentFile) -> Value {
    let mut o = Obj::default();
    o.set("value", f.value());
    o.set("type", f.r#type().as_str());
    o.into()
}

fn mount_point(m: &MountPoint) -> Value {
    let mut o = Obj::default();
    o.str("sourceVolume", m.source_volume());
    o.str("containerPath", m.container_path());
    o.bool("readOnly", m.read_only());
    o.into()
}

fn volume_from(v: &VolumeFrom) -> Value {
    let mut o = Obj::default();
    o.str("sourceContainer", v.source_container());
    o.bool("readOnly", v.read_only());
    o.into()
}

fn linux_parameters(l: &LinuxParameters) -> Value {
    let mut o = Obj::default();
    o.obj("capabilities", l.capabilities(), kernel_capabilities);
    o.list("devices", l.devices(), device);
    o.bool("initProcessEnabled", l.init_process_enabled());
    o.int("sharedMemorySize", l.shared_memory_size());
    o.list("tmpfs", l.tmpfs(), tmpfs);
    o.int("maxSwap", l.max_swap());
    o.int("swappiness", l.swappiness());
    o.into()
}

fn kernel_capabilities(k: &KernelCapabilities) -> Value {
    let mut o = Obj::default();
    o.strings("add", k.add());
    o.strings("drop", k.drop());
    o.into()
}

fn device(d: &Device) -> Value {
    let mut o = Obj::default();
    o.set("hostPath", d.host_path());
    o.str("containerPath", d.container_path());
    o.strs("permissions", d.permissions().iter().map(|p| p.as_str()));
    o.into()
}

fn tmpfs(t: &Tmpfs) -> Value {
    let mut o = Obj::default();
    o.set("containerPath", t.container_path());
    o.set("size", t.size());
    o.strings("mountOptions", t.mount_options());
    o.into()
}

fn secret(s: &Secret) -> Value {
    let mut o = Obj::default();
    o.set("name", s.name());
    o.set("valueFrom", s.value_from());
    o.into()
}

fn container_dependency(d: &ContainerDependency) -> Value {
    let mut o = Obj::default();
    o.set("containerName", d.container_name());
    o.set("condition", d.condition().as_str());
    o.into()
}

fn host_entry(h: &HostEntry) -> Value {
    let mut o = Obj::default();
    o.set("hostname", h.hostname());
    o.set("ipAddress", h.ip_address());
    o.into()
}

fn ulimit(u: &Ulimit) -> Value {
    let mut o = Obj::default();
    o.set("name", u.name().as_str());
    o.set("softLimit", u.soft_limit());
    o.set("hardLimit", u.hard_limit());
    o.into()
}

fn log_configuration(l: &LogConfiguration) -> Value {
    let mut o = Obj::default();
    o.set("logDriver", l.log_driver().as_str());
    o.string_map("options", l.options());
    o.list("secretOptions", l.secret_options(), secret);
    o.into()
}

fn health_check(h: &HealthCheck) -> Value {
    let mut o = Obj::default();
    // Required: written even when empty.
    o.set("command", h.command().to_vec());
    o.int("interval", h.interval());
    o.int("timeout", h.timeout());
    o.int("retries", h.retries());
    o.int("startPeriod", h.start_period());
    o.into()
}

fn system_control(s: &SystemControl) -> Value {
    let mut o = Obj::default();
    o.str("namespace", s.namespace());
    o.str("value", s.value());
    o.into()
}

fn resource_requirement(r: &ResourceRequirement) -> Value {
    let mut o = Obj::default();
    o.set("value", r.value());
    o.set("type", r.r#type().as_str());
    o.obj(
        "sharingStrategy",
        r.sharing_strategy().filter(|s| !s.is_unknown()),
        sharing_strategy,
    );
    o.into()
}

fn sharing_strategy(s: &SharingStrategy) -> Value {
    let mut o = Obj::default();
    if let SharingStrategy::NvidiaMps(allocation) = s {
        o.set("nvidiaMps", nvidia_mps_allocation(allocation));
    }
    o.into()
}

fn nvidia_mps_allocation(n: &NvidiaMpsAllocation) -> Value {
    let mut o = Obj::default();
    o.set("memory", n.memory());
    o.int("maxComputePercent", n.max_compute_percent());
    o.into()
}

fn firelens_configuration(f: &FirelensConfiguration) -> Value {
    let mut o = Obj::default();
    o.set("type", f.r#type().as_str());
    o.string_map("options", f.options());
    o.into()
}

fn volume(v: &Volume) -> Value {
    let mut o = Obj::default();
    o.str("name", v.name());
    o.obj("host", v.host(), host_volume_properties);
    o.obj(
        "dockerVolumeConfiguration",
        v.docker_volume_configuration(),
        docker_volume_configuration,
    );
    o.obj(
        "efsVolumeConfiguration",
        v.efs_volume_configuration(),
        efs_volume_configuration,
    );
    o.obj(
        "s3filesVolumeConfiguration",
        v.s3files_volume_configuration(),
        s3files_volume_configuration,
    );
    o.obj(
        "fsxWindowsFileServerVolumeConfiguration",
        v.fsx_windows_file_server_volume_configuration(),
        fsx_windows_file_server_volume_configuration,
    );
    o.bool("configuredAtLaunch", v.configured_at_launch());
    o.into()
}

fn host_volume_properties(h: &HostVolumeProperties) -> Value {
    let mut o = Obj::default();
    o.str("sourcePath", h.source_path());
    o.into()
}

fn docker_volume_configuration(d: &DockerVolumeConfiguration) -> Value {
    let mut o = Obj::default();
    o.str("scope", d.scope().map(|s| s.as_str()));
    o.bool("autoprovision", d.autoprovision());
    o.str("driver", d.driver());
    o.string_map("driverOpts", d.driver_opts());
    o.string_map("labels", d.labels());
    o.into()
}

fn efs_volume_configuration(e: &EfsVolumeConfiguration) -> Value {
    let mut o = Obj::default();
    o.set("fileSystemId", e.file_system_id());
    o.str("rootDirectory", e.root_directory());
    o.str(
        "transitEncryption",
        e.transit_encryption().map(|t| t.as_str()),
    );
    o.int("transitEncryptionPort", e.transit_encryption_port());
    o.obj(
        "authorizationConfig",
        e.authorization_config(),
        efs_authorization_config,
    );
    o.into()
}

fn efs_authorization_config(a: &EfsAuthorizationConfig) -> Value {
    let mut o = Obj::default();
    o.str("accessPointId", a.access_point_id());
    o.str("iam", a.iam().map(|i| i.as_str()));
    o.into()
}

fn s3files_volume_configuration(s: &S3FilesVolumeConfiguration) -> Value {
    let mut o = Obj::default();
    o.set("fileSystemArn", s.file_system_arn());
    o.str("rootDirectory", s.root_directory());
    o.int("transitEncryptionPort", s.transit_encryption_port());
    o.str("accessPointArn", s.access_point_arn());
    o.into()
}

fn fsx_windows_file_server_volume_configuration(
    f: &FSxWindowsFileServerVolumeConfiguration,
) -> Value {
    let mut o = Obj::default();
    o.set("fileSystemId", f.file_system_id());
    o.set("rootDirectory", f.root_directory());
    o.obj(
        "authorizationConfig",
        f.authorization_config(),
        fsx_windows_file_server_authorization_config,
    );
    o.into()
}

fn fsx_windows_file_server_authorization_config(
    a: &FSxWindowsFileServerAuthorizationConfig,
) -> Value {
    let mut o = Obj::default();
    o.set("credentialsParameter", a.credentials_parameter());
    o.set("domain", a.domain());
    o.into()
}

fn placement_constraint(p: &TaskDefinitionPlacementConstraint) -> Value {
    let mut o = Obj::default();
    o.str("type", p.r#type().map(|t| t.as_str()));
    o.str("expression", p.expression());
    o.into()
}

fn tag(t: &Tag) -> Value {
    let mut o = Obj::default();
    o.str("key", t.key());
    o.str("value", t.value());
    o.into()
}

fn proxy_configuration(p: &ProxyConfiguration) -> Value {
    let mut o = Obj::default();
    o.str("type", p.r#type().map(|t| t.as_str()));
    o.set("containerName", p.container_name());
    o.list("properties", p.properties(), key_value_pair);
    o.into()
}

#[allow(deprecated)]
fn inference_accelerator(i: &InferenceAccelerator) -> Value {
    let mut o = Obj::default();
    o.set("deviceName", i.device_name());
    o.set("deviceType", i.device_type());
    o.into()
}

fn ephemeral_storage(e: &EphemeralStorage) -> Value {
    let mut o = Obj::default();
    o.set("sizeInGiB", e.size_in_gib());
    o.into()
}

fn runtime_platform(r: &RuntimePlatform) -> Value {
    let mut o = Obj::default();
    o.str("cpuArchitecture", r.cpu_architecture().map(|c| c.as_str()));
    o.str(
        "operatingSystemFamily",
        r.operating_system_family().map(|f| f.as_str()),
    );
    o.into()
}
