//! Each person's Salesforce refresh token (`salesforce.identity = "user"`), sealed at rest.
//! A leaked database alone must not let anyone act as the people who connected, so the
//! token is sealed with XChaCha20-Poly1305 under `CRMBOT_SECRET_KEY` (kept outside the data
//! folder), a fresh random nonce per seal, and the Slack user key as associated data: a
//! sealed token copied to another person's entry does not open. One sled tree, one type,
//! so another storage backend has one small thing to carry.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// The sled tree of sealed refresh tokens, keyed by Slack user key.
pub const TREE: &str = "salesforce_tokens";

/// How to make a key, for every message that asks for one.
pub const MAKE_KEY: &str = "make one with `openssl rand -base64 32` and set CRMBOT_SECRET_KEY (or CRMBOT_SECRET_KEY_FILE naming a file that holds it); keep it outside the data folder";

/// Why a key or a sealed token cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "CRMBOT_SECRET_KEY must be 32 bytes written as base64 (44 characters) or hex (64 characters); {MAKE_KEY}"
    )]
    BadKey,
    #[error(
        "a stored Salesforce sign-in cannot be opened with this CRMBOT_SECRET_KEY (was the key changed?)"
    )]
    Open,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The sealing key. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct SealKey(XChaCha20Poly1305);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(********)")
    }
}

impl SealKey {
    /// 32 bytes as hex (64 characters) or base64 (standard or URL-safe, padded or not).
    pub fn parse(text: &SecretString) -> Result<SealKey, SealError> {
        let text = text.expose_secret().trim();
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            engines.iter().find_map(|e| e.decode(text).ok())
        };
        match bytes {
            Some(b) if b.len() == 32 => XChaCha20Poly1305::new_from_slice(&b)
                .map(SealKey)
                .map_err(|_| SealError::BadKey),
            _ => Err(SealError::BadKey),
        }
    }
}

/// One person's stored sign-in, as kept on disk: only the refresh token is secret.
#[derive(Serialize, Deserialize)]
struct Stored {
    /// The Salesforce User the token acts as (from the token answer's identity URL).
    sf_user: String,
    connected_at: DateTime<Utc>,
    nonce: String,
    sealed: String,
}

/// A person's sign-in, opened.
pub struct SignedIn {
    pub refresh_token: SecretString,
    pub sf_user: String,
    pub connected_at: DateTime<Utc>,
}

/// The sealed refresh tokens. Cheap to clone.
#[derive(Clone)]
pub struct Tokens {
    tree: sled::Tree,
    key: SealKey,
}

/// What the seal is bound to besides the key.
fn associated(user_key: &str) -> Vec<u8> {
    format!("crmbot/salesforce-refresh-token/v1/{user_key}").into_bytes()
}

impl Tokens {
    pub fn open(store: &Store, key: SealKey) -> Result<Tokens, StoreError> {
        Ok(Tokens {
            tree: store.tree(TREE)?,
            key,
        })
    }

    /// Seals and stores `refresh_token` for `user_key` (replacing any earlier one).
    pub fn put(
        &self,
        user_key: &str,
        refresh_token: &SecretString,
        sf_user: &str,
    ) -> Result<(), SealError> {
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = XNonce::from_slice(&nonce_bytes);
        let aad = associated(user_key);
        let sealed = self
            .key
            .0
            .encrypt(
                nonce,
                Payload {
                    msg: refresh_token.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Open)?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let stored = Stored {
            sf_user: sf_user.to_string(),
            connected_at: Utc::now(),
            nonce: b64.encode(nonce_bytes),
            sealed: b64.encode(sealed),
        };
        let bytes = serde_json::to_vec(&stored).map_err(StoreError::from)?;
        super::off_async(|| {
            self.tree.insert(user_key.as_bytes(), bytes)?;
            self.tree.flush()
        })
        .map_err(StoreError::from)?;
        Ok(())
    }

    /// The sign-in of `user_key`, opened; `None` when there is none.
    pub fn get(&self, user_key: &str) -> Result<Option<SignedIn>, SealError> {
        let Some(bytes) = self
            .tree
            .get(user_key.as_bytes())
            .map_err(StoreError::from)?
        else {
            return Ok(None);
        };
        let stored: Stored = serde_json::from_slice(&bytes).map_err(StoreError::from)?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let nonce = b64.decode(&stored.nonce).map_err(|_| SealError::Open)?;
        let sealed = b64.decode(&stored.sealed).map_err(|_| SealError::Open)?;
        if nonce.len() != 24 {
            return Err(SealError::Open);
        }
        let aad = associated(user_key);
        let plain = self
            .key
            .0
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Open)?;
        let text = String::from_utf8(plain).map_err(|_| SealError::Open)?;
        Ok(Some(SignedIn {
            refresh_token: SecretString::from(text),
            sf_user: stored.sf_user,
            connected_at: stored.connected_at,
        }))
    }

    /// Forgets the sign-in of `user_key`; true when there was one.
    pub fn remove(&self, user_key: &str) -> Result<bool, StoreError> {
        let removed = super::off_async(|| {
            let old = self.tree.remove(user_key.as_bytes())?;
            self.tree.flush()?;
            Ok::<_, sled::Error>(old)
        })?;
        Ok(removed.is_some())
    }

    /// People signed in.
    pub fn count(&self) -> usize {
        self.tree.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealKey {
        SealKey::parse(&SecretString::from(hex::encode([7u8; 32]))).unwrap()
    }

    #[test]
    fn a_token_opens_only_for_its_user_and_never_lies_in_clear() {
        let store = Store::temporary().unwrap();
        let tokens = Tokens::open(&store, key()).unwrap();
        let token = SecretString::from("5Aep-the-refresh-token".to_string());
        tokens.put("U1", &token, "005A").unwrap();
        let raw = store.tree(TREE).unwrap().get("U1").unwrap().unwrap();
        let raw = String::from_utf8_lossy(&raw);
        assert!(!raw.contains("5Aep-the-refresh-token"), "{raw}");
        let opened = tokens.get("U1").unwrap().unwrap();
        assert_eq!(
            opened.refresh_token.expose_secret(),
            "5Aep-the-refresh-token"
        );
        assert_eq!(opened.sf_user, "005A");

        // Moved to another person's entry, it does not open.
        store
            .tree(TREE)
            .unwrap()
            .insert("U2", raw.as_bytes())
            .unwrap();
        assert!(matches!(tokens.get("U2"), Err(SealError::Open)));
        // Nor under another key.
        let other = SealKey::parse(&SecretString::from(hex::encode([8u8; 32]))).unwrap();
        let tokens2 = Tokens::open(&store, other).unwrap();
        assert!(matches!(tokens2.get("U1"), Err(SealError::Open)));

        assert!(tokens.remove("U1").unwrap());
        assert!(tokens.get("U1").unwrap().is_none());
    }

    #[test]
    fn keys_are_32_bytes_of_base64_or_hex() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(SealKey::parse(&SecretString::from(b64)).is_ok());
        assert!(SealKey::parse(&SecretString::from(hex::encode([1u8; 32]))).is_ok());
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        let err = SealKey::parse(&SecretString::from(short))
            .unwrap_err()
            .to_string();
        assert!(err.contains("openssl rand -base64 32"), "{err}");
        assert!(SealKey::parse(&SecretString::from("not a key")).is_err());
    }
}
