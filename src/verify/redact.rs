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

/// A URL as shown to people: credentials (`user:password@`) and query values hidden.
pub fn display_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let path = match path.split_once('?') {
        Some((p, q)) => {
            let hidden: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) => format!("{k}=…"),
                    None => kv.to_string(),
                })
                .collect();
            format!("{p}?{}", hidden.join("&"))
        }
        None => path.to_string(),
    };
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

/// The parts of a URL that can be secret: the userinfo password and query values.
pub fn url_secrets(url: &str) -> Vec<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let mut out = Vec::new();
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        out.extend(userinfo.split_once(':').map(|(_, p)| p.to_string()));
    }
    if let Some((_, q)) = rest.split_once('?') {
        out.extend(
            q.split('&')
                .filter_map(|kv| kv.split_once('=').map(|(_, v)| v.to_string())),
        );
    }
    out.retain(|s| s.len() >= 4);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_and_query_values() {
        let u = "http://admin:SuperSecretPw123@127.0.0.1:9/mcp?token=abcd1234&x=1";
        assert_eq!(display_url(u), "http://127.0.0.1:9/mcp?token=…&x=…");
        assert_eq!(url_secrets(u), vec!["SuperSecretPw123", "abcd1234"]);
        assert_eq!(display_url("https://h.io/a"), "https://h.io/a");
    }

    #[test]
    fn hides_whole_headers_and_their_tokens() {
        let r = Redactor::new(["Bearer s3cr3t-token-value".to_string()]);
        assert_eq!(r.apply("got Bearer s3cr3t-token-value"), "got <redacted>");
        assert_eq!(r.apply("echo: s3cr3t-token-value!"), "echo: <redacted>!");
        assert!(!format!("{r:?}").contains("s3cr3t"));
    }
}
