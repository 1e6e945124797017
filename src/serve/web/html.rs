//! HTML building blocks: escaping (every user string goes through [`escape`]) and the page
//! frame. Pages are written with `format!`; a template engine would add a dependency for the
//! two pages this server has.

use std::fmt::Write as _;

/// `text` safe in HTML text and in double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `0x1234…abcd`, for places where a full address does not fit.
pub fn short_address(address: &impl std::fmt::Display) -> String {
    let full = address.to_string();
    if full.len() <= 12 {
        return full;
    }
    format!("{}…{}", &full[..6], &full[full.len() - 4..])
}

/// The first `max` characters of `text`, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", text[..at].trim_end()),
        None => text.to_owned(),
    }
}

/// A link to `url` showing `label`, or just the label when there is no URL. Both escaped.
pub fn link(url: Option<&str>, label: &str) -> String {
    match url {
        Some(url) => format!(
            r#"<a href="{}" rel="noopener noreferrer">{}</a>"#,
            escape(url),
            escape(label)
        ),
        None => escape(label),
    }
}

/// A whole page: `title` (escaped here), the module script `script` (a file under
/// `/assets/`), and `body` (already HTML).
pub fn page(title: &str, script: &str, header_extra: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 1024);
    let _ = write!(
        out,
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/style.css">
<script type="module" src="/assets/{script}"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="/">GenIm</a>
{header_extra}
</header>
<main id="main">
{body}
</main>
</body>
</html>
"##,
        title = escape(title),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("a fox ü"), "a fox ü");
    }

    #[test]
    fn shortens_and_truncates() {
        assert_eq!(
            short_address(&"0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            "0x7099…79C8"
        );
        assert_eq!(truncate("ünïcode text", 3), "ünï…");
        assert_eq!(truncate("short", 10), "short");
    }

    #[test]
    fn links_escape_both_parts() {
        assert_eq!(link(None, "<b>"), "&lt;b&gt;");
        assert_eq!(
            link(Some("https://x/?a=1&b=\"2\""), "tx"),
            r#"<a href="https://x/?a=1&amp;b=&quot;2&quot;" rel="noopener noreferrer">tx</a>"#
        );
    }
}
