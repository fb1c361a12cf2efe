//! Tests of the task definition conversions, against the fixtures in
//! `tests/fixtures/` (see the README there for where their shapes come from).

use aws_sdk_ecs::primitives::DateTime;
use aws_sdk_ecs::types::{
    ApplicationProtocol, Attribute, Compatibility, ContainerCondition, ContainerDefinition,
    ContainerDependency, ContainerRestartPolicy, CpuArchitecture, EfsAuthorizationConfig,
    EfsAuthorizationConfigIam, EfsTransitEncryption, EfsVolumeConfiguration, EnvironmentFile,
    EnvironmentFileType, EphemeralStorage, FirelensConfiguration, FirelensConfigurationType,
    HealthCheck, HostEntry, HostVolumeProperties, KernelCapabilities, KeyValuePair,
    LinuxParameters, LogConfiguration, LogDriver, MountPoint, NetworkMode, OsFamily, PortMapping,
    ProxyConfiguration, ProxyConfigurationType, RuntimePlatform, Secret, SystemControl, Tag,
    TaskDefinition, TaskDefinitionPlacementConstraint, TaskDefinitionPlacementConstraintType,
    TaskDefinitionStatus, Tmpfs, TransportProtocol, Ulimit, UlimitName, VersionConsistency, Volume,
};
use serde_json::{json, Value};

use super::*;

fn described_fixture() -> Value {
    serde_json::from_str(include_str!(
        "../../tests/fixtures/describe-task-definition-full.json"
    ))
    .expect("fixture is JSON")
}

fn all_fields_fixture() -> Value {
    serde_json::from_str(include_str!(
        "../../tests/fixtures/register-task-definition-all-fields.json"
    ))
    .expect("fixture is JSON")
}

/// What `to_json` does to a `describe-task-definition` document besides
/// reordering keys (which `Value` equality ignores):
/// * empty arrays and objects are dropped (`"environment": []`...), recursively;
/// * a container `"cpu": 0` is dropped (the SDK cannot tell it from unset).
fn normalise(v: &Value) -> Value {
    fn drop_empties(v: &Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), drop_empties(v)))
                    .filter(|(_, v)| !is_empty(v))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(drop_empties).collect()),
            other => other.clone(),
        }
    }
    fn is_empty(v: &Value) -> bool {
        matches!(v, Value::Array(a) if a.is_empty())
            || matches!(v, Value::Object(o) if o.is_empty())
    }
    let mut v = drop_empties(v);
    if let Some(containers) = v["containerDefinitions"].as_array_mut() {
        for c in containers {
            if c["cpu"] == json!(0) {
                c.as_object_mut().unwrap().remove("cpu");
            }
        }
    }
    v
}

fn convert_err(doc: &Value) -> ConvertError {
    to_request(doc).expect_err("conversion should fail")
}

/// A minimal valid request, to break in error tests.
fn minimal() -> Value {
    json!({
        "family": "app",
        "containerDefinitions": [{ "name": "app", "image": "nginx:1.27" }]
    })
}

#[test]
fn described_fixture_round_trips() {
    let request_json = described_json_to_request_json(&described_fixture());
    let input = to_request(&request_json).expect("fixture converts");
    let canonical = to_json(&input);
    assert_eq!(to_request(&canonical).expect("canonical converts"), input);
    assert_eq!(canonical, normalise(&request_json));
}

#[test]
fn described_json_drops_read_only_keys_and_moves_tags_in() {
    let request_json = described_json_to_request_json(&described_fixture());
    let keys: Vec<&str> = request_json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "containerDefinitions",
            "family",
            "taskRoleArn",
            "executionRoleArn",
            "networkMode",
            "volumes",
            "placementConstraints",
            "runtimePlatform",
            "requiresCompatibilities",
            "cpu",
            "memory",
            "proxyConfiguration",
            "ephemeralStorage",
            "enableFaultInjection",
            "tags",
        ]
    );
    assert_eq!(request_json["tags"], described_fixture()["tags"]);
    // A bare task definition works too, and has no tags to move.
    let bare = described_json_to_request_json(&described_fixture()["taskDefinition"]);
    let mut without_tags = request_json.clone();
    without_tags.as_object_mut().unwrap().remove("tags");
    assert_eq!(bare, without_tags);
}

#[test]
fn from_described_equals_converted_template() {
    let (td, tags) = described_fixture_by_hand();
    let from_template = to_request(&described_json_to_request_json(&described_fixture())).unwrap();
    assert_eq!(from_described(&td, &tags), from_template);
}

#[test]
fn from_described_keeps_values_this_sdk_does_not_know() {
    let td = TaskDefinition::builder()
        .family("app")
        .network_mode(NetworkMode::from("future-mode"))
        .container_definitions(ContainerDefinition::builder().image("nginx").build())
        .build();
    let input = from_described(&td, &[]);
    assert_eq!(input.network_mode().unwrap().as_str(), "future-mode");
    assert_eq!(input.container_definitions()[0].name(), None);
    assert!(input.tags().is_empty() && input.tags.is_none());
}

#[test]
fn all_fields_fixture_is_canonical() {
    let doc = all_fields_fixture();
    let input = to_request(&doc).expect("fixture converts");
    let canonical = to_json(&input);
    // Byte-for-byte: the fixture lists every key the API accepts, in API order.
    assert_eq!(
        serde_json::to_string_pretty(&canonical).unwrap(),
        serde_json::to_string_pretty(&doc).unwrap()
    );
    assert_eq!(to_request(&canonical).unwrap(), input);
}

#[test]
fn all_fields_fixture_sets_every_container_member() {
    let input = to_request(&all_fields_fixture()).unwrap();
    let app = &input.container_definitions()[0];
    // Spot checks that values land in the right SDK members.
    assert_eq!(app.cpu(), 256);
    assert_eq!(app.links(), ["sidecar:side"]);
    assert_eq!(
        app.port_mappings()[0].app_protocol(),
        Some(&ApplicationProtocol::Http2)
    );
    assert_eq!(
        app.port_mappings()[1].container_port_range(),
        Some("9000-9010")
    );
    assert_eq!(app.linux_parameters().unwrap().swappiness(), Some(60));
    assert_eq!(
        app.version_consistency(),
        Some(&VersionConsistency::Disabled)
    );
    assert_eq!(app.docker_labels().unwrap()["b"], "2");
    assert!(app.resource_requirements()[0]
        .sharing_strategy()
        .unwrap()
        .is_nvidia_mps());
    assert_eq!(input.volumes()[5].configured_at_launch(), Some(true));
    assert_eq!(input.enable_fault_injection(), Some(true));
}

#[test]
fn images_and_secret_refs() {
    let input = to_request(&described_json_to_request_json(&described_fixture())).unwrap();
    assert_eq!(
        images(&input),
        [
            (
                "web".to_string(),
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-web:1.4.2".to_string()
            ),
            (
                "log_router".to_string(),
                "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable".to_string()
            ),
        ]
    );
    let refs = secret_refs(&input);
    let refs: Vec<(&str, &str, &str)> = refs
        .iter()
        .map(|(c, n, v)| (c.as_str(), n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        refs,
        [
            (
                "web",
                "DATABASE_URL",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/database-url-AbCdEf"
            ),
            (
                "web",
                "SECRET_KEY_BASE",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/secret-key-base"
            ),
            (
                "web",
                "apikey",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/datadog-api-key"
            ),
        ]
    );
}

#[test]
fn unknown_key_names_its_path_and_suggests() {
    let mut doc = minimal();
    doc["containerDefinitions"][0]["imagee"] = json!("nginx");
    let err = convert_err(&doc);
    assert_eq!(err.path, "containerDefinitions[0].imagee");
    assert_eq!(err.message, "unknown key `imagee` (did you mean `image`?)");
    assert_eq!(
        err.to_string(),
        "containerDefinitions[0].imagee: unknown key `imagee` (did you mean `image`?)"
    );

    let mut doc = minimal();
    doc["volumes"] = json!([{ "name": "v", "hots": { "sourcePath": "/x" } }]);
    let err = convert_err(&doc);
    assert_eq!(err.path, "volumes[0].hots");
    assert!(err.message.contains("did you mean `host`?"), "{err}");

    let mut doc = minimal();
    doc["revision"] = json!(3);
    let err = convert_err(&doc);
    assert_eq!(err.path, "revision");
    assert_eq!(err.message, "unknown key `revision`");

    // Small structures list what they accept.
    let mut doc = minimal();
    doc["ephemeralStorage"] = json!({ "size": 30 });
    let err = convert_err(&doc);
    assert_eq!(err.path, "ephemeralStorage.size");
    assert_eq!(
        err.message,
        "unknown key `size`; expected one of `sizeInGiB`"
    );
}

#[test]
fn wrong_types_name_their_path() {
    let cases = [
        (
            json!({ "essential": "yes" }),
            "containerDefinitions[0].essential",
            "expected a boolean, found a string",
        ),
        (
            json!({ "memory": "512" }),
            "containerDefinitions[0].memory",
            "expected an integer, found a string",
        ),
        (
            json!({ "memory": 512.5 }),
            "containerDefinitions[0].memory",
            "expected an integer, found 512.5",
        ),
        (
            json!({ "memory": 1.0 }),
            "containerDefinitions[0].memory",
            "expected an integer, found 1.0",
        ),
        (
            json!({ "memory": 4_294_967_296_i64 }),
            "containerDefinitions[0].memory",
            "integer 4294967296 is out of range (32-bit)",
        ),
        (
            json!({ "command": "serve" }),
            "containerDefinitions[0].command",
            "expected an array, found a string",
        ),
        (
            json!({ "command": ["serve", 1] }),
            "containerDefinitions[0].command[1]",
            "expected a string, found a number",
        ),
        (
            json!({ "dockerLabels": { "a": 1 } }),
            "containerDefinitions[0].dockerLabels.a",
            "expected a string, found a number",
        ),
        (
            json!({ "environment": [{ "name": "A", "value": 1 }] }),
            "containerDefinitions[0].environment[0].value",
            "expected a string, found a number",
        ),
        (
            json!({ "healthCheck": ["CMD"] }),
            "containerDefinitions[0].healthCheck",
            "expected an object, found an array",
        ),
    ];
    for (fields, path, message) in cases {
        let mut doc = minimal();
        for (k, v) in fields.as_object().unwrap() {
            doc["containerDefinitions"][0][k] = v.clone();
        }
        let err = convert_err(&doc);
        assert_eq!((err.path.as_str(), err.message.as_str()), (path, message));
    }

    let err = convert_err(&json!([]));
    assert_eq!(err.path, "");
    assert_eq!(err.to_string(), "expected an object, found an array");
}

#[test]
fn bad_enum_values_list_the_allowed_ones() {
    let mut doc = minimal();
    doc["networkMode"] = json!("AWSVPC");
    let err = convert_err(&doc);
    assert_eq!(err.path, "networkMode");
    assert_eq!(
        err.message,
        "invalid value `AWSVPC` (did you mean `awsvpc`?); expected one of `awsvpc`, `bridge`, `host`, `none`"
    );

    let mut doc = minimal();
    doc["containerDefinitions"][0]["portMappings"] =
        json!([{ "containerPort": 80, "protocol": "icmp" }]);
    let err = convert_err(&doc);
    assert_eq!(err.path, "containerDefinitions[0].portMappings[0].protocol");
    assert_eq!(
        err.message,
        "invalid value `icmp`; expected one of `tcp`, `udp`"
    );

    let mut doc = minimal();
    doc["containerDefinitions"][0]["ulimits"] =
        json!([{ "name": "openfiles", "softLimit": 1, "hardLimit": 1 }]);
    let err = convert_err(&doc);
    assert_eq!(err.path, "containerDefinitions[0].ulimits[0].name");
    assert!(err
        .message
        .starts_with("invalid value `openfiles`; expected one of `core`"));

    let mut doc = minimal();
    doc["requiresCompatibilities"] = json!(["FARGATE", "LAMBDA"]);
    assert_eq!(convert_err(&doc).path, "requiresCompatibilities[1]");
}

#[test]
fn missing_required_keys() {
    let mut doc = minimal();
    doc.as_object_mut().unwrap().remove("family");
    let err = convert_err(&doc);
    assert_eq!(err.path, "family");
    assert_eq!(err.message, "missing required key `family`");

    // null counts as absent.
    let mut doc = minimal();
    doc["family"] = Value::Null;
    assert_eq!(convert_err(&doc).path, "family");

    let mut doc = minimal();
    doc.as_object_mut().unwrap().remove("containerDefinitions");
    assert_eq!(convert_err(&doc).path, "containerDefinitions");

    let mut doc = minimal();
    doc["containerDefinitions"] = json!([]);
    let err = convert_err(&doc);
    assert_eq!(err.path, "containerDefinitions");
    assert_eq!(err.message, "expected at least one container definition");

    let mut doc = minimal();
    doc["containerDefinitions"][0]
        .as_object_mut()
        .unwrap()
        .remove("name");
    assert_eq!(convert_err(&doc).path, "containerDefinitions[0].name");

    let mut doc = minimal();
    doc["containerDefinitions"][0]["secrets"] = json!([{ "name": "A" }]);
    let err = convert_err(&doc);
    assert_eq!(err.path, "containerDefinitions[0].secrets[0].valueFrom");
    assert_eq!(err.message, "missing required key `valueFrom`");
}

#[test]
fn task_cpu_and_memory_take_strings_or_integers() {
    let mut doc = minimal();
    doc["cpu"] = json!(256);
    doc["memory"] = json!("512");
    let input = to_request(&doc).unwrap();
    assert_eq!(input.cpu(), Some("256"));
    assert_eq!(input.memory(), Some("512"));
    assert_eq!(to_json(&input)["cpu"], json!("256"));

    doc["cpu"] = json!(0.25);
    let err = convert_err(&doc);
    assert_eq!(err.path, "cpu");
    assert_eq!(err.message, "expected an integer, found 0.25");
    doc["cpu"] = json!(true);
    assert_eq!(
        convert_err(&doc).message,
        "expected a string or an integer, found a boolean"
    );
}

#[test]
fn empty_and_null_values_are_canonicalised_away() {
    let mut doc = minimal();
    doc["volumes"] = json!([]);
    doc["taskRoleArn"] = Value::Null;
    doc["containerDefinitions"][0]["environment"] = json!([]);
    doc["containerDefinitions"][0]["dockerLabels"] = json!({});
    doc["containerDefinitions"][0]["cpu"] = json!(0);
    let input = to_request(&doc).unwrap();
    assert_eq!(input, to_request(&minimal()).unwrap());
    assert_eq!(to_json(&input), minimal());
}

/// The fixture's task definition and tags, built by hand with the SDK
/// builders, as `DescribeTaskDefinition` would return them (including the
/// empty lists and the container `cpu` of 0 that ECS fills in).
fn described_fixture_by_hand() -> (TaskDefinition, Vec<Tag>) {
    let kv = |name: &str, value: &str| KeyValuePair::builder().name(name).value(value).build();
    let secret = |name: &str, value_from: &str| {
        Secret::builder()
            .name(name)
            .value_from(value_from)
            .build()
            .unwrap()
    };
    let web = ContainerDefinition::builder()
        .name("web")
        .image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-web:1.4.2")
        .cpu(448)
        .memory(896)
        .memory_reservation(768)
        .port_mappings(
            PortMapping::builder()
                .container_port(8080)
                .host_port(8080)
                .protocol(TransportProtocol::Tcp)
                .name("web-http")
                .app_protocol(ApplicationProtocol::Http)
                .build(),
        )
        .port_mappings(
            PortMapping::builder()
                .container_port(9090)
                .host_port(9090)
                .protocol(TransportProtocol::Udp)
                .name("web-metrics")
                .build(),
        )
        .essential(true)
        .restart_policy(
            ContainerRestartPolicy::builder()
                .enabled(true)
                .ignored_exit_codes(0)
                .ignored_exit_codes(143)
                .restart_attempt_period(300)
                .build()
                .unwrap(),
        )
        .entry_point("/usr/local/bin/docker-entrypoint.sh")
        .command("bin/server")
        .command("--port")
        .command("8080")
        .environment(kv("RAILS_ENV", "production"))
        .environment(kv("PORT", "8080"))
        .environment_files(
            EnvironmentFile::builder()
                .value("arn:aws:s3:::shop-config/web.env")
                .r#type(EnvironmentFileType::S3)
                .build()
                .unwrap(),
        )
        .mount_points(
            MountPoint::builder()
                .source_volume("uploads")
                .container_path("/app/uploads")
                .read_only(false)
                .build(),
        )
        .mount_points(
            MountPoint::builder()
                .source_volume("scratch")
                .container_path("/scratch")
                .read_only(true)
                .build(),
        )
        .set_volumes_from(Some(vec![]))
        .linux_parameters(
            LinuxParameters::builder()
                .capabilities(
                    KernelCapabilities::builder()
                        .add("SYS_PTRACE")
                        .drop("NET_RAW")
                        .build(),
                )
                .init_process_enabled(true)
                .shared_memory_size(128)
                .tmpfs(
                    Tmpfs::builder()
                        .container_path("/tmp")
                        .size(64)
                        .mount_options("rw")
                        .mount_options("noexec")
                        .build()
                        .unwrap(),
                )
                .max_swap(512)
                .swappiness(10)
                .build(),
        )
        .secrets(secret(
            "DATABASE_URL",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/database-url-AbCdEf",
        ))
        .secrets(secret(
            "SECRET_KEY_BASE",
            "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/secret-key-base",
        ))
        .depends_on(
            ContainerDependency::builder()
                .container_name("log_router")
                .condition(ContainerCondition::Start)
                .build()
                .unwrap(),
        )
        .start_timeout(60)
        .stop_timeout(30)
        .version_consistency(VersionConsistency::Enabled)
        .user("1000:1000")
        .working_directory("/app")
        .readonly_root_filesystem(true)
        .extra_hosts(
            HostEntry::builder()
                .hostname("legacy.internal")
                .ip_address("10.0.12.7")
                .build()
                .unwrap(),
        )
        .docker_labels("team", "shop")
        .docker_labels("com.example.service", "web")
        .ulimits(
            Ulimit::builder()
                .name(UlimitName::Nofile)
                .soft_limit(65536)
                .hard_limit(65536)
                .build()
                .unwrap(),
        )
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awsfirelens)
                .options("Name", "datadog")
                .options("Host", "http-intake.logs.datadoghq.eu")
                .options("TLS", "on")
                .options("provider", "ecs")
                .secret_options(secret(
                    "apikey",
                    "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/datadog-api-key",
                ))
                .build()
                .unwrap(),
        )
        .health_check(
            HealthCheck::builder()
                .command("CMD-SHELL")
                .command("curl -fsS http://localhost:8080/health || exit 1")
                .interval(30)
                .timeout(5)
                .retries(3)
                .start_period(20)
                .build()
                .unwrap(),
        )
        .system_controls(
            SystemControl::builder()
                .namespace("net.ipv4.tcp_keepalive_time")
                .value("120")
                .build(),
        )
        .build();
    let log_router = ContainerDefinition::builder()
        .name("log_router")
        .image("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable")
        .cpu(0)
        .memory_reservation(50)
        .set_port_mappings(Some(vec![]))
        .essential(true)
        .set_environment(Some(vec![]))
        .set_mount_points(Some(vec![]))
        .set_volumes_from(Some(vec![]))
        .user("0")
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", "/ecs/shop-web")
                .options("awslogs-region", "eu-west-1")
                .options("awslogs-stream-prefix", "firelens")
                .build()
                .unwrap(),
        )
        .set_system_controls(Some(vec![]))
        .firelens_configuration(
            FirelensConfiguration::builder()
                .r#type(FirelensConfigurationType::Fluentbit)
                .options("enable-ecs-log-metadata", "true")
                .build()
                .unwrap(),
        )
        .build();
    let attribute = |name: &str| Attribute::builder().name(name).build().unwrap();
    let td = TaskDefinition::builder()
        .task_definition_arn("arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-web:42")
        .container_definitions(web)
        .container_definitions(log_router)
        .family("shop-web")
        .task_role_arn("arn:aws:iam::123456789012:role/shop-web-task")
        .execution_role_arn("arn:aws:iam::123456789012:role/ecsTaskExecutionRole")
        .network_mode(NetworkMode::Awsvpc)
        .revision(42)
        .volumes(
            Volume::builder()
                .name("scratch")
                .host(
                    HostVolumeProperties::builder()
                        .source_path("/var/lib/shop/scratch")
                        .build(),
                )
                .build(),
        )
        .volumes(
            Volume::builder()
                .name("uploads")
                .efs_volume_configuration(
                    EfsVolumeConfiguration::builder()
                        .file_system_id("fs-0123456789abcdef0")
                        .root_directory("/")
                        .transit_encryption(EfsTransitEncryption::Enabled)
                        .transit_encryption_port(2999)
                        .authorization_config(
                            EfsAuthorizationConfig::builder()
                                .access_point_id("fsap-0123456789abcdef0")
                                .iam(EfsAuthorizationConfigIam::Enabled)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .status(TaskDefinitionStatus::Active)
        .requires_attributes(attribute("ecs.capability.execution-role-awslogs"))
        .requires_attributes(attribute("com.amazonaws.ecs.capability.ecr-auth"))
        .placement_constraints(
            TaskDefinitionPlacementConstraint::builder()
                .r#type(TaskDefinitionPlacementConstraintType::MemberOf)
                .expression("attribute:ecs.instance-type =~ m6i.*")
                .build(),
        )
        .compatibilities(Compatibility::Ec2)
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(CpuArchitecture::X8664)
                .operating_system_family(OsFamily::Linux)
                .build(),
        )
        .requires_compatibilities(Compatibility::Ec2)
        .cpu("512")
        .memory("1024")
        .proxy_configuration(
            ProxyConfiguration::builder()
                .r#type(ProxyConfigurationType::Appmesh)
                .container_name("web")
                .properties(kv("IgnoredUID", "1337"))
                .properties(kv("ProxyIngressPort", "15000"))
                .properties(kv("ProxyEgressPort", "15001"))
                .properties(kv("AppPorts", "8080"))
                .properties(kv("EgressIgnoredIPs", "169.254.170.2,169.254.169.254"))
                .build()
                .unwrap(),
        )
        .registered_at(DateTime::from_secs(1_715_675_531))
        .registered_by("arn:aws:sts::123456789012:assumed-role/deployer/ci")
        .ephemeral_storage(EphemeralStorage::builder().size_in_gib(30).build())
        .enable_fault_injection(false)
        .build();
    let tags = vec![
        Tag::builder().key("team").value("shop").build(),
        Tag::builder().key("cost-center").value("cc-1234").build(),
    ];
    (td, tags)
}
