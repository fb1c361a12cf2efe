//! "Did you mean …?": the closest known name to a misspelt one.

/// The candidate closest to `word` by edit distance, when close enough to be a likely typo.
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// ` (did you mean `x`?)` or nothing.
pub fn hint<'a, I>(word: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_only() {
        let keys = ["region", "cluster", "name"];
        assert_eq!(closest("clustr", keys), Some("cluster"));
        assert_eq!(closest("regoin", keys), Some("region"));
        assert_eq!(closest("family", keys), None);
        assert_eq!(hint("nmae", keys), " (did you mean `name`?)");
    }
}
