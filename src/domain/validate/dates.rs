//! Dates as people write them in notes, resolved against the note's date. The model is asked
//! for ISO dates but often passes "next Friday" or "end of next month" through; those are
//! resolved here or refused — a date field never receives free text.

use chrono::{Datelike, Duration, Months, NaiveDate, Weekday};

/// Reads an ISO date, an ISO datetime's date part, or a relative/natural phrase.
pub fn parse_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    let t = normalize(text);
    if t.is_empty() {
        return None;
    }
    if let Some(d) = iso(&t) {
        return Some(d);
    }
    relative(&t, today).or_else(|| calendar(&t, today))
}

fn normalize(text: &str) -> String {
    let lower = text.trim().to_lowercase();
    let mut t = lower.trim_end_matches(['.', '!', ',']).to_string();
    for prefix in ["by ", "on ", "before ", "due ", "until ", "around ", "the "] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest.to_string();
        }
    }
    t.split_whitespace()
        .filter(|w| *w != "the")
        .collect::<Vec<_>>()
        .join(" ")
}

fn iso(t: &str) -> Option<NaiveDate> {
    let head = t.get(..10)?;
    let date = NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()?;
    let rest = &t[10..];
    (rest.is_empty() || rest.starts_with('t') || rest.starts_with(' ')).then_some(date)
}

fn weekday(word: &str) -> Option<Weekday> {
    Some(match word.trim_end_matches('s') {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" | "tues" => Weekday::Tue,
        "wednesday" | "wed" => Weekday::Wed,
        "thursday" | "thu" | "thur" | "thurs" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// The first `day` strictly after `from`.
fn next_weekday(from: NaiveDate, day: Weekday) -> NaiveDate {
    let ahead =
        (7 + day.num_days_from_monday() as i64 - from.weekday().num_days_from_monday() as i64) % 7;
    from + Duration::days(if ahead == 0 { 7 } else { ahead })
}

fn month_end(year: i32, month: u32) -> Option<NaiveDate> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    first.checked_add_months(Months::new(1))?.pred_opt()
}

fn quarter_end(d: NaiveDate) -> Option<NaiveDate> {
    let last_month = ((d.month() - 1) / 3) * 3 + 3;
    month_end(d.year(), last_month)
}

fn number(word: &str) -> Option<i64> {
    Some(match word {
        "a" | "an" | "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        _ => word.parse().ok()?,
    })
}

fn relative(t: &str, today: NaiveDate) -> Option<NaiveDate> {
    let words: Vec<&str> = t.split(' ').collect();
    let next_month_first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1)?
        .checked_add_months(Months::new(1))?;
    match words.as_slice() {
        ["today"] | ["tonight"] => Some(today),
        ["tomorrow"] => today.succ_opt(),
        ["yesterday"] => today.pred_opt(),
        ["next", "week"] => Some(next_weekday(today, Weekday::Mon)),
        ["end", "of", "week"] | ["end", "of", "this", "week"] | ["eow"] => {
            let fri = today.weekday().num_days_from_monday();
            (fri <= 4).then(|| today + Duration::days(4 - fri as i64))
        }
        ["end", "of", "next", "week"] => {
            Some(next_weekday(today, Weekday::Mon) + Duration::days(4))
        }
        ["next", "month"] => Some(next_month_first),
        ["end", "of", "month"] | ["end", "of", "this", "month"] | ["eom"] | ["month", "end"] => {
            month_end(today.year(), today.month())
        }
        ["end", "of", "next", "month"] => {
            month_end(next_month_first.year(), next_month_first.month())
        }
        ["end", "of", "quarter"]
        | ["end", "of", "this", "quarter"]
        | ["eoq"]
        | ["quarter", "end"] => quarter_end(today),
        ["end", "of", "next", "quarter"] => quarter_end(today.checked_add_months(Months::new(3))?),
        ["end", "of", "year"] | ["end", "of", "this", "year"] | ["eoy"] | ["year", "end"] => {
            NaiveDate::from_ymd_opt(today.year(), 12, 31)
        }
        ["end", "of", "next", "year"] => NaiveDate::from_ymd_opt(today.year() + 1, 12, 31),
        ["in", n, unit] | [n, unit, "from", "now"] => {
            let n = number(n)?;
            match unit.trim_end_matches('s') {
                "day" => Some(today + Duration::days(n)),
                "week" => Some(today + Duration::weeks(n)),
                "month" => today.checked_add_months(Months::new(u32::try_from(n).ok()?)),
                _ => None,
            }
        }
        ["next", day] | ["this", day] | ["coming", day] | [day] => {
            weekday(day).map(|w| next_weekday(today, w))
        }
        _ => None,
    }
}

fn month(word: &str) -> Option<u32> {
    let w = word.trim_end_matches('.');
    let names = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    names
        .iter()
        .position(|m| *m == w || (w.len() >= 3 && m.starts_with(w)))
        .map(|i| i as u32 + 1)
}

fn day_number(word: &str) -> Option<u32> {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let d: u32 = digits.parse().ok()?;
    (1..=31).contains(&d).then_some(d)
}

/// "Dec 5", "December 5, 2026", "5 December", "12/5" (US), "12/5/2026". Without a year, the
/// next such date on or after today.
fn calendar(t: &str, today: NaiveDate) -> Option<NaiveDate> {
    let cleaned = t.replace(',', " ");
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let (m, d, y) = match words.as_slice() {
        [a, b] => match (month(a), month(b)) {
            (Some(m), _) => (m, day_number(b)?, None),
            (None, Some(m)) => (m, day_number(a)?, None),
            _ => return None,
        },
        [a, b, c] => match (month(a), month(b)) {
            (Some(m), _) => (m, day_number(b)?, Some(c.parse().ok()?)),
            (None, Some(m)) => (m, day_number(a)?, Some(c.parse().ok()?)),
            _ => return None,
        },
        [one] if one.contains('/') => {
            let parts: Vec<&str> = one.split('/').collect();
            match parts.as_slice() {
                [m, d] => (m.parse().ok()?, d.parse().ok()?, None),
                [m, d, y] => {
                    let y: i32 = y.parse().ok()?;
                    (
                        m.parse().ok()?,
                        d.parse().ok()?,
                        Some(if y < 100 { 2000 + y } else { y }),
                    )
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    match y {
        Some(y) => NaiveDate::from_ymd_opt(y, m, d),
        None => {
            let this_year = NaiveDate::from_ymd_opt(today.year(), m, d)?;
            if this_year >= today {
                Some(this_year)
            } else {
                NaiveDate::from_ymd_opt(today.year() + 1, m, d)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn phrases_resolve_against_the_note_date() {
        let today = d(2026, 11, 25); // a Wednesday
        let cases = [
            ("2026-12-01", d(2026, 12, 1)),
            ("2026-12-01T10:00:00Z", d(2026, 12, 1)),
            ("today", today),
            ("tomorrow", d(2026, 11, 26)),
            ("Friday", d(2026, 11, 27)),
            ("by Friday", d(2026, 11, 27)),
            ("next Friday", d(2026, 11, 27)),
            ("Wednesday", d(2026, 12, 2)),
            ("next week", d(2026, 11, 30)),
            ("in 2 weeks", d(2026, 12, 9)),
            ("in three days", d(2026, 11, 28)),
            ("end of month", d(2026, 11, 30)),
            ("end of next month", d(2026, 12, 31)),
            ("next month", d(2026, 12, 1)),
            ("end of quarter", d(2026, 12, 31)),
            ("end of next quarter", d(2027, 3, 31)),
            ("end of the year", d(2026, 12, 31)),
            ("Dec 5", d(2026, 12, 5)),
            ("December 5, 2027", d(2027, 12, 5)),
            ("5 January", d(2027, 1, 5)),
            ("12/5", d(2026, 12, 5)),
            ("1/15/27", d(2027, 1, 15)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_date(text, today), Some(want), "{text}");
        }
    }

    #[test]
    fn unreadable_phrases_are_refused() {
        let today = d(2026, 11, 25);
        for text in [
            "sometime soon",
            "",
            "Q5",
            "2026-13-45",
            "next blursday",
            "13/45",
        ] {
            assert_eq!(parse_date(text, today), None, "{text}");
        }
    }
}
