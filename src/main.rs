//! `release`: ship a container release to AWS ECS from one declarative plan.

mod aws;
mod build;
mod cli;
mod commands;
mod deployment;
mod diff;
mod exit;
mod github;
mod image_ref;
mod interrupt;
mod jinja;
mod output;
mod plan;
mod preflight;
mod registry;
mod release_image;
mod rollout;
mod secret;
mod suggest;
mod taskdef;
mod template;
mod verify;
mod watch;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(commands::run(args));
    std::process::exit(code);
}
