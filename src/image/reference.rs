//! Image references: `host/path:tag`, `host/path@sha256:…` and `host/path:tag@sha256:…`.

use std::fmt;

/// A parsed image reference. The registry host is always explicit (release deploys to
/// private registries; Docker Hub short names are not supported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host, with port if any: `850787717197.dkr.ecr.us-east-1.amazonaws.com`, `127.0.0.1:5000`.
    pub host: String,
    /// Repository path inside the registry: `quiltdata/catalog`.
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(text: &str) -> Result<ImageRef, String> {
        let bad = |why: &str| format!("`{text}` is not an image reference: {why}");
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) => {
                if !is_digest(d) {
                    return Err(bad(
                        "the digest must be sha256: followed by 64 lowercase hex digits",
                    ));
                }
                (r, Some(d.to_string()))
            }
            None => (text, None),
        };
        let (host, path_tag) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected registry-host/repository"))?;
        if host.is_empty() || !(host.contains('.') || host.contains(':') || host == "localhost") {
            return Err(bad("the first part must be a registry host"));
        }
        let (path, tag) = match path_tag.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p, Some(t.to_string())),
            _ => (path_tag, None),
        };
        if path.is_empty()
            || !path
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c))
        {
            return Err(bad(
                "the repository name must be lowercase letters, digits, '.', '_', '-' and '/'",
            ));
        }
        if tag.as_deref() == Some("") {
            return Err(bad("empty tag"));
        }
        if tag.is_none() && digest.is_none() {
            return Err(bad("give a tag (repo:tag) or a digest (repo@sha256:…)"));
        }
        Ok(ImageRef {
            host: host.to_string(),
            path: path.to_string(),
            tag,
            digest,
        })
    }

    /// `host/path`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.host, self.path)
    }

    /// `host/path@digest` for a given digest.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{}", self.repository(), digest)
    }

    /// What to ask the registry for: the digest when known, else the tag.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `sha256:` followed by exactly 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_the_three_forms() {
        let r = ImageRef::parse("127.0.0.1:5000/app:1.0.0").unwrap();
        assert_eq!(
            (r.host.as_str(), r.path.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "app", Some("1.0.0"))
        );
        let r = ImageRef::parse(&format!(
            "1.dkr.ecr.us-east-1.amazonaws.com/quiltdata/catalog@{D}"
        ))
        .unwrap();
        assert_eq!(r.path, "quiltdata/catalog");
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.reference(), D);
        let r = ImageRef::parse(&format!("h.io/a/b:1.64.1a9@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1.64.1a9"));
        assert_eq!(r.to_string(), format!("h.io/a/b:1.64.1a9@{D}"));
        assert_eq!(r.pinned(D), format!("h.io/a/b@{D}"));
    }

    #[test]
    fn refuses_ambiguous_or_broken_refs() {
        for bad in [
            "app:1",
            "h.io/app",
            "h.io/app@sha256:12",
            "h.io/App:1",
            "h.io/app:",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }
}
