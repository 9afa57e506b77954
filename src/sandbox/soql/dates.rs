//! Salesforce's relative date literals as half-open ranges of days [start, end), resolved
//! against "today". Weeks start on Sunday (US locale); fiscal years are calendar years.

use chrono::{Datelike, Duration, Months, NaiveDate};

use super::SoqlError;

/// Date literals without a count (THIS_MONTH).
pub const FIXED_LITERALS: &[&str] = &[
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
];

/// Date literals that take `:n` (LAST_N_DAYS:30).
pub const N_LITERALS: &[&str] = &[
    "LAST_N_DAYS",
    "NEXT_N_DAYS",
    "N_DAYS_AGO",
    "LAST_N_WEEKS",
    "NEXT_N_WEEKS",
    "N_WEEKS_AGO",
    "LAST_N_MONTHS",
    "NEXT_N_MONTHS",
    "N_MONTHS_AGO",
    "LAST_N_QUARTERS",
    "NEXT_N_QUARTERS",
    "N_QUARTERS_AGO",
    "LAST_N_YEARS",
    "NEXT_N_YEARS",
    "N_YEARS_AGO",
    "LAST_N_FISCAL_QUARTERS",
    "NEXT_N_FISCAL_QUARTERS",
    "N_FISCAL_QUARTERS_AGO",
    "LAST_N_FISCAL_YEARS",
    "NEXT_N_FISCAL_YEARS",
    "N_FISCAL_YEARS_AGO",
];

fn months(d: NaiveDate, n: i64) -> Option<NaiveDate> {
    if n >= 0 {
        d.checked_add_months(Months::new(u32::try_from(n).ok()?))
    } else {
        d.checked_sub_months(Months::new(u32::try_from(-n).ok()?))
    }
}

/// The range of a date literal.
pub fn range(
    name: &str,
    n: Option<i64>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), SoqlError> {
    let bad = || SoqlError::Malformed(format!("cannot evaluate {name}"));
    let day = Duration::days(1);
    let week_start = today - Duration::days(today.weekday().num_days_from_sunday() as i64);
    let month_start = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).ok_or_else(bad)?;
    let quarter_start = NaiveDate::from_ymd_opt(today.year(), ((today.month() - 1) / 3) * 3 + 1, 1)
        .ok_or_else(bad)?;
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).ok_or_else(bad)?;
    let n = n.unwrap_or(0);
    let name = name.replace("_FISCAL", "");
    let months_range =
        |start: NaiveDate, from: i64, to: i64| -> Result<(NaiveDate, NaiveDate), SoqlError> {
            Ok((
                months(start, from).ok_or_else(bad)?,
                months(start, to).ok_or_else(bad)?,
            ))
        };
    Ok(match name.as_str() {
        "YESTERDAY" => (today - day, today),
        "TODAY" => (today, today + day),
        "TOMORROW" => (today + day, today + day + day),
        "LAST_WEEK" => (week_start - Duration::weeks(1), week_start),
        "THIS_WEEK" => (week_start, week_start + Duration::weeks(1)),
        "NEXT_WEEK" => (
            week_start + Duration::weeks(1),
            week_start + Duration::weeks(2),
        ),
        "LAST_MONTH" => months_range(month_start, -1, 0)?,
        "THIS_MONTH" => months_range(month_start, 0, 1)?,
        "NEXT_MONTH" => months_range(month_start, 1, 2)?,
        "LAST_90_DAYS" => (today - Duration::days(90), today + day),
        "NEXT_90_DAYS" => (today + day, today + Duration::days(91)),
        "THIS_QUARTER" => months_range(quarter_start, 0, 3)?,
        "LAST_QUARTER" => months_range(quarter_start, -3, 0)?,
        "NEXT_QUARTER" => months_range(quarter_start, 3, 6)?,
        "THIS_YEAR" => months_range(year_start, 0, 12)?,
        "LAST_YEAR" => months_range(year_start, -12, 0)?,
        "NEXT_YEAR" => months_range(year_start, 12, 24)?,
        // "Starts 00:00 of the current day and continues for the past n days."
        "LAST_N_DAYS" => (today - Duration::days(n), today + day),
        "NEXT_N_DAYS" => (today + day, today + Duration::days(n + 1)),
        "N_DAYS_AGO" => (today - Duration::days(n), today - Duration::days(n) + day),
        "LAST_N_WEEKS" => (week_start - Duration::weeks(n), week_start),
        "NEXT_N_WEEKS" => (
            week_start + Duration::weeks(1),
            week_start + Duration::weeks(n + 1),
        ),
        "N_WEEKS_AGO" => (
            week_start - Duration::weeks(n),
            week_start - Duration::weeks(n - 1),
        ),
        "LAST_N_MONTHS" => months_range(month_start, -n, 0)?,
        "NEXT_N_MONTHS" => months_range(month_start, 1, n + 1)?,
        "N_MONTHS_AGO" => months_range(month_start, -n, -n + 1)?,
        "LAST_N_QUARTERS" => months_range(quarter_start, -3 * n, 0)?,
        "NEXT_N_QUARTERS" => months_range(quarter_start, 3, 3 * (n + 1))?,
        "N_QUARTERS_AGO" => months_range(quarter_start, -3 * n, -3 * n + 3)?,
        "LAST_N_YEARS" => months_range(year_start, -12 * n, 0)?,
        "NEXT_N_YEARS" => months_range(year_start, 12, 12 * (n + 1))?,
        "N_YEARS_AGO" => months_range(year_start, -12 * n, -12 * n + 12)?,
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn ranges_around_a_wednesday_in_november() {
        let today = d(2026, 11, 25);
        let cases = [
            ("TODAY", None, (d(2026, 11, 25), d(2026, 11, 26))),
            ("THIS_WEEK", None, (d(2026, 11, 22), d(2026, 11, 29))),
            ("LAST_WEEK", None, (d(2026, 11, 15), d(2026, 11, 22))),
            ("THIS_MONTH", None, (d(2026, 11, 1), d(2026, 12, 1))),
            ("NEXT_MONTH", None, (d(2026, 12, 1), d(2027, 1, 1))),
            ("THIS_QUARTER", None, (d(2026, 10, 1), d(2027, 1, 1))),
            ("LAST_QUARTER", None, (d(2026, 7, 1), d(2026, 10, 1))),
            ("THIS_FISCAL_YEAR", None, (d(2026, 1, 1), d(2027, 1, 1))),
            ("LAST_N_DAYS", Some(30), (d(2026, 10, 26), d(2026, 11, 26))),
            ("NEXT_N_DAYS", Some(7), (d(2026, 11, 26), d(2026, 12, 3))),
            ("N_DAYS_AGO", Some(3), (d(2026, 11, 22), d(2026, 11, 23))),
            ("LAST_N_MONTHS", Some(2), (d(2026, 9, 1), d(2026, 11, 1))),
            ("N_QUARTERS_AGO", Some(1), (d(2026, 7, 1), d(2026, 10, 1))),
            ("NEXT_N_YEARS", Some(1), (d(2027, 1, 1), d(2028, 1, 1))),
        ];
        for (name, n, want) in cases {
            assert_eq!(range(name, n, today).unwrap(), want, "{name}");
        }
    }
}
