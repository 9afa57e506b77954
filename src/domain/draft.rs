//! The validated draft: what the model proposed after code has decided what may stand.
//! A `RecordDraft` names only allowed objects and fields (canonical API names from
//! `CrmSchema`), holds typed values, and carries the issues a person must see on the card.
//! The raw model reply never travels further than `validate`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The records of one `/crm log`, after validation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ValidatedDraft {
    pub records: Vec<RecordDraft>,
    /// Issues about the reply as a whole (an unknown object dropped, records cut, ...).
    pub issues: Vec<Issue>,
}

/// One record the model proposes to create or update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordDraft {
    /// Canonical API name from the schema (`Lead`).
    pub object: String,
    /// `Some`: update the single existing record these exact values find. `None`: create.
    pub lookup: Option<Lookup>,
    /// Parents named by their lookup fields; code resolves each to an Id.
    pub links: Vec<LinkDraft>,
    /// The proposed values, in schema order. A field the notes do not state is absent.
    pub fields: Vec<DraftField>,
    /// Warnings and blocking problems for this record.
    pub issues: Vec<Issue>,
}

/// Exact-match criteria on allowed lookup fields. Values are compared as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lookup {
    /// (field API name, exact value), in the order the model gave them.
    pub criteria: Vec<(String, String)>,
}

/// A parent named in `link`, e.g. `{"Account": {"Name": "Globex"}}` -> `AccountId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkDraft {
    /// Relationship name (`Account`).
    pub relationship: String,
    /// The reference field the parent's Id goes into (`AccountId`).
    pub field: String,
    /// The parent object (`Account`).
    pub target: String,
    pub lookup: Lookup,
}

/// One proposed value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DraftField {
    /// Canonical API name.
    pub name: String,
    pub value: FieldValue,
    /// False when the value is held back from the write until a person keeps it (a value
    /// not found in the notes, by default). The card still shows it.
    pub include: bool,
    /// The words of the notes the value was grounded on, quoted with a little context
    /// (at most `validate::EVIDENCE_CHARS`); `None` for a value not found in the notes, or
    /// one a person typed.
    pub evidence: Option<String>,
}

/// A typed field value, ready to be sent as Salesforce JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FieldValue {
    Text(String),
    Number(f64),
    Boolean(bool),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
}

impl FieldValue {
    /// The JSON Salesforce expects: numbers without a spurious `.0`, dates as ISO strings.
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::Text(s) => Value::String(s.clone()),
            FieldValue::Number(n) => number_json(*n),
            FieldValue::Boolean(b) => Value::Bool(*b),
            FieldValue::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            FieldValue::DateTime(t) => {
                Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
            }
        }
    }

    /// How a person reads it on a card or in the terminal (`25,000`, `2026-11-27`).
    pub fn display(&self) -> String {
        match self {
            FieldValue::Text(s) => s.clone(),
            FieldValue::Number(n) => display_number(*n),
            FieldValue::Boolean(b) => if *b { "Yes" } else { "No" }.to_string(),
            FieldValue::Date(d) => d.format("%Y-%m-%d").to_string(),
            FieldValue::DateTime(t) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

/// Integral values travel as JSON integers so `25000` stays `25000`.
fn number_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// `25000` -> `25,000`; `1234.5` -> `1,234.5`.
fn display_number(n: f64) -> String {
    let text = match number_json(n) {
        Value::Number(num) => num.to_string(),
        _ => n.to_string(),
    };
    let (sign, rest) = text
        .strip_prefix('-')
        .map_or(("", text.as_str()), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Something a person must see about a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub severity: Severity,
    pub kind: IssueKind,
    /// The field concerned, when there is one (API name).
    pub field: Option<String>,
    /// A sentence for the card, e.g. "Email is not in your notes".
    pub message: String,
}

/// Warnings inform; blocking problems disable Approve until an edit fixes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Blocking,
}

/// What kind of issue, stable in `--json` output and used by the card to pick an icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// An object crmbot is not allowed to write: the record was dropped.
    UnknownObject,
    /// A field that is not allowed (or does not exist): dropped.
    UnknownField,
    /// A field that exists but cannot be set for this action (read-only, not updateable).
    NotWritable,
    /// OwnerId, a reference field or an Id-looking value proposed by the model: dropped.
    IdRefused,
    /// A lookup on a field that is not an allowed lookup field, or not an exact value.
    LookupRefused,
    /// A link to a parent that is not allowed: dropped.
    LinkRefused,
    /// A value of the wrong type that could not be coerced: dropped.
    BadValue,
    /// A value changed to fit its type (`"$25k"` -> 25000, a relative date resolved).
    Coerced,
    /// A relative or unclear date that could not be resolved.
    UnresolvedDate,
    /// Not one of the org's picklist values.
    BadPicklist,
    /// Longer than the field allows.
    TooLong,
    /// A field required to create the record has no value.
    MissingRequired,
    /// The notes do not contain this value.
    NotInNotes,
    /// An existing record matches this one (the draft becomes an update).
    PossibleDuplicate,
    /// Several existing records match: a person must choose.
    Ambiguous,
    /// The record to update (or the parent to link) was not found.
    NotFound,
    /// The reply's shape was wrong somewhere (a record that is not an object, ...).
    Malformed,
    /// The same person (email, or first and last name) is in the draft twice.
    Repeated,
    /// The notes contain instructions to the assistant; every value is held back.
    Injection,
    /// Free text Salesforce already holds is kept; the new text is not written
    /// (`drafting.free_text_updates`).
    FreeTextKept,
}

impl Issue {
    pub fn warning(kind: IssueKind, field: Option<&str>, message: impl Into<String>) -> Self {
        Issue {
            severity: Severity::Warning,
            kind,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    pub fn blocking(kind: IssueKind, field: Option<&str>, message: impl Into<String>) -> Self {
        Issue {
            severity: Severity::Blocking,
            kind,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    pub fn is_blocking(&self) -> bool {
        self.severity == Severity::Blocking
    }
}

impl RecordDraft {
    /// The value of a field, whether or not it is included in the write.
    pub fn value(&self, field: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(field))
            .map(|f| &f.value)
    }

    /// True when any issue blocks approval.
    pub fn is_blocked(&self) -> bool {
        self.issues.iter().any(Issue::is_blocking)
    }
}

impl ValidatedDraft {
    /// True when any record or the draft itself has a blocking problem.
    pub fn is_blocked(&self) -> bool {
        self.issues.iter().any(Issue::is_blocking) || self.records.iter().any(|r| r.is_blocked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_numbers_stay_integers_in_json() {
        assert_eq!(
            FieldValue::Number(25000.0).to_json(),
            serde_json::json!(25000)
        );
        assert_eq!(FieldValue::Number(12.5).to_json(), serde_json::json!(12.5));
    }

    #[test]
    fn numbers_display_with_thousands_separators() {
        assert_eq!(FieldValue::Number(25000.0).display(), "25,000");
        assert_eq!(FieldValue::Number(1234567.25).display(), "1,234,567.25");
        assert_eq!(FieldValue::Number(-48000.0).display(), "-48,000");
        assert_eq!(FieldValue::Number(999.0).display(), "999");
    }

    #[test]
    fn dates_are_iso_strings() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(
            FieldValue::Date(d).to_json(),
            serde_json::json!("2026-11-27")
        );
    }
}
