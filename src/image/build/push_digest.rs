//! The digest a push reports: docker prints `TAG: digest: sha256:… size: N` as its last
//! line; podman and buildah write it to the file given with `--digestfile`.

use crate::image::reference::is_digest;

/// The digest a `push` of `tag` printed, from its stdout lines.
pub fn parse(lines: &[String], tag: &str) -> Option<String> {
    let prefix = format!("{tag}: digest: ");
    lines.iter().rev().find_map(|line| {
        let rest = line.trim().strip_prefix(&prefix)?;
        let digest = rest.split_whitespace().next()?;
        is_digest(digest).then(|| digest.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:fcebee274d5e8b4399da94bc1bf2ad14ea019248fed9934c0a25af45c13441a2";

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn finds_the_tags_digest_line() {
        let out = lines(&format!(
            "The push refers to repository [127.0.0.1:5000/app]\n2727e439990c: Pushed\n1.0.0: digest: {D} size: 524\n"
        ));
        assert_eq!(parse(&out, "1.0.0").as_deref(), Some(D));
        // Another tag's line, a truncated digest, or no line at all: nothing.
        assert_eq!(parse(&out, "latest"), None);
        assert_eq!(
            parse(&lines("1.0.0: digest: sha256:abc size: 1"), "1.0.0"),
            None
        );
        assert_eq!(parse(&[], "1.0.0"), None);
    }

    #[test]
    fn a_tag_that_is_a_suffix_of_another_does_not_match() {
        let out = lines(&format!("11.0.0: digest: {D} size: 524"));
        assert_eq!(parse(&out, "1.0.0"), None);
    }
}
