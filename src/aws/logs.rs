//! CloudWatch Logs: the last lines of a log stream (GetLogEvents, newest last), for a failed
//! task's containers. Read-only; a missing stream or a denied read is a reason, never an error
//! that changes the release's outcome.

use aws_config::SdkConfig;

/// The last `limit` messages of `group/stream` (in `region` when given), oldest first.
pub async fn last_lines(
    config: &SdkConfig,
    region: Option<&str>,
    group: &str,
    stream: &str,
    limit: i32,
) -> Result<Vec<String>, String> {
    let mut conf = aws_sdk_cloudwatchlogs::config::Builder::from(config);
    if let Some(r) = region {
        conf = conf.region(aws_config::Region::new(r.to_string()));
    }
    let client = aws_sdk_cloudwatchlogs::Client::from_conf(conf.build());
    let answer = client
        .get_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .start_from_head(false)
        .limit(limit)
        .send()
        .await
        .map_err(|e| format!("GetLogEvents {group} {stream}: {}", super::describe(&e)))?;
    Ok(answer
        .events()
        .iter()
        .filter_map(|e| e.message())
        .map(|m| m.trim_end_matches(['\n', '\r']).to_string())
        .collect())
}
