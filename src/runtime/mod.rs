//! The live run: every service as real tonic servers, rolled out under open-loop load,
//! over loopback TCP in real time or over a simulated network in virtual time
//! (`net`, `host`). The only module below `main` that touches the network or the clock.

pub mod avail;
pub mod child;
pub mod cluster;
pub mod control;
pub mod fault;
pub mod flags;
pub mod host;
pub mod interrupt;
pub mod load;
pub mod net;
pub mod pool;
pub mod protect;
pub mod remote;
pub mod replica;
pub mod run;
pub mod serve;
pub mod sweep;
pub mod trials;
pub mod trouble;
pub mod workers;
