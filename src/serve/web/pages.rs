//! The two HTML pages, rendered on the server (fast first paint, works before the script
//! loads); the scripts add the wallet and keep a pending token up to date.

use super::{
    WebError, WebState,
    api::{self, GalleryToken, PageQuery, TokenView},
    html::{self, escape, link, short_address, truncate},
    parse_token_id,
};
use crate::{nft::token::TokenState, time};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use std::{fmt::Write as _, sync::Arc};

/// Characters of a prompt shown under a gallery image (the token page shows all of it).
const PROMPT_PREVIEW: usize = 140;

/// The chain badge and the wallet button, on every page.
fn header_extra(state: &WebState) -> String {
    format!(
        r#"<span class="chain" title="chain id {id}">{name}</span>
<span class="account" id="account" hidden></span>
<button type="button" class="connect" id="connect" data-testid="connect">Connect wallet</button>"#,
        id = state.chain.id,
        name = escape(&state.chain.name),
    )
}

/// `GET /`: the generate form and the gallery.
pub async fn gallery(
    State(state): State<Arc<WebState>>,
    Query(query): Query<PageQuery>,
) -> Html<String> {
    let (page, config) = tokio::join!(
        api::gallery_page(&state, query.page),
        api::read_config(&state)
    );
    let (price, how) = match &config {
        Ok(config) if config.kind == crate::nft::NftKind::Token => (
            config.price_text.clone(),
            "Gasless: you sign a payment authorization in your wallet and this server pays the \
             gas.",
        ),
        Ok(config) => (
            config.price_text.clone(),
            "You pay with a mint transaction from your wallet (plus gas).",
        ),
        Err(_) => (
            "unavailable".to_owned(),
            "The chain does not answer right now; try again in a moment.",
        ),
    };
    let mut body = String::with_capacity(8192);
    let _ = write!(
        body,
        r#"<section class="generate" aria-labelledby="generate-title">
<h1 id="generate-title">Generate an image</h1>
<form id="generate-form" novalidate>
<label for="prompt">Describe the image</label>
<textarea id="prompt" name="prompt" data-testid="prompt" rows="3" maxlength="1000" required placeholder="a red fox sleeping in fresh snow, watercolor"></textarea>
<p class="price">Price: <strong id="price">{price}</strong>. {how}</p>
<div class="actions">
<button type="submit" id="generate" data-testid="generate">Mint &amp; Generate</button>
</div>
<p class="status" id="status" role="status" aria-live="polite"></p>
<p class="error" id="error" data-testid="error" role="alert" hidden></p>
</form>
</section>
<section class="gallery" aria-labelledby="gallery-title">
<h2 id="gallery-title">Gallery</h2>
"#,
        price = escape(&price),
    );
    if page.tokens.is_empty() {
        body.push_str(r#"<p class="empty">No images yet: generate the first one.</p>"#);
    } else {
        let _ = write!(
            body,
            r#"<p class="count">{} image{}, newest first.</p><ul class="grid">"#,
            page.total,
            if page.total == 1 { "" } else { "s" }
        );
        for token in &page.tokens {
            gallery_item(&mut body, token);
        }
        body.push_str("</ul>");
    }
    if page.pages > 1 {
        body.push_str(r#"<nav class="pager" aria-label="Gallery pages">"#);
        if page.page > 1 {
            let _ = write!(
                body,
                r#"<a href="/?page={}" rel="prev">← Newer</a>"#,
                page.page - 1
            );
        }
        let _ = write!(body, r#"<span>Page {} of {}</span>"#, page.page, page.pages);
        if page.page < page.pages {
            let _ = write!(
                body,
                r#"<a href="/?page={}" rel="next">Older →</a>"#,
                page.page + 1
            );
        }
        body.push_str("</nav>");
    }
    body.push_str("</section>");
    footer(&mut body, &state);
    Html(html::page(
        "GenIm: AI images, paid on chain",
        "gallery.js",
        &header_extra(&state),
        &body,
    ))
}

fn gallery_item(out: &mut String, token: &GalleryToken) {
    let id = token.token_id;
    let prompt = truncate(&token.prompt, PROMPT_PREVIEW);
    let (src, alt) = match (&token.image, token.state) {
        (Some(src), _) => (src.as_str(), token.prompt.clone()),
        (None, TokenState::Pending) => (
            "/assets/pending.svg",
            format!("Image pending: {}", token.prompt),
        ),
        (None, _) => (
            "/assets/pending.svg",
            "The image is not in this server's store".to_owned(),
        ),
    };
    let _ = write!(
        out,
        r#"<li class="item" data-testid="gallery-item" data-token-id="{id}" data-state="{state}">
<a class="thumb" href="/token/{id}" tabindex="-1" aria-hidden="true"><img src="{src}" alt="{alt}" loading="lazy" decoding="async" width="512" height="512"></a>
<div class="caption">
<p class="prompt"><a href="/token/{id}">{prompt}</a></p>
<p class="meta"><span class="state state-{state}">{state}</span>"#,
        state = token.state,
        src = escape(src),
        alt = escape(&alt),
        prompt = escape(&prompt),
    );
    if let Some(model) = &token.model {
        let _ = write!(out, r#" · <span class="model">{}</span>"#, escape(model));
    }
    if let Some(at) = token.minted_at {
        let _ = write!(
            out,
            r#" · <time datetime="{}">{}</time>"#,
            time::format_iso8601(at),
            date(at)
        );
    }
    if let Some(owner) = token.owner {
        let _ = write!(
            out,
            r#" · <span class="owner" title="{owner}">owner {}</span>"#,
            short_address(&owner)
        );
    }
    out.push_str("</p></div></li>\n");
}

/// `2026-11-23`.
fn date(unix: u64) -> String {
    time::format_iso8601(unix)
        .split('T')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn footer(out: &mut String, state: &WebState) {
    let contract = state.nft.address.to_string();
    let _ = write!(
        out,
        r#"<footer class="foot"><p>Contract {} on {} (chain {}), priced in {}. Images are generated off chain and their metadata digest is stored on chain; the price is held in escrow until the image is delivered, or refunded after the deadline.</p></footer>"#,
        link(state.chain.address_url(&contract).as_deref(), &contract),
        escape(&state.chain.name),
        state.chain.id,
        escape(state.nft.asset.symbol()),
    );
}

/// `GET /token/{id}`.
pub async fn token(State(state): State<Arc<WebState>>, Path(id): Path<String>) -> Response {
    let view = match parse_token_id(&id) {
        Ok(id) => api::token_view(&state, id).await,
        Err(err) => Err(err),
    };
    match view {
        Ok(view) => Html(token_page(&state, &view)).into_response(),
        Err(err) => {
            let status = match &err {
                WebError::NotFound(_) => StatusCode::NOT_FOUND,
                WebError::Chain(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::BAD_REQUEST,
            };
            let body = format!(
                r#"<section class="notice"><h1>Token not shown</h1><p data-testid="error" class="error" role="alert">{}</p><p><a href="/">Back to the gallery</a></p></section>"#,
                escape(&err.to_string())
            );
            let page = html::page("GenIm: token", "token.js", &header_extra(&state), &body);
            (status, Html(page)).into_response()
        }
    }
}

fn tx_link(state: &WebState, tx: &impl std::fmt::Display) -> String {
    let full = tx.to_string();
    match state.chain.tx_url(&full) {
        Some(url) => format!(
            r#"<a href="{}" rel="noopener noreferrer" title="{full}">{}</a>"#,
            escape(&url),
            short_address(&full)
        ),
        None => format!(r#"<code title="{full}">{}</code>"#, short_address(&full)),
    }
}

fn address(state: &WebState, address: &impl std::fmt::Display) -> String {
    let full = address.to_string();
    format!(
        r#"<span class="address">{}</span>"#,
        link(state.chain.address_url(&full).as_deref(), &full)
    )
}

fn token_page(state: &WebState, view: &TokenView) -> String {
    let id = view.token_id;
    let prompt = view.prompt.as_deref().unwrap_or("");
    let mut body = String::with_capacity(8192);
    let _ = write!(
        body,
        r#"<nav class="crumbs"><a href="/">← Gallery</a></nav>
<article class="token" id="token" data-token-id="{id}" data-state="{state}" data-refundable="{refundable}">
<div class="art">"#,
        state = view.state,
        refundable = view.refundable,
    );
    match (&view.image, view.state) {
        (Some(src), _) => {
            let (w, h) = view
                .metadata
                .as_ref()
                .and_then(|m| m.dimensions())
                .unwrap_or((512, 512));
            let _ = write!(
                body,
                r#"<img data-testid="token-image" src="{}" alt="{}" width="{w}" height="{h}">"#,
                escape(src),
                escape(prompt),
            );
        }
        (None, TokenState::Pending) => body.push_str(
            r#"<div class="placeholder"><img src="/assets/pending.svg" alt="" width="512" height="512"><p>Generating…</p></div>"#,
        ),
        (None, TokenState::Delivered) => body.push_str(
            r#"<div class="placeholder"><img src="/assets/pending.svg" alt="" width="512" height="512"><p>Delivered, but the image is not in this server's store.</p></div>"#,
        ),
        (None, _) => body.push_str(
            r#"<div class="placeholder"><img src="/assets/pending.svg" alt="" width="512" height="512"><p>Refunded: no image was made.</p></div>"#,
        ),
    }
    let follow = match (view.state, view.refundable) {
        (TokenState::Pending, false) => {
            "Waiting for an image provider to deliver it; this page updates by itself."
        }
        (TokenState::Pending, true) => {
            "Not delivered before its deadline: its owner may take the money back."
        }
        (TokenState::Delivered, _) => "Delivered: the image is final and its digest is on chain.",
        _ => "Refunded: the price went back to the owner and the token was burned.",
    };
    let _ = write!(
        body,
        r#"</div>
<div class="facts">
<h1>GenIm #{id}</h1>
<p class="state-line">State: <strong class="state state-{state}" data-testid="token-state">{state}</strong></p>
<p class="status" id="status" role="status" aria-live="polite">{follow}</p>
<h2>Prompt</h2>
<p class="prompt-full">{prompt}</p>
<dl>"#,
        state = view.state,
        prompt = escape(prompt),
    );
    let mut row = |term: &str, value: String| {
        let _ = write!(body, "<dt>{}</dt><dd>{value}</dd>", escape(term));
    };
    if let Some(owner) = view.owner {
        row("Owner", address(state, &owner));
    }
    row(
        "Paid",
        match view.state {
            TokenState::Pending => format!(
                "{} (held in escrow until delivered)",
                escape(&view.escrow_text)
            ),
            _ => escape(&view.escrow_text),
        },
    );
    if let Some(tx) = &view.mint_tx {
        let at = view.minted_at.map(time::format_utc).unwrap_or_default();
        row(
            "Minted",
            format!("{} · {}", escape(&at), tx_link(state, tx)),
        );
    }
    if view.state == TokenState::Pending {
        row(
            "Refund possible after",
            format!(
                r#"<time datetime="{}">{}</time>"#,
                time::format_iso8601(view.deadline),
                escape(&view.deadline_text)
            ),
        );
        let deliverers = if view.deliverers.is_empty() {
            "nobody authorized now: it will be refundable after the deadline".to_owned()
        } else {
            let items: String = view
                .deliverers
                .iter()
                .map(|d| format!("<li>{}</li>", address(state, d)))
                .collect();
            format!(r#"<ul class="plain">{items}</ul>"#)
        };
        row("Who may deliver", deliverers);
    }
    if let (TokenState::Delivered, Some(tx)) = (view.state, &view.outcome_tx) {
        let by = view
            .provider
            .map(|p| format!("{} · ", address(state, &p)))
            .unwrap_or_default();
        row("Delivered by", format!("{by}{}", tx_link(state, tx)));
    }
    if let (TokenState::Refunded, Some(tx)) = (view.state, &view.outcome_tx) {
        row("Refund", tx_link(state, tx));
    }
    if let Some(uri) = &view.token_uri
        && uri.starts_with("ipfs://")
    {
        row(
            "Token URI",
            format!(r#"<code class="wrap">{}</code>"#, escape(uri)),
        );
    }
    let contract = state.nft.address.to_string();
    row("Contract", address(state, &contract));
    body.push_str("</dl>");
    let _ = write!(
        body,
        r#"<div class="actions"><button type="button" id="refund" data-testid="refund" class="secondary"{hidden}>Refund {escrow}</button></div>
<p class="error" id="error" data-testid="error" role="alert" hidden></p>"#,
        hidden = if view.refundable { "" } else { " hidden" },
        escrow = escape(&view.escrow_text),
    );
    if let Some(meta) = &view.metadata {
        body.push_str(r#"<h2>Metadata</h2><table class="meta-table"><tbody>"#);
        let attributes = meta
            .json
            .get("attributes")
            .and_then(|a| a.as_array())
            .cloned()
            .unwrap_or_default();
        for key in ["name", "description"] {
            if let Some(value) = meta.json.get(key).and_then(|v| v.as_str()) {
                let _ = write!(
                    body,
                    "<tr><th scope=\"row\">{key}</th><td>{}</td></tr>",
                    escape(value)
                );
            }
        }
        for attribute in attributes {
            let name = attribute
                .get("trait_type")
                .and_then(|t| t.as_str())
                .unwrap_or("?");
            let value = match attribute.get("value") {
                Some(serde_json::Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let _ = write!(
                body,
                "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                escape(name),
                escape(&value)
            );
        }
        let _ = write!(
            body,
            r#"</tbody></table><p><a href="/images/{}">The metadata JSON</a> (ERC-721, content-addressed: its sha-256 is on chain).</p>"#,
            escape(&meta.cid)
        );
    }
    body.push_str("</div></article>");
    footer(&mut body, state);
    html::page(
        &format!("GenIm #{id}: {}", truncate(prompt, 60)),
        "token.js",
        &header_extra(state),
        &body,
    )
}
