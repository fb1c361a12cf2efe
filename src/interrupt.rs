//! Ctrl-C. While a watch or a build runs, they handle it themselves (the watch stops
//! watching and says how to see and undo the deployment; the build kills its children and
//! removes its private docker config). At any other moment release stops at once, as the
//! default handler would, but first says which step it was in.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

static HANDLERS: AtomicUsize = AtomicUsize::new(0);
static STEP: Mutex<String> = Mutex::new(String::new());

/// Marks a scope that handles Ctrl-C itself, for as long as the guard lives.
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

/// Records the step in progress, for the message of an interruption.
pub fn step(text: &str) {
    if let Ok(mut s) = STEP.lock() {
        *s = text.to_string();
    }
}

/// Starts listening for Ctrl-C (call once, inside the runtime).
pub fn install() {
    tokio::spawn(async {
        loop {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            if HANDLERS.load(Ordering::SeqCst) == 0 {
                let step = STEP.lock().map(|s| s.clone()).unwrap_or_default();
                eprintln!(
                    "interrupted (Ctrl-C) during: {}; release stopped. `release status PLAN` shows what changed.",
                    if step.is_empty() { "start-up" } else { &step }
                );
                std::process::exit(130);
            }
        }
    });
}
