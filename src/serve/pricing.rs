//! Prices per model and size, in the payment token's smallest unit: a default (`--price`) and
//! overrides from `genim.toml`:
//!
//! ```toml
//! [serve.prices]
//! "local-v1" = "0.02"            # every size of a model
//! "local-v1@1024x1024" = "0.05"  # one size of it
//! ```

use crate::{amount::Asset, generate::Size};
use alloy::primitives::U256;
use std::collections::BTreeMap;

/// The server's price list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    default: U256,
    overrides: BTreeMap<String, U256>,
}

impl Pricing {
    /// One price for everything.
    pub fn flat(price: U256) -> Self {
        Self {
            default: price,
            overrides: BTreeMap::new(),
        }
    }

    /// The default plus a `[serve.prices]` table, amounts parsed in `asset`.
    pub fn from_table(
        default: U256,
        table: Option<&toml::Table>,
        asset: &Asset,
    ) -> Result<Self, String> {
        let mut overrides = BTreeMap::new();
        for (key, value) in table.into_iter().flatten() {
            let text = value
                .as_str()
                .map(str::to_owned)
                .or_else(|| value.as_float().map(|f| f.to_string()))
                .or_else(|| value.as_integer().map(|i| i.to_string()))
                .ok_or_else(|| format!("[serve.prices] {key}: expected an amount like \"0.05\""))?;
            let amount = asset
                .parse(&text)
                .map_err(|err| format!("[serve.prices] {key}: {err}"))?;
            if let Some((_, size)) = key.split_once('@') {
                size.parse::<Size>()
                    .map_err(|err| format!("[serve.prices] {key}: {err}"))?;
            }
            overrides.insert(key.clone(), amount);
        }
        Ok(Self { default, overrides })
    }

    /// The price of one image of `model` at `size`: the most specific entry wins.
    pub fn price(&self, model: &str, size: Size) -> U256 {
        self.overrides
            .get(&format!("{model}@{size}"))
            .or_else(|| self.overrides.get(model))
            .copied()
            .unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Address;

    #[test]
    fn most_specific_price_wins() {
        let usdc = Asset::Token {
            address: Address::ZERO,
            symbol: "USDC".into(),
            decimals: 6,
        };
        let table: toml::Table =
            toml::from_str("\"local-v1\" = \"0.02\"\n\"local-v1@1024x1024\" = \"0.05\"\n").unwrap();
        let pricing = Pricing::from_table(U256::from(10_000), Some(&table), &usdc).unwrap();
        let size = |text: &str| text.parse::<Size>().unwrap();
        assert_eq!(
            pricing.price("local-v1", size("1024x1024")),
            U256::from(50_000)
        );
        assert_eq!(
            pricing.price("local-v1", size("256x256")),
            U256::from(20_000)
        );
        assert_eq!(pricing.price("other", size("256x256")), U256::from(10_000));
        let bad: toml::Table = toml::from_str("\"m@huge\" = \"1\"\n").unwrap();
        assert!(Pricing::from_table(U256::ZERO, Some(&bad), &usdc).is_err());
    }
}
