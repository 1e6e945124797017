//! Chain access shared by every command, the provider loop and the server: one [`Connection`]
//! per process (one provider, built once), a [`Sender`] that numbers, signs and follows the
//! signer's transactions to their end, chain presets, and errors as one-line sentences.

mod connection;
mod error;
pub mod multicall3;
mod preset;
pub mod revert;
mod send;

pub use connection::{ConnectOptions, Connection};
pub use error::{CONNECT_TIMEOUT, ChainError, REQUEST_TIMEOUT, rpc_error};
pub use preset::{ChainPreset, DEFAULT_RPC_URL, UnknownChain};
pub use send::{MAX_REPLACEMENTS, Sender, call_tx, receipt_event, receipt_events};
