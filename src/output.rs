//! How `release` talks to people and machines.
//!
//! Three modes: a live indicatif display when stderr is a terminal; plain timestamped lines
//! (no control characters) when it is not, as in CI; and `--output json`, one JSON object
//! per line (NDJSON) on stdout, with the human log beside it as plain lines on stderr
//! (`--log-format none` drops it). Human output goes to stderr so that stdout carries only
//! results meant for programs (rendered JSON, a digest, NDJSON).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Terminal,
    Plain,
    Json,
}

pub struct Output {
    mode: Mode,
    verbose: bool,
    /// `--quiet`: in text modes only warnings, errors and summary/result lines.
    quiet: bool,
    /// ANSI colour of status words (terminal mode only).
    color: bool,
    bar: Mutex<Option<(ProgressBar, Option<Live>)>>,
    /// Set when running in GitHub Actions (`GITHUB_ACTIONS=true`).
    github: Option<crate::github::GitHub>,
    /// JSON mode: also write the human log, as plain lines, on stderr (`--log-format`).
    log_stderr: bool,
}

/// Record kinds `--quiet` keeps: warnings, errors, failures and the final summary and
/// result lines (`status` and `history` are results themselves).
const QUIET_KINDS: &[&str] = &[
    "warning",
    "error",
    "failed",
    "interrupted",
    "summary",
    "unchanged",
    "verify_summary",
    "result",
    "change",
    "diff",
    "service",
    "deployment",
    "revision",
];

/// What the live line shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Live {
    Bar,
    Spinner,
}

impl Output {
    /// `json` selects NDJSON; otherwise the terminal display when stderr is a terminal.
    pub fn new(json: bool, verbose: bool) -> Output {
        let mode = if json {
            Mode::Json
        } else if std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_some_and(|t| t != "dumb")
        {
            Mode::Terminal
        } else {
            Mode::Plain
        };
        Output {
            mode,
            verbose,
            quiet: false,
            color: false,
            bar: Mutex::new(None),
            github: crate::github::GitHub::from_env(),
            log_stderr: mode == Mode::Json,
        }
    }

    /// `--log-format`: in JSON mode, the human log on stderr (plain) or not at all (none).
    pub fn log_format(mut self, format: crate::cli::LogFormat) -> Output {
        self.log_stderr = self.mode == Mode::Json && format == crate::cli::LogFormat::Plain;
        self
    }

    /// `--quiet` and `--color`: colour only on a terminal, never with `--color never`, and
    /// with `auto` not when `NO_COLOR` is set (to anything but the empty string).
    pub fn configure(mut self, quiet: bool, color: crate::cli::ColorChoice) -> Output {
        use crate::cli::ColorChoice;
        self.quiet = quiet;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        self.color = self.mode == Mode::Terminal
            && match color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => !no_color,
            };
        self
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether terminal output is coloured (`--color`, `NO_COLOR`; never off a terminal).
    pub fn color(&self) -> bool {
        self.color
    }

    /// A human line; in JSON mode an object `{"event": kind, "message": …, …fields}`.
    pub fn line(&self, kind: &str, message: &str, fields: Value) {
        let annotation = self
            .github
            .as_ref()
            .and_then(|g| g.observe(kind, message, &fields));
        let human = !self.quiet || shown_when_quiet(kind, &fields);
        if self.mode == Mode::Json && self.log_stderr && human {
            self.stderr_line(&format!("{} {}", now_rfc3339(), message));
        }
        if self.mode == Mode::Json || human {
            self.show(kind, message, fields);
        }
        if let Some(a) = annotation {
            self.stderr_line(&a);
        }
    }

    fn show(&self, kind: &str, message: &str, fields: Value) {
        match self.mode {
            Mode::Json => {
                let mut obj =
                    json!({ "ts": now_rfc3339_millis(), "event": kind, "message": message });
                if let (Some(o), Value::Object(extra)) = (obj.as_object_mut(), fields) {
                    o.extend(extra);
                }
                self.stdout_line(&obj.to_string());
            }
            Mode::Plain => self.stderr_line(&format!("{} {}", now_rfc3339(), message)),
            Mode::Terminal if self.color => self.stderr_line(&colorize(message)),
            Mode::Terminal => self.stderr_line(message),
        }
    }

    /// In GitHub Actions, opens a collapsible group in the log (the build's output).
    pub fn group(&self, title: &str) {
        if self.github.is_some() {
            self.stderr_line(&crate::github::group(title));
        }
    }

    /// Closes the group [`Output::group`] opened.
    pub fn end_group(&self) {
        if self.github.is_some() {
            self.stderr_line(crate::github::END_GROUP);
        }
    }

    /// After a command: in GitHub Actions, a deploy's step outputs and step summary.
    pub fn finish(&self, deploy: bool, code: i32) {
        if let (true, Some(g)) = (deploy, &self.github) {
            if let Err(e) = g.finish_deploy(code) {
                self.warn(&format!(
                    "cannot write $GITHUB_OUTPUT or $GITHUB_STEP_SUMMARY: {e}"
                ));
            }
        }
    }

    /// A step of the command ("registering revision …").
    pub fn step(&self, message: &str) {
        crate::interrupt::step(message);
        let text = match self.mode {
            Mode::Terminal => format!("==> {message}"),
            _ => message.to_string(),
        };
        self.line("step", &text, json!({}));
    }

    pub fn info(&self, message: &str) {
        self.line("info", message, json!({}));
    }

    pub fn warn(&self, message: &str) {
        self.line("warning", &format!("warning: {message}"), json!({}));
    }

    /// Only with `--verbose`.
    pub fn debug(&self, message: &str) {
        if self.verbose {
            self.line("debug", message, json!({}));
        }
    }

    /// A structured record: printed as `message` for people, as the object for machines.
    pub fn record(&self, kind: &str, message: &str, fields: Value) {
        self.line(kind, message, fields);
    }

    /// Shows (or updates) the live bar on a terminal. `position/length` are running/desired.
    pub fn bar(&self, position: u64, length: u64, message: &str) {
        if self.mode != Mode::Terminal {
            return;
        }
        let bar = self.live(Live::Bar);
        bar.set_length(length);
        bar.set_position(position);
        bar.set_message(message.to_string());
    }

    /// A spinner for a wait with no count (terminal only).
    pub fn spinner(&self, message: &str) {
        if self.mode != Mode::Terminal {
            return;
        }
        self.live(Live::Spinner).set_message(message.to_string());
    }

    /// The live line, restyled when it changes between spinner and bar.
    fn live(&self, kind: Live) -> ProgressBar {
        let mut guard = self.bar.lock().unwrap();
        let (bar, current) = guard.get_or_insert_with(|| {
            let b = ProgressBar::new(0);
            b.enable_steady_tick(Duration::from_millis(120));
            (b, None)
        });
        if *current != Some(kind) {
            let template = match kind {
                Live::Bar => "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                Live::Spinner => "{spinner} [{elapsed_precise}] {msg}",
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("a valid template")
                    .progress_chars("##-"),
            );
            *current = Some(kind);
        }
        bar.clone()
    }

    /// Removes the live bar or spinner.
    pub fn clear_bar(&self) {
        if let Some((b, _)) = self.bar.lock().unwrap().take() {
            b.finish_and_clear();
        }
    }

    fn stderr_line(&self, text: &str) {
        let guard = self.bar.lock().unwrap();
        match guard.as_ref() {
            Some((bar, _)) => bar.println(text),
            None => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }

    fn stdout_line(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// Writes a result for programs to stdout (rendered JSON, a digest).
    pub fn result(&self, text: &str) {
        self.stdout_line(text);
    }
}

/// Whether `--quiet` still prints a record: warnings, errors, summaries and results, and
/// failed or warning checks.
fn shown_when_quiet(kind: &str, fields: &Value) -> bool {
    match kind {
        "check" => matches!(
            fields.get("status").and_then(Value::as_str),
            Some("failed" | "warning")
        ),
        "verify_check" => fields.get("passed").and_then(Value::as_bool) == Some(false),
        _ => QUIET_KINDS.contains(&kind),
    }
}

const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const RESET: &str = "\x1b[0m";

/// Colours the status word a line starts with (after indentation or `==> `): failed and
/// error red, warning yellow, passed green.
fn colorize(message: &str) -> String {
    let body = message.trim_start_matches([' ', '=', '>']);
    let indent = &message[..message.len() - body.len()];
    let word_end = body
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(body.len());
    let color = match &body[..word_end] {
        "failed" | "FAIL" | "error" => RED,
        "warning" => YELLOW,
        "passed" | "PASS" => GREEN,
        _ => return message.to_string(),
    };
    format!(
        "{indent}{color}{}{RESET}{}",
        &body[..word_end],
        &body[word_end..]
    )
}

/// Now as RFC 3339 UTC with seconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Now as RFC 3339 UTC with milliseconds (NDJSON records).
pub fn now_rfc3339_millis() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Epoch seconds as RFC 3339 UTC with seconds.
pub fn epoch_rfc3339(secs: f64) -> String {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs.max(0.0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Epoch seconds as RFC 3339 UTC with milliseconds.
pub fn epoch_rfc3339_millis(secs: f64) -> String {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs.max(0.0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// `1m 05s` style for summaries.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_the_status_word_only() {
        assert_eq!(
            colorize("failed  secret /x: bad"),
            "\x1b[31mfailed\x1b[0m  secret /x: bad"
        );
        assert_eq!(
            colorize("  PASS  running"),
            "  \x1b[32mPASS\x1b[0m  running"
        );
        assert_eq!(colorize("warning: x"), "\x1b[33mwarning\x1b[0m: x");
        assert_eq!(colorize("registered app:2"), "registered app:2");
        assert_eq!(colorize(""), "");
    }

    #[test]
    fn quiet_keeps_warnings_errors_and_results() {
        assert!(shown_when_quiet("summary", &json!({})));
        assert!(shown_when_quiet("warning", &json!({})));
        assert!(shown_when_quiet("check", &json!({"status": "failed"})));
        assert!(!shown_when_quiet("check", &json!({"status": "passed"})));
        assert!(!shown_when_quiet("progress", &json!({})));
        assert!(!shown_when_quiet("step", &json!({})));
        assert!(!shown_when_quiet("info", &json!({})));
    }
}
