//! Chains genim knows by name: chain id, a public RPC, a block explorer and Circle's USDC.

use alloy::primitives::{Address, address};
use std::{fmt, str::FromStr};

/// Where the RPC is when nothing says otherwise (a local anvil).
pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8545";

/// Chains genim knows: their chain id, public RPC, explorer and USDC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainPreset {
    /// Local anvil (chain 31337) at http://127.0.0.1:8545.
    Anvil,
    /// OP Mainnet (chain 10).
    Optimism,
    /// Base (chain 8453).
    Base,
    /// OP Sepolia testnet (chain 11155420).
    OptimismSepolia,
    /// Base Sepolia testnet (chain 84532).
    BaseSepolia,
}

impl ChainPreset {
    /// Every preset, in the order `--help` lists them.
    pub const ALL: [Self; 5] = [
        Self::Anvil,
        Self::Optimism,
        Self::Base,
        Self::OptimismSepolia,
        Self::BaseSepolia,
    ];

    /// The chain id the RPC must report.
    pub fn chain_id(self) -> u64 {
        match self {
            Self::Anvil => 31337,
            Self::Optimism => 10,
            Self::Base => 8453,
            Self::OptimismSepolia => 11_155_420,
            Self::BaseSepolia => 84532,
        }
    }

    /// The preset of a chain id, if genim knows it.
    pub fn from_chain_id(chain_id: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.chain_id() == chain_id)
    }

    /// A public RPC URL (rate-limited; use your own for real traffic).
    pub fn default_rpc_url(self) -> &'static str {
        match self {
            Self::Anvil => DEFAULT_RPC_URL,
            Self::Optimism => "https://mainnet.optimism.io",
            Self::Base => "https://mainnet.base.org",
            Self::OptimismSepolia => "https://sepolia.optimism.io",
            Self::BaseSepolia => "https://sepolia.base.org",
        }
    }

    /// The block explorer's base URL (none for anvil).
    pub fn explorer(self) -> Option<&'static str> {
        match self {
            Self::Anvil => None,
            Self::Optimism => Some("https://optimistic.etherscan.io"),
            Self::Base => Some("https://basescan.org"),
            Self::OptimismSepolia => Some("https://sepolia-optimism.etherscan.io"),
            Self::BaseSepolia => Some("https://sepolia.basescan.org"),
        }
    }

    /// Circle's native USDC on this chain (none on anvil, where `--token usdc` deploys one).
    pub fn usdc(self) -> Option<Address> {
        match self {
            Self::Anvil => None,
            Self::Optimism => Some(address!("0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85")),
            Self::Base => Some(address!("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")),
            Self::OptimismSepolia => Some(address!("0x5fd84259d66Cd46123540766Be93DFE6D43130D7")),
            Self::BaseSepolia => Some(address!("0x036CbD53842c5426634e7929541eC2318f3dCF7e")),
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Anvil => "anvil",
            Self::Optimism => "optimism",
            Self::Base => "base",
            Self::OptimismSepolia => "optimism-sepolia",
            Self::BaseSepolia => "base-sepolia",
        }
    }

    /// All names, comma-separated, for error messages.
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

impl fmt::Display for ChainPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown chain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chain '{0}': expected one of {names}", names = ChainPreset::names())]
pub struct UnknownChain(pub String);

impl FromStr for ChainPreset {
    type Err = UnknownChain;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|p| p.name() == wanted)
            .ok_or_else(|| UnknownChain(text.trim().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for preset in ChainPreset::ALL {
            assert_eq!(preset.name().parse::<ChainPreset>().unwrap(), preset);
            assert_eq!(ChainPreset::from_chain_id(preset.chain_id()), Some(preset));
        }
        assert_eq!(
            "Base_Sepolia".parse::<ChainPreset>().unwrap(),
            ChainPreset::BaseSepolia
        );
        let err = "mainnet".parse::<ChainPreset>().unwrap_err().to_string();
        assert!(
            err.starts_with("unknown chain 'mainnet': expected one of anvil"),
            "{err}"
        );
    }
}
