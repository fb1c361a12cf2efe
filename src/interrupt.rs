//! Signals: SIGINT (Ctrl-C), SIGTERM (how CI cancels a job) and SIGHUP, handled alike at
//! every phase. One listener records the signal; scopes that handle it themselves (the
//! watch, the build) wait for it with [`wait`] and stop cleanly (the watch stops watching
//! and says how to see and undo the deployment; the build stops its children's whole
//! process groups and removes its private docker config). At any other moment release
//! stops at once, but first says which step it was in, what state AWS is in, and the exact
//! command that undoes it, as a line and (with `--output json`) a final `summary` record.
//! Exit codes: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use serde_json::json;

use crate::exit::ExitCode;

/// A signal that ends release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    Hangup,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT (Ctrl-C)",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }

    pub fn exit_code(self) -> ExitCode {
        match self {
            Signal::Interrupt => ExitCode::Interrupted,
            Signal::Terminate => ExitCode::Terminated,
            Signal::Hangup => ExitCode::HungUp,
        }
    }
}

/// What AWS looks like if release stops now.
#[derive(Debug, Clone, Default)]
struct State {
    step: String,
    /// What changed in AWS so far (None: nothing).
    changed: Option<String>,
    /// The command that undoes it.
    undo: Option<String>,
    /// The command and where it acts (command, cluster, service, region), for the summary.
    target: (String, Option<String>, Option<String>, Option<String>),
}

static HANDLERS: AtomicUsize = AtomicUsize::new(0);
static STATE: Mutex<State> = Mutex::new(State {
    step: String::new(),
    changed: None,
    undo: None,
    target: (String::new(), None, None, None),
});
static CHANNEL: OnceLock<tokio::sync::watch::Sender<Option<Signal>>> = OnceLock::new();

/// Marks a scope that handles signals itself (through [`wait`]), for as long as it lives.
pub struct Handled(());

impl Handled {
    pub fn new() -> Handled {
        HANDLERS.fetch_add(1, Ordering::SeqCst);
        Handled(())
    }
}

impl Drop for Handled {
    fn drop(&mut self) {
        HANDLERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the summary of an interrupted command names: the command, cluster, service, region.
pub fn target(command: &str, cluster: Option<&str>, service: Option<&str>, region: Option<&str>) {
    STATE.lock().unwrap().target = (
        command.to_string(),
        cluster.map(str::to_string),
        service.map(str::to_string),
        region.map(str::to_string),
    );
}

/// Records the step in progress, for the message of an interruption.
pub fn step(text: &str) {
    if let Ok(mut s) = STATE.lock() {
        s.step = text.to_string();
    }
}

/// Records what changed in AWS and the command that undoes it, before the change is sent
/// (so an interruption during the call still reports it as possible).
pub fn changed(what: impl Into<String>, undo: Option<String>) {
    if let Ok(mut s) = STATE.lock() {
        s.changed = Some(what.into());
        s.undo = undo;
    }
}

/// Resolves when a signal arrives (at once if one already has).
pub async fn wait() -> Signal {
    let Some(tx) = CHANNEL.get() else {
        return std::future::pending().await;
    };
    let mut rx = tx.subscribe();
    loop {
        if let Some(s) = *rx.borrow_and_update() {
            return s;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Starts the one listener (call once, inside the runtime). `json`: report as NDJSON.
/// How the command's output was asked for, so that the signal path's summary honours it.
#[derive(Debug, Clone, Copy)]
pub struct OutputFlags {
    pub json: bool,
    pub quiet: bool,
    pub color: crate::cli::ColorChoice,
    pub log_format: crate::cli::LogFormat,
}

pub fn install(flags: OutputFlags) {
    let (tx, _) = tokio::sync::watch::channel(None);
    if CHANNEL.set(tx).is_err() {
        return;
    }
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        loop {
            let sig = tokio::select! {
                _ = int.recv() => Signal::Interrupt,
                _ = term.recv() => Signal::Terminate,
                _ = hup.recv() => Signal::Hangup,
            };
            // Decide who handles it before telling the scopes: a scope that sees the signal
            // may end (and drop its guard) before this task looks again, and must not find
            // the default handler printing over its own message.
            let handled = HANDLERS.load(Ordering::SeqCst) > 0;
            if let Some(tx) = CHANNEL.get() {
                tx.send_replace(Some(sig));
            }
            if !handled {
                stop(sig, flags);
            }
        }
    });
}

/// Says where release stopped and what state it leaves, then exits.
fn stop(sig: Signal, flags: OutputFlags) -> ! {
    let state = STATE.lock().map(|s| s.clone()).unwrap_or_default();
    let step = if state.step.is_empty() {
        "start-up".to_string()
    } else {
        state.step.clone()
    };
    let changed = state
        .changed
        .clone()
        .unwrap_or_else(|| "nothing was changed in AWS".into());
    let undo = state
        .undo
        .as_ref()
        .map(|u| format!("\n  undo it:  {u}"))
        .unwrap_or_default();
    let message = format!(
        "interrupted by {} during: {step}; release stopped.\n  state:    {changed}{undo}",
        sig.name()
    );
    let out = crate::output::Output::new(flags.json, false)
        .configure(flags.quiet, flags.color)
        .log_format(flags.log_format);
    let (command, cluster, service, region) = state.target.clone();
    out.set_command(&command);
    if let (Some(c), Some(s)) = (&cluster, &service) {
        out.set_target(c, s, region.as_deref());
    }
    out.clear_bar();
    out.summary(
        &message,
        sig.exit_code().code(),
        json!({
            "signal": sig.name(),
            "step": step,
            "state": changed,
            "undo_command": state.undo,
        }),
    );
    std::process::exit(sig.exit_code().code());
}
