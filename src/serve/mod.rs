//! `genim serve`: the HTTP API that sells images over x402, and the state behind it.

pub mod ledger;
