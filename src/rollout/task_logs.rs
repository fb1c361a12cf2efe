//! Where a stopped task's containers wrote their output: the CloudWatch Logs stream of each
//! container that uses the `awslogs` log driver, so that a failure can show the app's own
//! last words (a crash message, "JWT secret must be 64 bytes") next to ECS's reason. Pure.
//!
//! Source: the stream is `<awslogs-stream-prefix>/<container name>/<task id>` ("Amazon ECS
//! container logs for EC2 and Fargate launch types", AWS Prescriptive Guidance,
//! https://docs.aws.amazon.com/prescriptive-guidance/latest/implementing-logging-monitoring-cloudwatch/ec2-fargate-logs.html;
//! the CDK's AwsLogDriverProps.streamPrefix gives the same `prefix-name/container-name/ecs-task-id`).
//! Without `awslogs-stream-prefix` the stream is named after the container's Docker ID, which
//! DescribeTasks does not give: such containers are skipped. `awslogs-region` names the
//! group's region when it is not the service's.

use aws_sdk_ecs::types::{LogDriver, TaskDefinition};

use super::observation::Task;

/// One container's log stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStream {
    pub task_id: String,
    pub container: String,
    pub group: String,
    pub stream: String,
    /// `awslogs-region`, when the group is in another region than the service.
    pub region: Option<String>,
    /// The container's exit code, when it exited.
    pub exit_code: Option<i32>,
}

/// The log streams of the stopped task that says most about the failure: one whose essential
/// container exited (or that failed to start) with a code other than 0, the newest first;
/// tasks the scheduler stopped itself (a rollback's scale-in) only when there is no other.
/// Its containers that exited with a code other than 0 come first.
pub fn streams(td: &TaskDefinition, tasks: &[Task]) -> Vec<LogStream> {
    let failed = |t: &Task| {
        matches!(
            t.stop_code.as_deref(),
            Some("EssentialContainerExited" | "TaskFailedToStart")
        ) && t
            .containers
            .iter()
            .any(|c| c.exit_code.is_some_and(|x| x != 0))
    };
    let mut ordered: Vec<&Task> = tasks.iter().collect();
    ordered.sort_by(|a, b| {
        failed(b).cmp(&failed(a)).then(
            b.stopped_at
                .partial_cmp(&a.stopped_at)
                .unwrap_or(std::cmp::Ordering::Equal),
        )
    });
    for task in ordered {
        let mut found: Vec<LogStream> = td
            .container_definitions()
            .iter()
            .filter_map(|c| {
                let name = c.name()?;
                let log = c.log_configuration()?;
                if log.log_driver() != &LogDriver::Awslogs {
                    return None;
                }
                let options = log.options()?;
                let group = options.get("awslogs-group")?;
                let prefix = options.get("awslogs-stream-prefix")?;
                let exit_code = task
                    .containers
                    .iter()
                    .find(|tc| tc.name == name)
                    .and_then(|tc| tc.exit_code);
                Some(LogStream {
                    task_id: task.id().to_string(),
                    container: name.to_string(),
                    group: group.clone(),
                    stream: format!("{prefix}/{name}/{}", task.id()),
                    region: options.get("awslogs-region").cloned(),
                    exit_code,
                })
            })
            .collect();
        if !found.is_empty() {
            found.sort_by_key(|s| matches!(s.exit_code, None | Some(0)));
            return found;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::observation::Container;
    use aws_sdk_ecs::types::{ContainerDefinition, LogConfiguration};

    fn container(name: &str, log: Option<(&str, &[(&str, &str)])>) -> ContainerDefinition {
        let mut c = ContainerDefinition::builder()
            .name(name)
            .image("r/app@sha256:aa");
        if let Some((driver, options)) = log {
            let mut l = LogConfiguration::builder().log_driver(LogDriver::from(driver));
            for (k, v) in options {
                l = l.options(*k, *v);
            }
            c = c.log_configuration(l.build().unwrap());
        }
        c.build()
    }

    fn task(id: &str, exits: &[(&str, Option<i32>)]) -> Task {
        Task {
            task_arn: format!("arn:aws:ecs:us-east-1:1:task/c/{id}"),
            containers: exits
                .iter()
                .map(|(n, code)| Container {
                    name: n.to_string(),
                    exit_code: *code,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Constructed from the task definition shape of RegisterTaskDefinition's
    /// logConfiguration (API_LogConfiguration) and the stream format cited above.
    #[test]
    fn streams_follow_prefix_container_task_and_put_the_failed_container_first() {
        let td = TaskDefinition::builder()
            .container_definitions(container(
                "sidecar",
                Some((
                    "awslogs",
                    &[
                        ("awslogs-group", "/ecs/app"),
                        ("awslogs-stream-prefix", "ecs"),
                    ],
                )),
            ))
            .container_definitions(container(
                "app",
                Some((
                    "awslogs",
                    &[
                        ("awslogs-group", "/ecs/app"),
                        ("awslogs-stream-prefix", "ecs"),
                        ("awslogs-region", "eu-west-1"),
                    ],
                )),
            ))
            .container_definitions(container(
                "noprefix",
                Some(("awslogs", &[("awslogs-group", "/ecs/app")])),
            ))
            .container_definitions(container("splunk", Some(("splunk", &[]))))
            .container_definitions(container("none", None))
            .build();
        let mut crashed = task("abc123", &[("sidecar", Some(0)), ("app", Some(1))]);
        crashed.stop_code = Some("EssentialContainerExited".into());
        crashed.stopped_at = Some(100.0);
        // Stopped later by the scheduler (the rollback's scale-in): its log says nothing of the
        // crash, so it comes after the crashed one.
        let mut scaled_in = task("zzz999", &[("sidecar", Some(143)), ("app", Some(143))]);
        scaled_in.stop_code = Some("ServiceSchedulerInitiated".into());
        scaled_in.stopped_at = Some(200.0);
        let tasks = [scaled_in.clone(), crashed];
        let s = streams(&td, &tasks);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].container, "app");
        assert_eq!(s[0].stream, "ecs/app/abc123");
        assert_eq!(s[0].group, "/ecs/app");
        assert_eq!(s[0].region.as_deref(), Some("eu-west-1"));
        assert_eq!(s[0].exit_code, Some(1));
        assert_eq!(s[1].container, "sidecar");
        assert_eq!(s[1].region, None);
        // No stopped task, or no awslogs container: nothing to read.
        assert!(streams(&td, &[]).is_empty());
        let plain = TaskDefinition::builder()
            .container_definitions(container("none", None))
            .build();
        assert!(streams(&plain, &tasks).is_empty());
        // With no crashed task, the newest stopped one.
        assert_eq!(streams(&td, &[scaled_in])[0].task_id, "zzz999");
    }
}
