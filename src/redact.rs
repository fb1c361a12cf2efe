//! Redaction of secret strings from anything shown: tokens in verify headers, URL passwords
//! and query values, a failed task's log lines (the revision's secret values), and the
//! build's output (the values of `build.secrets`, should a build step print one).
//!
//! # Guarantee
//!
//! For every secret `s` given to [`Redactor::new`] (and every whitespace-separated part of it of
//! 8 bytes or more, and the text a `Basic` base64 part decodes to), the output of
//! [`Redactor::apply`] contains no run of 8 consecutive bytes (the whole of `s` when it is shorter
//! than 8 bytes) of `s`, or of these encodings of `s`:
//!
//! - as written, or with any mix of escapes per character: JSON escapes (`\/`, `\"`, `\\`, `\n`…,
//!   `\uXXXX` for any character, surrogate pairs included), percent-escapes of any subset of
//!   bytes (either hex case), `+` for a space; a server that escapes only some characters is
//!   covered, since every character may be literal or escaped independently;
//! - base64, standard and URL-safe, padded or not, at the 3 alignments: a base64 of a larger string
//!   that contains `s` contains one of the three aligned encodings of `s` (the characters whose 6
//!   bits all come from `s`); the character on each side of such a match, which carries a few bits
//!   of `s`, is hidden too. Base64 written inside JSON (`\/`) or percent-encoded (`%2F`) is covered
//!   by the same escape decoding;
//! - the fully escaped forms themselves (JSON, percent, form encoding), so that a fragment of an
//!   escaped secret of 8 bytes or more is hidden even when it decodes to fewer than 8 bytes.
//!
//! Text that is cut for display must be redacted whole first, then cut
//! ([`Redactor::apply_then_cut`]): a cut made before redaction can leave a prefix too short to be
//! recognised, a cut after it only removes text.
//!
//! # How
//!
//! Every secret is expanded into patterns (the secret, its escaped forms, its 6 base64 aligned
//! encodings). The text is read as a lattice: at each byte, the byte itself, and the escape
//! starting there decoded (`%2F` -> `/`, `\u00e9` -> `é`, `+` -> space…). A dynamic program over
//! that lattice finds, for each pattern position, the longest run of pattern bytes ending at each
//! text position, whatever mix of literal and escaped characters spells it; every run of 8 bytes
//! or more (or a whole short pattern) marks its original text range. Marked ranges are widened to
//! whole characters, merged, and each replaced with `<redacted>` (edge whitespace of a partial
//! run, at most 7 bytes, is left, so `echo: <token>` reads `echo: <redacted>`). Redaction is
//! repeated until the text no longer changes (at most 3 passes).
//!
//! Not covered: secrets under two layers of encoding at once (percent-escapes written as JSON
//! `\u0025`, base64 of a JSON-escaped secret), other encodings (hex, compression, encryption).

use std::collections::HashMap;

use base64::Engine;
use zeroize::Zeroize;

/// What replaces a secret.
pub const MARKER: &str = "<redacted>";
/// What ends a text that was cut for display.
pub const CUT_MARKER: &str = "…[cut]";
/// A run of this many bytes of a secret (or of an encoding of it) is hidden.
const WINDOW: usize = 8;
/// The longest escape read as one character: `\uD83D\uDE00`.
const LONGEST_ESCAPE: usize = 12;

/// One byte string to hide: a secret or an encoding of it.
#[derive(Clone)]
struct Pattern {
    bytes: Vec<u8>,
    /// Runs at least this long are hidden (WINDOW, or the whole pattern when shorter).
    min: usize,
    /// A base64 encoding: its neighbouring characters carry bits of the secret.
    base64: bool,
}

/// The secret's bytes are wiped when the redactor (or a copy) is dropped, as `SecretValue`'s.
impl Drop for Pattern {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// Replaces every occurrence of known secret strings, in any of their escaped or encoded forms,
/// and every run of 8 bytes of them, with `<redacted>`.
#[derive(Clone, Default)]
pub struct Redactor {
    patterns: Vec<Pattern>,
    /// For each byte value, the (pattern, index) where it occurs.
    by_byte: Vec<Vec<(u32, u32)>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} patterns)", self.patterns.len())
    }
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        // A header such as `Bearer <token>`: also hide the token alone, wherever it is echoed,
        // and encoded on its own; `Basic <base64>`: also what it decodes to (user:password).
        let parts: Vec<String> = secrets
            .iter()
            .flat_map(|s| {
                s.split_whitespace()
                    .filter(|p| p.len() >= WINDOW && p.len() < s.len())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        let decoded: Vec<String> = secrets
            .iter()
            .chain(&parts)
            .filter_map(|p| {
                let p = p.trim();
                let p = p.strip_prefix("Basic ").unwrap_or(p).trim();
                let bytes = base64::engine::general_purpose::STANDARD.decode(p).ok()?;
                String::from_utf8(bytes).ok().filter(|d| d.len() >= WINDOW)
            })
            .collect();
        secrets.extend(parts);
        secrets.extend(decoded);
        let mut patterns: Vec<Pattern> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for s in &secrets {
            for (mut bytes, base64) in forms(s) {
                if !seen.contains(&bytes) {
                    seen.insert(bytes.clone());
                    patterns.push(Pattern {
                        min: bytes.len().min(WINDOW),
                        bytes,
                        base64,
                    });
                } else {
                    bytes.zeroize();
                }
            }
        }
        // The working copies of the secrets go as the patterns will: wiped.
        for mut s in secrets {
            s.zeroize();
        }
        for mut b in seen {
            b.zeroize();
        }
        let mut by_byte = vec![Vec::new(); 256];
        for (k, p) in patterns.iter().enumerate() {
            for (i, b) in p.bytes.iter().enumerate() {
                by_byte[*b as usize].push((k as u32, i as u32));
            }
        }
        Redactor { patterns, by_byte }
    }

    /// The text with every secret, escaped, encoded or in part (8 bytes or more), replaced with
    /// `<redacted>`.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for _ in 0..3 {
            let next = self.pass(&out);
            if next == out {
                break;
            }
            out = next;
        }
        out
    }

    /// Redacts the whole text, then cuts it to `max_chars` characters (see [`cut`]).
    pub fn apply_then_cut(&self, text: &str, max_chars: usize) -> String {
        cut(&self.apply(text), max_chars)
    }

    fn pass(&self, text: &str) -> String {
        if self.patterns.is_empty() {
            return text.to_string();
        }
        let ranges = self.ranges(text);
        if ranges.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in ranges {
            out.push_str(&text[at..start]);
            out.push_str(MARKER);
            at = end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// The byte ranges of `text` to hide: sorted, disjoint, on character boundaries.
    fn ranges(&self, text: &str) -> Vec<(usize, usize)> {
        let t = text.as_bytes();
        // states[p % RING]: (pattern, next index) -> (run length, run start) of runs ending at p.
        const RING: usize = LONGEST_ESCAPE + 1;
        let mut states: Vec<HashMap<(u32, u32), (usize, usize)>> = vec![HashMap::new(); RING];
        let mut marks: Vec<(usize, usize, bool)> = Vec::new();
        let mut tokens = Vec::with_capacity(3);
        for p in 0..t.len() {
            let here = std::mem::take(&mut states[p % RING]);
            decode_at(t, p, &mut tokens);
            for &(end, buf, n) in &tokens {
                let tok = &buf[..n];
                let mut advance = |k: u32, i: usize, len: usize, start: usize| {
                    let pat = &self.patterns[k as usize];
                    if !pat.bytes[i..].starts_with(tok) {
                        return;
                    }
                    let (i, len) = (i + n, len + n);
                    if len >= pat.min {
                        marks.push((start, end, pat.base64));
                    }
                    // Keep the run only if the text at its end can go on with it: the next
                    // byte as is, or an escape.
                    let goes_on = pat.bytes.get(i).is_some_and(|want| {
                        t.get(end)
                            .is_some_and(|b| b == want || matches!(b, b'%' | b'\\' | b'+'))
                    });
                    if goes_on {
                        let slot = states[end % RING]
                            .entry((k, i as u32))
                            .or_insert((len, start));
                        if len > slot.0 || (len == slot.0 && start < slot.1) {
                            *slot = (len, start);
                        }
                    }
                };
                // Runs that end here and go on with this reading, then runs that start here.
                for (&(k, i), &(len, start)) in &here {
                    advance(k, i as usize, len, start);
                }
                for &(k, i) in &self.by_byte[tok[0] as usize] {
                    advance(k, i as usize, 0, p);
                }
            }
        }
        let mut ranges: Vec<(usize, usize)> = marks
            .into_iter()
            .map(|(mut start, mut end, base64)| {
                if base64 {
                    if start > 0 && is_base64_char(t[start - 1]) {
                        start -= 1;
                    }
                    if end < t.len() && is_base64_char(t[end]) {
                        end += 1;
                    }
                }
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                (start, end)
            })
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for (s, e) in ranges {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        // Whitespace at the edges of a run (`echo: <token>` matches ` <token>` of `Bearer <token>`)
        // stays: at most 7 bytes each side, so no 8-byte run can survive in it.
        for r in &mut merged {
            let lead = t[r.0..r.1]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            if lead < WINDOW && lead < r.1 - r.0 {
                r.0 += lead;
            }
            let trail = t[r.0..r.1]
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            if trail < WINDOW && trail < r.1 - r.0 {
                r.1 -= trail;
            }
        }
        merged
    }
}

/// At most `max_chars` characters of an (already redacted) text, ending with `…[cut]` when
/// something was left out; a `<redacted>` the cut would split is left out whole.
pub fn cut(text: &str, max_chars: usize) -> String {
    let Some((at, _)) = text.char_indices().nth(max_chars) else {
        return text.to_string();
    };
    let mut at = at;
    // A marker that straddles the cut: keep none of it rather than a piece.
    if let Some(open) = text[..at].rfind('<') {
        if text[open..].starts_with(MARKER) && open + MARKER.len() > at {
            at = open;
        }
    }
    format!("{}{CUT_MARKER}", &text[..at])
}

/// The readings of `t` at `p`: the byte itself, and the escape that starts there, decoded.
/// Each is (end, decoded bytes, decoded length).
fn decode_at(t: &[u8], p: usize, out: &mut Vec<(usize, [u8; 4], usize)>) {
    out.clear();
    let one = |b: u8| [b, 0, 0, 0];
    out.push((p + 1, one(t[p]), 1));
    match t[p] {
        b'+' => out.push((p + 1, one(b' '), 1)),
        b'%' => {
            if let Some(v) = hex(t, p + 1, 2) {
                out.push((p + 3, one(v as u8), 1));
            }
        }
        b'\\' if p + 1 < t.len() => {
            let simple = match t[p + 1] {
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                b'/' => Some(b'/'),
                b'b' => Some(8),
                b'f' => Some(12),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                _ => None,
            };
            if let Some(b) = simple {
                out.push((p + 2, one(b), 1));
            } else if t[p + 1] == b'u' {
                if let Some(unit) = hex(t, p + 2, 4) {
                    let (c, end) = if (0xD800..0xDC00).contains(&unit) {
                        let low = (t.get(p + 6..p + 8) == Some(b"\\u"))
                            .then(|| hex(t, p + 8, 4))
                            .flatten()
                            .filter(|l| (0xDC00..0xE000).contains(l));
                        match low {
                            Some(l) => (
                                char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (l - 0xDC00)),
                                p + 12,
                            ),
                            None => (None, p),
                        }
                    } else {
                        (char::from_u32(unit), p + 6)
                    };
                    if let Some(c) = c {
                        let mut buf = [0u8; 4];
                        let n = c.encode_utf8(&mut buf).len();
                        out.push((end, buf, n));
                    }
                }
            }
        }
        _ => {}
    }
}

fn hex(t: &[u8], at: usize, n: usize) -> Option<u32> {
    let digits = t.get(at..at + n)?;
    let s = std::str::from_utf8(digits).ok()?;
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

/// A secret and the encodings of it to hide, each with whether it is base64.
fn forms(s: &str) -> Vec<(Vec<u8>, bool)> {
    let mut out = vec![(s.as_bytes().to_vec(), false)];
    for slash in [false, true] {
        for ascii in [false, true] {
            for upper in [false, true] {
                out.push((json_escape(s, slash, ascii, upper).into_bytes(), false));
            }
        }
    }
    for upper in [false, true] {
        for keep in [Keep::Nothing, Keep::Unreserved, Keep::Form] {
            out.push((percent_encode(s, keep, upper).into_bytes(), false));
        }
    }
    for b64 in base64_aligned(s.as_bytes()) {
        // Short secrets: a short base64 run is too likely to occur by chance.
        if b64.len() >= WINDOW.min(6) {
            out.push((b64.into_bytes(), true));
        }
    }
    out
}

/// A JSON string's content: `"`, `\` and controls escaped; with `slash`, `/` as `\/`; with
/// `ascii`, every non-ASCII character as `\uXXXX` (hex digits upper case with `upper`).
pub(crate) fn json_escape(s: &str, slash: bool, ascii: bool, upper: bool) -> String {
    let mut out = String::new();
    let unit = |out: &mut String, u: u16| {
        if upper {
            out.push_str(&format!("\\u{u:04X}"))
        } else {
            out.push_str(&format!("\\u{u:04x}"))
        }
    };
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if slash => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (ascii && !c.is_ascii()) => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    unit(&mut out, *u);
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Keep {
    /// Every byte escaped.
    Nothing,
    /// RFC 3986 unreserved bytes kept.
    Unreserved,
    /// Unreserved bytes kept, space as `+` (application/x-www-form-urlencoded).
    Form,
}

fn percent_encode(s: &str, keep: Keep, upper: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        match keep {
            Keep::Form if b == b' ' => out.push('+'),
            Keep::Unreserved | Keep::Form if unreserved => out.push(b as char),
            _ if upper => out.push_str(&format!("%{b:02X}")),
            _ => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

/// The base64 characters that encode only bytes of `s` when `s` starts at offset 0, 1 or 2 of
/// a 3-byte group, in the standard and the URL-safe alphabet (padding is never part of them).
pub(crate) fn base64_aligned(s: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for k in 0..3usize {
        let mut bytes = vec![0u8; k];
        bytes.extend_from_slice(s);
        let enc = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes);
        // Character c holds bits [6c, 6c + 6); the secret's bits are [8k, 8(k + n)).
        let first = (8 * k).div_ceil(6);
        let last = (8 * (k + s.len())) / 6;
        if last <= first {
            continue;
        }
        let core = &enc[first..last];
        out.push(core.to_string());
        out.push(core.replace('+', "-").replace('/', "_"));
    }
    out
}

/// A URL as shown to people: credentials (`user:password@`) and query values hidden.
pub fn display_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let path = match path.split_once('?') {
        Some((p, q)) => {
            let hidden: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) => format!("{k}=…"),
                    None => kv.to_string(),
                })
                .collect();
            format!("{p}?{}", hidden.join("&"))
        }
        None => path.to_string(),
    };
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

/// The parts of a URL that can be secret: the userinfo password and query values.
pub fn url_secrets(url: &str) -> Vec<String> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let mut out = Vec::new();
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        out.extend(userinfo.split_once(':').map(|(_, p)| p.to_string()));
    }
    if let Some((_, q)) = rest.split_once('?') {
        out.extend(
            q.split('&')
                .filter_map(|kv| kv.split_once('=').map(|(_, v)| v.to_string())),
        );
    }
    out.retain(|s| s.len() >= 4);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOi/JIUzI1+NiJ9.s3cr3t/t0ken==";

    fn r() -> Redactor {
        Redactor::new([format!("Bearer {TOKEN}")])
    }

    /// No run of 8 bytes of `needle` (the whole of it when shorter) is in `hay`.
    fn no_window(hay: &str, needle: &[u8]) -> Result<(), String> {
        let w = needle.len().min(WINDOW);
        if w == 0 {
            return Ok(());
        }
        for win in needle.windows(w) {
            if hay.as_bytes().windows(w).any(|h| h == win) {
                return Err(format!(
                    "{:?} survives in {hay:?}",
                    String::from_utf8_lossy(win)
                ));
            }
        }
        Ok(())
    }

    #[test]
    fn urls_lose_credentials_and_query_values() {
        let u = "http://admin:SuperSecretPw123@127.0.0.1:9/mcp?token=abcd1234&x=1";
        assert_eq!(display_url(u), "http://127.0.0.1:9/mcp?token=…&x=…");
        assert_eq!(url_secrets(u), vec!["SuperSecretPw123", "abcd1234"]);
        assert_eq!(display_url("https://h.io/a"), "https://h.io/a");
    }

    #[test]
    fn hides_whole_headers_and_their_tokens() {
        let r = Redactor::new(["Bearer s3cr3t-token-value".to_string()]);
        assert_eq!(r.apply("got Bearer s3cr3t-token-value"), "got <redacted>");
        assert_eq!(r.apply("echo: s3cr3t-token-value!"), "echo: <redacted>!");
        assert!(!format!("{r:?}").contains("s3cr3t"));
    }

    #[test]
    fn hides_json_escaped_echoes() {
        let slash = TOKEN.replace('/', "\\/");
        assert_eq!(
            r().apply(&format!(r#"{{"auth":"Bearer {slash}"}}"#)),
            r#"{"auth":"<redacted>"}"#
        );
        assert_eq!(
            r().apply(&format!(r#"{{"t":"{slash}"}}"#)),
            r#"{"t":"<redacted>"}"#
        );
        let s = r#"pa"ss\wörd/日本😀 x"#;
        let r = Redactor::new([s.to_string()]);
        for (slash, ascii, upper) in [
            (false, false, false),
            (true, true, false),
            (true, true, true),
        ] {
            let e = json_escape(s, slash, ascii, upper);
            assert_eq!(r.apply(&format!("[{e}]")), "[<redacted>]", "{e}");
        }
    }

    #[test]
    fn hides_partly_json_escaped_echoes() {
        // Only some characters escaped, `\u` for plain ASCII letters too.
        let e = r#"eyJhbGciOi\/JIUz\u0049\u0031+NiJ9.s3cr3t/t0ken\u003d="#;
        assert_eq!(r().apply(&format!("x {e} y")), "x <redacted> y");
    }

    #[test]
    fn hides_percent_encoded_echoes() {
        let full: String = TOKEN.bytes().map(|b| format!("%{b:02X}")).collect();
        assert_eq!(r().apply(&format!("?t={full}&")), "?t=<redacted>&");
        let partial = TOKEN
            .replace('/', "%2f")
            .replace('+', "%2B")
            .replace('=', "%3D");
        assert_eq!(r().apply(&format!("?t={partial}&")), "?t=<redacted>&");
        // Space as `+`, `+` as %2B, the rest as is.
        let form = format!("Bearer+{}", TOKEN.replace('+', "%2B"));
        assert_eq!(r().apply(&format!("q={form}")), "q=<redacted>");
    }

    #[test]
    fn hides_base64_at_every_alignment() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let secret = "tok/en+with==odd?bytes";
        let r = Redactor::new([secret.to_string()]);
        for prefix in ["", "a", "ab", "abc", "user:"] {
            let inner = format!("{prefix}{secret}:tail");
            for enc in [STANDARD.encode(&inner), URL_SAFE_NO_PAD.encode(&inner)] {
                let out = r.apply(&format!("auth {enc} end"));
                assert!(out.contains(MARKER), "{out}");
                let core = base64_aligned(secret.as_bytes());
                for c in &core {
                    no_window(&out, c.as_bytes()).unwrap();
                }
            }
        }
        // A Basic header: its base64 and what it decodes to.
        let basic = format!("Basic {}", STANDARD.encode("admin:Pa55word-long"));
        let r = Redactor::new([basic]);
        assert_eq!(r.apply("user admin:Pa55word-long"), "user <redacted>");
    }

    #[test]
    fn hides_runs_of_eight_bytes() {
        let out = r().apply(&format!("start {} end", &TOKEN[5..13]));
        assert_eq!(out, "start <redacted> end");
        // 7 bytes are not a run.
        let seven = &TOKEN[5..12];
        assert_eq!(r().apply(seven), seven);
    }

    #[test]
    fn short_secrets_are_hidden_whole() {
        let r = Redactor::new(url_secrets("https://h/x?k=ab12&z=1"));
        assert_eq!(
            r.apply("key ab12 and a%62%312"),
            "key <redacted> and <redacted>"
        );
        assert_eq!(r.apply("ab1"), "ab1");
    }

    #[test]
    fn redacts_before_it_cuts() {
        // The echo that leaked 12 characters: the cut fell inside the token.
        let body = format!("{}{TOKEN} trailer", "x".repeat(288));
        let shown = r().apply_then_cut(&body, 300);
        assert!(shown.ends_with(CUT_MARKER), "{shown}");
        no_window(&shown, TOKEN.as_bytes()).unwrap();
        assert!(!shown.contains(&TOKEN[..4]), "{shown}");
        // A marker is never cut in half.
        let text = format!("{}<redacted>tail", "y".repeat(10));
        assert_eq!(cut(&text, 14), format!("{}{CUT_MARKER}", "y".repeat(10)));
        assert_eq!(cut("short", 300), "short");
    }

    /// xorshift64*: deterministic, no crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self) -> bool {
            self.next() & 1 == 1
        }
        fn pick(&mut self, chars: &[char]) -> char {
            chars[self.below(chars.len())]
        }
    }

    /// Escapes `s` as a JSON string's content; `all` escapes every character that can be,
    /// otherwise only `"`, `\` (required) and a random subset of the rest.
    fn json_random(rng: &mut Rng, s: &str, all: bool) -> String {
        let mut out = String::new();
        for c in s.chars() {
            let escape = all || c == '"' || c == '\\' || rng.chance();
            if !escape {
                out.push(c);
                continue;
            }
            match c {
                '"' if all || rng.chance() => out.push_str("\\\""),
                '\\' if all || rng.chance() => out.push_str("\\\\"),
                '/' if all || rng.chance() => out.push_str("\\/"),
                c if c.is_ascii() && !all && rng.chance() && c != '"' && c != '\\' => out.push(c),
                c => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        if rng.chance() {
                            out.push_str(&format!("\\u{u:04X}"));
                        } else {
                            out.push_str(&format!("\\u{u:04x}"));
                        }
                    }
                }
            }
        }
        out
    }

    fn percent_random(rng: &mut Rng, s: &str, all: bool) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            if b == b' ' && rng.chance() {
                out.push('+');
            } else if all || !b.is_ascii() || rng.chance() {
                if rng.chance() {
                    out.push_str(&format!("%{b:02X}"));
                } else {
                    out.push_str(&format!("%{b:02x}"));
                }
            } else {
                out.push(b as char);
            }
        }
        out
    }

    #[test]
    fn property_no_window_of_a_secret_survives_any_encoding_or_cut() {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        const CASES: usize = 2000;
        let secret_chars: Vec<char> =
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/+=\"\\ -_.:é日😀ß"
                .chars()
                .collect();
        let text_chars: Vec<char> = "abcdefghij KLMNOP 0123 {}[]\":,=&?%\\/+\né⏎"
            .chars()
            .collect();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut failures = Vec::new();
        for case in 0..CASES {
            let n = 8 + rng.below(73);
            let secret: String = (0..n).map(|_| rng.pick(&secret_chars)).collect();
            let header = if rng.chance() {
                format!("Bearer {secret}")
            } else {
                secret.clone()
            };
            let r = Redactor::new([header]);
            let how = rng.below(9);
            // The encoded secret as it appears, and the encoding's bytes that must not survive.
            let (shown, escaped): (String, Vec<u8>) = match how {
                0 => (secret.clone(), secret.clone().into_bytes()),
                1 | 2 => {
                    let e = json_random(&mut rng, &secret, how == 1);
                    (e.clone(), e.into_bytes())
                }
                3 | 4 => {
                    let e = percent_random(&mut rng, &secret, how == 3);
                    (e.clone(), e.into_bytes())
                }
                _ => {
                    let k = rng.below(7);
                    let prefix: String = (0..k).map(|_| rng.pick(&secret_chars)).collect();
                    let suffix: String =
                        (0..rng.below(7)).map(|_| rng.pick(&secret_chars)).collect();
                    let inner = format!("{prefix}{secret}{suffix}");
                    let enc = match how {
                        5 => STANDARD.encode(&inner),
                        6 => STANDARD_NO_PAD.encode(&inner),
                        7 => URL_SAFE.encode(&inner),
                        _ => URL_SAFE_NO_PAD.encode(&inner),
                    };
                    // The characters that encode only bytes of the secret.
                    let offset = prefix.len();
                    let first = (8 * offset).div_ceil(6);
                    let last = (8 * (offset + secret.len())) / 6;
                    let core = enc.as_bytes()[first..last].to_vec();
                    // Sometimes inside a JSON string, `/` escaped.
                    let enc = if how == 5 && rng.chance() {
                        enc.replace('/', "\\/")
                    } else {
                        enc
                    };
                    (enc, core)
                }
            };
            let left: String = (0..rng.below(200)).map(|_| rng.pick(&text_chars)).collect();
            let right: String = (0..rng.below(200)).map(|_| rng.pick(&text_chars)).collect();
            let text = format!("{left}{shown}{right}");
            let redacted = r.apply(&text);
            let max = rng.below(text.chars().count() + 20);
            let out = cut(&redacted, max);
            for needle in [secret.as_bytes(), &escaped] {
                if let Err(e) = no_window(&out, needle) {
                    failures.push(format!("case {case} (encoding {how}): {e}"));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {CASES} cases leak:\n{}",
            failures.len(),
            failures[..failures.len().min(10)].join("\n")
        );
    }
}
