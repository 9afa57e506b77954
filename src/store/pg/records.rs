//! Typed records in the `records` table: every change a conditional
//! `UPDATE … WHERE revision = $n`, so replicas racing on one action change it once.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;

use super::PgStore;
use crate::store::{StoreError, Update};

/// How a record's state is read for the index columns: open, and when it closed.
pub struct Index<T> {
    pub is_open: fn(&T) -> bool,
    pub closed_at: fn(&T) -> i64,
}

impl<T> Clone for Index<T> {
    fn clone(&self) -> Self {
        Index {
            is_open: self.is_open,
            closed_at: self.closed_at,
        }
    }
}

pub struct PgRecords<T> {
    store: PgStore,
    tree: String,
    index: Option<Index<T>>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for PgRecords<T> {
    fn clone(&self) -> Self {
        PgRecords {
            store: self.store.clone(),
            tree: self.tree.clone(),
            index: self.index.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> PgRecords<T> {
    pub(super) fn new(store: PgStore, tree: &str, index: Option<Index<T>>) -> Self {
        PgRecords {
            store,
            tree: tree.to_string(),
            index,
            _t: PhantomData,
        }
    }

    /// The index columns of `value`: (open, closed at). Without an index every record is
    /// open, as `open()` then means every record.
    fn state(&self, value: &T) -> (bool, Option<i64>) {
        match &self.index {
            Some(i) if !(i.is_open)(value) => (false, Some((i.closed_at)(value))),
            _ => (true, None),
        }
    }

    fn decode(&self, id: &str, text: &str) -> Option<T> {
        match serde_json::from_str(text) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(%id, error = %e, "unreadable stored record skipped");
                None
            }
        }
    }

    /// The record and its revision.
    fn read(&self, id: &str) -> Result<Option<(String, i64)>, StoreError> {
        let (tree, id) = (self.tree.clone(), id.to_string());
        self.store.run(move |pool| async move {
            let row =
                sqlx::query("SELECT value, revision FROM records WHERE tree = $1 AND id = $2")
                    .bind(tree)
                    .bind(id)
                    .fetch_optional(&pool)
                    .await?;
            Ok(row.map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))))
        })
    }

    pub fn get(&self, id: &str) -> Result<Option<T>, StoreError> {
        match self.read(id)? {
            Some((text, _)) => Ok(Some(serde_json::from_str(&text)?)),
            None => Ok(None),
        }
    }

    /// Stores a new record; fails if the id is taken.
    pub fn insert_new(&self, id: &str, value: &T) -> Result<(), StoreError> {
        let text = serde_json::to_string(value)?;
        let (open, closed_at) = self.state(value);
        let (tree, key) = (self.tree.clone(), id.to_string());
        let inserted = self.store.run(move |pool| async move {
            let done = sqlx::query(
                "INSERT INTO records (tree, id, revision, value, open, closed_at) \
                 VALUES ($1, $2, 1, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(tree)
            .bind(key)
            .bind(text)
            .bind(open)
            .bind(closed_at)
            .execute(&pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })?;
        if inserted {
            Ok(())
        } else {
            Err(StoreError::Exists(id.to_string()))
        }
    }

    /// Reads the record, lets `decide` choose, and stores its choice only if the revision
    /// read is still the stored one; otherwise `decide` runs again on the newer value.
    pub fn update<R, E>(
        &self,
        id: &str,
        mut decide: impl FnMut(&T) -> Result<Update<T, R>, E>,
    ) -> Result<Result<R, E>, StoreError> {
        loop {
            let Some((text, revision)) = self.read(id)? else {
                return Err(StoreError::Missing(id.to_string()));
            };
            let current: T = serde_json::from_str(&text)?;
            match decide(&current) {
                Err(e) => return Ok(Err(e)),
                Ok(Update::Keep(r)) => return Ok(Ok(r)),
                Ok(Update::Set(new, r)) => {
                    let text = serde_json::to_string(&new)?;
                    let (open, closed_at) = self.state(&new);
                    let (tree, key) = (self.tree.clone(), id.to_string());
                    let swapped = self.store.run(move |pool| async move {
                        let done = sqlx::query(
                            "UPDATE records SET value = $4, revision = revision + 1, open = $5, \
                             closed_at = $6 WHERE tree = $1 AND id = $2 AND revision = $3",
                        )
                        .bind(tree)
                        .bind(key)
                        .bind(revision)
                        .bind(text)
                        .bind(open)
                        .bind(closed_at)
                        .execute(&pool)
                        .await?;
                        Ok(done.rows_affected() == 1)
                    })?;
                    if swapped {
                        return Ok(Ok(r));
                    }
                }
            }
        }
    }

    fn select(&self, open_only: bool) -> Result<Vec<T>, StoreError> {
        let tree = self.tree.clone();
        let rows = self.store.run(move |pool| async move {
            let sql = if open_only {
                "SELECT id, value FROM records WHERE tree = $1 AND open ORDER BY id"
            } else {
                "SELECT id, value FROM records WHERE tree = $1 ORDER BY id"
            };
            let rows = sqlx::query(sql).bind(tree).fetch_all(&pool).await?;
            Ok(rows
                .into_iter()
                .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
                .collect::<Vec<_>>())
        })?;
        Ok(rows
            .iter()
            .filter_map(|(id, text)| self.decode(id, text))
            .collect())
    }

    /// Every record with its id, in id order (a record that cannot be read is an error).
    pub fn entries(&self) -> Result<Vec<(String, T)>, StoreError> {
        let tree = self.tree.clone();
        let rows = self.store.run(move |pool| async move {
            let rows = sqlx::query("SELECT id, value FROM records WHERE tree = $1 ORDER BY id")
                .bind(tree)
                .fetch_all(&pool)
                .await?;
            Ok(rows
                .into_iter()
                .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
                .collect::<Vec<_>>())
        })?;
        rows.into_iter()
            .map(|(id, text)| Ok((id, serde_json::from_str(&text)?)))
            .collect()
    }

    /// The open records (every record without an index), in id order.
    pub fn open(&self) -> Result<Vec<T>, StoreError> {
        self.select(self.index.is_some())
    }

    /// Every record, in id order. A record that cannot be read is skipped with a warning.
    pub fn all(&self) -> Result<Vec<T>, StoreError> {
        self.select(false)
    }

    /// Removes the records closed before `before_unix`; open records are never removed.
    pub fn remove_closed_before(&self, before_unix: i64) -> Result<usize, StoreError> {
        if self.index.is_none() {
            return Ok(0);
        }
        let tree = self.tree.clone();
        self.store.run(move |pool| async move {
            let done =
                sqlx::query("DELETE FROM records WHERE tree = $1 AND NOT open AND closed_at < $2")
                    .bind(tree)
                    .bind(before_unix)
                    .execute(&pool)
                    .await?;
            Ok(done.rows_affected() as usize)
        })
    }

    /// Removes every record `gone` says is done with (and any that cannot be read), each
    /// only if unchanged since it was read.
    pub fn remove_where(&self, gone: impl Fn(&T) -> bool) -> Result<usize, StoreError> {
        let tree = self.tree.clone();
        let rows = self.store.run(move |pool| async move {
            let rows = sqlx::query("SELECT id, value, revision FROM records WHERE tree = $1")
                .bind(tree)
                .fetch_all(&pool)
                .await?;
            Ok(rows
                .into_iter()
                .map(|r| {
                    (
                        r.get::<String, _>(0),
                        r.get::<String, _>(1),
                        r.get::<i64, _>(2),
                    )
                })
                .collect::<Vec<_>>())
        })?;
        let doomed: Vec<(String, i64)> = rows
            .into_iter()
            .filter(|(_, text, _)| serde_json::from_str(text).map_or(true, |v: T| gone(&v)))
            .map(|(id, _, rev)| (id, rev))
            .collect();
        if doomed.is_empty() {
            return Ok(0);
        }
        let tree = self.tree.clone();
        self.store.run(move |pool| async move {
            let mut removed = 0;
            for (id, rev) in doomed {
                removed += sqlx::query(
                    "DELETE FROM records WHERE tree = $1 AND id = $2 AND revision = $3",
                )
                .bind(&tree)
                .bind(id)
                .bind(rev)
                .execute(&pool)
                .await?
                .rows_affected() as usize;
            }
            Ok(removed)
        })
    }
}
