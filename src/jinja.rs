//! The minijinja environment shared by plan values and task-definition templates.
//!
//! Undefined variables are errors (a typo must not render as an empty string), and
//! `env("NAME")` reads the process environment, failing clearly when NAME is unset;
//! `env("NAME", "default")` falls back to the default instead.

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

/// A fresh environment with strict undefined handling and the `env()` function.
pub fn environment<'a>() -> Environment<'a> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_function("env", env_function);
    env
}

fn env_function(name: String, default: Option<String>) -> Result<String, Error> {
    match std::env::var(&name) {
        Ok(value) => Ok(value),
        Err(_) => default.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("environment variable {name} is not set (used by env(\"{name}\"))"),
            )
        }),
    }
}

/// The message of a render error, without minijinja's multi-line debug dump.
pub fn describe(err: &Error) -> String {
    let mut msg = match err.detail() {
        Some(detail) => detail.to_string(),
        None => err.kind().to_string(),
    };
    // A function's own error sits in the source chain; prefer its words.
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        msg = inner.to_string();
        source = inner.source();
    }
    if matches!(err.kind(), ErrorKind::UndefinedError) && err.detail().is_none() {
        msg = "undefined value (a variable or attribute that does not exist)".into();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_reads_and_defaults() {
        std::env::set_var("RELEASE_JINJA_TEST", "x1");
        let env = environment();
        let out = env
            .render_str(
                r#"{{ env("RELEASE_JINJA_TEST") }}-{{ env("RELEASE_JINJA_UNSET_1", "d") }}"#,
                (),
            )
            .unwrap();
        assert_eq!(out, "x1-d");
    }

    #[test]
    fn unset_env_fails_with_its_name() {
        let env = environment();
        let err = env
            .render_str(r#"{{ env("RELEASE_JINJA_UNSET_2") }}"#, ())
            .unwrap_err();
        assert!(
            describe(&err).contains("RELEASE_JINJA_UNSET_2 is not set"),
            "{}",
            describe(&err)
        );
    }

    #[test]
    fn undefined_is_an_error() {
        let env = environment();
        assert!(env.render_str("{{ verison }}", ()).is_err());
    }
}
