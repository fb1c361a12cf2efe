//! Task-definition templates: render the plan's minijinja template into the JSON of a
//! RegisterTaskDefinition request, convert it, and check that every image is pinned.
//!
//! The context holds `version`, `image` (`repository@sha256:…`), `digest`, `family`,
//! `vars.*` and the function `env("NAME")`. Errors name the template file and line.

use std::path::Path;

use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use aws_sdk_ecs::types::Tag;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::exit::{Failure, Result};
use crate::jinja;
use crate::plan::source::Source;
use crate::plan::Plan;
use crate::taskdef;
use crate::taskdef::release_tags;

/// The image a release runs, pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedImage {
    /// `repository@sha256:…`
    pub image: String,
    /// `sha256:…`
    pub digest: String,
}

impl PinnedImage {
    /// The image pinned to a placeholder digest (or its own digest), for checking a template
    /// offline before the real digest is known.
    pub fn placeholder(reference: &crate::image::reference::ImageRef) -> PinnedImage {
        let digest = reference
            .digest
            .clone()
            .unwrap_or_else(|| PLACEHOLDER_DIGEST.to_string());
        PinnedImage {
            image: reference.pinned(&digest),
            digest,
        }
    }
}

/// A rendered, converted, checked request.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The request to register, with the `release:*` tags added.
    pub request: RegisterTaskDefinitionInput,
    /// sha256 of the canonical request JSON without `release:*` tags: equal hashes mean
    /// equal task definitions (the `release:content` tag).
    pub content_hash: String,
}

/// A digest that stands in for the real one when a template is only checked.
pub const PLACEHOLDER_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// Renders and converts the plan's template for an image.
pub fn render(plan: &Plan, image: &PinnedImage) -> Result<Rendered> {
    let path = &plan.task_definition.template;
    let source = std::fs::read_to_string(path).map_err(|e| {
        Failure::usage(format!("{}: cannot read the template: {e}", path.display()))
    })?;
    let text = render_text(plan, image, path, &source)?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        // The rendered line may hold values from env() (tokens): name the position only.
        Failure::usage(format!(
            "{}: the rendered template is not valid JSON: {} at rendered line {} column {} (check the template around that line, and that each value is quoted)",
            path.display(),
            e,
            e.line(),
            e.column()
        ))
    })?;
    // A template may leave `family` out: the plan's is used.
    let mut doc = doc;
    if let Some(obj) = doc.as_object_mut() {
        obj.entry("family")
            .or_insert_with(|| Value::String(plan.task_definition.family.clone()));
    }
    let mut request =
        taskdef::to_request(&doc).map_err(|e| at_key(path, &source, &e.path, &e.message))?;

    let family = &plan.task_definition.family;
    match request.family.as_deref() {
        Some(f) if f != family => {
            return Err(Failure::usage(format!(
                "{}: family is `{f}` but the plan's task_definition.family is `{family}` (use \"{{{{ family }}}}\")",
                path.display()
            )))
        }
        Some(_) => {}
        None => request.family = Some(family.clone()),
    }

    // What ECS would reject at registration fails here, before any build or push.
    if let Some(e) = taskdef::rules::check(&request).into_iter().next() {
        let why = format!(
            "{} (ECS would reject it at RegisterTaskDefinition)",
            e.message
        );
        return Err(at_key(path, &source, &e.path, &why));
    }

    if !plan.task_definition.allow_unpinned_images {
        for (container, img) in taskdef::images(&request) {
            if !img.contains("@sha256:") {
                return Err(Failure::usage(format!(
                    "{}: container `{container}` runs `{img}`, which is not pinned by digest; use \"{{{{ image }}}}\" or an image with @sha256:…, or set task_definition.allow_unpinned_images = true",
                    path.display()
                )));
            }
        }
    }

    let mut tags: Vec<Tag> = request
        .tags
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| !release_tags::is_release_tag(t.key().unwrap_or("")))
        .collect();
    request.tags = if tags.is_empty() {
        None
    } else {
        Some(tags.clone())
    };
    let content_hash = hex(&Sha256::digest(
        taskdef::to_json(&request).to_string().as_bytes(),
    ));
    tags.extend(release_tags::written(
        plan.version.as_str(),
        &image.digest,
        &plan.sha256,
        &content_hash,
    ));
    request.tags = Some(tags);
    Ok(Rendered {
        request,
        content_hash,
    })
}

fn render_text(plan: &Plan, image: &PinnedImage, path: &Path, source: &str) -> Result<String> {
    let mut env = jinja::environment();
    let name = path.display().to_string();
    env.add_template(&name, source)
        .map_err(|e| template_error(path, source, &e))?;
    let ctx = minijinja::context! {
        version => plan.version.as_str(),
        image => image.image.clone(),
        digest => image.digest.clone(),
        family => plan.task_definition.family.clone(),
        vars => Value::Object(plan.task_definition.vars.clone()),
    };
    env.get_template(&name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| template_error(path, source, &e))
}

/// A template error minijinja found: `path:line: what`, at the template's line with a caret
/// under the expression when minijinja gives its span.
fn template_error(path: &Path, source: &str, e: &minijinja::Error) -> Failure {
    let text = match e.line() {
        Some(line) => format!("{}:{}: {}", path.display(), line, jinja::describe(e)),
        None => format!("{}: {}", path.display(), jinja::describe(e)),
    };
    let snippet = e
        .range()
        .map(|span| Source::new(path, source.to_string()).snippet(&span));
    Failure::usage(text).at(snippet)
}

/// A mistake in the rendered document at a JSON path: `path:line: json.path: what`, at the
/// template line holding the path's last key (the rendered text has no lines of its own).
fn at_key(path: &Path, source: &str, json_path: &str, what: &str) -> Failure {
    let span = key_span(source, json_path);
    let file = Source::new(path, source.to_string());
    let line = span
        .as_ref()
        .map(|s| format!(":{}", file.line_col(s.start).0))
        .unwrap_or_default();
    Failure::usage(format!("{}{line}: {json_path}: {what}", path.display()))
        .at(span.map(|s| file.snippet(&s)))
}

/// Where the template holds the last key of a JSON path such as
/// `containerDefinitions[0].imagee` (the quoted key), or the nearest key before it.
fn key_span(source: &str, json_path: &str) -> Option<std::ops::Range<usize>> {
    let segments: Vec<&str> = json_path
        .split('.')
        .map(|s| s.split('[').next().unwrap_or(s))
        .filter(|s| !s.is_empty())
        .collect();
    segments.iter().rev().find_map(|key| {
        let needle = format!("\"{key}\"");
        source.find(&needle).map(|i| i..i + needle.len())
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Overrides;
    use std::path::PathBuf;

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn placeholder(plan: &Plan) -> PinnedImage {
        PinnedImage {
            image: format!("{}@{PLACEHOLDER_DIGEST}", plan.image.repository),
            digest: PLACEHOLDER_DIGEST.into(),
        }
    }

    #[test]
    fn every_shipped_plan_parses_and_renders() {
        // plans/local.toml names the sandbox's registry and load balancer through env().
        std::env::set_var("RELEASE_SANDBOX_REGISTRY", "127.0.0.1:5000");
        if std::env::var_os("RELEASE_SANDBOX_URL").is_none() {
            std::env::set_var("RELEASE_SANDBOX_URL", "http://127.0.0.1:8080");
        }
        let mut seen = 0;
        for entry in std::fs::read_dir(repo().join("plans")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let plan = Plan::load(&path, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
            let rendered = render(&plan, &placeholder(&plan)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                rendered.request.family.as_deref(),
                Some(plan.task_definition.family.as_str())
            );
            let images = taskdef::images(&rendered.request);
            assert!(
                images.iter().all(|(_, i)| i.ends_with(PLACEHOLDER_DIGEST)),
                "{images:?}"
            );
            let tags = rendered.request.tags.clone().unwrap_or_default();
            for key in [
                "release:version",
                "release:digest",
                "release:plan",
                "release:content",
            ] {
                assert!(
                    tags.iter().any(|t| t.key() == Some(key)),
                    "{} lacks {key}",
                    path.display()
                );
            }
            plan.http_checks().unwrap_or_else(|e| panic!("{e}"));
            assert!(
                !plan.secrets.is_empty(),
                "{} declares no secret rule",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 2, "plans/ holds the shipped plans");
    }

    #[test]
    fn unpinned_images_are_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("t.json"),
            r#"{"containerDefinitions": [{"name": "app", "image": "h.io/app:latest", "memory": 64}]}"#,
        )
        .unwrap();
        let text = |allow: bool| {
            format!(
                "[service]\ncluster = \"c\"\nname = \"s\"\n[release]\nversion = \"1.0.0\"\n[image]\nrepository = \"h.io/app\"\n[task_definition]\nfamily = \"f\"\ntemplate = \"t.json\"\nallow_unpinned_images = {allow}\n"
            )
        };
        let load = |allow: bool| {
            let path = dir.path().join("p.toml");
            std::fs::write(&path, text(allow)).unwrap();
            Plan::load(&path, &Overrides::default()).unwrap()
        };
        let plan = load(false);
        let err = render(&plan, &placeholder(&plan)).unwrap_err();
        assert_eq!(err.code, crate::exit::ExitCode::Usage);
        assert!(
            err.message.contains("not pinned by digest"),
            "{}",
            err.message
        );
        let plan = load(true);
        let ok = render(&plan, &placeholder(&plan)).unwrap();
        assert_eq!(ok.request.family.as_deref(), Some("f"));
    }

    #[test]
    fn content_hash_ignores_release_tags_but_not_content() {
        std::env::set_var("RELEASE_SANDBOX_REGISTRY", "127.0.0.1:5000");
        let path = repo().join("plans/local.toml");
        let a = Plan::load(&path, &Overrides::default()).unwrap();
        let b = Plan::load(
            &path,
            &Overrides {
                version: Some("9.9.9".into()),
            },
        )
        .unwrap();
        let ra = render(&a, &placeholder(&a)).unwrap();
        let rb = render(&b, &placeholder(&b)).unwrap();
        // The version is in the template's environment, so the content differs.
        assert_ne!(ra.content_hash, rb.content_hash);
        assert_eq!(
            ra.content_hash,
            render(&a, &placeholder(&a)).unwrap().content_hash
        );
    }

    #[test]
    fn finds_the_line_of_a_key() {
        let src = "{\n  \"containerDefinitions\": [{\n    \"imagee\": \"x\"\n  }]\n}\n";
        let failure = at_key(
            Path::new("t.json"),
            src,
            "containerDefinitions[0].imagee",
            "unknown key",
        );
        assert_eq!(
            failure.message,
            "t.json:3: containerDefinitions[0].imagee: unknown key"
        );
        let snippet = failure.snippet.expect("the key's line");
        assert_eq!((snippet.line, snippet.column, snippet.width), (3, 5, 8));
        assert_eq!(snippet.text, "    \"imagee\": \"x\"");
        assert_eq!(key_span(src, "containerDefinitions[0]"), Some(4..26));
        assert_eq!(key_span(src, "nothing"), None);
        let nowhere = at_key(Path::new("t.json"), src, "nothing", "missing");
        assert_eq!(nowhere.message, "t.json: nothing: missing");
        assert!(nowhere.snippet.is_none());
    }
}
