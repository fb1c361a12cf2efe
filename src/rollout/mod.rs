//! Rollouts: what is observed of a service, the pure decision over it, and the watch's
//! memory between polls.

pub mod decision;
pub mod observation;
pub mod tracker;

#[cfg(test)]
mod fixture_tests;
