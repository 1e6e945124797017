//! Integration tests: one binary, one module per area (reth's layout). Chain tests spawn
//! their own anvil from node_modules/.bin (run `npm ci` first).

mod common;
mod mock;

mod bind;
mod build;
mod cli;
mod hostile;
mod lifecycle;
mod provide;
mod provide_faults;
mod provide_reorg;
mod proxy;
mod stores;
mod usdc;
