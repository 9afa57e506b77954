//! `/query`, `/queryAll` and `/query/{locator}`: runs SOQL through the sandbox's engine
//! (`soql::parse` + `soql::execute`) over the current transaction, then pages the rows the way
//! Salesforce does: `totalSize` for the whole result, `done`, and a `nextRecordsUrl` locator
//! while rows remain. Cursors live in memory only (they do not survive a restart, as in
//! Salesforce they expire).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::access::UserAccess;
use super::errors::ApiError;
use super::ids;
use super::records;
use super::schema::Schema;
use super::soql::{self, ExecContext, FieldInfo, RelationshipInfo, SoqlSource};
use super::store::Tx;

/// The sandbox's data as the SOQL engine sees it.
pub struct Source<'a> {
    pub schema: &'a Schema,
    pub tx: &'a Tx<'a>,
    /// `queryAll`: deleted records too (with IsDeleted = true).
    pub include_deleted: bool,
    /// The querying user, when the seed limits what they see.
    pub viewer: Option<&'a UserAccess>,
}

impl SoqlSource for Source<'_> {
    fn object(&self, name: &str) -> Option<String> {
        self.schema.object(name).map(|o| o.name.clone())
    }

    fn field(&self, object: &str, field: &str) -> Option<FieldInfo> {
        let f = self.schema.object(object)?.field(field)?;
        Some(FieldInfo {
            name: f.name.clone(),
            kind: f.kind.clone(),
        })
    }

    fn relationship(&self, object: &str, relationship: &str) -> Option<RelationshipInfo> {
        let f = self.schema.object(object)?.relationship(relationship)?;
        Some(RelationshipInfo {
            name: f.relationship_name.clone().unwrap_or_default(),
            field: f.name.clone(),
            targets: f.reference_to.clone(),
        })
    }

    fn records(&self, object: &str) -> Vec<Map<String, Value>> {
        let Some(def) = self.schema.object(object) else {
            return Vec::new();
        };
        self.tx
            .list(&def.name, self.include_deleted)
            .into_iter()
            .filter(|r| self.viewer.is_none_or(|v| v.sees(&r.fields)))
            .map(|r| records::full_fields(def, r))
            .collect()
    }

    fn record(&self, id: &str) -> Option<(String, Map<String, Value>)> {
        let id = ids::normalize(id)?;
        let r = self.tx.get(&id)?;
        if (r.deleted && !self.include_deleted) || self.viewer.is_some_and(|v| !v.sees(&r.fields)) {
            return None;
        }
        let def = self.schema.object(&r.object)?;
        Some((def.name.clone(), records::full_fields(def, r)))
    }
}

const MAX_CURSORS: usize = 1000;

/// Rows of a query still to be fetched.
#[derive(Debug)]
pub struct Cursor {
    rows: Vec<Map<String, Value>>,
    total_size: usize,
}

/// Open cursors by locator.
#[derive(Debug, Default)]
pub struct Cursors {
    open: HashMap<String, Cursor>,
}

/// Everything a query needs besides the text.
pub struct QueryCtx<'a> {
    pub schema: &'a Schema,
    pub today: chrono::NaiveDate,
    pub version: &'a str,
    pub page_size: usize,
    pub viewer: Option<&'a UserAccess>,
}

/// Runs a query and answers its first page.
pub fn run(
    ctx: &QueryCtx<'_>,
    tx: &Tx<'_>,
    cursors: &mut Cursors,
    text: &str,
    include_deleted: bool,
) -> Result<Value, ApiError> {
    let source = Source {
        schema: ctx.schema,
        tx,
        include_deleted,
        viewer: ctx.viewer,
    };
    let exec = ExecContext {
        today: ctx.today,
        api_version: ctx.version,
    };
    let output = soql::parse(text)
        .and_then(|q| soql::execute(&q, &source, &exec))
        .map_err(|e| ApiError::bad(e.error_code(), e.to_string()))?;
    let cursor = Cursor {
        rows: output.rows,
        total_size: output.total_size,
    };
    let locator = format!("01g{}", ids::opaque(15));
    Ok(page(ctx, cursors, locator, cursor, 0))
}

/// Answers `GET /query/{locator}-{offset}`.
pub fn more(ctx: &QueryCtx<'_>, cursors: &mut Cursors, token: &str) -> Result<Value, ApiError> {
    let invalid = || ApiError::bad("INVALID_QUERY_LOCATOR", "invalid query locator");
    let (locator, offset) = token.rsplit_once('-').ok_or_else(invalid)?;
    let offset: usize = offset.parse().map_err(|_| invalid())?;
    let cursor = cursors.open.remove(locator).ok_or_else(invalid)?;
    if offset > cursor.rows.len() {
        return Err(invalid());
    }
    Ok(page(ctx, cursors, locator.to_string(), cursor, offset))
}

fn page(
    ctx: &QueryCtx<'_>,
    cursors: &mut Cursors,
    locator: String,
    cursor: Cursor,
    offset: usize,
) -> Value {
    let size = ctx.page_size.max(1);
    let end = (offset + size).min(cursor.rows.len());
    let rows: Vec<Value> = cursor.rows[offset..end]
        .iter()
        .cloned()
        .map(Value::Object)
        .collect();
    let done = end >= cursor.rows.len();
    let mut body = json!({"totalSize": cursor.total_size, "done": done});
    if !done {
        // Abandoned cursors would pile up forever; Salesforce expires them too.
        if cursors.open.len() >= MAX_CURSORS {
            cursors.open.clear();
        }
        body["nextRecordsUrl"] = json!(format!(
            "/services/data/{}/query/{locator}-{end}",
            ctx.version
        ));
        cursors.open.insert(locator, cursor);
    }
    body["records"] = Value::Array(rows);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_next_records_url_until_done() {
        let schema = Schema::load(None, None, &[]).unwrap();
        let ctx = QueryCtx {
            schema: &schema,
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            version: "v62.0",
            page_size: 2,
            viewer: None,
        };
        let rows = (0..5)
            .map(|i| json!({"Id": i}).as_object().cloned().unwrap())
            .collect();
        let mut cursors = Cursors::default();
        let first = page(
            &ctx,
            &mut cursors,
            "01gX".into(),
            Cursor {
                rows,
                total_size: 5,
            },
            0,
        );
        assert_eq!(first["totalSize"], 5);
        assert_eq!(first["done"], false);
        assert_eq!(first["nextRecordsUrl"], "/services/data/v62.0/query/01gX-2");
        let mut seen = first["records"].as_array().unwrap().len();
        let mut next = first["nextRecordsUrl"].as_str().map(str::to_string);
        while let Some(url) = next {
            let token = url.rsplit('/').next().unwrap();
            let page = more(&ctx, &mut cursors, token).unwrap();
            seen += page["records"].as_array().unwrap().len();
            next = page["nextRecordsUrl"].as_str().map(str::to_string);
            assert_eq!(page["done"], next.is_none());
        }
        assert_eq!(seen, 5);
        let gone = more(&ctx, &mut cursors, "01gX-4").unwrap_err();
        assert_eq!(gone.errors[0].code, "INVALID_QUERY_LOCATOR");
    }
}
