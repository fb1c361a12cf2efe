//! Rollouts: what is observed of a service, and the pure decision over it.

pub mod decision;
pub mod observation;
