//! HTTP checks of verify: one request per attempt, retried with backoff; everything shown
//! passes through the redactor.

use std::time::Duration;

use reqwest::Method;

use super::expect::evaluate;
use super::redact::Redactor;
use crate::plan::HttpCheck;

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
    let shown_url = super::redact::display_url(&check.url);
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
                    first_lines(&body)
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

/// The first 5 lines of a body, at most 300 characters.
fn first_lines(body: &str) -> String {
    let text: String = body.lines().take(5).collect::<Vec<_>>().join(" ⏎ ");
    let mut cut: String = text.chars().take(300).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    if cut.is_empty() {
        "(empty)".into()
    } else {
        cut
    }
}
