//! The flag state every replica evaluates: one per run, changed by the steps and the
//! gate while traffic flows.
//!
//! The load generator reads it when an entry request arrives and the request carries
//! what it read down every hop (with its user), so each replica decides a flagged call
//! for that request alike, and a switch meets only requests that arrive after it.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::{FlagChange, Flags};

#[derive(Debug)]
pub struct FlagBoard {
    flags: Mutex<Flags>,
}

impl FlagBoard {
    pub fn new(flags: Flags) -> FlagBoard {
        FlagBoard {
            flags: Mutex::new(flags),
        }
    }

    /// Makes `changes`, in one switch.
    pub fn apply(&self, changes: &[FlagChange]) {
        let mut flags = crate::lock::lock(&self.flags);
        for change in changes {
            flags.apply(change);
        }
    }

    /// Makes `changes` and runs `then` (a new step's start) in one switch: the load
    /// generator reads the flags and a request's step together ([`FlagBoard::context_with`]),
    /// so no request is counted in a step with the flags of another. `then` must be short:
    /// requests wait for it.
    pub fn apply_then<R>(&self, changes: &[FlagChange], then: impl FnOnce() -> R) -> R {
        let mut flags = crate::lock::lock(&self.flags);
        for change in changes {
            flags.apply(change);
        }
        then()
    }

    /// What an entry request carries ([`FlagBoard::context`]), read together with
    /// `read` (the step it is counted in).
    pub fn context_with<R>(&self, read: impl FnOnce() -> R) -> (HashMap<String, u32>, R) {
        let flags = crate::lock::lock(&self.flags);
        let read = read();
        (context_of(&flags), read)
    }

    /// Every flag's state now.
    pub fn now(&self) -> Flags {
        crate::lock::lock(&self.flags).clone()
    }

    /// The percent of users each flag is on for now, leaving out the flags that are off:
    /// what an entry request carries.
    pub fn context(&self) -> HashMap<String, u32> {
        context_of(&crate::lock::lock(&self.flags))
    }
}

/// The percent of users each flag is on for, leaving out the flags that are off.
fn context_of(flags: &Flags) -> HashMap<String, u32> {
    flags
        .0
        .iter()
        .filter(|(_, setting)| setting.share() > 0)
        .map(|(name, setting)| (name.clone(), u32::from(setting.share())))
        .collect()
}
