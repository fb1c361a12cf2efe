//! Release versions: semver, plus the `1.64.1a9` shorthand users tag with.
//!
//! `1.64.1a9` (a pre-release letter run straight after the patch number) is read as the
//! pre-release `1.64.1-a9`, split into identifiers `a.9` so that `a10` orders after `a9`
//! as users mean it (semver compares `a9` and `a10` as text); the string as written is
//! kept for image tags.
//!
//! A leading `v` (`v1.2.3`, as git tags are often named, e.g. `$GITHUB_REF_NAME`) is
//! accepted: it is dropped for ordering (`v1.2.3` orders equal to `1.2.3`) and kept in the
//! text, so the image tag and `release:version` are `v1.2.3` as written.

use std::cmp::Ordering;
use std::fmt;

/// A release version: the text as written and its semver reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    text: String,
    semver: semver::Version,
}

impl Version {
    /// Parses `1.2.3`, `1.2.3-rc.1`, `1.2.3+build`, `v1.2.3` or the shorthand `1.2.3a9`.
    pub fn parse(text: &str) -> Result<Version, String> {
        let trimmed = text.strip_prefix('v').unwrap_or(text);
        let parsed = semver::Version::parse(trimmed).or_else(|first| {
            shorthand(trimmed)
                .and_then(|s| semver::Version::parse(&s).ok())
                .ok_or(first)
        });
        match parsed {
            Ok(semver) => Ok(Version {
                text: text.to_string(),
                semver,
            }),
            Err(e) => Err(format!(
                "`{text}` is not a version ({e}); expected semver such as 1.64.1, 1.64.1-rc.1 or 1.64.1a9"
            )),
        }
    }

    /// The version exactly as written (used in image tags and the `release:version` tag).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The semver reading used for ordering.
    #[cfg(test)]
    pub fn semver(&self) -> &semver::Version {
        &self.semver
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.semver.cmp_precedence(&other.semver)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `1.64.1a9` -> `1.64.1-a.9`: digits.digits.digits immediately followed by letters, then
/// optionally digits (the letter run and the number become separate identifiers).
fn shorthand(s: &str) -> Option<String> {
    let mut dots = 0;
    for (i, c) in s.char_indices() {
        match c {
            '.' => dots += 1,
            '0'..='9' => {}
            c if c.is_ascii_alphabetic() && dots == 2 && i > 0 && !s[..i].ends_with('.') => {
                let pre = &s[i..];
                let split = pre.find(|c: char| c.is_ascii_digit()).unwrap_or(pre.len());
                let (letters, number) = pre.split_at(split);
                if !letters.chars().all(|c| c.is_ascii_alphabetic())
                    || !number.chars().all(|c| c.is_ascii_digit())
                {
                    return None;
                }
                return Some(if number.is_empty() {
                    format!("{}-{letters}", &s[..i])
                } else {
                    format!("{}-{letters}.{number}", &s[..i])
                });
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_is_a_prerelease() {
        let v = Version::parse("1.64.1a9").unwrap();
        assert_eq!(v.as_str(), "1.64.1a9");
        assert_eq!(v.semver().to_string(), "1.64.1-a.9");
        assert_eq!(
            v,
            Version::parse("1.64.1-a.9")
                .map(|p| Version {
                    text: v.as_str().into(),
                    semver: p.semver
                })
                .unwrap()
        );
    }

    #[test]
    fn ordering_follows_semver() {
        let p = |s| Version::parse(s).unwrap();
        assert!(p("1.64.1a9") < p("1.64.1"));
        assert!(p("1.64.1a9") > p("1.64.0"));
        assert!(p("1.64.1a9") < p("1.64.1a10"));
        assert!(p("1.64.1a9") > p("1.64.1a8"));
        assert!(p("v2.0.0") > p("1.99.99"));
        assert_eq!(p("1.0.0+build.1").cmp(&p("1.0.0")), Ordering::Equal);
    }

    #[test]
    fn a_leading_v_is_kept_as_written_and_ignored_for_ordering() {
        let v = Version::parse("v1.2.3").unwrap();
        assert_eq!(v.as_str(), "v1.2.3");
        assert_eq!(v.to_string(), "v1.2.3");
        assert_eq!(v.semver().to_string(), "1.2.3");
        assert_eq!(v.cmp(&Version::parse("1.2.3").unwrap()), Ordering::Equal);
        let short = Version::parse("v1.64.1a9").unwrap();
        assert_eq!(short.as_str(), "v1.64.1a9");
        assert_eq!(short.semver().to_string(), "1.64.1-a.9");
        assert!(Version::parse("v1.2.4").unwrap() > v);
        for bad in ["v", "vv1.2.3", "V1.2.3", "v1.2"] {
            assert!(Version::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn rejects_what_is_not_a_version() {
        for bad in [
            "", "latest", "1.64", "1.64.1.2", "1.x.1", "a1.2.3", "1.2.3 ",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
