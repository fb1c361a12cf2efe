//! A secret's bytes, held so that they cannot be shown by accident.
//!
//! [`SecretValue`] has no `Clone`, no `Serialize`, and its `Debug` and `Display` print only
//! `<redacted: N bytes, sha256 abcd1234…>`: the length and the first 8 hex digits of the
//! sha256, enough for two people to compare values without seeing them. The bytes are
//! wiped (zeroized) when it is dropped. Code that must look at the bytes (the content
//! rules) calls [`SecretValue::expose`], which is easy to find in review.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

pub struct SecretValue {
    bytes: Vec<u8>,
}

impl SecretValue {
    /// Takes ownership of the bytes (no copy is made).
    pub fn new(bytes: Vec<u8>) -> SecretValue {
        SecretValue { bytes }
    }

    /// Takes ownership of a string's bytes (no copy is made).
    pub fn from_string(s: String) -> SecretValue {
        SecretValue::new(s.into_bytes())
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    #[allow(dead_code)] // clippy wants is_empty beside len
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes themselves. Never print, log or store them.
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    /// The full sha256, for comparing two secrets without holding both values' text.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.bytes).into()
    }

    /// The first 8 hex digits of the sha256: all of the value that may be shown.
    pub fn fingerprint(&self) -> String {
        self.sha256()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<redacted: {} bytes, sha256 {}…>",
            self.len(),
            self.fingerprint()
        )
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_show_only_length_and_hash_prefix() {
        let s = SecretValue::from_string("correct horse battery staple".into());
        let shown = [format!("{s:?}"), format!("{s}"), format!("{s:#?}")];
        for text in &shown {
            assert!(text.starts_with("<redacted: 28 bytes, sha256 "), "{text}");
            assert!(!text.contains("horse"), "{text}");
            assert!(!text.contains("correct"), "{text}");
        }
        // sha256("correct horse battery staple") = c4bbcb1f…
        assert_eq!(s.fingerprint(), "c4bbcb1f");
        assert_eq!(shown[0], "<redacted: 28 bytes, sha256 c4bbcb1f…>");
    }

    #[test]
    fn inside_other_debug_output_it_stays_redacted() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            name: &'static str,
            value: SecretValue,
        }
        let h = Holder {
            name: "/x",
            value: SecretValue::new(b"hunter2hunter2".to_vec()),
        };
        let text = format!("{h:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("14 bytes"), "{text}");
    }

    #[test]
    fn equal_bytes_have_equal_hashes() {
        let a = SecretValue::new(b"abc".to_vec());
        let b = SecretValue::from_string("abc".into());
        assert_eq!(a.sha256(), b.sha256());
        assert_eq!(a.len(), 3);
        assert!(!a.is_empty());
    }
}
