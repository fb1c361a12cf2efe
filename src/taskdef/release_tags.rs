//! The `release:*` tags: what release records on each task-definition revision it registers
//! (RegisterTaskDefinition `tags`; ECS API reference, "Tag"), read back by diff, deploy,
//! verify, rollback and history. Their keys are named here, once, and read and written only
//! through this module.
//!
//! - `release:version`: the plan's release version;
//! - `release:digest`: the image digest the revision pins;
//! - `release:plan`: sha256 of the plan file;
//! - `release:content`: sha256 of the rendered request, before these tags;
//! - `release:previous`: the task-definition ARN that ran before this revision was deployed
//!   (what `release rollback` without `--to` returns to).

use std::collections::BTreeMap;

use aws_sdk_ecs::types::Tag;

/// What every key of release's starts with.
pub const PREFIX: &str = "release:";
pub const VERSION: &str = "release:version";
pub const DIGEST: &str = "release:digest";
pub const PLAN: &str = "release:plan";
pub const CONTENT: &str = "release:content";
pub const PREVIOUS: &str = "release:previous";

/// The `release:*` tags of a revision, by key.
pub type ReleaseTags = BTreeMap<String, String>;

/// Whether a tag key is one of release's.
pub fn is_release_tag(key: &str) -> bool {
    key.starts_with(PREFIX)
}

/// The `release:*` tags among a revision's tags (a tag without a key or value is skipped:
/// both are optional in the SDK's `Tag`).
pub fn read(tags: &[Tag]) -> ReleaseTags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .filter(|(k, _)| is_release_tag(k))
        .collect()
}

/// The tags a release registers its revision with (`release:previous` is added by deploy,
/// which knows what runs).
pub fn written(version: &str, digest: &str, plan_sha256: &str, content: &str) -> Vec<Tag> {
    [
        (VERSION, version),
        (DIGEST, digest),
        (PLAN, plan_sha256),
        (CONTENT, content),
    ]
    .into_iter()
    .map(|(k, v)| Tag::builder().key(k).value(v).build())
    .collect()
}

/// The tags a revision carries after TagResource wrote `written` and UntagResource removed
/// `removed`: what a read shows once it is consistent. TagResource leaves the tags it is not
/// given unchanged and gives a key it is given the new value (ECS API reference,
/// TagResource: "If existing tags on a resource aren't specified in the request parameters,
/// they aren't changed").
pub fn after_tagging(existing: &[Tag], written: &[(String, String)], removed: &[&str]) -> Vec<Tag> {
    let mut tags: Vec<Tag> = existing
        .iter()
        .filter(|t| {
            t.key()
                .is_some_and(|k| !removed.contains(&k) && !written.iter().any(|(w, _)| w == k))
        })
        .cloned()
        .collect();
    tags.extend(
        written
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build()),
    );
    tags
}

/// Whether the tags say the revision is this release: its content, digest and version.
pub fn same_release(tags: &ReleaseTags, content: &str, digest: &str, version: &str) -> bool {
    let tag = |k: &str| tags.get(k).map(String::as_str);
    tag(CONTENT) == Some(content) && tag(DIGEST) == Some(digest) && tag(VERSION) == Some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_tagging_keeps_other_tags_replaces_written_keys_and_drops_removed_ones() {
        let existing = vec![
            Tag::builder().key("team").value("sales").build(),
            Tag::builder().key(VERSION).value("0.9.0").build(),
            Tag::builder().key(PREVIOUS).value("arn:old").build(),
        ];
        let written = vec![(VERSION.to_string(), "1.0.0".to_string())];
        let after = read(&after_tagging(&existing, &written, &[PREVIOUS]));
        assert_eq!(after.get(VERSION).map(String::as_str), Some("1.0.0"));
        assert!(!after.contains_key(PREVIOUS));
        let all = after_tagging(&existing, &written, &[PREVIOUS]);
        assert!(all.iter().any(|t| t.key() == Some("team")));
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn written_tags_read_back_as_the_same_release() {
        let mut tags = written("1.2.0", "sha256:aa", "p1", "c1");
        tags.push(Tag::builder().key("team").value("sales").build());
        tags.push(Tag::builder().key(PREVIOUS).build());
        let read = read(&tags);
        assert_eq!(read.len(), 4, "{read:?}");
        assert!(same_release(&read, "c1", "sha256:aa", "1.2.0"));
        assert!(!same_release(&read, "c2", "sha256:aa", "1.2.0"));
        assert!(!same_release(&read, "c1", "sha256:bb", "1.2.0"));
        assert!(!same_release(&read, "c1", "sha256:aa", "1.3.0"));
        assert!(!is_release_tag("team"));
    }
}
