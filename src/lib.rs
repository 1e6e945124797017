//! genim: paid AI image generation on Ethereum L2s.
//!
//! The library holds the logic; `cmd` only wires it to the command line. Where things live:
//!
//! - [`chain`]: the one connection to a chain, sending and following transactions, errors.
//! - [`nft`]: operations on the escrow NFT contracts (deploy, mint, status, refund, fees...).
//! - [`split`]: revenue splitters.
//! - [`generate`], [`store`], [`metadata`], [`cid`]: images, where they are kept, their
//!   ERC-721 metadata and IPFS CIDs.
//! - [`provide`]: the provider loop (`genim provide`).
//! - [`serve`]: `genim serve`, the x402 HTTP API, and its [`serve::ledger`] of payments.
//! - [`toolchain`]: compiling contracts and generating bindings ([`toolchain::bindgen`]).
//! - [`amount`], [`time`], [`parse`], [`wallet`], [`config`], [`http`], [`fsutil`],
//!   [`logging`]: shared building blocks.

pub mod amount;

pub mod bindings;
pub mod chain;
pub mod cid;
pub mod cmd;
pub mod config;
pub mod demo;
pub mod devnet;
pub mod eip3009;
pub mod fsutil;
pub mod generate;
pub mod http;
pub mod logging;
pub mod metadata;
pub mod nft;
pub mod parse;
pub mod pipeline;
pub mod provide;
pub mod retry;
pub mod serve;
pub mod split;
pub mod store;
pub mod time;
pub mod toolchain;
pub mod usdc;
pub mod wallet;
pub mod x402;
