//! A task definition as ECS names it, parsed in this one place: a full ARN
//! (`arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION`) or `FAMILY:REVISION`
//! (ECS API reference, DescribeTaskDefinition: "The family for the latest ACTIVE revision,
//! family and revision (family:revision) for a specific revision in the family, or full
//! Amazon Resource Name (ARN) of the task definition to describe"; the ARN format is in
//! the ECS developer guide, "Amazon Resource Names (ARNs) and IDs").

/// The parts of a task definition's name: borrowed from the text it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDefinitionRef<'a> {
    /// `family:revision` (or the whole text when it names only a family).
    pub short: &'a str,
    pub family: &'a str,
    /// `None` when the text names a family without a revision.
    pub revision: Option<i32>,
}

impl<'a> TaskDefinitionRef<'a> {
    /// Parses an ARN, `family:revision` or a bare family; never fails (a bare family has
    /// no revision).
    pub fn parse(text: &'a str) -> Self {
        let short = text.rsplit('/').next().unwrap_or(text);
        match short.rsplit_once(':') {
            Some((family, revision)) => match revision.parse::<i32>() {
                Ok(n) => Self {
                    short,
                    family,
                    revision: Some(n),
                },
                Err(_) => Self {
                    short,
                    family: short,
                    revision: None,
                },
            },
            None => Self {
                short,
                family: short,
                revision: None,
            },
        }
    }
}

/// `family:revision` of a task-definition ARN (or the text itself when it is not an ARN).
pub fn short_name(arn: &str) -> &str {
    TaskDefinitionRef::parse(arn).short
}

/// The family of a task-definition ARN or `family:revision`.
pub fn family_of(arn: &str) -> &str {
    TaskDefinitionRef::parse(arn).family
}

/// The revision number of a task-definition ARN or `family:revision`.
pub fn revision_number(arn: &str) -> Option<i32> {
    TaskDefinitionRef::parse(arn).revision
}

/// The revision of a task-definition ARN or `family:revision` as text (`…:97` -> `97`), for
/// commands such as `release rollback --to 97`; the text itself when it has no revision.
pub fn revision_of(arn: &str) -> &str {
    let parsed = TaskDefinitionRef::parse(arn);
    parsed
        .short
        .strip_prefix(parsed.family)
        .and_then(|rest| rest.strip_prefix(':'))
        .unwrap_or(parsed.short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arn_a_short_name_and_a_bare_family_parse_to_their_parts() {
        let arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/sales-api:97";
        assert_eq!(
            TaskDefinitionRef::parse(arn),
            TaskDefinitionRef {
                short: "sales-api:97",
                family: "sales-api",
                revision: Some(97)
            }
        );
        assert_eq!(
            TaskDefinitionRef::parse("sales-api:97"),
            TaskDefinitionRef::parse(arn)
        );
        let bare = TaskDefinitionRef::parse("sales-api");
        assert_eq!(
            (bare.short, bare.family, bare.revision),
            ("sales-api", "sales-api", None)
        );
    }

    #[test]
    fn a_revision_that_is_not_a_number_leaves_the_name_whole() {
        let odd = TaskDefinitionRef::parse("arn:aws:ecs:us-east-1:1:task-definition/app:latest");
        assert_eq!((odd.family, odd.revision), ("app:latest", None));
        assert_eq!(
            short_name("arn:aws:ecs:us-east-1:1:task-definition/app:3"),
            "app:3"
        );
        assert_eq!(family_of("app:3"), "app");
        assert_eq!(revision_number("app:3"), Some(3));
        assert_eq!(
            revision_of("arn:aws:ecs:us-east-1:1:task-definition/app:96"),
            "96"
        );
    }
}
