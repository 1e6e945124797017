//! genim: paid AI image generation on Ethereum L2s.
//!
//! The library holds the logic (compiling, bindings, chain access, image generation, storage,
//! the provider loop); `cmd` only wires it to the command line.

pub mod bind;
pub mod bindings;
pub mod chain;
pub mod cid;
pub mod cmd;
pub mod config;
pub mod fsutil;
pub mod generate;
pub mod http;
pub mod logging;
pub mod metadata;
pub mod opts;
pub mod pipeline;
pub mod provide;
pub mod retry;
pub mod revert;
pub mod store;
pub mod time;
pub mod toolchain;
pub mod units;
