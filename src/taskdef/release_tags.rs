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

/// Whether the tags say the revision is this release: its content, digest and version.
pub fn same_release(tags: &ReleaseTags, content: &str, digest: &str, version: &str) -> bool {
    let tag = |k: &str| tags.get(k).map(String::as_str);
    tag(CONTENT) == Some(content) && tag(DIGEST) == Some(digest) && tag(VERSION) == Some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

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
