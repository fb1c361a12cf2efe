//! HTTP checks of verify: one request per attempt, retried with backoff; everything shown
//! passes through the redactor, a body whole before it is cut.

use std::time::Duration;

use reqwest::Method;

use super::expect::evaluate;
use crate::plan::HttpCheck;
use crate::redact::{Redactor, CUT_MARKER};

/// Ok(detail) when the expectations hold on some attempt; Err(detail) with the last status,
/// the first lines of the body and the failed expectations otherwise.
pub async fn run(check: &HttpCheck, redactor: &Redactor) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(check.timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let method = Method::from_bytes(check.method.as_bytes())
        .map_err(|e| format!("method {}: {e}", check.method))?;
    let attempts = check.retries + 1;
    let shown_url = crate::redact::display_url(&check.url);
    let mut last = String::new();
    for attempt in 1..=attempts {
        if attempt > 1 {
            let wait = Duration::from_secs(1 << (attempt - 2).min(3)).min(Duration::from_secs(8));
            tokio::time::sleep(wait).await;
        }
        let mut req = client.request(method.clone(), &check.url);
        for (k, v, _) in &check.headers {
            req = req.header(k, v);
        }
        if let Some(b) = &check.body {
            req = req.body(b.clone());
        }
        match req.send().await {
            Err(e) => last = format!("{} {}: {}", check.method, shown_url, e.without_url()),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                let failed = evaluate(&check.expect, status, &body);
                if failed.is_empty() {
                    let tries = if attempt > 1 {
                        format!(" (attempt {attempt})")
                    } else {
                        String::new()
                    };
                    return Ok(redactor.apply(&format!(
                        "{} {} -> {status}{tries}",
                        check.method, shown_url
                    )));
                }
                last = format!(
                    "{} {} -> {status}: {}; body: {}",
                    check.method,
                    shown_url,
                    failed.join("; "),
                    first_lines(redactor, &body)
                );
            }
        }
    }
    let tries = if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    };
    Err(redactor.apply(&format!("{last}{tries}")))
}

/// The first 5 lines of a body, at most 300 characters, redacted: the whole body is redacted
/// before anything is cut, so a secret the cut would split is hidden whole (a cut made first
/// left 12 characters of a token in the output).
fn first_lines(redactor: &Redactor, body: &str) -> String {
    let redacted = redactor.apply(body);
    let mut lines = redacted.lines();
    let text = lines.by_ref().take(5).collect::<Vec<_>>().join(" ⏎ ");
    let more = lines.next().is_some();
    // Joining lines could only make a secret that spans " ⏎ "; redact once more, then cut.
    let mut shown = redactor.apply_then_cut(&text, 300);
    if more && !shown.ends_with(CUT_MARKER) {
        shown.push_str(CUT_MARKER);
    }
    if shown.is_empty() {
        "(empty)".into()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_redacted_whole_then_cut() {
        let token = "s3cr3t/t0ken+value-0123456789";
        let r = Redactor::new([format!("Bearer {token}")]);
        // The cut at 300 characters falls inside the echoed, JSON-escaped token.
        let body = format!(
            r#"{{"pad":"{}","echo":"Bearer {}","more":"{}"}}"#,
            "x".repeat(270),
            token.replace('/', "\\/"),
            "y".repeat(100)
        );
        assert!(body.chars().nth(300).is_some() && body[..300].contains("Bearer s3cr"));
        let shown = first_lines(&r, &body);
        assert!(shown.ends_with(CUT_MARKER), "{shown}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("Bearer"),
            "{shown}"
        );
        assert_eq!(first_lines(&r, ""), "(empty)");
        let long = "a\nb\nc\nd\ne\nf";
        assert_eq!(
            first_lines(&r, long),
            format!("a ⏎ b ⏎ c ⏎ d ⏎ e{CUT_MARKER}")
        );
        assert_eq!(first_lines(&r, "ok"), "ok");
    }
}
