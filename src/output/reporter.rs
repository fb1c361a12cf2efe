//! The three ways a command's events reach people and programs, behind one trait: a live
//! indicatif display on a terminal, plain timestamped lines elsewhere (CI), and NDJSON on
//! stdout (with the plain lines beside it on stderr unless `--log-format none`). Commands and
//! the core never ask which one runs: they emit events and the reporter decides what shows.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::event::Event;
use super::{colorize, now_rfc3339, now_rfc3339_millis};

/// What the live line shows (terminal only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live<'a> {
    /// running/desired of our deployment, and what it waits for.
    Bar {
        position: u64,
        length: u64,
        message: &'a str,
    },
    /// A wait with no count.
    Spinner(&'a str),
    /// The newest output line of what the spinner waits for (a build): the last
    /// [`DETAIL_LINES`] are shown under it.
    Detail(&'a str),
}

pub trait Reporter: Send + Sync {
    /// One event and its human line; `human` is false when `--quiet` hides the line (a
    /// machine stream still gets the record).
    fn event(&self, message: &str, event: &Event, human: bool);
    /// A line for people that is no event (GitHub workflow commands): stderr.
    fn note(&self, text: &str);
    /// Updates the live display (terminal only).
    fn live(&self, _live: Live<'_>) {}
    /// Removes the live display.
    fn clear_live(&self) {}
    /// During a quiet wait: the last progress line again, so a log never goes silent
    /// (plain lines only; the terminal's spinner moves by itself).
    fn heartbeat(&self, _line: &str) {}
    /// A document for people on stdout (a unified diff); machine streams carry it in the event.
    fn document(&self, _text: &str) {}
    /// The command's result for programs: its text on stdout, or the event as a record.
    fn result(&self, text: &str, message: &str, event: &Event);
}

fn stdout_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn stderr_line(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Plain timestamped lines on stderr, no control characters (CI logs).
pub struct Plain;

impl Reporter for Plain {
    fn event(&self, message: &str, event: &Event, human: bool) {
        if human {
            // One timestamp per event: the lines after the first (a failure's reasons, an
            // error's source line) continue it, as a compiler's do.
            stderr_line(&format!("{} {}", now_rfc3339(), event.for_people(message)));
        }
    }
    fn note(&self, text: &str) {
        stderr_line(text);
    }
    fn heartbeat(&self, line: &str) {
        stderr_line(&format!("{} {line}", now_rfc3339()));
    }
    fn document(&self, text: &str) {
        stdout_line(text);
    }
    fn result(&self, text: &str, _message: &str, _event: &Event) {
        stdout_line(text);
    }
}

/// NDJSON on stdout, one record per event; the plain lines on stderr when `log` is set.
pub struct Json {
    pub log: Option<Plain>,
}

impl Reporter for Json {
    fn event(&self, message: &str, event: &Event, human: bool) {
        if let Some(log) = &self.log {
            log.event(message, event, human);
        }
        stdout_line(&event.record(&now_rfc3339_millis(), message).to_string());
    }
    fn note(&self, text: &str) {
        stderr_line(text);
    }
    fn heartbeat(&self, line: &str) {
        if let Some(log) = &self.log {
            log.heartbeat(line);
        }
    }
    fn result(&self, _text: &str, message: &str, event: &Event) {
        self.event(message, event, true);
    }
}

/// How many of the newest lines of a step's work (a build's output) the terminal shows under
/// its spinner.
pub const DETAIL_LINES: usize = 3;
/// A line under the spinner is cut to the terminal's width; this many characters when the
/// width is not known.
const DETAIL_WIDTH: usize = 100;
/// What comes before and after a line under the spinner: `  │ ` and `…`.
const DETAIL_FRAME: usize = 5;

/// The live display: events printed above an indicatif bar or spinner.
pub struct Terminal {
    pub color: bool,
    bar: Mutex<Option<(ProgressBar, Option<LiveKind>)>>,
    /// What the spinner says it waits for, kept to show its work's lines under it.
    spinner_text: Mutex<String>,
    /// The newest lines of the spinner's work, oldest first.
    details: Mutex<VecDeque<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LiveKind {
    Bar,
    Spinner,
}

impl Terminal {
    pub fn new(color: bool) -> Terminal {
        Terminal {
            color,
            bar: Mutex::new(None),
            spinner_text: Mutex::new(String::new()),
            details: Mutex::new(VecDeque::new()),
        }
    }

    fn println(&self, text: &str) {
        let guard = self.bar.lock().unwrap();
        match guard.as_ref() {
            Some((bar, _)) => bar.println(text),
            None => stderr_line(text),
        }
    }

    fn styled(&self, kind: LiveKind) -> ProgressBar {
        let mut guard = self.bar.lock().unwrap();
        let (bar, current) = guard.get_or_insert_with(|| {
            let b = ProgressBar::new(0);
            b.enable_steady_tick(Duration::from_millis(120));
            (b, None)
        });
        if *current != Some(kind) {
            let template = match kind {
                LiveKind::Bar => "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                // The message may hold lines under the step (its work's newest lines): a line
                // longer than the terminal wraps, and indicatif counts the wrapped rows.
                LiveKind::Spinner => "{spinner} [{elapsed_precise}] {msg}",
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
}

impl Reporter for Terminal {
    fn event(&self, message: &str, event: &Event, human: bool) {
        // The bar draws the watched deployment's counts; a line per change would scroll.
        if !human || matches!(event, Event::Progress(_)) {
            return;
        }
        let text = match event {
            Event::Step => format!("==> {message}"),
            _ => event.for_people(message),
        };
        if self.color {
            self.println(&colorize(&text));
        } else {
            self.println(&text);
        }
    }
    fn note(&self, text: &str) {
        self.println(text);
    }
    fn live(&self, live: Live<'_>) {
        match live {
            Live::Bar {
                position,
                length,
                message,
            } => {
                let bar = self.styled(LiveKind::Bar);
                bar.set_length(length);
                bar.set_position(position);
                bar.set_message(message.to_string());
            }
            Live::Spinner(message) => {
                *self.spinner_text.lock().unwrap() = message.to_string();
                self.details.lock().unwrap().clear();
                self.styled(LiveKind::Spinner)
                    .set_message(message.to_string());
            }
            Live::Detail(line) => {
                let spinning = matches!(
                    self.bar.lock().unwrap().as_ref(),
                    Some((_, Some(LiveKind::Spinner)))
                );
                let line = without_control_characters(line);
                if !spinning || line.is_empty() {
                    return;
                }
                let block = {
                    let mut details = self.details.lock().unwrap();
                    if details.len() == DETAIL_LINES {
                        details.pop_front();
                    }
                    details.push_back(line);
                    let width = console::Term::stderr()
                        .size_checked()
                        .map(|(_, cols)| usize::from(cols).saturating_sub(DETAIL_FRAME).max(10))
                        .unwrap_or(DETAIL_WIDTH);
                    detail_block(&details, width)
                };
                let step = self.spinner_text.lock().unwrap().clone();
                self.styled(LiveKind::Spinner)
                    .set_message(format!("{step}\n{block}"));
            }
        }
    }
    fn clear_live(&self) {
        self.details.lock().unwrap().clear();
        if let Some((b, _)) = self.bar.lock().unwrap().take() {
            b.finish_and_clear();
        }
    }
    fn document(&self, text: &str) {
        self.clear_live();
        stdout_line(text);
    }
    fn result(&self, text: &str, _message: &str, _event: &Event) {
        self.clear_live();
        stdout_line(text);
    }
}

/// The lines under a spinner: each indented under a bar, cut at `width` characters.
fn detail_block(lines: &VecDeque<String>, width: usize) -> String {
    lines
        .iter()
        .map(|l| {
            let cut: String = l.chars().take(width).collect();
            if cut.len() < l.len() {
                format!("  │ {cut}…")
            } else {
                format!("  │ {cut}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A line of a step's work without the control characters (colours, carriage returns)
/// builders print, and without its edge whitespace.
fn without_control_characters(line: &str) -> String {
    let mut clean = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            // An ANSI escape (CSI): up to and including its final byte, '@' to '~'.
            chars.next();
            for f in chars.by_ref() {
                if ('@'..='~').contains(&f) {
                    break;
                }
            }
        } else if !c.is_control() {
            clean.push(c);
        }
    }
    clean.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_lines_under_the_spinner_lose_their_control_characters_and_are_cut() {
        assert_eq!(
            without_control_characters("\u{1b}[1mStep 2/5\u{1b}[0m : COPY dist/ /www\r"),
            "Step 2/5 : COPY dist/ /www"
        );
        assert_eq!(without_control_characters("   "), "");
        let lines = VecDeque::from(["#5 DONE 0.1s".to_string(), "x".repeat(DETAIL_WIDTH + 5)]);
        let block = detail_block(&lines, DETAIL_WIDTH);
        let shown: Vec<&str> = block.lines().collect();
        assert_eq!(shown[0], "  │ #5 DONE 0.1s");
        assert_eq!(shown[1], format!("  │ {}…", "x".repeat(DETAIL_WIDTH)));
    }
}
