//! Dates in plans: strict ISO dates and datetimes, and Salesforce's date literals
//! (`THIS_MONTH`, `LAST_N_DAYS:30`, ...). The model must not pass "next Friday" through: a
//! date field takes one of these or the plan is refused with a sentence naming the value.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde_json::Value;

use super::{PlanValue, QueryField, show};

/// Every Salesforce date literal (salesforce.md §5.5); the `:n` forms take a whole number,
/// e.g. `LAST_N_DAYS:30`.
pub const DATE_LITERALS: &[&str] = &[
    "YESTERDAY",
    "TODAY",
    "TOMORROW",
    "LAST_WEEK",
    "THIS_WEEK",
    "NEXT_WEEK",
    "LAST_MONTH",
    "THIS_MONTH",
    "NEXT_MONTH",
    "LAST_90_DAYS",
    "NEXT_90_DAYS",
    "THIS_QUARTER",
    "LAST_QUARTER",
    "NEXT_QUARTER",
    "THIS_YEAR",
    "LAST_YEAR",
    "NEXT_YEAR",
    "THIS_FISCAL_QUARTER",
    "LAST_FISCAL_QUARTER",
    "NEXT_FISCAL_QUARTER",
    "THIS_FISCAL_YEAR",
    "LAST_FISCAL_YEAR",
    "NEXT_FISCAL_YEAR",
    "LAST_N_DAYS:n",
    "NEXT_N_DAYS:n",
    "N_DAYS_AGO:n",
    "LAST_N_WEEKS:n",
    "NEXT_N_WEEKS:n",
    "N_WEEKS_AGO:n",
    "LAST_N_MONTHS:n",
    "NEXT_N_MONTHS:n",
    "N_MONTHS_AGO:n",
    "LAST_N_QUARTERS:n",
    "NEXT_N_QUARTERS:n",
    "N_QUARTERS_AGO:n",
    "LAST_N_YEARS:n",
    "NEXT_N_YEARS:n",
    "N_YEARS_AGO:n",
    "LAST_N_FISCAL_QUARTERS:n",
    "NEXT_N_FISCAL_QUARTERS:n",
    "N_FISCAL_QUARTERS_AGO:n",
    "LAST_N_FISCAL_YEARS:n",
    "NEXT_N_FISCAL_YEARS:n",
    "N_FISCAL_YEARS_AGO:n",
];

/// Dates outside these years are refused (Salesforce stores 1700–4000).
const YEARS: std::ops::RangeInclusive<i32> = 1700..=4000;

/// Names of the literals that take `:n` (without the suffix).
fn n_literal(name: &str) -> bool {
    DATE_LITERALS
        .iter()
        .filter_map(|l| l.strip_suffix(":n"))
        .any(|l| l == name)
}

/// A date literal, canonical (`last_n_days:030` -> `LAST_N_DAYS:30`), or None.
pub fn parse_date_literal(text: &str) -> Option<String> {
    let upper = text.trim().to_ascii_uppercase();
    match upper.split_once(':') {
        None => DATE_LITERALS.contains(&upper.as_str()).then_some(upper),
        Some((name, n)) => {
            let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
            let n: u32 = n.parse().ok().filter(|_| digits)?;
            n_literal(name).then(|| format!("{name}:{n}"))
        }
    }
}

/// A strict ISO date, `YYYY-MM-DD`.
fn iso_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    shape
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
}

/// An ISO datetime: with `Z` or an offset, or without one (then read as UTC). Sub-seconds
/// are dropped: SOQL datetimes are compiled to whole seconds.
fn iso_datetime(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if t.len() < 19 || iso_date(t.get(..10)?).is_none() {
        return None;
    }
    let parsed = DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|d| d.and_utc())
        })?;
    parsed.with_nanosecond(0)
}

fn in_years(year: i32, v: &Value) -> Result<(), String> {
    if YEARS.contains(&year) {
        Ok(())
    } else {
        Err(format!(
            "{} is outside the dates Salesforce accepts (years {} to {}).",
            show(v),
            YEARS.start(),
            YEARS.end()
        ))
    }
}

/// An n-literal named without its number (`LAST_N_DAYS`) gets its own hint.
fn literal_hint(text: &str) -> Option<String> {
    let upper = text.trim().to_ascii_uppercase();
    n_literal(&upper).then(|| format!("{upper} needs a number, such as {upper}:30."))
}

pub(super) fn date(field: &QueryField, v: &Value) -> Result<PlanValue, String> {
    let t = v.as_str().map(str::trim).unwrap_or_default();
    if let Some(d) = iso_date(t) {
        in_years(d.year(), v)?;
        return Ok(PlanValue::Date(d));
    }
    if let Some(literal) = parse_date_literal(t) {
        return Ok(PlanValue::DateLiteral(literal));
    }
    if let Some(dt) = iso_datetime(t) {
        return Err(format!(
            "{} is a date field: give a date such as {} without a time.",
            field.path,
            dt.date_naive()
        ));
    }
    Err(literal_hint(t).unwrap_or_else(|| {
        format!(
            "{} is neither an ISO date nor a Salesforce date literal \
             (use YYYY-MM-DD, or a literal such as THIS_MONTH or LAST_N_DAYS:30).",
            show(v)
        )
    }))
}

/// A datetime field takes an ISO datetime, a date literal, or an ISO date. SOQL needs a
/// datetime literal there (a bare date is an error), so an ISO date is read as midnight UTC
/// of that day: `2026-12-31` becomes `2026-12-31T00:00:00Z`. A datetime without a zone is
/// read as UTC too.
pub(super) fn datetime(field: &QueryField, v: &Value) -> Result<PlanValue, String> {
    let t = v.as_str().map(str::trim).unwrap_or_default();
    if let Some(d) = iso_date(t) {
        in_years(d.year(), v)?;
        return Ok(PlanValue::DateTime(
            d.and_time(Default::default()).and_utc(),
        ));
    }
    if let Some(literal) = parse_date_literal(t) {
        return Ok(PlanValue::DateLiteral(literal));
    }
    if let Some(dt) = iso_datetime(t) {
        in_years(dt.year(), v)?;
        return Ok(PlanValue::DateTime(dt));
    }
    Err(literal_hint(t).unwrap_or_else(|| {
        format!(
            "{} is neither an ISO date or date/time nor a Salesforce date literal \
             ({} takes YYYY-MM-DD, YYYY-MM-DDThh:mm:ssZ, or a literal such as THIS_MONTH).",
            show(v),
            field.path
        )
    }))
}
