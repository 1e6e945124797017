//! The JSON the page's scripts use: the config, the tokens, and paying (prepare what the
//! wallet signs, relay a signed USDC authorization, find the token of an ETH mint).

use super::{PAGE_SIZE, WebError, WebState, index::Entry, index::Metadata, parse_token_id};
use crate::{
    bindings::{gen_im_nft::GenImNFT, gen_im_token_nft::GenImTokenNFT},
    eip3009::{self, Authorization, Kind},
    nft::{
        NftKind,
        known::IERC20,
        manage,
        mint::{self, AUTHORIZATION_VALIDITY, SignedMint},
        token::{self, TokenState},
        token_id_json,
    },
    time,
};
use alloy::{
    primitives::{Address, B256, Bytes, TxHash, U256},
    providers::Provider,
    sol_types::SolCall,
};
use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use tracing::info;

/// `GET /api/config`: what the page needs to pay.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub chain_id: u64,
    /// `0x7a69`, as wallets want it.
    pub chain_id_hex: String,
    pub chain_name: String,
    /// An RPC to add the chain to a wallet with (`wallet_addEthereumChain`).
    pub rpc_url: Option<String>,
    pub explorer: Option<&'static str>,
    pub contract: Address,
    /// `eth` (a `mint` transaction) or `token` (a gasless authorization relayed here).
    pub kind: NftKind,
    /// The price in the asset's smallest unit, decimal.
    pub price: String,
    /// `0.05 USDC`.
    pub price_text: String,
    pub symbol: String,
    pub decimals: u8,
    /// The payment token (token-priced contracts).
    pub token: Option<Address>,
    /// The token's EIP-712 domain name and version.
    pub token_name: Option<String>,
    pub token_version: Option<String>,
    /// Whether this server relays gasless mints (it has a wallet).
    pub relays: bool,
}

pub async fn config(State(state): State<Arc<WebState>>) -> Result<Json<Config>, WebError> {
    Ok(Json(read_config(&state).await?))
}

/// The config, with the current price.
pub async fn read_config(state: &WebState) -> Result<Config, WebError> {
    let price = manage::price(&state.conn, &state.nft).await?.price;
    let (token_name, token_version) = state.token_domain.clone().unzip();
    Ok(Config {
        chain_id: state.chain.id,
        chain_id_hex: format!("{:#x}", state.chain.id),
        chain_name: state.chain.name.clone(),
        rpc_url: state.chain.rpc_url.clone(),
        explorer: state.chain.explorer,
        contract: state.nft.address,
        kind: state.nft.kind,
        price: price.to_string(),
        price_text: state.nft.format(price),
        symbol: state.nft.asset.symbol().to_owned(),
        decimals: state.nft.asset.decimals(),
        token: state.nft.asset.token(),
        token_name,
        token_version,
        relays: state.conn.signer_address().is_some() && state.nft.kind == NftKind::Token,
    })
}

/// One token in the gallery list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GalleryToken {
    #[serde(with = "token_id_json")]
    pub token_id: U256,
    pub state: TokenState,
    pub prompt: String,
    pub owner: Option<Address>,
    pub model: Option<String>,
    /// Mint time, unix seconds.
    pub minted_at: Option<u64>,
    /// `/images/{cid}` when delivered and in the store.
    pub image: Option<String>,
}

impl GalleryToken {
    pub fn of(entry: &Entry) -> Self {
        let meta = entry.metadata();
        Self {
            token_id: entry.token_id,
            state: entry.state,
            prompt: entry.prompt.clone(),
            owner: entry.owner,
            model: meta.and_then(|m| m.model.clone()),
            minted_at: entry.minted_at,
            image: meta.and_then(image_url),
        }
    }
}

/// The image of delivered metadata, served from the store by CID.
pub fn image_url(meta: &Metadata) -> Option<String> {
    meta.image_cid.as_ref().map(|cid| format!("/images/{cid}"))
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub page: Option<usize>,
}

/// A page of the gallery.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GalleryPage {
    pub tokens: Vec<GalleryToken>,
    /// 1-based.
    pub page: usize,
    pub pages: usize,
    pub total: usize,
}

/// Page `page` (1-based, clamped) of the gallery, newest first.
pub async fn gallery_page(state: &WebState, page: Option<usize>) -> GalleryPage {
    state
        .index
        .read(&state.conn, state.store.as_ref(), |tokens| {
            let all: Vec<&Entry> = tokens
                .values()
                .rev()
                .filter(|e| matches!(e.state, TokenState::Pending | TokenState::Delivered))
                .collect();
            let total = all.len();
            let pages = total.div_ceil(PAGE_SIZE).max(1);
            let page = page.unwrap_or(1).clamp(1, pages);
            let tokens = all
                .into_iter()
                .skip((page - 1) * PAGE_SIZE)
                .take(PAGE_SIZE)
                .map(GalleryToken::of)
                .collect();
            GalleryPage {
                tokens,
                page,
                pages,
                total,
            }
        })
        .await
}

pub async fn tokens(
    State(state): State<Arc<WebState>>,
    Query(query): Query<PageQuery>,
) -> Json<GalleryPage> {
    Json(gallery_page(&state, query.page).await)
}

/// A transaction the wallet sends as is (`eth_sendTransaction`'s `to`, `data`, `value`).
#[derive(Debug, Clone, Serialize)]
pub struct WalletTx {
    pub to: Address,
    pub data: Bytes,
    /// Hex wei, as wallets want it.
    pub value: String,
}

/// One token, live from the chain, with what the index and the store know.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    #[serde(with = "token_id_json")]
    pub token_id: U256,
    pub state: TokenState,
    pub owner: Option<Address>,
    /// What was paid, in the smallest unit, and as text (`0.05 USDC`).
    pub escrow: String,
    pub escrow_text: String,
    /// Refund possible after this (unix seconds), and as text.
    pub deadline: u64,
    pub deadline_text: String,
    /// Chain time now.
    pub now: u64,
    /// Pending and past its deadline: its owner may refund it.
    pub refundable: bool,
    /// The providers that may deliver it (pending only).
    pub deliverers: Vec<Address>,
    pub token_uri: Option<String>,
    pub prompt: Option<String>,
    pub minted_at: Option<u64>,
    pub mint_tx: Option<TxHash>,
    /// The delivery or refund transaction.
    pub outcome_tx: Option<TxHash>,
    pub provider: Option<Address>,
    /// `/images/{cid}` when delivered and in the store.
    pub image: Option<String>,
    pub metadata: Option<Metadata>,
    /// The wallet transaction that refunds it, when refundable.
    pub refund: Option<WalletTx>,
}

/// Reads token `id`: its state from the chain, the rest from the index and the store.
pub async fn token_view(state: &WebState, id: U256) -> Result<TokenView, WebError> {
    let status = token::status(&state.conn, &state.nft, id).await?;
    if status.state == TokenState::None {
        return Err(WebError::NotFound(format!(
            "there is no token {id} on {} (never minted)",
            state.nft.address
        )));
    }
    let entry = state
        .index
        .get(&state.conn, state.store.as_ref(), id, status.state)
        .await;
    let metadata = match (entry.as_ref().and_then(Entry::metadata), status.state) {
        (Some(meta), _) => Some(meta.clone()),
        // Delivered after the index's last refresh.
        (None, TokenState::Delivered) => {
            super::index::read_metadata(state.store.as_ref(), status.digest).await
        }
        (None, _) => None,
    };
    let now = state.conn.chain_time().await?;
    let refundable = status.state == TokenState::Pending && now > status.deadline;
    let refund = refundable.then(|| WalletTx {
        to: state.nft.address,
        data: GenImNFT::refundCall { tokenId: id }.abi_encode().into(),
        value: "0x0".into(),
    });
    Ok(TokenView {
        token_id: id,
        state: status.state,
        owner: status.owner,
        escrow: status.escrow.to_string(),
        escrow_text: state.nft.format(status.escrow),
        deadline: status.deadline,
        deadline_text: time::format_utc(status.deadline),
        now,
        refundable,
        deliverers: status.deliverers,
        token_uri: status.token_uri,
        prompt: entry.as_ref().map(|e| e.prompt.clone()),
        minted_at: entry.as_ref().and_then(|e| e.minted_at),
        mint_tx: entry.as_ref().and_then(|e| e.mint_tx),
        outcome_tx: entry.as_ref().and_then(|e| e.outcome_tx),
        provider: entry.as_ref().and_then(|e| e.provider),
        image: metadata.as_ref().and_then(image_url),
        metadata,
        refund,
    })
}

pub async fn token(
    State(state): State<Arc<WebState>>,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, WebError> {
    let id = parse_token_id(&id)?;
    Ok(Json(token_view(&state, id).await?))
}

/// `POST /api/mint/prepare`: who pays for which prompt.
#[derive(Debug, Deserialize)]
pub struct PrepareRequest {
    pub prompt: String,
    pub from: Address,
}

/// The authorization a USDC payer signs, with its fields as the relay wants them back.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prepared {
    pub kind: NftKind,
    /// ETH: the `mint(prompt)` transaction with the price as value.
    pub tx: Option<WalletTx>,
    /// Token: EIP-712 typed data for `eth_signTypedData_v4`.
    pub typed_data: Option<serde_json::Value>,
    pub authorization: Option<Authorization>,
    pub price_text: String,
}

pub async fn prepare(
    State(state): State<Arc<WebState>>,
    Json(request): Json<PrepareRequest>,
) -> Result<Json<Prepared>, WebError> {
    mint::check_prompt(&request.prompt)?;
    let conn = &state.conn;
    let nft = &state.nft;
    let price = manage::price(conn, nft).await?.price;
    let price_text = nft.format(price);
    let balance = match nft.asset.token() {
        None => conn
            .provider
            .get_balance(request.from)
            .await
            .map_err(|err| conn.rpc_error(err))?,
        Some(token) => IERC20::new(token, conn.provider.clone())
            .balanceOf(request.from)
            .call()
            .await
            .map_err(|err| conn.call_error(err))?,
    };
    if balance < price {
        return Err(WebError::Refused(format!(
            "Not enough funds: your account {} holds {}, and an image costs {price_text}{}. Add \
             {} to it, or connect another account.",
            request.from,
            nft.format(balance),
            if nft.kind == NftKind::Eth {
                " plus gas"
            } else {
                ""
            },
            nft.asset.symbol(),
        )));
    }
    let prepared = match nft.asset.token() {
        None => Prepared {
            kind: NftKind::Eth,
            tx: Some(WalletTx {
                to: nft.address,
                data: GenImNFT::mintCall {
                    prompt: request.prompt.clone(),
                }
                .abi_encode()
                .into(),
                value: format!("{price:#x}"),
            }),
            typed_data: None,
            authorization: None,
            price_text,
        },
        Some(token) => {
            relayer(&state)?;
            let (name, version) = state.token_domain.clone().unwrap_or_default();
            let now = conn.chain_time().await?;
            let (valid_after, valid_before) = (
                U256::ZERO,
                U256::from(now + AUTHORIZATION_VALIDITY.as_secs()),
            );
            // The nonce commits the signature to the prompt (GenImTokenNFT's promptNonce):
            // nobody, this server included, can use it for another prompt.
            let authorization = Authorization {
                from: request.from,
                to: nft.address,
                value: price,
                valid_after,
                valid_before,
                nonce: mint::prompt_nonce(
                    nft.address,
                    &request.prompt,
                    request.from,
                    valid_after,
                    valid_before,
                ),
            };
            let typed_data = typed_data(&authorization, &name, &version, conn.chain_id, token);
            Prepared {
                kind: NftKind::Token,
                tx: None,
                typed_data: Some(typed_data),
                authorization: Some(authorization),
                price_text,
            }
        }
    };
    Ok(Json(prepared))
}

/// `eth_signTypedData_v4` input for a `ReceiveWithAuthorization` (only the contract can
/// execute it, so a front-runner cannot move the money without minting).
fn typed_data(
    auth: &Authorization,
    name: &str,
    version: &str,
    chain_id: u64,
    token: Address,
) -> serde_json::Value {
    let field = |name: &str, kind: &str| json!({ "name": name, "type": kind });
    json!({
        "types": {
            "EIP712Domain": [
                field("name", "string"),
                field("version", "string"),
                field("chainId", "uint256"),
                field("verifyingContract", "address"),
            ],
            "ReceiveWithAuthorization": [
                field("from", "address"),
                field("to", "address"),
                field("value", "uint256"),
                field("validAfter", "uint256"),
                field("validBefore", "uint256"),
                field("nonce", "bytes32"),
            ],
        },
        "primaryType": "ReceiveWithAuthorization",
        "domain": {
            "name": name,
            "version": version,
            "chainId": chain_id,
            "verifyingContract": token,
        },
        "message": {
            "from": auth.from,
            "to": auth.to,
            "value": auth.value.to_string(),
            "validAfter": auth.valid_after.to_string(),
            "validBefore": auth.valid_before.to_string(),
            "nonce": auth.nonce,
        },
    })
}

fn relayer(state: &WebState) -> Result<Address, WebError> {
    state.conn.signer_address().ok_or_else(|| {
        WebError::Unavailable(
            "This server has no wallet to relay gasless mints; ask its operator, or mint with \
             `genim mint`."
                .into(),
        )
    })
}

/// `POST /api/mint`: a signed authorization from [`prepare`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MintBody {
    pub prompt: String,
    pub from: Address,
    #[serde(with = "crate::amount::decimal")]
    pub valid_after: U256,
    #[serde(with = "crate::amount::decimal")]
    pub valid_before: U256,
    pub nonce: B256,
    pub signature: Bytes,
    /// `receive` (what [`prepare`] asks for) or `transfer`.
    #[serde(default = "receive")]
    pub kind: Kind,
}

fn receive() -> Kind {
    Kind::Receive
}

/// The token a mint made.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MintAnswer {
    #[serde(with = "token_id_json")]
    pub token_id: U256,
    /// The mint transaction (none when this authorization had minted already).
    pub tx: Option<TxHash>,
}

pub async fn mint(
    State(state): State<Arc<WebState>>,
    Json(body): Json<MintBody>,
) -> Result<Json<MintAnswer>, WebError> {
    mint::check_prompt(&body.prompt)?;
    relayer(&state)?;
    let conn = &state.conn;
    let nft = &state.nft;
    let Some(token) = nft.asset.token() else {
        return Err(WebError::Refused(format!(
            "{} is priced in ETH: pay with a mint transaction from your wallet",
            nft.address
        )));
    };
    let expected = mint::prompt_nonce(
        nft.address,
        &body.prompt,
        body.from,
        body.valid_after,
        body.valid_before,
    );
    if body.nonce != expected {
        return Err(WebError::Refused(
            "The signed authorization is not for this prompt; sign again.".into(),
        ));
    }
    // One relay per authorization at a time; a second click or a retry gets the same token.
    let _guard = state.relaying.lock(body.nonce).await;
    let contract = GenImTokenNFT::new(nft.address, conn.provider.clone());
    let minted = contract
        .mintedByAuthorization(body.from, body.nonce)
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    if !minted.is_zero() {
        return Ok(Json(MintAnswer {
            token_id: minted,
            tx: None,
        }));
    }
    let price = manage::price(conn, nft).await?.price;
    let authorization = Authorization {
        from: body.from,
        to: nft.address,
        value: price,
        valid_after: body.valid_after,
        valid_before: body.valid_before,
        nonce: body.nonce,
    };
    let (name, version) = state.token_domain.clone().unwrap_or_default();
    let domain = eip3009::domain_of(name, version, conn.chain_id, token);
    // Smart wallets (ERC-1271) sign otherwise; the contract checks those, so only an EOA's
    // wrong signature is refused here, before any gas is spent.
    if !authorization.signed_by_from(body.kind, &domain, &body.signature)
        && conn
            .provider
            .get_code_at(body.from)
            .await
            .map_err(|err| conn.rpc_error(err))?
            .is_empty()
    {
        return Err(WebError::Refused(format!(
            "The signature is not {}'s authorization of {} to {}; sign again with that account.",
            body.from,
            nft.format(price),
            nft.address
        )));
    }
    let signed = SignedMint {
        prompt: body.prompt,
        kind: body.kind,
        authorization,
        signature: body.signature,
    };
    let minted = mint::relay_mint(conn, nft, &signed).await?;
    state.index.invalidate().await;
    info!(token_id = %minted.token_id, tx = %minted.tx, from = %body.from, "relayed a gasless mint from the page");
    Ok(Json(MintAnswer {
        token_id: minted.token_id,
        tx: Some(minted.tx),
    }))
}

/// `GET /api/mints/{tx}`: 200 with the token an ETH mint created, 202 while it is not mined.
pub async fn mint_tx(
    State(state): State<Arc<WebState>>,
    Path(tx): Path<String>,
) -> Result<Response, WebError> {
    let hash: TxHash = tx
        .parse()
        .map_err(|_| WebError::NotFound(format!("'{tx}' is not a transaction hash")))?;
    let conn = &state.conn;
    let receipt = conn
        .provider
        .get_transaction_receipt(hash)
        .await
        .map_err(|err| conn.rpc_error(err))?;
    let Some(receipt) = receipt else {
        return Ok((StatusCode::ACCEPTED, Json(json!({ "pending": true }))).into_response());
    };
    if !receipt.status() {
        return Err(WebError::Refused(format!(
            "The mint transaction {hash} failed on chain; nothing was minted (the price may have \
             changed, or minting is paused)."
        )));
    }
    let minted = mint::minted_from(&receipt, &state.nft)?;
    state.index.invalidate().await;
    Ok(Json(MintAnswer {
        token_id: minted.token_id,
        tx: Some(minted.tx),
    })
    .into_response())
}
