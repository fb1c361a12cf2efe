//! `release init --cluster C --service S [--dir .]`: a plan and a template from the service
//! as it runs now, read-only. The running revision becomes `templates/<family>.json` (as
//! `release export` converts it) with `{{ image }}` for the images of the plan's repository,
//! `{{ family }}` and `{{ version }}`; `plans/<service>.toml` names the service, the region,
//! the version, the repository, the template, a rollout timeout that fits the service's
//! strategy, and one `[[preflight.secret]]` rule per SSM parameter the revision references,
//! with its current byte length. A parameter's value is read (GetParameters WithDecryption)
//! only to measure it: it is held in a `SecretValue` and never printed or written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_config::SdkConfig;
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
use serde_json::{json, Value};

use super::Ctx;
use crate::aws::ecs::Ecs;
use crate::aws::ssm::{self, Lookup};
use crate::exit::{ExitCode, Failure, Result};
use crate::image::reference::ImageRef;
use crate::output::Output;
use crate::plan::Version;
use crate::rollout::observation::{short_task_definition, DeploymentConfiguration};
use crate::taskdef;
use crate::taskdef::release_tags;

/// The version a plan starts from when neither a `release:version` tag nor an image tag gives one.
pub const FIRST_VERSION: &str = "0.1.0";

pub async fn run(ctx: &Ctx, cluster: &str, service: &str, dir: &Path) -> Result<ExitCode> {
    let out = &ctx.out;
    let plan_path = dir.join("plans").join(format!("{service}.toml"));
    // Refuse early, before any AWS call, when the plan exists; the template's name needs the family.
    refuse_existing(std::slice::from_ref(&plan_path))?;
    let config = ctx.aws_config(None).await?;
    let region = config
        .region()
        .map(|r| r.as_ref().to_string())
        .unwrap_or_default();
    out.set_target(cluster, service, Some(&region));
    let ecs = Ecs::new(&config);
    let (svc, td, tags) = ecs
        .running_revision(cluster, service, "nothing was written")
        .await?;
    let family = td.family().unwrap_or_default().to_string();
    let template_path = dir.join("templates").join(format!("{family}.json"));
    refuse_existing(&[plan_path.clone(), template_path.clone()])?;

    let other_tags: Vec<_> = tags
        .iter()
        .filter(|t| !release_tags::is_release_tag(t.key().unwrap_or("")))
        .cloned()
        .collect();
    let request = taskdef::from_described(&td, &other_tags);
    let running_tags = release_tags::read(&tags);
    let image = release_image(&request, &svc.task_definition)?;
    let repository = image.repository();
    let (version, version_from) = choose_version(&running_tags, &image);

    let mut doc = taskdef::to_json(&request);
    let replace_version = version_from != VersionFrom::Default;
    templatize(
        &mut doc,
        &repository,
        replace_version.then_some(version.as_str()),
    );
    let unpinned = unpinned_images(&request, &repository);
    let (secrets, other_refs) = secret_rules(out, &config, &request).await;

    let inputs = PlanInputs {
        cluster: cluster.to_string(),
        service: service.to_string(),
        region,
        revision: short_task_definition(&svc.task_definition).to_string(),
        version: version.clone(),
        version_from,
        repository: repository.clone(),
        family: family.clone(),
        template: format!("../templates/{family}.json"),
        unpinned,
        secrets,
        other_secrets: other_refs,
        deployment: svc.deployment_configuration.clone(),
        controller: svc.deployment_controller.as_ref().map(|c| c.kind.clone()),
    };
    let plan_text = plan_text(&inputs);
    let template_text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";

    write_new(&template_path, &template_text)?;
    write_new(&plan_path, &plan_text)?;
    show_findings(out, &inputs);
    out.summary(
        &format!(
            "wrote {} and {} from {} (version {version}, from {}); next: release preflight {p}, release diff {p}",
            plan_path.display(),
            template_path.display(),
            inputs.revision,
            version_from.describe(),
            p = plan_path.display()
        ),
        ExitCode::Success.code(),
        json!({
            "plan": plan_path, "template": template_path, "task_definition": svc.task_definition,
            "version": version, "repository": repository,
            "secret_rules": inputs.secrets.len(),
        }),
    );
    Ok(ExitCode::Success)
}

/// The image release will build or deploy: the first container's, with a registry host.
fn release_image(request: &RegisterTaskDefinitionInput, task_definition: &str) -> Result<ImageRef> {
    let first_image = taskdef::images(request)
        .into_iter()
        .next()
        .map(|(_, i)| i)
        .ok_or_else(|| {
            Failure::usage(format!(
                "{}: its first container has no image: nothing to release",
                short_task_definition(task_definition)
            ))
        })?;
    ImageRef::parse(&first_image).map_err(|e| {
        Failure::usage(format!(
            "the first container's image: {e}; release needs a registry host (ECR or another private registry): nothing was written"
        ))
    })
}

/// The other containers' images not pinned by digest: `container (image)`.
fn unpinned_images(request: &RegisterTaskDefinitionInput, repository: &str) -> Vec<String> {
    taskdef::images(request)
        .into_iter()
        .filter(|(_, i)| {
            ImageRef::parse(i).map_or(true, |r| r.repository() != repository)
                && !i.contains("@sha256:")
        })
        .map(|(c, i)| format!("{c} ({i})"))
        .collect()
}

/// Secret rules: the byte length of each SSM parameter, read with decryption and dropped;
/// and the references that are not SSM parameters (Secrets Manager), to be listed.
async fn secret_rules(
    out: &Output,
    config: &SdkConfig,
    request: &RegisterTaskDefinitionInput,
) -> (Vec<SecretRule>, Vec<String>) {
    let mut refs: Vec<String> = Vec::new();
    for (_, _, from) in taskdef::secret_refs(request) {
        if !refs.contains(&from) {
            refs.push(from);
        }
    }
    let (ssm_refs, other_refs): (Vec<String>, Vec<String>) = refs
        .into_iter()
        .partition(|r| !r.contains(":secretsmanager:"));
    if ssm_refs.is_empty() {
        return (Vec::new(), other_refs);
    }
    let secrets = match ssm::get_parameters(config, &ssm_refs, true).await {
        Ok(found) => ssm_refs
            .iter()
            .map(|r| match found.get(r) {
                Some(Lookup::Found(p)) => SecretRule::Length(r.clone(), p.value.len()),
                Some(Lookup::Denied(why)) => SecretRule::Unread(r.clone(), why.clone()),
                Some(Lookup::Missing) | None => SecretRule::Unread(
                    r.clone(),
                    "the parameter does not exist (GetParameters InvalidParameters)".into(),
                ),
            })
            .collect(),
        Err(why) => {
            out.warn(&format!("cannot read the SSM parameters: {why}"));
            ssm_refs
                .iter()
                .map(|r| SecretRule::Unread(r.clone(), why.clone()))
                .collect()
        }
    };
    (secrets, other_refs)
}

/// What the user must know about what was written: each secret rule, and a deployment
/// controller release cannot deploy through.
fn show_findings(out: &Output, inputs: &PlanInputs) {
    for s in &inputs.secrets {
        match s {
            SecretRule::Length(name, len) => out.info(&format!(
                "secret {name}: {len} bytes (its length only; the value is not kept)"
            )),
            SecretRule::Unread(name, why) => out.warn(&format!(
                "secret {name}: not read ({why}); its rule in the plan has min_length = 1: set its length"
            )),
        }
    }
    if let Some(kind) = inputs.controller.as_deref().filter(|k| *k != "ECS") {
        out.warn(&format!(
            "the service's deployment controller is {kind}: release deploys through UpdateService, which such a service refuses (preflight fails)"
        ));
    }
}

/// Exit 2 naming every path that exists.
fn refuse_existing(paths: &[PathBuf]) -> Result<()> {
    let existing: Vec<String> = paths
        .iter()
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if existing.is_empty() {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "{} already exist{}: release init does not overwrite; remove {} or pick another --dir",
        existing.join(" and "),
        if existing.len() == 1 { "s" } else { "" },
        if existing.len() == 1 { "it" } else { "them" }
    )))
}

/// Creates the file (and its folder), failing (exit 2) if it appeared meanwhile.
fn write_new(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::usage(format!("{}: {e}", parent.display())))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionFrom {
    Tag,
    ImageTag,
    Default,
}

impl VersionFrom {
    fn describe(self) -> &'static str {
        match self {
            VersionFrom::Tag => "its release:version tag",
            VersionFrom::ImageTag => "its image tag",
            VersionFrom::Default => {
                "no release:version tag or version-like image tag: a first version"
            }
        }
    }
}

/// The running revision's `release:version`, else the image's tag, else [`FIRST_VERSION`];
/// each only when it is a version release accepts.
pub fn choose_version(tags: &BTreeMap<String, String>, image: &ImageRef) -> (String, VersionFrom) {
    if let Some(v) = tags
        .get(release_tags::VERSION)
        .filter(|v| Version::parse(v).is_ok())
    {
        return (v.clone(), VersionFrom::Tag);
    }
    if let Some(t) = image.tag.as_ref().filter(|t| Version::parse(t).is_ok()) {
        return (t.clone(), VersionFrom::ImageTag);
    }
    (FIRST_VERSION.to_string(), VersionFrom::Default)
}

/// Makes a request document a template: any text minijinja would read as its own is kept
/// verbatim (`{% raw %}`), the family becomes `{{ family }}`, images of `repository`
/// `{{ image }}`, and `version` in environment values and docker labels `{{ version }}`.
pub fn templatize(doc: &mut Value, repository: &str, version: Option<&str>) {
    escape_jinja(doc);
    taskdef::template_placeholders(doc, repository);
    let Some(version) = version else { return };
    let Some(Value::Array(containers)) = doc.get_mut("containerDefinitions") else {
        return;
    };
    for c in containers {
        if let Some(Value::Array(env)) = c.get_mut("environment") {
            for e in env {
                if let Some(Value::String(v)) = e.get_mut("value") {
                    *v = with_version(v, version);
                }
            }
        }
        if let Some(Value::Object(labels)) = c.get_mut("dockerLabels") {
            for (_, v) in labels.iter_mut() {
                if let Value::String(s) = v {
                    *s = with_version(s, version);
                }
            }
        }
    }
}

/// `version` replaced by `{{ version }}` where it stands alone (not inside a longer
/// version or word: `1.2.3` in `app-1.2.3` but not in `11.2.3` or `1.2.30`).
fn with_version(text: &str, version: &str) -> String {
    if version.is_empty() || text.contains("{% raw %}") {
        return text.to_string();
    }
    let is_part = |c: char| c.is_ascii_alphanumeric() || c == '.';
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(version) {
        let before_ok = !rest[..i].chars().next_back().is_some_and(is_part);
        let after = &rest[i + version.len()..];
        let after_ok = !after.chars().next().is_some_and(is_part);
        out.push_str(&rest[..i]);
        if before_ok && after_ok {
            out.push_str("{{ version }}");
        } else {
            out.push_str(version);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Every string holding `{{`, `{%` or `{#` is wrapped in `{% raw %}…{% endraw %}`.
fn escape_jinja(v: &mut Value) {
    match v {
        Value::String(s) if s.contains("{{") || s.contains("{%") || s.contains("{#") => {
            *s = format!("{{% raw %}}{s}{{% endraw %}}");
        }
        Value::Array(a) => a.iter_mut().for_each(escape_jinja),
        Value::Object(m) => m.values_mut().for_each(escape_jinja),
        _ => {}
    }
}

/// One `[[preflight.secret]]` rule init writes.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretRule {
    /// The parameter and its byte length now.
    Length(String, usize),
    /// Could not be read: why (a rule with `min_length = 1`, to be completed).
    Unread(String, String),
}

/// What the plan is written from.
#[derive(Debug, Clone)]
pub struct PlanInputs {
    pub cluster: String,
    pub service: String,
    pub region: String,
    pub revision: String,
    pub version: String,
    pub version_from: VersionFrom,
    pub repository: String,
    pub family: String,
    pub template: String,
    pub unpinned: Vec<String>,
    pub secrets: Vec<SecretRule>,
    pub other_secrets: Vec<String>,
    pub deployment: Option<DeploymentConfiguration>,
    pub controller: Option<String>,
}

/// A TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The plan file's text.
pub fn plan_text(p: &PlanInputs) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "# Written by `release init` from service {} in cluster {} (running {}).\n# Check it with `release preflight` and `release diff` before the first deploy.\n",
        p.service, p.cluster, p.revision
    ));
    t.push_str(&format!(
        "[service]\ncluster = {}\nname    = {}\n",
        q(&p.cluster),
        q(&p.service)
    ));
    if !p.region.is_empty() {
        t.push_str(&format!("region  = {}\n", q(&p.region)));
    }
    t.push_str(&format!(
        "\n[release]\n# From {}.\nversion = {}\n",
        p.version_from.describe(),
        q(&p.version)
    ));
    t.push_str(&format!(
        "\n[image]\n# The first container's image repository; each release is pinned by digest.\nrepository = {}\n",
        q(&p.repository)
    ));
    t.push_str(&format!(
        "\n[task_definition]\nfamily   = {}\ntemplate = {}\n",
        q(&p.family),
        q(&p.template)
    ));
    if !p.unpinned.is_empty() {
        t.push_str(&format!(
            "# Containers of other repositories run images not pinned by digest: {}.\nallow_unpinned_images = true\n",
            p.unpinned.join(", ")
        ));
    }
    t.push_str("\n[rollout]\n");
    t.push_str(&format!(
        "# {}\n",
        describe_deployment(p.deployment.as_ref(), p.controller.as_deref())
    ));
    let wait = p
        .deployment
        .as_ref()
        .map_or(0, DeploymentConfiguration::designed_wait_minutes);
    if wait > 0 {
        t.push_str(&format!(
            "# The strategy waits {wait} min by design; preflight wants that plus 5 min.\ntimeout = \"{}m\"\n",
            (wait + 10).max(10)
        ));
    } else {
        t.push_str("timeout = \"10m\"       # the default\n");
    }
    t.push_str("# poll = \"2s\"          # the default\n# stall = \"3m\"         # the default\n# on_failure = \"rollback\"  # the default; or \"stop\"\n");
    for s in &p.secrets {
        match s {
            SecretRule::Length(name, len) => t.push_str(&format!(
                "\n[[preflight.secret]]\nname   = {}\nlength = {len}   # its byte length when init read it\n",
                q(name)
            )),
            SecretRule::Unread(name, why) => t.push_str(&format!(
                "\n# Not read by init: {}\n[[preflight.secret]]\nname       = {}\nmin_length = 1   # set its length\n",
                why.replace('\n', " "),
                q(name)
            )),
        }
    }
    for r in &p.other_secrets {
        t.push_str(&format!(
            "\n# {r}: a Secrets Manager reference; preflight reports it as not checked.\n"
        ));
    }
    t
}

/// One line saying what the service's deployment configuration is.
fn describe_deployment(dc: Option<&DeploymentConfiguration>, controller: Option<&str>) -> String {
    let mut parts = vec![format!(
        "The service deploys with the {} controller",
        controller.unwrap_or("ECS")
    )];
    let Some(dc) = dc else {
        return parts.remove(0) + " (no deployment configuration reported).";
    };
    parts.push(format!(
        "strategy {}",
        dc.strategy.as_deref().unwrap_or("ROLLING")
    ));
    if let (Some(min), Some(max)) = (dc.minimum_healthy_percent, dc.maximum_percent) {
        parts.push(format!("minimum healthy {min} %, maximum {max} %"));
    }
    match &dc.deployment_circuit_breaker {
        Some(b) if b.enable => parts.push(format!(
            "circuit breaker on{}",
            if b.rollback {
                " with rollback"
            } else {
                " without rollback"
            }
        )),
        _ => parts.push("circuit breaker off".into()),
    }
    if let Some(bake) = dc.bake_time_in_minutes {
        parts.push(format!("bake time {bake} min"));
    }
    if let Some(a) = dc.alarms.as_ref().filter(|a| a.enable) {
        parts.push(format!(
            "deployment alarms {}{}",
            a.alarm_names.join(", "),
            if a.rollback { " with rollback" } else { "" }
        ));
    }
    parts.join(", ") + "."
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn version_comes_from_the_tag_then_the_image_tag_then_a_first_version() {
        let mut tags = BTreeMap::new();
        tags.insert("release:version".to_string(), "1.4.0".to_string());
        let pinned = image(
            "h.io/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        );
        assert_eq!(
            choose_version(&tags, &pinned),
            ("1.4.0".into(), VersionFrom::Tag)
        );
        let none = BTreeMap::new();
        assert_eq!(
            choose_version(&none, &image("h.io/app:v2.0.1")),
            ("v2.0.1".into(), VersionFrom::ImageTag)
        );
        assert_eq!(
            choose_version(&none, &image("h.io/app:latest")),
            (FIRST_VERSION.into(), VersionFrom::Default)
        );
        assert_eq!(choose_version(&none, &pinned).1, VersionFrom::Default);
    }

    #[test]
    fn templatize_places_image_family_and_version_and_escapes_jinja() {
        let mut doc = json!({
            "family": "app",
            "containerDefinitions": [
                {"name": "a", "image": "h.io/app:1.2.3",
                 "environment": [
                    {"name": "V", "value": "1.2.3"},
                    {"name": "W", "value": "app-1.2.3"},
                    {"name": "X", "value": "11.2.3 1.2.30"},
                    {"name": "T", "value": "{{ not jinja }}"}
                 ],
                 "dockerLabels": {"version": "1.2.3"}},
                {"name": "b", "image": "h.io/sidecar:1.2.3"}
            ]
        });
        templatize(&mut doc, "h.io/app", Some("1.2.3"));
        let c = &doc["containerDefinitions"][0];
        assert_eq!(doc["family"], "{{ family }}");
        assert_eq!(c["image"], "{{ image }}");
        assert_eq!(c["environment"][0]["value"], "{{ version }}");
        assert_eq!(c["environment"][1]["value"], "app-{{ version }}");
        assert_eq!(c["environment"][2]["value"], "11.2.3 1.2.30");
        assert_eq!(
            c["environment"][3]["value"],
            "{% raw %}{{ not jinja }}{% endraw %}"
        );
        assert_eq!(c["dockerLabels"]["version"], "{{ version }}");
        assert_eq!(
            doc["containerDefinitions"][1]["image"],
            "h.io/sidecar:1.2.3"
        );
        // Without a version (a first version), values stay as they are.
        let mut doc = json!({"containerDefinitions": [{"name": "a", "environment": [{"name": "V", "value": "0.1.0"}]}]});
        templatize(&mut doc, "h.io/app", None);
        assert_eq!(
            doc["containerDefinitions"][0]["environment"][0]["value"],
            "0.1.0"
        );
    }

    #[test]
    fn the_plan_holds_lengths_never_values_and_parses() {
        let inputs = PlanInputs {
            cluster: "c".into(),
            service: "s".into(),
            region: "us-east-1".into(),
            revision: "app:7".into(),
            version: "1.2.3".into(),
            version_from: VersionFrom::Tag,
            repository: "h.io/app".into(),
            family: "app".into(),
            template: "../templates/app.json".into(),
            unpinned: vec![],
            secrets: vec![
                SecretRule::Length("/x/jwt".into(), 64),
                SecretRule::Unread("/x/other".into(), "denied".into()),
            ],
            other_secrets: vec!["arn:aws:secretsmanager:us-east-1:1:secret:x".into()],
            deployment: Some(DeploymentConfiguration {
                strategy: Some("BLUE_GREEN".into()),
                bake_time_in_minutes: Some(20),
                ..Default::default()
            }),
            controller: Some("ECS".into()),
        };
        let text = plan_text(&inputs);
        let v: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(v["release"]["version"].as_str(), Some("1.2.3"));
        assert_eq!(v["service"]["region"].as_str(), Some("us-east-1"));
        assert_eq!(v["rollout"]["timeout"].as_str(), Some("30m"));
        let rules = v["preflight"]["secret"].as_array().unwrap();
        assert_eq!(rules[0]["length"].as_integer(), Some(64));
        assert_eq!(rules[1]["min_length"].as_integer(), Some(1));
        assert!(text.contains("strategy BLUE_GREEN"), "{text}");
    }
}
