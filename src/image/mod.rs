//! The image concept: a reference (`repo:tag`, `repo@sha256:…`), the registry's HTTP API
//! (the manifest digest a tag names, credentials), resolving the plan's image to a pinned
//! digest, which tags a repository lets a push move (ECR tag mutability), the image's platform
//! against the task definition's, and building,
//! tagging and pushing it.

pub mod build;
pub mod mutability;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod resolve;
