//! Record storage. The sandbox always serves from an in-memory map; a `Backend` decides whether
//! changes also go to disk (sled, survives restarts) or nowhere (memory). Writes go through a
//! `Tx` overlay first, so an all-or-none request (composite, tree, collections) can be thrown
//! away without touching the stored data, and queries inside it still see its earlier writes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::SandboxError;

/// One record, live or soft-deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRecord {
    pub id: String,
    pub object: String,
    /// Field values keyed by canonical API name (system fields included).
    pub fields: Map<String, Value>,
    pub deleted: bool,
}

/// Where committed records are persisted.
pub trait Backend: Send {
    /// Every stored record, at start-up.
    fn load(&self) -> Result<Vec<StoredRecord>, SandboxError>;
    /// Writes (or overwrites) records.
    fn save(&mut self, records: &[StoredRecord]) -> Result<(), SandboxError>;
    /// A small key/value area for bookkeeping (e.g. "seeded").
    fn meta(&self, key: &str) -> Result<Option<String>, SandboxError>;
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), SandboxError>;
}

/// Keeps nothing: data lives as long as the process.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    meta: BTreeMap<String, String>,
}

impl Backend for MemoryBackend {
    fn load(&self) -> Result<Vec<StoredRecord>, SandboxError> {
        Ok(Vec::new())
    }
    fn save(&mut self, _records: &[StoredRecord]) -> Result<(), SandboxError> {
        Ok(())
    }
    fn meta(&self, key: &str) -> Result<Option<String>, SandboxError> {
        Ok(self.meta.get(key).cloned())
    }
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), SandboxError> {
        self.meta.insert(key.to_string(), value.to_string());
        Ok(())
    }
}

/// sled database in a folder: tree `records` (id -> JSON) and tree `meta`.
pub struct SledBackend {
    db: sled::Db,
    records: sled::Tree,
    meta: sled::Tree,
}

impl SledBackend {
    pub fn open(dir: &Path) -> Result<SledBackend, SandboxError> {
        let db = sled::open(dir).map_err(store_err)?;
        let records = db.open_tree("records").map_err(store_err)?;
        let meta = db.open_tree("meta").map_err(store_err)?;
        Ok(SledBackend { db, records, meta })
    }
}

fn store_err(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Store(e.to_string())
}

impl Backend for SledBackend {
    fn load(&self) -> Result<Vec<StoredRecord>, SandboxError> {
        let mut out = Vec::new();
        for item in self.records.iter() {
            let (_, bytes) = item.map_err(store_err)?;
            out.push(serde_json::from_slice(&bytes).map_err(store_err)?);
        }
        Ok(out)
    }

    fn save(&mut self, records: &[StoredRecord]) -> Result<(), SandboxError> {
        let mut batch = sled::Batch::default();
        for r in records {
            batch.insert(r.id.as_bytes(), serde_json::to_vec(r).map_err(store_err)?);
        }
        self.records.apply_batch(batch).map_err(store_err)?;
        self.db.flush().map_err(store_err)?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<String>, SandboxError> {
        let v = self.meta.get(key).map_err(store_err)?;
        Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), SandboxError> {
        self.meta.insert(key, value.as_bytes()).map_err(store_err)?;
        self.db.flush().map_err(store_err)?;
        Ok(())
    }
}

/// Committed records plus their backend.
pub struct Data {
    records: BTreeMap<String, StoredRecord>,
    backend: Box<dyn Backend>,
}

impl Data {
    pub fn open(backend: Box<dyn Backend>) -> Result<Data, SandboxError> {
        let records = backend
            .load()?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        Ok(Data { records, backend })
    }

    pub fn backend(&mut self) -> &mut dyn Backend {
        self.backend.as_mut()
    }

    /// A transaction over the committed records.
    pub fn begin(&self) -> Tx<'_> {
        Tx {
            base: &self.records,
            changes: BTreeMap::new(),
        }
    }

    /// Applies a transaction's changes (persisting them first).
    pub fn commit(&mut self, changes: Changes) -> Result<(), SandboxError> {
        if changes.0.is_empty() {
            return Ok(());
        }
        let list: Vec<StoredRecord> = changes.0.into_values().collect();
        self.backend.save(&list)?;
        for r in list {
            self.records.insert(r.id.clone(), r);
        }
        Ok(())
    }
}

/// The pending writes of a finished transaction.
#[derive(Debug, Default)]
pub struct Changes(BTreeMap<String, StoredRecord>);

/// What `Tx::rollback_to` returns to.
pub type Savepoint = BTreeMap<String, StoredRecord>;

/// Reads see committed records overlaid with this transaction's writes.
pub struct Tx<'a> {
    base: &'a BTreeMap<String, StoredRecord>,
    changes: BTreeMap<String, StoredRecord>,
}

impl Tx<'_> {
    pub fn get(&self, id: &str) -> Option<&StoredRecord> {
        self.changes.get(id).or_else(|| self.base.get(id))
    }

    pub fn put(&mut self, record: StoredRecord) {
        self.changes.insert(record.id.clone(), record);
    }

    /// Records of one object (live only, or deleted too), in id order.
    pub fn list(&self, object: &str, include_deleted: bool) -> Vec<&StoredRecord> {
        let mut out: Vec<&StoredRecord> = self
            .base
            .values()
            .filter(|r| !self.changes.contains_key(&r.id))
            .chain(self.changes.values())
            .filter(|r| r.object == object && (include_deleted || !r.deleted))
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// A savepoint: the writes so far, to return to with `rollback_to`.
    pub fn savepoint(&self) -> Savepoint {
        self.changes.clone()
    }

    pub fn rollback_to(&mut self, savepoint: BTreeMap<String, StoredRecord>) {
        self.changes = savepoint;
    }

    pub fn into_changes(self) -> Changes {
        Changes(self.changes)
    }
}
