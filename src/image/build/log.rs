//! The build log: one file per build under the temp directory, holding the output of the
//! `before` commands and of every builder command (never a password: none reaches argv).
//! It is kept when the build fails (messages name it) and removed when it succeeds.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::exit::{ExitCode, Failure, Result};
use crate::output::now_rfc3339;

pub struct BuildLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl BuildLog {
    /// Creates `$TMPDIR/release-build-<family>-<version>-<time>-<pid>.log`.
    pub fn create(family: &str, version: &str) -> Result<BuildLog> {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        let path = std::env::temp_dir().join(format!(
            "release-build-{}-{}-{secs}-{}.log",
            safe(family),
            safe(version),
            std::process::id()
        ));
        // Readable by the user only: a build's output can carry what its commands print.
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
        }
        .map_err(|e| {
            Failure::new(
                ExitCode::Build,
                format!("cannot create the build log {}: {e}", path.display()),
            )
        })?;
        Ok(BuildLog {
            path,
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line (a write error is ignored: the log is an aid, not the record).
    pub fn line(&self, text: &str) {
        if let Ok(mut f) = self.file.lock() {
            let _ = writeln!(f, "{text}");
        }
    }

    /// Removes the log (after a successful build).
    pub fn remove(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.path);
    }

    /// Appends a section header naming the command that follows.
    pub fn section(&self, command: &str) {
        self.line(&format!("\n# {} $ {command}", now_rfc3339()));
    }
}
