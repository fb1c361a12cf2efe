//! `release`: ship a container release to AWS ECS from one declarative plan.

mod aws;
mod check;
mod cli;
mod commands;
mod diff;
mod exit;
mod github;
mod image;
mod interrupt;
mod jinja;
mod output;
mod plan;
mod preflight;
mod redact;
mod rollout;
mod secret;
mod suggest;
mod taskdef;
mod template;
mod verify;

use clap::Parser;

fn main() {
    // `--version` prints release's own version; before, it set the release version. A script
    // written for that (`release --version 1.2.3 deploy …`) must fail, not exit 0 unseen.
    let argv: Vec<String> = std::env::args().collect();
    if argv.len() > 2 && argv[1..].iter().any(|a| a == "--version" || a == "-V") {
        eprintln!(
            "error: --version prints release's version and takes nothing else; to set the release version use --release-version VERSION (or RELEASE_VERSION)"
        );
        std::process::exit(2);
    }
    let args = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(commands::run(args));
    // A build command that ignored SIGTERM still gets its SIGKILL before release exits.
    image::build::process::finish_pending_kills();
    std::process::exit(code);
}
