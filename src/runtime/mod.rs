//! The live run: every service as real tonic servers on 127.0.0.1, rolled out under
//! open-loop load. The only module below `main` that touches the network or the clock.

pub mod cluster;
pub mod fault;
pub mod load;
pub mod net;
pub mod pool;
pub mod replica;
pub mod run;
pub mod sweep;
