//! ECR tag mutability: which of the plan's tags a push may overwrite.
//!
//! ECR's DescribeRepositories gives each repository's `imageTagMutability` (MUTABLE, IMMUTABLE,
//! IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION) and its `imageTagMutabilityExclusionFilters`
//! (API reference "DescribeRepositories" and "Repository",
//! <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeRepositories.html>,
//! <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_Repository.html>; "ImageTagMutabilityExclusionFilter",
//! <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageTagMutabilityExclusionFilter.html>:
//! type WILDCARD, value `[0-9a-zA-Z._*-]{1,128}`). With tag immutability on, a push of a tag that is
//! already in the repository fails with ImageTagAlreadyExistsException (user guide "Preventing image
//! tags from being overwritten in Amazon ECR",
//! <https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html>).
//!
//! Sandbox assumption, as no page states it: a WILDCARD filter matches the whole tag, `*` standing
//! for any run of characters (possibly empty).

/// A repository's tag mutability as DescribeRepositories reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagMutability {
    /// `imageTagMutability`; an absent value is MUTABLE (the API's default).
    pub setting: String,
    /// `imageTagMutabilityExclusionFilters` as (filterType, filter).
    pub exclusions: Vec<(String, String)>,
}

impl TagMutability {
    /// Whether a push may not overwrite `tag` once it exists. IMMUTABLE: every tag;
    /// IMMUTABLE_WITH_EXCLUSION: every tag but those an exclusion filter matches;
    /// MUTABLE_WITH_EXCLUSION: only those a filter matches. A filter of a type other than
    /// WILDCARD, or a setting this version does not know, counts as immutable: a skipped tag
    /// costs a moving tag, a refused push costs the release.
    pub fn is_immutable(&self, tag: &str) -> bool {
        let unknown_filter = self.exclusions.iter().any(|(t, _)| t != "WILDCARD");
        let matched = self
            .exclusions
            .iter()
            .any(|(t, f)| t == "WILDCARD" && wildcard(f, tag));
        match self.setting.as_str() {
            "MUTABLE" => false,
            "IMMUTABLE" => true,
            "IMMUTABLE_WITH_EXCLUSION" => unknown_filter || !matched,
            "MUTABLE_WITH_EXCLUSION" => unknown_filter || matched,
            _ => true,
        }
    }

    /// `IMMUTABLE`, or `IMMUTABLE_WITH_EXCLUSION (exclusions: latest*, dev-*)`.
    pub fn describe(&self) -> String {
        if self.exclusions.is_empty() {
            if self.setting.ends_with("_WITH_EXCLUSION") {
                // The setting says there are filters and the answer lists none: every tag is
                // treated as the base setting says, and the text says so.
                return format!(
                    "{} (no exclusion filters in the answer: treated as {} for every tag)",
                    self.setting,
                    if self.setting.starts_with("IMMUTABLE") {
                        "IMMUTABLE"
                    } else {
                        "MUTABLE"
                    }
                );
            }
            return self.setting.clone();
        }
        let filters: Vec<String> = self
            .exclusions
            .iter()
            .map(|(t, f)| {
                if t == "WILDCARD" {
                    f.clone()
                } else {
                    format!("{f} ({t})")
                }
            })
            .collect();
        format!("{} (exclusions: {})", self.setting, filters.join(", "))
    }
}

/// A WILDCARD filter against a whole tag: `*` is any run of characters, the rest literal.
pub fn wildcard(pattern: &str, tag: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == tag;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if tag.len() < first.len() + last.len() || !tag.starts_with(first) || !tag.ends_with(last) {
        return false;
    }
    let mut rest = &tag[first.len()..tag.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The key of the one warning a run gives about a repository's tag mutability (preflight's
/// check, or the build's when no preflight ran).
pub fn warning_key(repository: &str) -> String {
    format!("tag-mutability:{repository}")
}

/// The plan's tags split into those pushed and those left out because the repository will not
/// let them move: the version's tag (the first) is always pushed, as a release needs it; the
/// others (`latest`) are left out when immutable.
pub fn tags_to_push<'a>(
    tags: &'a [String],
    mutability: Option<&TagMutability>,
) -> (Vec<&'a String>, Vec<&'a String>) {
    let mut push = Vec::new();
    let mut skip = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        if i > 0 && mutability.is_some_and(|m| m.is_immutable(tag)) {
            skip.push(tag);
        } else {
            push.push(tag);
        }
    }
    (push, skip)
}

#[cfg(test)]
impl TagMutability {
    /// A repository's setting with WILDCARD exclusion filters, as DescribeRepositories
    /// reports them.
    pub fn with_wildcards(setting: &str, filters: &[&str]) -> TagMutability {
        TagMutability {
            setting: setting.into(),
            exclusions: filters
                .iter()
                .map(|f| ("WILDCARD".to_string(), f.to_string()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(setting: &str, filters: &[&str]) -> TagMutability {
        TagMutability::with_wildcards(setting, filters)
    }

    #[test]
    fn wildcards_match_the_whole_tag() {
        assert!(wildcard("latest", "latest"));
        assert!(!wildcard("latest", "latest2"));
        assert!(wildcard("latest*", "latest") && wildcard("latest*", "latest-x"));
        assert!(!wildcard("latest*", "x-latest"));
        assert!(wildcard("*-rc*", "1.0.0-rc.1") && !wildcard("*-rc*", "1.0.0"));
        assert!(
            wildcard("a*b*c", "abc") && wildcard("a*b*c", "a-b-c") && !wildcard("a*b*c", "acb")
        );
        assert!(wildcard("*", "anything") && wildcard("*", ""));
        assert!(
            !wildcard("ab*ba", "aba"),
            "prefix and suffix may not overlap"
        );
        assert!(!wildcard("a.b", "axb"), "`.` is literal");
    }

    #[test]
    fn each_setting_decides_which_tags_are_immutable() {
        assert!(!m("MUTABLE", &[]).is_immutable("latest"));
        assert!(m("IMMUTABLE", &["latest"]).is_immutable("latest"));
        let iwe = m("IMMUTABLE_WITH_EXCLUSION", &["latest*"]);
        assert!(!iwe.is_immutable("latest") && iwe.is_immutable("1.2.3"));
        let mwe = m("MUTABLE_WITH_EXCLUSION", &["v*"]);
        assert!(mwe.is_immutable("v1") && !mwe.is_immutable("latest"));
        // Without its filters an _WITH_EXCLUSION setting is its base setting, and says so.
        assert!(m("IMMUTABLE_WITH_EXCLUSION", &[]).is_immutable("latest"));
        assert!(m("IMMUTABLE_WITH_EXCLUSION", &[])
            .describe()
            .contains("treated as IMMUTABLE"));
        // Unknown settings and filter types are treated as immutable.
        assert!(m("SOMETHING_NEW", &[]).is_immutable("latest"));
        let odd = TagMutability {
            setting: "IMMUTABLE_WITH_EXCLUSION".into(),
            exclusions: vec![("REGEX".into(), "latest".into())],
        };
        assert!(odd.is_immutable("latest"));
        assert_eq!(
            iwe.describe(),
            "IMMUTABLE_WITH_EXCLUSION (exclusions: latest*)"
        );
    }

    #[test]
    fn the_version_tag_is_always_pushed_and_immutable_others_are_not() {
        let tags: Vec<String> = vec!["1.2.3".into(), "latest".into(), "stable".into()];
        let (push, skip) = tags_to_push(&tags, Some(&m("IMMUTABLE", &[])));
        assert_eq!((push, skip), (vec![&tags[0]], vec![&tags[1], &tags[2]]));
        let (push, skip) = tags_to_push(&tags, Some(&m("IMMUTABLE_WITH_EXCLUSION", &["latest"])));
        assert_eq!((push, skip), (vec![&tags[0], &tags[1]], vec![&tags[2]]));
        let (push, skip) = tags_to_push(&tags, None);
        assert_eq!(push.len(), 3);
        assert!(skip.is_empty());
    }
}
