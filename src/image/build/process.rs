//! Running one child process of a build (a `before` command or the builder CLI): its output
//! goes line by line to the build log, to `--verbose` debug lines, and to a short tail kept
//! for error messages.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::log::BuildLog;
use crate::output::Output;
use crate::redact::Redactor;

/// How many lines of output an error message shows.
pub const TAIL_LINES: usize = 20;

/// A command to run, and what to show of it.
pub struct Child<'a> {
    command: Command,
    /// The command line as the log shows it (never holds a secret).
    display: String,
    stdin: Option<&'a [u8]>,
    keep_all: bool,
    quiet: bool,
    timeout: Option<Duration>,
    /// Hides these values in every line the child prints, before it is shown or kept.
    redactor: Option<Redactor>,
}

/// How a child ended.
pub struct Finished {
    pub status: ExitStatus,
    /// The last [`TAIL_LINES`] lines of stdout and stderr, interleaved as they came.
    pub tail: Vec<String>,
    /// Every line of stdout (only with [`Child::keep_output`]).
    pub stdout: Vec<String>,
}

/// Why a child could not be run to its end.
#[derive(Debug)]
pub enum RunError {
    /// The program could not be started (not found, not executable).
    Spawn(std::io::Error),
    /// It did not finish within its timeout (it was killed).
    TimedOut(Duration),
    /// Reading its output or waiting for it failed.
    Io(std::io::Error),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Spawn(e) => write!(f, "cannot start it: {e}"),
            RunError::TimedOut(d) => write!(f, "no answer within {}s", d.as_secs()),
            RunError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl<'a> Child<'a> {
    pub fn new(program: impl AsRef<OsStr>) -> Child<'a> {
        let program = program.as_ref();
        Child {
            display: program.to_string_lossy().into_owned(),
            command: Command::new(program),
            stdin: None,
            keep_all: false,
            quiet: false,
            timeout: None,
            redactor: None,
        }
    }

    /// Hides the redactor's secrets in every line of output (the log, `--verbose`, the
    /// terminal's detail line, the tail in error messages), should the child print one.
    pub fn redact(mut self, redactor: Redactor) -> Self {
        self.redactor = Some(redactor);
        self
    }

    /// Adds arguments, shown in the log as given.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            let a = a.as_ref();
            self.display.push(' ');
            self.display.push_str(&shell_quote(&a.to_string_lossy()));
            self.command.arg(a);
        }
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: &std::path::Path) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Bytes written to the child's stdin, which is then closed (a password goes here, never in argv).
    pub fn stdin(mut self, bytes: &'a [u8]) -> Self {
        self.stdin = Some(bytes);
        self
    }

    /// Keep every stdout line (to parse it afterwards).
    pub fn keep_output(mut self) -> Self {
        self.keep_all = true;
        self
    }

    /// Output to the log only, not to `--verbose` (for checks whose output is noise).
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Runs the child to its end, streaming its output to the log (and to `--verbose`).
    pub async fn run(mut self, out: &Output, log: &BuildLog) -> Result<Finished, RunError> {
        // The command line too: a `before` command may be rendered with a secret's value.
        let display = match &self.redactor {
            Some(r) => r.apply(&self.display),
            None => self.display.clone(),
        };
        log.section(&display);
        out.debug(&format!("$ {display}"));
        self.command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group, so that stopping it stops what it started too.
            .process_group(0);
        let mut child = self.command.spawn().map_err(RunError::Spawn)?;
        let _group = child.id().map(GroupGuard);

        let (tx, mut rx) = mpsc::unbounded_channel::<(bool, String)>();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(forward(stdout, true, tx.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward(stderr, false, tx.clone()));
        }
        drop(tx);
        if let (Some(bytes), Some(mut stdin)) = (self.stdin, child.stdin.take()) {
            // A child that exits without reading its stdin is not an error here.
            let _ = stdin.write_all(bytes).await;
            let _ = stdin.shutdown().await;
        }

        let (keep_all, quiet) = (self.keep_all, self.quiet);
        let redactor = self.redactor.take();
        let collect = async {
            let mut tail = VecDeque::with_capacity(TAIL_LINES);
            let mut stdout = Vec::new();
            while let Some((is_stdout, line)) = rx.recv().await {
                let line = match &redactor {
                    Some(r) => r.apply(&line),
                    None => line,
                };
                log.line(&line);
                if !quiet {
                    // Beside the step's spinner on a terminal; every line with --verbose.
                    out.spinner_detail(&line);
                    out.debug(&format!("  {line}"));
                }
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
                if is_stdout && keep_all {
                    stdout.push(line);
                }
            }
            let status = child.wait().await.map_err(RunError::Io)?;
            Ok(Finished {
                status,
                tail: tail.into(),
                stdout,
            })
        };
        let finished = match self.timeout {
            Some(limit) => match tokio::time::timeout(limit, collect).await {
                Ok(r) => r,
                // Dropping the future drops the child, which kills it.
                Err(_) => Err(RunError::TimedOut(limit)),
            },
            None => collect.await,
        }?;
        log.line(&format!("# exit: {}", describe_status(&finished.status)));
        Ok(finished)
    }
}

/// The delayed SIGKILLs of stopped process groups, joined before release exits.
static PENDING_KILLS: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> =
    std::sync::Mutex::new(Vec::new());

/// Waits for every delayed SIGKILL (at most ~200 ms), so that none dies with the process.
pub fn finish_pending_kills() {
    let pending = PENDING_KILLS
        .lock()
        .map(|mut p| std::mem::take(&mut *p))
        .unwrap_or_default();
    for killer in pending {
        let _ = killer.join();
    }
}

/// Stops a child's whole process group when dropped: when the run ends, is cut by its
/// timeout, or is dropped because release was interrupted (a `before` command's
/// grandchildren included). SIGTERM first, SIGKILL for what is left.
struct GroupGuard(u32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let Ok(pgid) = i32::try_from(self.0) else {
            return;
        };
        // SAFETY: kill(2) with a negative pid signals the process group the child leads
        // (process_group(0) made its pid the group id); it touches no memory of ours.
        if unsafe { libc::kill(-pgid, 0) } != 0 {
            return; // the group is gone
        }
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        // SIGKILL for what ignores SIGTERM, a moment later, off the async runtime's threads;
        // `finish_pending_kills` waits for it before release exits.
        let killer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            // SAFETY: as above.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        });
        if let Ok(mut pending) = PENDING_KILLS.lock() {
            pending.push(killer);
        }
    }
}

/// Sends each line (lossy UTF-8, without `\r`) of a child's stream to the collector.
async fn forward(
    stream: impl AsyncRead + Unpin,
    is_stdout: bool,
    tx: mpsc::UnboundedSender<(bool, String)>,
) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                // Progress output redraws with `\r`: keep the last state of the line.
                let line = text
                    .trim_end_matches(['\n', '\r'])
                    .rsplit('\r')
                    .next()
                    .unwrap_or("")
                    .to_string();
                if tx.send((is_stdout, line)).is_err() {
                    break;
                }
            }
        }
    }
}

/// `exit 3`, or `killed by signal 9`.
pub fn describe_status(status: &ExitStatus) -> String {
    match status.code() {
        Some(c) => format!("exit {c}"),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                if let Some(s) = status.signal() {
                    return format!("killed by signal {s}");
                }
            }
            "killed".to_string()
        }
    }
}

/// Quotes an argument for display when it holds anything but plain characters.
fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The tail as an indented block for an error message.
pub fn indent(lines: &[String]) -> String {
    if lines.is_empty() {
        return "  (no output)".to_string();
    }
    lines
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("VERSION=1.0.0"), "VERSION=1.0.0");
        assert_eq!(shell_quote("npm run build"), "'npm run build'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[tokio::test]
    async fn streams_output_keeps_a_tail_and_feeds_stdin() {
        let log = BuildLog::create("fam", "1.0.0").unwrap();
        let out = Output::new(true, false);
        let done = Child::new("sh")
            .args([
                "-c",
                "for i in $(seq 1 30); do echo line$i; done; echo err >&2; cat; exit 3",
            ])
            .stdin(b"from-stdin\n")
            .keep_output()
            .run(&out, &log)
            .await
            .unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.tail.len(), TAIL_LINES);
        // stdout and stderr are read concurrently: their relative order is not fixed.
        assert!(done.tail.contains(&"err".to_string()), "{:?}", done.tail);
        assert!(
            done.tail.contains(&"from-stdin".to_string()),
            "{:?}",
            done.tail
        );
        assert!(
            done.stdout.last().is_some_and(|l| l == "from-stdin"),
            "{:?}",
            done.stdout
        );
        assert_eq!(done.stdout.len(), 31);
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert!(
            text.contains("line1\n") && text.contains("# exit: exit 3"),
            "{text}"
        );
        let _ = std::fs::remove_file(log.path());
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let log = BuildLog::create("fam", "missing").unwrap();
        let out = Output::new(true, false);
        let err = Child::new("release-no-such-program")
            .run(&out, &log)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, RunError::Spawn(ref e) if e.kind() == std::io::ErrorKind::NotFound));
        let _ = std::fs::remove_file(log.path());
    }
}
