//! Redaction of secret strings (tokens in verify headers) from anything shown.

/// Replaces every occurrence of known secret strings with `<redacted>`.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        // A header such as `Bearer <token>`: also hide the token alone, wherever it is echoed.
        let parts: Vec<String> = secrets
            .iter()
            .flat_map(|s| {
                s.split_whitespace()
                    .filter(|p| p.len() >= 8)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        secrets.extend(parts);
        // Longest first, so that a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "<redacted>");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_whole_headers_and_their_tokens() {
        let r = Redactor::new(["Bearer s3cr3t-token-value".to_string()]);
        assert_eq!(r.apply("got Bearer s3cr3t-token-value"), "got <redacted>");
        assert_eq!(r.apply("echo: s3cr3t-token-value!"), "echo: <redacted>!");
        assert!(!format!("{r:?}").contains("s3cr3t"));
    }
}
