//! Positions in a plan file: byte offsets to `file:line:col`, and the TOML table around them.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::exit::{Failure, Snippet};

/// A plan file's path and text, kept to turn byte spans into readable positions.
#[derive(Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// The path and the text's length: a plan may hold values (a literal `build.secrets`) that
/// no Debug output should carry.
impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .field("text", &format_args!("<{} bytes>", self.text.len()))
            .finish()
    }
}

impl Source {
    pub fn new(path: &Path, text: String) -> Self {
        Source {
            path: path.to_path_buf(),
            text,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// `path:line:col` of a byte offset.
    pub fn position(&self, offset: usize) -> String {
        let (line, col) = self.line_col(offset);
        format!("{}:{}:{}", self.path.display(), line, col)
    }

    /// An error message anchored at a span: `path:line:col: message`.
    pub fn error_at(&self, span: &Range<usize>, message: impl AsRef<str>) -> String {
        format!("{}: {}", self.position(span.start), message.as_ref())
    }

    /// A usage failure (exit 2) anchored at a span: `path:line:col: message`, with the line
    /// and a caret under the span, unless the line may hold a secret's value.
    pub fn failure_at(&self, span: &Range<usize>, message: impl AsRef<str>) -> Failure {
        let snippet = (!self.may_hold_secret(span.start)).then(|| self.snippet(span));
        Failure::usage(self.error_at(span, message)).at(snippet)
    }

    /// Whether the line at `offset` may hold a secret's value, so that an error never shows
    /// it: build secrets (`[build] secrets = {…}` or a `[build.secrets]` table) and HTTP
    /// check headers (`headers = {…}` in `[[verify.http]]`, or its headers table).
    pub fn may_hold_secret(&self, offset: usize) -> bool {
        let offset = offset.min(self.text.len());
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line = self.text[line_start..].lines().next().unwrap_or("");
        let key = line.split('=').next().unwrap_or("").trim();
        match self.table_at(offset).as_deref() {
            Some(t) if t.starts_with("build.secrets") => true,
            Some("build") => key == "secrets",
            Some(t) if t.starts_with("verify.http") => key == "headers" || t.contains("headers"),
            _ => false,
        }
    }

    /// The line holding a span's start, and how much of the span it holds.
    pub fn snippet(&self, span: &Range<usize>) -> Snippet {
        let start = span.start.min(self.text.len());
        let (line, column) = self.line_col(start);
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let end = span.end.clamp(start, line_end);
        Snippet {
            path: self.path.display().to_string(),
            line,
            column,
            width: self.text[start..end].chars().count().max(1),
            text: self.text[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
        }
    }

    /// The `[table]` or `[[array]]` header in force at an offset (or on its line), if any.
    pub fn table_at(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.text.len());
        let line_end = self.text[offset..]
            .find('\n')
            .map(|i| offset + i)
            .unwrap_or(self.text.len());
        let before = &self.text[..line_end];
        before.lines().rev().find_map(|line| {
            let t = line.trim();
            if t.starts_with('[') {
                let name = t.trim_start_matches('[');
                let end = name.find(']')?;
                Some(name[..end].trim().to_string())
            } else {
                None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let s = Source::new(
            Path::new("p.toml"),
            "a = 1\n[service]\nname = \"x\"\n".into(),
        );
        assert_eq!(s.line_col(0), (1, 1));
        let off = s.text.find("name").unwrap();
        assert_eq!(s.line_col(off), (3, 1));
        assert_eq!(s.position(off + 7), "p.toml:3:8");
        assert_eq!(s.table_at(off).as_deref(), Some("service"));
        assert_eq!(s.table_at(0), None);
    }

    #[test]
    fn lines_that_may_hold_a_secret_get_no_snippet() {
        let text = "[build]\nsecrets = { T = \"tok\", X = 1 }\nplatform = 3\n\
                    [build.secrets]\nU = 2\n[[verify.http]]\nheaders = { A = 1 }\nurl = 1\n";
        let s = Source::new(Path::new("p.toml"), text.into());
        let at = |needle: &str| {
            let i = s.text.find(needle).unwrap();
            s.failure_at(&(i..i + 1), "bad")
        };
        for secret in ["secrets = {", "U = 2", "headers ="] {
            let failure = at(secret);
            assert!(failure.snippet.is_none(), "{secret}");
            assert!(
                failure.message.starts_with("p.toml:"),
                "{}",
                failure.message
            );
        }
        for plain in ["platform", "url"] {
            assert!(at(plain).snippet.is_some(), "{plain}");
        }
    }

    #[test]
    fn a_snippet_holds_the_span_s_line_and_stops_at_its_end() {
        let s = Source::new(Path::new("p.toml"), "[release]\nbogus = 3\nx = 1\n".into());
        let at = s.text.find("bogus").unwrap();
        let snippet = s.snippet(&(at..at + 5));
        assert_eq!((snippet.line, snippet.column, snippet.width), (2, 1, 5));
        assert_eq!(snippet.text, "bogus = 3");
        // A span running over several lines is underlined to the end of its first.
        assert_eq!(s.snippet(&(at + 8..s.text.len())).width, 1);
        // An empty span at the end of the file still points somewhere.
        assert_eq!(s.snippet(&(s.text.len()..s.text.len())).width, 1);
    }
}
