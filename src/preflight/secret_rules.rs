//! A secret's content against a `[[preflight.secret]]` rule: pure, no I/O.
//!
//! Findings say where the problem is (byte positions, 1-based) and what kind of byte it is
//! when that byte is whitespace, a NUL or a BOM, and never anything else about the value.

use crate::plan::{Charset, SecretRule};

/// What is wrong with a secret's bytes under a rule; empty when nothing is.
pub fn check(value: &[u8], rule: &SecretRule) -> Vec<String> {
    let mut findings = Vec::new();
    let len = value.len();

    let leading = value
        .iter()
        .take_while(|b| whitespace(**b).is_some())
        .count();
    let trailing = if leading == len {
        0
    } else {
        value
            .iter()
            .rev()
            .take_while(|b| whitespace(**b).is_some())
            .count()
    };
    let mut places = Vec::new();
    if leading > 0 {
        places.push(describe_run(value, 0, leading, "at the start"));
    }
    if trailing > 0 {
        places.push(describe_run(value, len - trailing, len, "at the end"));
    }
    let length = length_problem(len, rule);
    match (length, places.is_empty()) {
        (Some(l), true) => findings.push(l),
        (Some(l), false) => findings.push(format!("{l}: {}", places.join("; "))),
        (None, false) => findings.push(format!("{}: {}", bytes(len), places.join("; "))),
        (None, true) => {}
    }

    let bom = value.starts_with(&[0xef, 0xbb, 0xbf]);
    if bom {
        findings.push("starts with a UTF-8 byte-order mark (bytes 1-3 are 0xef 0xbb 0xbf)".into());
    }
    if let Err(e) = std::str::from_utf8(value) {
        findings.push(format!(
            "not valid UTF-8: byte {} starts an invalid sequence",
            e.valid_up_to() + 1
        ));
    }
    let nuls: Vec<usize> = (0..len).filter(|&i| value[i] == 0).collect();
    match nuls.as_slice() {
        [] => {}
        [one] => findings.push(format!("byte {} is 0x00 (NUL)", one + 1)),
        [first, ..] => findings.push(format!(
            "{} bytes are 0x00 (NUL), the first is byte {}",
            nuls.len(),
            first + 1
        )),
    }

    if let Some(charset) = rule.charset {
        // Bytes already reported (whitespace at the ends, the BOM, NULs) are not counted again.
        let start = if bom { leading.max(3) } else { leading };
        let end = len - trailing;
        let body = if start < end { start..end } else { 0..0 };
        let padding_from = if charset == Charset::Base64Url {
            let pad = value[body.clone()]
                .iter()
                .rev()
                .take_while(|b| **b == b'=')
                .count()
                .min(2);
            body.end - pad
        } else {
            body.end
        };
        let bad: Vec<usize> = body
            .filter(|&i| i < padding_from && value[i] != 0 && !allowed(charset, value[i]))
            .collect();
        match bad.as_slice() {
            [] => {}
            [one] => findings.push(format!(
                "byte {} is not {} ({})",
                one + 1,
                charset.name(),
                charset_description(charset)
            )),
            [first, ..] => findings.push(format!(
                "{} bytes are not {} ({}), the first is byte {}",
                bad.len(),
                charset.name(),
                charset_description(charset),
                first + 1
            )),
        }
    }
    findings
}

fn bytes(n: usize) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}

fn length_problem(len: usize, rule: &SecretRule) -> Option<String> {
    if let Some(l) = rule.length {
        return (len != l).then(|| format!("{}, expected {l}", bytes(len)));
    }
    let low = rule.min_length.is_some_and(|m| len < m);
    let high = rule.max_length.is_some_and(|m| len > m);
    if !low && !high {
        return None;
    }
    Some(match (rule.min_length, rule.max_length) {
        (Some(lo), Some(hi)) => format!("{}, expected {lo} to {hi}", bytes(len)),
        (Some(lo), None) => format!("{}, expected at least {lo}", bytes(len)),
        (None, Some(hi)) => format!("{}, expected at most {hi}", bytes(len)),
        (None, None) => unreachable!(),
    })
}

/// The name of a whitespace byte that must not start or end a secret.
fn whitespace(b: u8) -> Option<&'static str> {
    Some(match b {
        b' ' => "space",
        b'\t' => "tab",
        b'\n' => "newline",
        b'\r' => "carriage return",
        0x0b => "vertical tab",
        0x0c => "form feed",
        _ => return None,
    })
}

/// `byte 65 is 0x0a (newline) at the end` or `bytes 64-65 are 0x0d (carriage return), 0x0a (newline) at the end`.
fn describe_run(value: &[u8], from: usize, to: usize, place: &str) -> String {
    let shown: Vec<String> = value[from..to]
        .iter()
        .take(4)
        .map(|b| format!("0x{b:02x} ({})", whitespace(*b).unwrap_or("?")))
        .collect();
    let more = if to - from > 4 { ", …" } else { "" };
    if to - from == 1 {
        format!("byte {} is {} {place}", from + 1, shown[0])
    } else {
        format!(
            "bytes {}-{} are {}{more} {place}",
            from + 1,
            to,
            shown.join(", ")
        )
    }
}

fn allowed(charset: Charset, b: u8) -> bool {
    match charset {
        Charset::Base64Url => b.is_ascii_alphanumeric() || b == b'-' || b == b'_',
        Charset::Hex => b.is_ascii_hexdigit(),
        Charset::Alnum => b.is_ascii_alphanumeric(),
        Charset::Printable => (0x21..=0x7e).contains(&b),
    }
}

fn charset_description(charset: Charset) -> &'static str {
    match charset {
        Charset::Base64Url => "A-Z a-z 0-9 - _, = padding at the end",
        Charset::Hex => "0-9 a-f A-F",
        Charset::Alnum => "A-Z a-z 0-9",
        Charset::Printable => "printable ASCII 0x21-0x7e, no spaces",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> SecretRule {
        SecretRule {
            name: "/x/jwt-secret".into(),
            length: Some(64),
            min_length: None,
            max_length: None,
            charset: None,
            same_as: None,
            position: "plan.toml:1:1".into(),
        }
    }

    fn secret64() -> Vec<u8> {
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_".to_vec()
    }

    #[test]
    fn a_good_secret_has_no_findings() {
        assert_eq!(secret64().len(), 64);
        assert!(check(&secret64(), &rule()).is_empty());
        let r = SecretRule {
            charset: Some(Charset::Base64Url),
            ..rule()
        };
        assert!(check(&secret64(), &r).is_empty());
    }

    #[test]
    fn the_scenario_trailing_newline() {
        let mut v = secret64();
        v.push(b'\n');
        assert_eq!(
            check(&v, &rule()),
            vec!["65 bytes, expected 64: byte 65 is 0x0a (newline) at the end"]
        );
    }

    #[test]
    fn whitespace_at_either_end_fails_even_at_the_right_length() {
        let mut v = secret64();
        v[0] = b' ';
        v[63] = b'\t';
        assert_eq!(
            check(&v, &rule()),
            vec!["64 bytes: byte 1 is 0x20 (space) at the start; byte 64 is 0x09 (tab) at the end"]
        );
        let mut v = secret64();
        v.extend_from_slice(b"\r\n");
        assert_eq!(
            check(&v, &rule()),
            vec!["66 bytes, expected 64: bytes 65-66 are 0x0d (carriage return), 0x0a (newline) at the end"]
        );
        // Whitespace inside is not "at the ends".
        let mut v = secret64();
        v[10] = b' ';
        assert!(check(&v, &rule()).is_empty());
    }

    #[test]
    fn length_bounds() {
        let short = &secret64()[..10];
        assert_eq!(check(short, &rule()), vec!["10 bytes, expected 64"]);
        let r = SecretRule {
            length: None,
            min_length: Some(32),
            max_length: None,
            ..rule()
        };
        assert_eq!(check(short, &r), vec!["10 bytes, expected at least 32"]);
        assert!(check(&secret64(), &r).is_empty());
        let r = SecretRule {
            length: None,
            max_length: Some(8),
            ..rule()
        };
        assert_eq!(check(short, &r), vec!["10 bytes, expected at most 8"]);
        let r = SecretRule {
            length: None,
            min_length: Some(16),
            max_length: Some(32),
            ..rule()
        };
        assert_eq!(check(short, &r), vec!["10 bytes, expected 16 to 32"]);
    }

    #[test]
    fn invalid_utf8_names_the_byte() {
        let mut v = secret64();
        v[11] = 0xff;
        assert_eq!(
            check(&v, &rule()),
            vec!["not valid UTF-8: byte 12 starts an invalid sequence"]
        );
    }

    #[test]
    fn bom_is_refused() {
        let mut v = vec![0xef, 0xbb, 0xbf];
        v.extend_from_slice(&secret64()[..61]);
        assert_eq!(
            check(&v, &rule()),
            vec!["starts with a UTF-8 byte-order mark (bytes 1-3 are 0xef 0xbb 0xbf)"]
        );
        // The BOM is reported once, not again as a charset violation.
        let r = SecretRule {
            charset: Some(Charset::Alnum),
            length: None,
            ..rule()
        };
        let f = check(&v, &r);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].starts_with("starts with a UTF-8 byte-order mark"),
            "{f:?}"
        );
        v.push(b'-');
        let f = check(&v, &r);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[1], "byte 65 is not alnum (A-Z a-z 0-9)");
    }

    #[test]
    fn embedded_nul_is_refused() {
        let mut v = secret64();
        v[20] = 0;
        assert_eq!(check(&v, &rule()), vec!["byte 21 is 0x00 (NUL)"]);
        v[30] = 0;
        assert_eq!(
            check(&v, &rule()),
            vec!["2 bytes are 0x00 (NUL), the first is byte 21"]
        );
    }

    #[test]
    fn charsets() {
        let with = |c| SecretRule {
            charset: Some(c),
            length: None,
            ..rule()
        };
        assert!(check(b"0123abcdEF", &with(Charset::Hex)).is_empty());
        assert_eq!(
            check(b"0123abcdxy", &with(Charset::Hex)),
            vec!["2 bytes are not hex (0-9 a-f A-F), the first is byte 9"]
        );
        assert!(check(b"abcXYZ019", &with(Charset::Alnum)).is_empty());
        assert_eq!(
            check(b"abc-def", &with(Charset::Alnum)),
            vec!["byte 4 is not alnum (A-Z a-z 0-9)"]
        );
        assert!(check(b"a-b_c==", &with(Charset::Base64Url)).is_empty());
        assert_eq!(
            check(b"a+b/c", &with(Charset::Base64Url)),
            vec!["2 bytes are not base64url (A-Z a-z 0-9 - _, = padding at the end), the first is byte 2"]
        );
        assert_eq!(
            check(b"a=b", &with(Charset::Base64Url)).len(),
            1,
            "= only as padding at the end"
        );
        assert!(check(b"p@ss~word!", &with(Charset::Printable)).is_empty());
        assert_eq!(
            check(b"pass word", &with(Charset::Printable)),
            vec!["byte 5 is not printable (printable ASCII 0x21-0x7e, no spaces)"]
        );
        // A trailing newline is reported once, by the whitespace rule.
        assert_eq!(
            check(b"abcdef\n", &with(Charset::Hex)),
            vec!["7 bytes: byte 7 is 0x0a (newline) at the end"]
        );
    }

    #[test]
    fn findings_never_quote_the_value() {
        let mut v = b"SECRETVALUE-xyz".to_vec();
        v.push(b'\n');
        v[3] = 0xff;
        let r = SecretRule {
            charset: Some(Charset::Hex),
            ..rule()
        };
        for f in check(&v, &r) {
            assert!(!f.contains("SECRET") && !f.contains("xyz"), "{f}");
        }
    }
}
