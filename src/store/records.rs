//! A typed sled tree with compare-and-swap updates: the only way an action changes.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {path}: {error} (is another crmbot using it?)")]
    Open { path: String, error: sled::Error },
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("a stored record could not be read: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("audit log: {0}")]
    Audit(String),
    /// The database lost records its audit mirror holds (or disagrees with it).
    #[error("{0}")]
    AuditBehind(String),
    #[error("record {0} already exists")]
    Exists(String),
    #[error("no record {0}")]
    Missing(String),
}

/// What an update closure decided.
pub enum Update<T, R> {
    /// Store this value (only if nobody changed the record meanwhile; otherwise the closure
    /// runs again on the newer value).
    Set(T, R),
    /// Leave the record as it is.
    Keep(R),
}

pub struct Records<T> {
    tree: sled::Tree,
    index: Option<StateIndex<T>>,
    _t: PhantomData<fn() -> T>,
}

/// Two indexes by state, so start-up and timers read only the records still open, and
/// retention finds old closed ones without reading the rest:
/// * `open`: id -> nothing, for every record `is_open` says is open (a superset: written
///   before the record, cleared after it; a stale entry is dropped when read);
/// * `closed`: closed-at (8 bytes big-endian, Unix seconds) + id -> nothing.
pub struct StateIndex<T> {
    open: sled::Tree,
    closed: sled::Tree,
    is_open: fn(&T) -> bool,
    /// When a closed record was closed (Unix seconds).
    closed_at: fn(&T) -> i64,
}

impl<T> Clone for StateIndex<T> {
    fn clone(&self) -> Self {
        StateIndex {
            open: self.open.clone(),
            closed: self.closed.clone(),
            is_open: self.is_open,
            closed_at: self.closed_at,
        }
    }
}

/// Marks an index as built (ids never start with a NUL byte).
const BUILT: &[u8] = b"\0built";

fn closed_key(at: i64, id: &str) -> Vec<u8> {
    let mut k = at.to_be_bytes().to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

impl<T> StateIndex<T> {
    pub fn new(
        open: sled::Tree,
        closed: sled::Tree,
        is_open: fn(&T) -> bool,
        closed_at: fn(&T) -> i64,
    ) -> StateIndex<T> {
        StateIndex {
            open,
            closed,
            is_open,
            closed_at,
        }
    }

    /// Before `value` is stored under `id`: an open record is indexed first.
    fn before(&self, id: &str, value: &T) -> Result<(), StoreError> {
        if (self.is_open)(value) {
            self.open.insert(id.as_bytes(), &[])?;
        }
        Ok(())
    }

    /// After `value` is stored under `id`: a closed record leaves `open`, joins `closed`.
    fn after(&self, id: &str, value: &T) -> Result<(), StoreError> {
        if !(self.is_open)(value) {
            self.closed
                .insert(closed_key((self.closed_at)(value), id), &[])?;
            self.open.remove(id.as_bytes())?;
        }
        Ok(())
    }
}

impl<T> Clone for Records<T> {
    fn clone(&self) -> Self {
        Records {
            tree: self.tree.clone(),
            index: self.index.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Records<T> {
    pub(crate) fn new(tree: sled::Tree) -> Self {
        Records {
            tree,
            index: None,
            _t: PhantomData,
        }
    }

    /// With indexes by state; a store made before them is indexed once, here.
    pub(crate) fn indexed(tree: sled::Tree, index: StateIndex<T>) -> Result<Self, StoreError> {
        if !index.open.contains_key(BUILT)? {
            for item in tree.iter() {
                let (key, bytes) = item?;
                let Ok(value) = serde_json::from_slice::<T>(&bytes) else {
                    continue;
                };
                let id = String::from_utf8_lossy(&key).into_owned();
                index.before(&id, &value)?;
                index.after(&id, &value)?;
            }
            index.open.insert(BUILT, &[])?;
            index.open.flush()?;
        }
        Ok(Records {
            tree,
            index: Some(index),
            _t: PhantomData,
        })
    }

    /// The open records (every record without an index), in id order.
    pub fn open(&self) -> Result<Vec<T>, StoreError> {
        let Some(index) = &self.index else {
            return self.all();
        };
        let mut out = Vec::new();
        for item in index.open.iter() {
            let (key, _) = item?;
            if key.as_ref() == BUILT {
                continue;
            }
            let id = String::from_utf8_lossy(&key).into_owned();
            match self.get(&id) {
                Ok(Some(v)) if (index.is_open)(&v) => out.push(v),
                Ok(_) => {
                    index.open.remove(&key)?;
                }
                Err(e) => tracing::warn!(%id, error = %e, "unreadable stored record skipped"),
            }
        }
        Ok(out)
    }

    /// Removes the records closed before `before_unix`; returns how many went. Open records are never removed.
    pub fn remove_closed_before(&self, before_unix: i64) -> Result<usize, StoreError> {
        let Some(index) = &self.index else {
            return Ok(0);
        };
        let mut removed = 0;
        for item in index.closed.range(..closed_key(before_unix, "")) {
            let (key, _) = item?;
            let id = String::from_utf8_lossy(&key[8.min(key.len())..]).into_owned();
            let gone = match self.get(&id) {
                Ok(Some(v)) => !(index.is_open)(&v) && (index.closed_at)(&v) < before_unix,
                Ok(None) => false,
                Err(_) => true,
            };
            if gone {
                self.tree.remove(id.as_bytes())?;
                removed += 1;
            }
            index.closed.remove(&key)?;
        }
        if removed > 0 {
            super::off_async(|| self.tree.flush())?;
        }
        Ok(removed)
    }

    /// Stores a new record; fails if the id is taken.
    pub fn insert_new(&self, id: &str, value: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value)?;
        if let Some(index) = &self.index {
            index.before(id, value)?;
        }
        self.tree
            .compare_and_swap(id.as_bytes(), None as Option<&[u8]>, Some(bytes))?
            .map_err(|_| StoreError::Exists(id.to_string()))?;
        if let Some(index) = &self.index {
            index.after(id, value)?;
        }
        super::off_async(|| self.tree.flush())?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<Option<T>, StoreError> {
        match self.tree.get(id.as_bytes())? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Reads the record, lets `decide` choose, and stores its choice with compare-and-swap,
    /// retrying on a concurrent change. Durable (flushed) before it returns.
    pub fn update<R, E>(
        &self,
        id: &str,
        mut decide: impl FnMut(&T) -> Result<Update<T, R>, E>,
    ) -> Result<Result<R, E>, StoreError> {
        loop {
            let Some(old) = self.tree.get(id.as_bytes())? else {
                return Err(StoreError::Missing(id.to_string()));
            };
            let current: T = serde_json::from_slice(&old)?;
            match decide(&current) {
                Err(e) => return Ok(Err(e)),
                Ok(Update::Keep(r)) => return Ok(Ok(r)),
                Ok(Update::Set(new, r)) => {
                    let bytes = serde_json::to_vec(&new)?;
                    if let Some(index) = &self.index {
                        index.before(id, &new)?;
                    }
                    if self
                        .tree
                        .compare_and_swap(id.as_bytes(), Some(old), Some(bytes))?
                        .is_ok()
                    {
                        if let Some(index) = &self.index {
                            index.after(id, &new)?;
                        }
                        super::off_async(|| self.tree.flush())?;
                        return Ok(Ok(r));
                    }
                }
            }
        }
    }

    /// Every record with its id, in id order (a record that cannot be read is an error).
    pub fn entries(&self) -> Result<Vec<(String, T)>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (key, bytes) = item?;
            out.push((
                String::from_utf8_lossy(&key).into_owned(),
                serde_json::from_slice(&bytes)?,
            ));
        }
        Ok(out)
    }

    /// Every record, in id order. A record that cannot be read is skipped with a warning.
    pub fn all(&self) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (key, bytes) = item?;
            match serde_json::from_slice(&bytes) {
                Ok(v) => out.push(v),
                Err(e) => tracing::warn!(
                    key = %String::from_utf8_lossy(&key),
                    error = %e,
                    "unreadable stored record skipped"
                ),
            }
        }
        Ok(out)
    }
}

impl<T: Serialize + DeserializeOwned> Records<T> {
    /// Removes every record `gone` says is done with (and any that cannot be read);
    /// returns how many went. For housekeeping of trees that would otherwise only grow.
    pub fn remove_where(&self, gone: impl Fn(&T) -> bool) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.tree.iter() {
            let (key, bytes) = item?;
            if serde_json::from_slice(&bytes).map_or(true, |v: T| gone(&v)) {
                self.tree.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn tree() -> Records<u32> {
        let db = sled::Config::new().temporary(true).open().unwrap();
        Records::new(db.open_tree("t").unwrap())
    }

    #[test]
    fn concurrent_updates_decide_once() {
        let records = Arc::new(tree());
        records.insert_new("a", &0).unwrap();
        let winners = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (records, winners) = (records.clone(), winners.clone());
                std::thread::spawn(move || {
                    let r = records
                        .update("a", |v| {
                            if *v == 0 {
                                Ok(Update::Set(1, true))
                            } else {
                                Err(())
                            }
                        })
                        .unwrap();
                    if r == Ok(true) {
                        winners.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(winners.load(Ordering::SeqCst), 1);
        assert_eq!(records.get("a").unwrap(), Some(1));
    }

    #[test]
    fn insert_refuses_a_taken_id() {
        let records = tree();
        records.insert_new("a", &1).unwrap();
        assert!(matches!(
            records.insert_new("a", &2),
            Err(StoreError::Exists(_))
        ));
        assert_eq!(records.get("a").unwrap(), Some(1));
    }
}
