//! Signers from a raw key, an encrypted keystore or a mnemonic (like cast). Secrets are held in
//! [`Secret`], whose `Debug` is redacted; errors describe what is wrong without the value.

use alloy::{
    primitives::B256,
    signers::local::{LocalSigner, MnemonicBuilder, PrivateKeySigner, coins_bip39::English},
};
use std::{fmt, path::PathBuf};

/// A secret string (private key, mnemonic, password): never printed, never in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Errors building a signer. None of them contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The private key is not 32 bytes of hex, or not a valid secp256k1 key.
    #[error("invalid private key: {0} (the value is not shown)")]
    PrivateKey(&'static str),
    /// The mnemonic is not a valid BIP-39 English phrase (or file holding one).
    #[error("invalid mnemonic: {0} (the phrase is not shown)")]
    Mnemonic(&'static str),
    /// The keystore file cannot be read or decrypted.
    #[error("cannot open keystore {path}: {reason}")]
    Keystore { path: PathBuf, reason: String },
    /// More than one wallet source is set.
    #[error("more than one wallet given ({0}); pass only one")]
    Ambiguous(String),
}

/// Where the signing key comes from.
#[derive(Debug, Clone)]
pub enum WalletSource {
    /// A hex private key.
    PrivateKey(Secret),
    /// A BIP-39 phrase (or a file holding it) and the account index (m/44'/60'/0'/0/INDEX).
    Mnemonic { phrase: Secret, index: u32 },
    /// An encrypted JSON keystore and its password.
    Keystore { path: PathBuf, password: Secret },
}

impl WalletSource {
    /// Builds the signer. Keystore decryption (scrypt, about a second) runs off the runtime.
    pub async fn signer(&self) -> Result<PrivateKeySigner, WalletError> {
        match self {
            Self::PrivateKey(key) => parse_private_key(key.expose()),
            Self::Mnemonic { phrase, index } => mnemonic_signer(phrase, *index),
            Self::Keystore { path, password } => {
                keystore_signer(path.clone(), password.clone()).await
            }
        }
    }
}

/// Parses a hex private key (with or without `0x`). Errors never contain the key.
pub fn parse_private_key(text: &str) -> Result<PrivateKeySigner, WalletError> {
    let hex = text.trim();
    let hex = hex
        .strip_prefix("0x")
        .or_else(|| hex.strip_prefix("0X"))
        .unwrap_or(hex);
    if hex.len() != 64 {
        return Err(WalletError::PrivateKey(
            "expected 32 bytes as 64 hex digits",
        ));
    }
    let bytes: B256 = hex
        .parse()
        .map_err(|_| WalletError::PrivateKey("expected 32 bytes as 64 hex digits"))?;
    PrivateKeySigner::from_bytes(&bytes)
        .map_err(|_| WalletError::PrivateKey("not a valid secp256k1 secret key"))
}

fn mnemonic_signer(mnemonic: &Secret, index: u32) -> Result<PrivateKeySigner, WalletError> {
    let value = mnemonic.expose().trim();
    // A value that names a readable file is that file's phrase (never an error that prints it).
    let phrase = match std::fs::read_to_string(value) {
        Ok(contents) if !value.contains(' ') => Secret::new(contents.trim()),
        _ => Secret::new(value),
    };
    MnemonicBuilder::<English>::default()
        .phrase(phrase.expose())
        .index(index)
        .map_err(|_| WalletError::Mnemonic("invalid account index"))?
        .build()
        .map_err(|_| WalletError::Mnemonic("not a valid BIP-39 English phrase"))
}

async fn keystore_signer(path: PathBuf, password: Secret) -> Result<PrivateKeySigner, WalletError> {
    let fail = |reason: String| WalletError::Keystore {
        path: path.clone(),
        reason,
    };
    if !path.is_file() {
        return Err(fail("no such file".into()));
    }
    let keypath = path.clone();
    let decrypted = tokio::task::spawn_blocking(move || {
        LocalSigner::decrypt_keystore(&keypath, password.expose())
    })
    .await
    .map_err(|err| fail(err.to_string()))?;
    decrypted.map_err(|err| {
        let reason = match err {
            alloy::signers::local::LocalSignerError::IoError(err) => err.to_string(),
            err if err.to_string() == "Mac Mismatch" => "wrong password".to_owned(),
            _ => "not a valid keystore file".to_owned(),
        };
        fail(reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn private_key_errors_never_echo() {
        assert!(parse_private_key(KEY).is_ok());
        assert!(parse_private_key(&format!("0x{KEY}")).is_ok());
        let bad = format!("0x{}zz", &KEY[..62]);
        let err = parse_private_key(&bad).unwrap_err().to_string();
        assert!(!err.contains(&KEY[..10]), "{err}");
        let err = parse_private_key(&KEY[..20]).unwrap_err().to_string();
        assert!(!err.contains(&KEY[..10]), "{err}");
        let zero = parse_private_key(&"0".repeat(64)).unwrap_err().to_string();
        assert!(zero.contains("not a valid secp256k1"), "{zero}");
    }

    #[test]
    fn debug_is_redacted() {
        let source = WalletSource::Mnemonic {
            phrase: Secret::new("test test"),
            index: 0,
        };
        let debug = format!(
            "{source:?} {:?}",
            WalletSource::PrivateKey(Secret::new(KEY))
        );
        assert!(
            !debug.contains(KEY) && !debug.contains("test test"),
            "{debug}"
        );
    }

    #[test]
    fn mnemonic_derives_anvil_accounts() {
        let phrase = Secret::new("test test test test test test test test test test test junk");
        let signer = mnemonic_signer(&phrase, 1).unwrap();
        assert_eq!(
            signer.address(),
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
                .parse::<alloy::primitives::Address>()
                .unwrap()
        );
    }
}
