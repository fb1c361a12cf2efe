//! How `release` talks to people and machines.
//!
//! Three modes: a live indicatif display when stderr is a terminal; plain timestamped lines
//! (no control characters) when it is not, as in CI; and `--output json`, one JSON object
//! per line (NDJSON) on stdout, with the human log beside it as plain lines on stderr
//! (`--log-format none` drops it). Human output goes to stderr so that stdout carries only
//! results meant for programs (rendered JSON, a digest, NDJSON).

pub mod event;
pub mod reporter;

use std::collections::HashSet;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

pub use event::Event;
use reporter::{Live, Reporter};

/// Which reporter runs (chosen once, from `--output` and whether stderr is a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Terminal,
    Plain,
    Json,
}

/// Where a command runs, for its summary record.
#[derive(Debug, Clone, Default)]
struct Context {
    command: String,
    cluster: Option<String>,
    service: Option<String>,
    region: Option<String>,
}

/// The one way commands and the core report: events in, a reporter decides what shows.
pub struct Output {
    mode: Mode,
    verbose: bool,
    /// `--quiet`: in text modes only warnings, errors and summary/result lines.
    quiet: bool,
    /// ANSI colour of status words (terminal mode only).
    color: bool,
    /// `--log-format`: JSON mode also writes the human log on stderr.
    log_stderr: bool,
    reporter: Box<dyn Reporter>,
    /// Set when running in GitHub Actions (`GITHUB_ACTIONS=true`).
    github: Option<crate::github::GitHub>,
    context: Mutex<Context>,
    /// ECS event ids already in the stream: each at most once, across watches.
    seen_events: Mutex<HashSet<String>>,
    /// Keys of warnings given once per run (`warn_once`), by preflight or the build.
    warned: Mutex<HashSet<String>>,
}

/// Whether this process wrote its summary: every stream ends with exactly one, even when a
/// signal arrives after the command wrote its own (the signal path's Output is another value).
static SUMMARISED: AtomicBool = AtomicBool::new(false);

/// Record kinds `--quiet` keeps: warnings, errors, failures and the final summary and
/// result lines (`status` and `history` are results themselves).
const QUIET_KINDS: &[&str] = &[
    "warning",
    "error",
    "failed",
    "task_log",
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

/// A check's line for people, its `check` record (with its stage) for machines.
impl crate::check::CheckReporter for Output {
    fn check(&self, stage: crate::check::Stage, check: &crate::check::CheckResult) {
        self.emit(
            &check.line(),
            Event::Check {
                stage,
                check: check.name.clone(),
                status: check.status,
                detail: check.detail.clone(),
            },
        );
    }
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
        let mut out = Output {
            mode,
            verbose,
            quiet: false,
            color: false,
            log_stderr: mode == Mode::Json,
            reporter: Box::new(reporter::Plain),
            github: crate::github::GitHub::from_env(),
            context: Mutex::new(Context::default()),
            seen_events: Mutex::new(HashSet::new()),
            warned: Mutex::new(HashSet::new()),
        };
        out.reporter = out.make_reporter();
        out
    }

    fn make_reporter(&self) -> Box<dyn Reporter> {
        match self.mode {
            Mode::Terminal => Box::new(reporter::Terminal::new(self.color)),
            Mode::Plain => Box::new(reporter::Plain),
            Mode::Json => Box::new(reporter::Json {
                log: self.log_stderr.then_some(reporter::Plain),
            }),
        }
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
        self.reporter = self.make_reporter();
        self
    }

    /// `--log-format`: in JSON mode, the human log on stderr (plain) or not at all (none).
    pub fn log_format(mut self, format: crate::cli::LogFormat) -> Output {
        self.log_stderr = self.mode == Mode::Json && format == crate::cli::LogFormat::Plain;
        self.reporter = self.make_reporter();
        self
    }

    /// The command's name, for its summary.
    pub fn set_command(&self, command: &str) {
        let mut c = self.context.lock().unwrap();
        c.command = command.to_string();
        crate::interrupt::target(
            command,
            c.cluster.as_deref(),
            c.service.as_deref(),
            c.region.as_deref(),
        );
    }

    /// Where the command acts, for its summary (once the plan or the flags say).
    pub fn set_target(&self, cluster: &str, service: &str, region: Option<&str>) {
        let mut c = self.context.lock().unwrap();
        c.cluster = Some(cluster.to_string());
        c.service = Some(service.to_string());
        if region.is_some() {
            c.region = region.map(str::to_string);
        }
        crate::interrupt::target(
            &c.command,
            c.cluster.as_deref(),
            c.service.as_deref(),
            c.region.as_deref(),
        );
    }

    /// Whether terminal output is coloured (`--color`, `NO_COLOR`; never off a terminal).
    pub fn color(&self) -> bool {
        self.color
    }

    /// One event and its human line. An ECS service event already in the stream is dropped.
    pub fn emit(&self, message: &str, event: Event) {
        self.emit_as(message, event, true);
    }

    fn emit_as(&self, message: &str, event: Event, for_people: bool) {
        if let Event::ServiceEvent { id, .. } = &event {
            if !self.seen_events.lock().unwrap().insert(id.clone()) {
                return;
            }
        }
        let fields = serde_json::to_value(&event).unwrap_or(Value::Null);
        let kind = event.kind();
        let annotation = self
            .github
            .as_ref()
            .and_then(|g| g.observe(kind, message, &fields));
        let human = for_people && (!self.quiet || shown_when_quiet(kind, &fields));
        self.reporter.event(message, &event, human);
        if let Some(a) = annotation {
            self.reporter.note(&a);
        }
    }

    /// The command's closing record: its human line, exit code, and results (a JSON object
    /// flattened into the record), with the command and where it ran.
    pub fn summary(&self, message: &str, exit_code: i32, results: Value) {
        self.summary_as(message, exit_code, results, true);
    }

    /// After the command: the summary it did not emit itself (an error, a status, a render),
    /// for machines only, so that every stream ends with one; people have seen the result
    /// (`error`: the message of the error that ended it).
    pub fn close(&self, exit_code: i32, seconds: f64, error: Option<&str>) {
        if !SUMMARISED.load(Ordering::SeqCst) {
            let command = self.context.lock().unwrap().command.clone();
            let message = match error {
                Some(e) => e.to_string(),
                None => format!("release {command}: exit {exit_code}"),
            };
            self.summary_as(
                &message,
                exit_code,
                serde_json::json!({ "seconds": seconds }),
                false,
            );
        }
    }

    /// A summary for machines only, where people already read the same line in another
    /// event (an interruption).
    pub fn summary_for_machines(&self, message: &str, exit_code: i32, results: Value) {
        self.summary_as(message, exit_code, results, false);
    }

    fn summary_as(&self, message: &str, exit_code: i32, results: Value, for_people: bool) {
        if SUMMARISED.swap(true, Ordering::SeqCst) {
            // A second summary (a signal after the command's own): people still read it.
            self.reporter.note(message);
            return;
        }
        let c = self.context.lock().unwrap().clone();
        let mut results = match results {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        for key in [
            "command",
            "exit_code",
            "cluster",
            "service",
            "region",
            "event",
            "ts",
            "message",
        ] {
            results.remove(key);
        }
        self.emit_as(
            message,
            Event::Summary(event::Summary {
                command: c.command,
                exit_code,
                cluster: c.cluster,
                service: c.service,
                region: c.region,
                results,
            }),
            for_people,
        );
    }

    /// In GitHub Actions, opens a collapsible group in the log (the build's output).
    pub fn group(&self, title: &str) {
        if self.github.is_some() {
            self.reporter.note(&crate::github::group(title));
        }
    }

    /// Closes the group [`Output::group`] opened.
    pub fn end_group(&self) {
        if self.github.is_some() {
            self.reporter.note(crate::github::END_GROUP);
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
        self.emit(message, Event::Step);
    }

    pub fn info(&self, message: &str) {
        self.emit(message, Event::Info);
    }

    pub fn warn(&self, message: &str) {
        self.emit(&format!("warning: {message}"), Event::Warning);
    }

    /// Records that the warning known as `key` was given (as a preflight check's warning line),
    /// so that `warn_once` with that key does not say it again.
    pub fn mark_warned(&self, key: &str) {
        self.warned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string());
    }

    /// A warning said at most once per run: false (and nothing shown) when `key` was said.
    pub fn warn_once(&self, key: &str, message: &str) -> bool {
        let first = self
            .warned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string());
        if first {
            self.warn(message);
        }
        first
    }

    /// Only with `--verbose`.
    pub fn debug(&self, message: &str) {
        if self.verbose {
            self.emit(message, Event::Debug);
        }
    }

    /// Shows (or updates) the live bar on a terminal. `position/length` are running/desired.
    pub fn bar(&self, position: u64, length: u64, message: &str) {
        self.reporter.live(Live::Bar {
            position,
            length,
            message,
        });
    }

    /// A spinner for a wait with no count (terminal only).
    pub fn spinner(&self, message: &str) {
        self.reporter.live(Live::Spinner(message));
    }

    /// The newest output line of what the spinner waits for (terminal only; not with -q).
    pub fn spinner_detail(&self, line: &str) {
        if !self.quiet {
            self.reporter.live(Live::Detail(line));
        }
    }

    /// Removes the live bar or spinner.
    pub fn clear_bar(&self) {
        self.reporter.clear_live();
    }

    /// During a quiet wait: the last progress line again (plain lines only).
    pub fn heartbeat(&self, line: &str) {
        if !self.quiet {
            self.reporter.heartbeat(line);
        }
    }

    /// A document for people on stdout (a diff); NDJSON carries it in its event instead.
    pub fn document(&self, text: &str) {
        self.reporter.document(text);
    }

    /// The command's result for programs: `text` on stdout (rendered JSON, an image
    /// reference), or with `--output json` the event as one record.
    pub fn result(&self, text: &str, message: &str, event: Event) {
        self.reporter.result(text, message, &event);
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
        "failed" | "error" => RED,
        "warning" => YELLOW,
        "passed" => GREEN,
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

/// `1m 05s` style for summaries (the settlement's, so that both read alike).
pub use crate::rollout::settle::short_duration;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn colours_the_status_word_only() {
        assert_eq!(
            colorize("failed  secret /x: bad"),
            "\x1b[31mfailed\x1b[0m  secret /x: bad"
        );
        assert_eq!(
            colorize("passed  running: 2 tasks"),
            "\x1b[32mpassed\x1b[0m  running: 2 tasks"
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
