//! Request JSON -> SDK `RegisterTaskDefinitionInput`, field by field.
//!
//! Covers every member the `RegisterTaskDefinition` API accepts in
//! aws-sdk-ecs 1.157, with the keys of the ECS API reference. Each reader
//! lists the keys it accepts (in API order) and reads exactly those.

use aws_sdk_ecs::error::BuildError;
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_sdk_ecs::types::{
    ApplicationProtocol, Compatibility, ContainerCondition, ContainerDefinition,
    ContainerDependency, ContainerRestartPolicy, CpuArchitecture, Device, DeviceCgroupPermission,
    DockerVolumeConfiguration, EfsAuthorizationConfig, EfsAuthorizationConfigIam,
    EfsTransitEncryption, EfsVolumeConfiguration, EnvironmentFile, EnvironmentFileType,
    EphemeralStorage, FSxWindowsFileServerAuthorizationConfig,
    FSxWindowsFileServerVolumeConfiguration, FirelensConfiguration, FirelensConfigurationType,
    HealthCheck, HostEntry, HostVolumeProperties, IpcMode, KernelCapabilities, KeyValuePair,
    LinuxParameters, LogConfiguration, LogDriver, MountPoint, NetworkMode, NvidiaMpsAllocation,
    OsFamily, PidMode, PortMapping, ProxyConfiguration, ProxyConfigurationType,
    RepositoryCredentials, ResourceRequirement, ResourceType, RuntimePlatform,
    S3FilesVolumeConfiguration, Scope, Secret, SharingStrategy, SystemControl, Tag,
    TaskDefinitionPlacementConstraint, TaskDefinitionPlacementConstraintType, Tmpfs,
    TransportProtocol, Ulimit, UlimitName, VersionConsistency, Volume, VolumeFrom,
};
use serde_json::Value;

// `inferenceAccelerators` (Elastic Inference) is deprecated in the SDK, but the
// API still accepts it, so it is converted like any other member.
#[allow(deprecated)]
use aws_sdk_ecs::types::InferenceAccelerator;

use super::json_reader::{error, Mode, Obj, Result};

/// Converts a `RegisterTaskDefinition` request document (camelCase keys, as
/// `aws ecs register-task-definition --cli-input-json` takes) to the SDK input.
///
/// Strict: an unknown key, a value of the wrong type, an integer that is not a
/// 32-bit integer (floats and numeric strings included), an enum value the
/// SDK does not know or a missing required key is an error naming its path.
/// `null` counts as absent. Task-level `cpu` and `memory` may be strings (as in
/// the API) or integers. Empty lists and maps are dropped (see the module
/// docs on canonical form).
pub fn to_request(doc: &Value) -> Result<RegisterTaskDefinitionInput> {
    request(doc, Mode::Strict)
}

/// Maps an SDK builder's complaint (a required member it did not get) to a
/// [`ConvertError`](super::ConvertError) at `path`. Strict reads check required
/// keys first, so this only fires for lenient reads.
fn built<T>(result: std::result::Result<T, BuildError>, path: &str) -> Result<T> {
    result.map_err(|e| error(path, e.to_string()))
}

#[allow(deprecated)] // inferenceAccelerators
pub(super) fn request(v: &Value, mode: Mode) -> Result<RegisterTaskDefinitionInput> {
    let o = Obj::new(
        v,
        "",
        &[
            "family",
            "taskRoleArn",
            "executionRoleArn",
            "networkMode",
            "containerDefinitions",
            "volumes",
            "placementConstraints",
            "requiresCompatibilities",
            "cpu",
            "memory",
            "tags",
            "pidMode",
            "ipcMode",
            "proxyConfiguration",
            "inferenceAccelerators",
            "ephemeralStorage",
            "runtimePlatform",
            "enableFaultInjection",
        ],
        mode,
    )?;
    o.required("family")?;
    o.required("containerDefinitions")?;
    let containers = o.list("containerDefinitions", container_definition)?;
    if mode == Mode::Strict && containers.is_none() {
        return Err(error(
            "containerDefinitions",
            "expected at least one container definition",
        ));
    }
    let input = RegisterTaskDefinitionInput::builder()
        .set_family(o.string("family")?)
        .set_task_role_arn(o.string("taskRoleArn")?)
        .set_execution_role_arn(o.string("executionRoleArn")?)
        .set_network_mode(o.enumeration("networkMode", NetworkMode::values())?)
        .set_container_definitions(containers)
        .set_volumes(o.list("volumes", volume)?)
        .set_placement_constraints(o.list("placementConstraints", placement_constraint)?)
        .set_requires_compatibilities(o.enums("requiresCompatibilities", Compatibility::values())?)
        .set_cpu(o.string_or_int("cpu")?)
        .set_memory(o.string_or_int("memory")?)
        .set_tags(o.list("tags", tag)?)
        .set_pid_mode(o.enumeration("pidMode", PidMode::values())?)
        .set_ipc_mode(o.enumeration("ipcMode", IpcMode::values())?)
        .set_proxy_configuration(o.object("proxyConfiguration", proxy_configuration)?)
        .set_inference_accelerators(o.list("inferenceAccelerators", inference_accelerator)?)
        .set_ephemeral_storage(o.object("ephemeralStorage", ephemeral_storage)?)
        .set_runtime_platform(o.object("runtimePlatform", runtime_platform)?)
        .set_enable_fault_injection(o.bool("enableFaultInjection")?)
        .build();
    built(input, "")
}

fn container_definition(v: &Value, path: &str, mode: Mode) -> Result<ContainerDefinition> {
    let o = Obj::new(
        v,
        path,
        &[
            "name",
            "image",
            "repositoryCredentials",
            "cpu",
            "memory",
            "memoryReservation",
            "links",
            "portMappings",
            "essential",
            "restartPolicy",
            "entryPoint",
            "command",
            "environment",
            "environmentFiles",
            "mountPoints",
            "volumesFrom",
            "linuxParameters",
            "secrets",
            "dependsOn",
            "startTimeout",
            "stopTimeout",
            "versionConsistency",
            "hostname",
            "user",
            "workingDirectory",
            "disableNetworking",
            "privileged",
            "readonlyRootFilesystem",
            "dnsServers",
            "dnsSearchDomains",
            "extraHosts",
            "dockerSecurityOptions",
            "interactive",
            "pseudoTerminal",
            "dockerLabels",
            "ulimits",
            "logConfiguration",
            "healthCheck",
            "systemControls",
            "resourceRequirements",
            "firelensConfiguration",
            "credentialSpecs",
        ],
        mode,
    )?;
    o.required("name")?;
    Ok(ContainerDefinition::builder()
        .set_name(o.string("name")?)
        .set_image(o.string("image")?)
        .set_repository_credentials(o.object("repositoryCredentials", repository_credentials)?)
        .set_cpu(o.int("cpu")?)
        .set_memory(o.int("memory")?)
        .set_memory_reservation(o.int("memoryReservation")?)
        .set_links(o.strings("links")?)
        .set_port_mappings(o.list("portMappings", port_mapping)?)
        .set_essential(o.bool("essential")?)
        .set_restart_policy(o.object("restartPolicy", restart_policy)?)
        .set_entry_point(o.strings("entryPoint")?)
        .set_command(o.strings("command")?)
        .set_environment(o.list("environment", key_value_pair)?)
        .set_environment_files(o.list("environmentFiles", environment_file)?)
        .set_mount_points(o.list("mountPoints", mount_point)?)
        .set_volumes_from(o.list("volumesFrom", volume_from)?)
        .set_linux_parameters(o.object("linuxParameters", linux_parameters)?)
        .set_secrets(o.list("secrets", secret)?)
        .set_depends_on(o.list("dependsOn", container_dependency)?)
        .set_start_timeout(o.int("startTimeout")?)
        .set_stop_timeout(o.int("stopTimeout")?)
        .set_version_consistency(o.enumeration("versionConsistency", VersionConsistency::values())?)
        .set_hostname(o.string("hostname")?)
        .set_user(o.string("user")?)
        .set_working_directory(o.string("workingDirectory")?)
        .set_disable_networking(o.bool("disableNetworking")?)
        .set_privileged(o.bool("privileged")?)
        .set_readonly_root_filesystem(o.bool("readonlyRootFilesystem")?)
        .set_dns_servers(o.strings("dnsServers")?)
        .set_dns_search_domains(o.strings("dnsSearchDomains")?)
        .set_extra_hosts(o.list("extraHosts", host_entry)?)
        .set_docker_security_options(o.strings("dockerSecurityOptions")?)
        .set_interactive(o.bool("interactive")?)
        .set_pseudo_terminal(o.bool("pseudoTerminal")?)
        .set_docker_labels(o.string_map("dockerLabels")?)
        .set_ulimits(o.list("ulimits", ulimit)?)
        .set_log_configuration(o.object("logConfiguration", log_configuration)?)
        .set_health_check(o.object("healthCheck", health_check)?)
        .set_system_controls(o.list("systemControls", system_control)?)
        .set_resource_requirements(o.list("resourceRequirements", resource_requirement)?)
        .set_firelens_configuration(o.object("firelensConfiguration", firelens_configuration)?)
        .set_credential_specs(o.strings("credentialSpecs")?)
        .build())
}

fn repository_credentials(v: &Value, path: &str, mode: Mode) -> Result<RepositoryCredentials> {
    let o = Obj::new(v, path, &["credentialsParameter"], mode)?;
    o.required("credentialsParameter")?;
    let built_value = RepositoryCredentials::builder()
        .set_credentials_parameter(o.string("credentialsParameter")?)
        .build();
    built(built_value, path)
}

fn port_mapping(v: &Value, path: &str, mode: Mode) -> Result<PortMapping> {
    let o = Obj::new(
        v,
        path,
        &[
            "containerPort",
            "hostPort",
            "protocol",
            "name",
            "appProtocol",
            "containerPortRange",
        ],
        mode,
    )?;
    Ok(PortMapping::builder()
        .set_container_port(o.int("containerPort")?)
        .set_host_port(o.int("hostPort")?)
        .set_protocol(o.enumeration("protocol", TransportProtocol::values())?)
        .set_name(o.string("name")?)
        .set_app_protocol(o.enumeration("appProtocol", ApplicationProtocol::values())?)
        .set_container_port_range(o.string("containerPortRange")?)
        .build())
}

fn restart_policy(v: &Value, path: &str, mode: Mode) -> Result<ContainerRestartPolicy> {
    let o = Obj::new(
        v,
        path,
        &["enabled", "ignoredExitCodes", "restartAttemptPeriod"],
        mode,
    )?;
    o.required("enabled")?;
    let policy = ContainerRestartPolicy::builder()
        .set_enabled(o.bool("enabled")?)
        .set_ignored_exit_codes(o.ints("ignoredExitCodes")?)
        .set_restart_attempt_period(o.int("restartAttemptPeriod")?)
        .build();
    built(policy, path)
}

fn key_value_pair(v: &Value, path: &str, mode: Mode) -> Result<KeyValuePair> {
    let o = Obj::new(v, path, &["name", "value"], mode)?;
    Ok(KeyValuePair::builder()
        .set_name(o.string("name")?)
        .set_value(o.string("value")?)
        .build())
}

fn environment_file(v: &Value, path: &str, mode: Mode) -> Result<EnvironmentFile> {
    let o = Obj::new(v, path, &["value", "type"], mode)?;
    o.required("value")?;
    o.required("type")?;
    let file = EnvironmentFile::builder()
        .set_value(o.string("value")?)
        .set_type(o.enumeration("type", EnvironmentFileType::values())?)
        .build();
    built(file, path)
}

fn mount_point(v: &Value, path: &str, mode: Mode) -> Result<MountPoint> {
    let o = Obj::new(
        v,
        path,
        &["sourceVolume", "containerPath", "readOnly"],
        mode,
    )?;
    Ok(MountPoint::builder()
        .set_source_volume(o.string("sourceVolume")?)
        .set_container_path(o.string("containerPath")?)
        .set_read_only(o.bool("readOnly")?)
        .build())
}

fn volume_from(v: &Value, path: &str, mode: Mode) -> Result<VolumeFrom> {
    let o = Obj::new(v, path, &["sourceContainer", "readOnly"], mode)?;
    Ok(VolumeFrom::builder()
        .set_source_container(o.string("sourceContainer")?)
        .set_read_only(o.bool("readOnly")?)
        .build())
}

fn linux_parameters(v: &Value, path: &str, mode: Mode) -> Result<LinuxParameters> {
    let o = Obj::new(
        v,
        path,
        &[
            "capabilities",
            "devices",
            "initProcessEnabled",
            "sharedMemorySize",
            "tmpfs",
            "maxSwap",
            "swappiness",
        ],
        mode,
    )?;
    Ok(LinuxParameters::builder()
        .set_capabilities(o.object("capabilities", kernel_capabilities)?)
        .set_devices(o.list("devices", device)?)
        .set_init_process_enabled(o.bool("initProcessEnabled")?)
        .set_shared_memory_size(o.int("sharedMemorySize")?)
        .set_tmpfs(o.list("tmpfs", tmpfs)?)
        .set_max_swap(o.int("maxSwap")?)
        .set_swappiness(o.int("swappiness")?)
        .build())
}

fn kernel_capabilities(v: &Value, path: &str, mode: Mode) -> Result<KernelCapabilities> {
    let o = Obj::new(v, path, &["add", "drop"], mode)?;
    Ok(KernelCapabilities::builder()
        .set_add(o.strings("add")?)
        .set_drop(o.strings("drop")?)
        .build())
}

fn device(v: &Value, path: &str, mode: Mode) -> Result<Device> {
    let o = Obj::new(v, path, &["hostPath", "containerPath", "permissions"], mode)?;
    o.required("hostPath")?;
    let device = Device::builder()
        .set_host_path(o.string("hostPath")?)
        .set_container_path(o.string("containerPath")?)
        .set_permissions(o.enums("permissions", DeviceCgroupPermission::values())?)
        .build();
    built(device, path)
}

fn tmpfs(v: &Value, path: &str, mode: Mode) -> Result<Tmpfs> {
    let o = Obj::new(v, path, &["containerPath", "size", "mountOptions"], mode)?;
    o.required("containerPath")?;
    o.required("size")?;
    let tmpfs = Tmpfs::builder()
        .set_container_path(o.string("containerPath")?)
        .set_size(o.int("size")?)
        .set_mount_options(o.strings("mountOptions")?)
        .build();
    built(tmpfs, path)
}

fn secret(v: &Value, path: &str, mode: Mode) -> Result<Secret> {
    let o = Obj::new(v, path, &["name", "valueFrom"], mode)?;
    o.required("name")?;
    o.required("valueFrom")?;
    let secret = Secret::builder()
        .set_name(o.string("name")?)
        .set_value_from(o.string("valueFrom")?)
        .build();
    built(secret, path)
}

fn container_dependency(v: &Value, path: &str, mode: Mode) -> Result<ContainerDependency> {
    let o = Obj::new(v, path, &["containerName", "condition"], mode)?;
    o.required("containerName")?;
    o.required("condition")?;
    let dependency = ContainerDependency::builder()
        .set_container_name(o.string("containerName")?)
        .set_condition(o.enumeration("condition", ContainerCondition::values())?)
        .build();
    built(dependency, path)
}

fn host_entry(v: &Value, path: &str, mode: Mode) -> Result<HostEntry> {
    let o = Obj::new(v, path, &["hostname", "ipAddress"], mode)?;
    o.required("hostname")?;
    o.required("ipAddress")?;
    let entry = HostEntry::builder()
        .set_hostname(o.string("hostname")?)
        .set_ip_address(o.string("ipAddress")?)
        .build();
    built(entry, path)
}

fn ulimit(v: &Value, path: &str, mode: Mode) -> Result<Ulimit> {
    let o = Obj::new(v, path, &["name", "softLimit", "hardLimit"], mode)?;
    o.required("name")?;
    o.required("softLimit")?;
    o.required("hardLimit")?;
    let ulimit = Ulimit::builder()
        .set_name(o.enumeration("name", UlimitName::values())?)
        .set_soft_limit(o.int("softLimit")?)
        .set_hard_limit(o.int("hardLimit")?)
        .build();
    built(ulimit, path)
}

fn log_configuration(v: &Value, path: &str, mode: Mode) -> Result<LogConfiguration> {
    let o = Obj::new(v, path, &["logDriver", "options", "secretOptions"], mode)?;
    o.required("logDriver")?;
    let config = LogConfiguration::builder()
        .set_log_driver(o.enumeration("logDriver", LogDriver::values())?)
        .set_options(o.string_map("options")?)
        .set_secret_options(o.list("secretOptions", secret)?)
        .build();
    built(config, path)
}

fn health_check(v: &Value, path: &str, mode: Mode) -> Result<HealthCheck> {
    let o = Obj::new(
        v,
        path,
        &["command", "interval", "timeout", "retries", "startPeriod"],
        mode,
    )?;
    o.required("command")?;
    let check = HealthCheck::builder()
        // Required, so an empty list stays an (empty) list.
        .set_command(Some(o.strings("command")?.unwrap_or_default()))
        .set_interval(o.int("interval")?)
        .set_timeout(o.int("timeout")?)
        .set_retries(o.int("retries")?)
        .set_start_period(o.int("startPeriod")?)
        .build();
    built(check, path)
}

fn system_control(v: &Value, path: &str, mode: Mode) -> Result<SystemControl> {
    let o = Obj::new(v, path, &["namespace", "value"], mode)?;
    Ok(SystemControl::builder()
        .set_namespace(o.string("namespace")?)
        .set_value(o.string("value")?)
        .build())
}

fn resource_requirement(v: &Value, path: &str, mode: Mode) -> Result<ResourceRequirement> {
    let o = Obj::new(v, path, &["value", "type", "sharingStrategy"], mode)?;
    o.required("value")?;
    o.required("type")?;
    let requirement = ResourceRequirement::builder()
        .set_value(o.string("value")?)
        .set_type(o.enumeration("type", ResourceType::values())?)
        .set_sharing_strategy(o.object("sharingStrategy", sharing_strategy)?)
        .build();
    built(requirement, path)
}

/// A union: exactly one of its members must be set.
fn sharing_strategy(v: &Value, path: &str, mode: Mode) -> Result<SharingStrategy> {
    let o = Obj::new(v, path, &["nvidiaMps"], mode)?;
    match o.object("nvidiaMps", nvidia_mps_allocation)? {
        Some(allocation) => Ok(SharingStrategy::NvidiaMps(allocation)),
        None => Err(error(path, "expected exactly one of `nvidiaMps`")),
    }
}

fn nvidia_mps_allocation(v: &Value, path: &str, mode: Mode) -> Result<NvidiaMpsAllocation> {
    let o = Obj::new(v, path, &["memory", "maxComputePercent"], mode)?;
    o.required("memory")?;
    let allocation = NvidiaMpsAllocation::builder()
        .set_memory(o.int("memory")?)
        .set_max_compute_percent(o.int("maxComputePercent")?)
        .build();
    built(allocation, path)
}

fn firelens_configuration(v: &Value, path: &str, mode: Mode) -> Result<FirelensConfiguration> {
    let o = Obj::new(v, path, &["type", "options"], mode)?;
    o.required("type")?;
    let config = FirelensConfiguration::builder()
        .set_type(o.enumeration("type", FirelensConfigurationType::values())?)
        .set_options(o.string_map("options")?)
        .build();
    built(config, path)
}

fn volume(v: &Value, path: &str, mode: Mode) -> Result<Volume> {
    let o = Obj::new(
        v,
        path,
        &[
            "name",
            "host",
            "dockerVolumeConfiguration",
            "efsVolumeConfiguration",
            "s3filesVolumeConfiguration",
            "fsxWindowsFileServerVolumeConfiguration",
            "configuredAtLaunch",
        ],
        mode,
    )?;
    Ok(Volume::builder()
        .set_name(o.string("name")?)
        .set_host(o.object("host", host_volume_properties)?)
        .set_docker_volume_configuration(
            o.object("dockerVolumeConfiguration", docker_volume_configuration)?,
        )
        .set_efs_volume_configuration(o.object("efsVolumeConfiguration", efs_volume_configuration)?)
        .set_s3files_volume_configuration(
            o.object("s3filesVolumeConfiguration", s3files_volume_configuration)?,
        )
        .set_fsx_windows_file_server_volume_configuration(o.object(
            "fsxWindowsFileServerVolumeConfiguration",
            fsx_windows_file_server_volume_configuration,
        )?)
        .set_configured_at_launch(o.bool("configuredAtLaunch")?)
        .build())
}

fn host_volume_properties(v: &Value, path: &str, mode: Mode) -> Result<HostVolumeProperties> {
    let o = Obj::new(v, path, &["sourcePath"], mode)?;
    Ok(HostVolumeProperties::builder()
        .set_source_path(o.string("sourcePath")?)
        .build())
}

fn docker_volume_configuration(
    v: &Value,
    path: &str,
    mode: Mode,
) -> Result<DockerVolumeConfiguration> {
    let o = Obj::new(
        v,
        path,
        &["scope", "autoprovision", "driver", "driverOpts", "labels"],
        mode,
    )?;
    Ok(DockerVolumeConfiguration::builder()
        .set_scope(o.enumeration("scope", Scope::values())?)
        .set_autoprovision(o.bool("autoprovision")?)
        .set_driver(o.string("driver")?)
        .set_driver_opts(o.string_map("driverOpts")?)
        .set_labels(o.string_map("labels")?)
        .build())
}

fn efs_volume_configuration(v: &Value, path: &str, mode: Mode) -> Result<EfsVolumeConfiguration> {
    let o = Obj::new(
        v,
        path,
        &[
            "fileSystemId",
            "rootDirectory",
            "transitEncryption",
            "transitEncryptionPort",
            "authorizationConfig",
        ],
        mode,
    )?;
    o.required("fileSystemId")?;
    let config = EfsVolumeConfiguration::builder()
        .set_file_system_id(o.string("fileSystemId")?)
        .set_root_directory(o.string("rootDirectory")?)
        .set_transit_encryption(o.enumeration("transitEncryption", EfsTransitEncryption::values())?)
        .set_transit_encryption_port(o.int("transitEncryptionPort")?)
        .set_authorization_config(o.object("authorizationConfig", efs_authorization_config)?)
        .build();
    built(config, path)
}

fn efs_authorization_config(v: &Value, path: &str, mode: Mode) -> Result<EfsAuthorizationConfig> {
    let o = Obj::new(v, path, &["accessPointId", "iam"], mode)?;
    Ok(EfsAuthorizationConfig::builder()
        .set_access_point_id(o.string("accessPointId")?)
        .set_iam(o.enumeration("iam", EfsAuthorizationConfigIam::values())?)
        .build())
}

fn s3files_volume_configuration(
    v: &Value,
    path: &str,
    mode: Mode,
) -> Result<S3FilesVolumeConfiguration> {
    let o = Obj::new(
        v,
        path,
        &[
            "fileSystemArn",
            "rootDirectory",
            "transitEncryptionPort",
            "accessPointArn",
        ],
        mode,
    )?;
    o.required("fileSystemArn")?;
    let config = S3FilesVolumeConfiguration::builder()
        .set_file_system_arn(o.string("fileSystemArn")?)
        .set_root_directory(o.string("rootDirectory")?)
        .set_transit_encryption_port(o.int("transitEncryptionPort")?)
        .set_access_point_arn(o.string("accessPointArn")?)
        .build();
    built(config, path)
}

fn fsx_windows_file_server_volume_configuration(
    v: &Value,
    path: &str,
    mode: Mode,
) -> Result<FSxWindowsFileServerVolumeConfiguration> {
    let o = Obj::new(
        v,
        path,
        &["fileSystemId", "rootDirectory", "authorizationConfig"],
        mode,
    )?;
    o.required("fileSystemId")?;
    o.required("rootDirectory")?;
    o.required("authorizationConfig")?;
    let config = FSxWindowsFileServerVolumeConfiguration::builder()
        .set_file_system_id(o.string("fileSystemId")?)
        .set_root_directory(o.string("rootDirectory")?)
        .set_authorization_config(o.object(
            "authorizationConfig",
            fsx_windows_file_server_authorization_config,
        )?)
        .build();
    built(config, path)
}

fn fsx_windows_file_server_authorization_config(
    v: &Value,
    path: &str,
    mode: Mode,
) -> Result<FSxWindowsFileServerAuthorizationConfig> {
    let o = Obj::new(v, path, &["credentialsParameter", "domain"], mode)?;
    o.required("credentialsParameter")?;
    o.required("domain")?;
    let config = FSxWindowsFileServerAuthorizationConfig::builder()
        .set_credentials_parameter(o.string("credentialsParameter")?)
        .set_domain(o.string("domain")?)
        .build();
    built(config, path)
}

fn placement_constraint(
    v: &Value,
    path: &str,
    mode: Mode,
) -> Result<TaskDefinitionPlacementConstraint> {
    let o = Obj::new(v, path, &["type", "expression"], mode)?;
    Ok(TaskDefinitionPlacementConstraint::builder()
        .set_type(o.enumeration("type", TaskDefinitionPlacementConstraintType::values())?)
        .set_expression(o.string("expression")?)
        .build())
}

fn tag(v: &Value, path: &str, mode: Mode) -> Result<Tag> {
    let o = Obj::new(v, path, &["key", "value"], mode)?;
    Ok(Tag::builder()
        .set_key(o.string("key")?)
        .set_value(o.string("value")?)
        .build())
}

fn proxy_configuration(v: &Value, path: &str, mode: Mode) -> Result<ProxyConfiguration> {
    let o = Obj::new(v, path, &["type", "containerName", "properties"], mode)?;
    o.required("containerName")?;
    let config = ProxyConfiguration::builder()
        .set_type(o.enumeration("type", ProxyConfigurationType::values())?)
        .set_container_name(o.string("containerName")?)
        .set_properties(o.list("properties", key_value_pair)?)
        .build();
    built(config, path)
}

#[allow(deprecated)]
fn inference_accelerator(v: &Value, path: &str, mode: Mode) -> Result<InferenceAccelerator> {
    let o = Obj::new(v, path, &["deviceName", "deviceType"], mode)?;
    o.required("deviceName")?;
    o.required("deviceType")?;
    let accelerator = InferenceAccelerator::builder()
        .set_device_name(o.string("deviceName")?)
        .set_device_type(o.string("deviceType")?)
        .build();
    built(accelerator, path)
}

fn ephemeral_storage(v: &Value, path: &str, mode: Mode) -> Result<EphemeralStorage> {
    let o = Obj::new(v, path, &["sizeInGiB"], mode)?;
    o.required("sizeInGiB")?;
    Ok(EphemeralStorage::builder()
        .set_size_in_gib(o.int("sizeInGiB")?)
        .build())
}

fn runtime_platform(v: &Value, path: &str, mode: Mode) -> Result<RuntimePlatform> {
    let o = Obj::new(v, path, &["cpuArchitecture", "operatingSystemFamily"], mode)?;
    Ok(RuntimePlatform::builder()
        .set_cpu_architecture(o.enumeration("cpuArchitecture", CpuArchitecture::values())?)
        .set_operating_system_family(o.enumeration("operatingSystemFamily", OsFamily::values())?)
        .build())
}
