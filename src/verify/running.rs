//! What runs versus what the release pins (pure): steadiness, revisions and digests.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::TaskDefinition;

use crate::rollout::observation::{short_task_definition, Service, Task};

/// Ok(detail) when the service has one deployment, COMPLETED, running = desired.
pub fn steady(s: &Service) -> Result<String, String> {
    let [d] = s.deployments.as_slice() else {
        return Err(format!(
            "{} deployments are listed (a rollout is under way)",
            s.deployments.len()
        ));
    };
    if d.rollout_state.as_deref().is_some_and(|r| r != "COMPLETED") {
        return Err(format!(
            "the deployment is {}",
            d.rollout_state.as_deref().unwrap_or("-")
        ));
    }
    if s.running_count != s.desired_count {
        return Err(format!("{}/{} running", s.running_count, s.desired_count));
    }
    Ok(format!(
        "one deployment, COMPLETED, {}/{} running",
        s.running_count, s.desired_count
    ))
}

/// Container name -> `sha256:…` its image is pinned to in a revision.
pub fn pinned_digests(td: &TaskDefinition) -> BTreeMap<String, String> {
    td.container_definitions()
        .iter()
        .filter_map(|c| {
            let digest = c.image()?.split_once('@')?.1;
            Some((c.name()?.to_string(), digest.to_string()))
        })
        .collect()
}

/// How the running tasks compare with the release revision.
#[derive(Debug, Default, PartialEq)]
pub struct TaskCheck {
    /// Every way a running task differs from the revision, naming the task.
    pub problems: Vec<String>,
    /// What could not be checked (a container whose digest ECS does not report).
    pub warnings: Vec<String>,
}

/// The digest a container runs, as ECS reports it: `imageDigest` when present (Required: No
/// in API_Container; agents >= 1.70 and Fargate >= 1.4.0 report it), else the digest its
/// `image` is pinned to, else unknown.
fn reported_digest(c: &crate::rollout::observation::Container) -> Option<(&str, &'static str)> {
    if let Some(d) = c.image_digest.as_deref() {
        return Some((d, "reports"));
    }
    let pinned = c.image.as_deref()?.split_once('@')?.1;
    Some((pinned, "runs image pinned to"))
}

/// Compares every running task with the release revision and the digests it pins.
pub fn task_problems(
    tasks: &[Task],
    revision: &str,
    pinned: &BTreeMap<String, String>,
) -> TaskCheck {
    let mut out = TaskCheck::default();
    for t in tasks {
        if t.task_definition_arn != revision {
            out.problems.push(format!(
                "task {} runs {}, not {}",
                t.id(),
                short_task_definition(&t.task_definition_arn),
                short_task_definition(revision)
            ));
            continue;
        }
        for c in &t.containers {
            if let Some(want) = pinned.get(&c.name) {
                match reported_digest(c) {
                    Some((got, _)) if got == want => {}
                    Some((got, how)) => out.problems.push(format!(
                        "task {} container {} {how} {got}, the revision pins {want}",
                        t.id(),
                        c.name
                    )),
                    None => out.warnings.push(format!(
                        "task {} container {}: ECS reports no imageDigest (agents before 1.70 and Fargate before 1.4.0 do not), so its digest cannot be checked",
                        t.id(),
                        c.name
                    )),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::observation::{Container, Deployment};

    #[test]
    fn names_tasks_on_other_revisions_or_digests() {
        let pinned = BTreeMap::from([("app".to_string(), "sha256:aa".to_string())]);
        let task = |arn: &str, td: &str, digest: &str| Task {
            task_arn: arn.into(),
            task_definition_arn: td.into(),
            containers: vec![Container {
                name: "app".into(),
                image_digest: Some(digest.into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let tasks = vec![
            task("arn:x/c/t1", "arn:td/app:2", "sha256:aa"),
            task("arn:x/c/t2", "arn:td/app:3", "sha256:aa"),
            task("arn:x/c/t3", "arn:td/app:2", "sha256:bb"),
        ];
        let p = task_problems(&tasks, "arn:td/app:2", &pinned).problems;
        assert_eq!(
            p,
            vec![
                "task t2 runs app:3, not app:2",
                "task t3 container app reports sha256:bb, the revision pins sha256:aa"
            ]
        );
    }

    #[test]
    fn without_image_digest_the_pinned_image_is_the_evidence_else_a_warning() {
        let pinned = BTreeMap::from([("app".to_string(), "sha256:aa".to_string())]);
        let task = |image: &str| Task {
            task_arn: "arn:x/c/t1".into(),
            task_definition_arn: "arn:td/app:2".into(),
            containers: vec![Container {
                name: "app".into(),
                image: Some(image.into()),
                image_digest: None,
                ..Default::default()
            }],
            ..Default::default()
        };
        let ok = task_problems(&[task("r/app@sha256:aa")], "arn:td/app:2", &pinned);
        assert_eq!(ok, TaskCheck::default());
        let wrong = task_problems(&[task("r/app@sha256:bb")], "arn:td/app:2", &pinned);
        assert_eq!(wrong.problems.len(), 1);
        let unknown = task_problems(&[task("r/app:1.0")], "arn:td/app:2", &pinned);
        assert!(unknown.problems.is_empty());
        assert!(unknown.warnings[0].contains("no imageDigest"));
    }

    #[test]
    fn steady_needs_one_completed_full_deployment() {
        let mut s = Service {
            desired_count: 2,
            running_count: 2,
            deployments: vec![Deployment {
                rollout_state: Some("COMPLETED".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(steady(&s).is_ok());
        s.running_count = 1;
        assert!(steady(&s).is_err());
        s.running_count = 2;
        s.deployments.push(Deployment::default());
        assert!(steady(&s).is_err());
    }
}
