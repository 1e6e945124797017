//! Integration tests: one binary, one module per area (reth's layout). Chain tests spawn
//! their own anvil from node_modules/.bin (run `npm ci` first).

mod common;
mod mock;

mod bind;
mod build;
mod cli;
mod demo;
mod hostile;
mod ledger;
mod lifecycle;
mod provide;
mod provide_faults;
mod provide_reorg;
mod proxy;
mod serve;
mod stores;
mod token;
mod usdc;
mod web;
mod x402_facilitator;
mod x402_harness;
mod x402_pay;
mod x402_server;
mod x402_settle;
mod x402_verify;
mod x402_wire;
