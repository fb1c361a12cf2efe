//! Rollouts: what is observed of a service, the pure decision over it, the watch's memory
//! between polls, and the settlement of a rollout's end into an exit code.

pub mod decision;
pub mod deployment;
pub mod observation;
pub mod settle;
pub mod task_logs;
pub mod tracker;
pub mod watch;

#[cfg(test)]
mod fixture_tests;
