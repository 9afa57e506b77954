//! The record hash, kept apart so that what is hashed is defined in exactly one place:
//! [`record_hash`] documents the bytes.
//!
//! The canonical bytes are built from a fixed-field struct, not from the record's own JSON:
//! serde_json's `preserve_order` would otherwise make the hash depend on how `detail` was
//! assembled, and a field added to `AuditRecord` later must not silently change old hashes.

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{KeyInit, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::AuditEntry;

/// `prev_hash` of the first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed form of a record; field order is part of the format.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    at: String,
    prev_hash: &'a str,
    action_id: &'a str,
    kind: &'static str,
    actor: Option<&'a str>,
    summary: &'a str,
    detail: Sorted<'a>,
}

/// The hash of a record with these fields.
///
/// A record's `hash` is the lowercase hex SHA-256 of the UTF-8 bytes of this compact JSON
/// object (no whitespace, keys in exactly this order):
///
/// ```text
/// {"seq":<u64>,"at":"<RFC 3339, UTC, 9 fractional digits, Z>","prev_hash":"<64 hex>",
///  "action_id":"<string>","kind":"<snake_case kind>","actor":"<string>" or null,
///  "summary":"<string>","detail":<detail, canonical>}
/// ```
///
/// `detail` is canonical when the keys of every object in it, at any depth, are sorted by
/// their UTF-8 bytes; arrays keep their order; strings and numbers are written as serde_json
/// writes them (floats in shortest round-trip form). The `hash` field itself is not hashed.
/// `prev_hash` is the previous record's `hash`, or [`GENESIS_HASH`] for record 1.
///
/// For example, record 1 drafted at 2026-11-25 14:03:12 UTC hashes
/// `{"seq":1,"at":"2026-11-25T14:03:12.000000000Z","prev_hash":"000…000","action_id":"a1",`
/// `"kind":"drafted","actor":"U1","summary":"Drafted","detail":{"a":1,"b":[2]}}`.
pub fn record_hash(
    seq: u64,
    at: &DateTime<Utc>,
    prev_hash: &str,
    entry: &AuditEntry,
) -> Result<String, serde_json::Error> {
    let bytes = canonical_bytes(seq, at, prev_hash, entry)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// The hash of a record in a keyed chain (`CRMBOT_AUDIT_KEY`): lowercase hex
/// HMAC-SHA256 under the key, over the same bytes as [`record_hash`]. Without the key, a
/// record cannot be rewritten with a hash that verifies.
pub fn keyed_hash(
    key: &[u8],
    seq: u64,
    at: &DateTime<Utc>,
    prev_hash: &str,
    entry: &AuditEntry,
) -> Result<String, serde_json::Error> {
    let bytes = canonical_bytes(seq, at, prev_hash, entry)?;
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|e| <serde_json::Error as serde::ser::Error>::custom(e.to_string()))?;
    mac.update(&bytes);
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// The exact bytes that [`record_hash`] hashes (for tests and outside checkers).
pub fn canonical_bytes(
    seq: u64,
    at: &DateTime<Utc>,
    prev_hash: &str,
    entry: &AuditEntry,
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Canonical {
        seq,
        at: at.to_rfc3339_opts(SecondsFormat::Nanos, true),
        prev_hash,
        action_id: &entry.action_id,
        kind: entry.kind.as_str(),
        actor: entry.actor.as_deref(),
        summary: &entry.summary,
        detail: Sorted(&entry.detail),
    })
}

/// `value` written with every object's keys in byte order, without copying it (a draft's
/// record carries its whole proposal).
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, &Sorted(v))?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&Sorted(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}
