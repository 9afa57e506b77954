//! The eval's figures: totals over the corpus, as a table for people and JSON for CI.

use serde::Serialize;

use super::score::{Leak, NoteScore};
use super::{Cost, QuestionScore};

/// Version of the `--json` shape.
pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: u32,
    pub model: String,
    /// What the start-up probe found (OpenAI-compatible servers).
    pub probe: Option<String>,
    pub corpus: String,
    pub notes: NoteTotals,
    pub questions: QuestionTotals,
    pub cost: CostTotals,
    pub leaks: Vec<Leak>,
    pub note_scores: Vec<NoteScore>,
    pub question_scores: Vec<QuestionScore>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NoteTotals {
    pub notes: u32,
    /// Drafts that failed (the model's error).
    pub failed: u32,
    pub proposed: u32,
    /// Values one click on Approve would write.
    pub written: u32,
    pub right_written: u32,
    pub leaks: u32,
    pub false_alarms: u32,
    pub expected_values: u32,
    pub recalled: u32,
    pub expected_records: u32,
    pub actions_right: u32,
    pub extra_records: u32,
    /// right written / written, in %.
    pub precision: f64,
    /// recalled / expected values, in %.
    pub recall: f64,
    /// Leaks per 100 proposed values.
    pub leak_rate: f64,
    /// Right values held back or flagged, per 100 proposed values.
    pub false_alarm_rate: f64,
    /// Expected records with the expected action / (expected records + extra records), in %.
    pub action_accuracy: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct QuestionTotals {
    pub questions: u32,
    /// Questions whose answer is a list of rows.
    pub answerable: u32,
    /// Of those, a plan was accepted and ran.
    pub plans_valid: u32,
    /// Of those, exactly the expected rows.
    pub rows_correct: u32,
    /// Questions that must be refused, and were.
    pub refusals_expected: u32,
    pub refused_correctly: u32,
    /// Rows presented as the answer that are not the answer.
    pub wrong_answers: u32,
    /// plans_valid / answerable, in %.
    pub plan_validity: f64,
    /// rows_correct / answerable, in %.
    pub row_correctness: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CostTotals {
    pub calls: usize,
    pub retries: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Per note or question, end to end.
    pub latency_p50_ms: u64,
    pub latency_p95_ms: u64,
}

fn pct(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (f64::from(part) * 1000.0 / f64::from(whole)).round() / 10.0
    }
}

/// The value at rank `q` (0..=1) of sorted values (nearest rank).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl Report {
    pub fn new(
        model: String,
        probe: Option<String>,
        corpus: String,
        notes: Vec<(NoteScore, Cost)>,
        questions: Vec<(QuestionScore, Cost)>,
    ) -> Report {
        let mut n = NoteTotals {
            notes: notes.len() as u32,
            ..NoteTotals::default()
        };
        for (s, _) in &notes {
            n.failed += u32::from(s.failed.is_some());
            n.proposed += s.proposed;
            n.written += s.written;
            n.right_written += s.right_written;
            n.leaks += s.leaks.len() as u32;
            n.false_alarms += s.false_alarms;
            n.expected_values += s.expected_values;
            n.recalled += s.recalled;
            n.expected_records += s.expected_records;
            n.actions_right += s.actions_right;
            n.extra_records += s.extra_records;
        }
        n.precision = pct(n.right_written, n.written);
        n.recall = pct(n.recalled, n.expected_values);
        n.leak_rate = pct(n.leaks, n.proposed);
        n.false_alarm_rate = pct(n.false_alarms, n.proposed);
        n.action_accuracy = pct(n.actions_right, n.expected_records + n.extra_records);

        let mut q = QuestionTotals {
            questions: questions.len() as u32,
            ..QuestionTotals::default()
        };
        for (s, _) in &questions {
            if s.expects_rows {
                q.answerable += 1;
                q.plans_valid += u32::from(s.plan_valid);
                q.rows_correct += u32::from(s.correct);
            } else {
                q.refusals_expected += 1;
                q.refused_correctly += u32::from(s.correct);
            }
            q.wrong_answers += u32::from(s.wrong_answer);
        }
        q.plan_validity = pct(q.plans_valid, q.answerable);
        q.row_correctness = pct(q.rows_correct, q.answerable);

        let costs: Vec<&Cost> = notes
            .iter()
            .map(|(_, c)| c)
            .chain(questions.iter().map(|(_, c)| c))
            .collect();
        let mut latencies: Vec<u64> = costs.iter().map(|c| c.latency_ms).collect();
        latencies.sort_unstable();
        let cost = CostTotals {
            calls: costs.iter().map(|c| c.calls).sum(),
            retries: costs.iter().map(|c| c.retries).sum(),
            prompt_tokens: costs.iter().map(|c| c.prompt_tokens).sum(),
            completion_tokens: costs.iter().map(|c| c.completion_tokens).sum(),
            latency_p50_ms: percentile(&latencies, 0.5),
            latency_p95_ms: percentile(&latencies, 0.95),
        };
        let leaks = notes.iter().flat_map(|(s, _)| s.leaks.clone()).collect();
        Report {
            version: REPORT_VERSION,
            model,
            probe,
            corpus,
            notes: n,
            questions: q,
            cost,
            leaks,
            note_scores: notes.into_iter().map(|(s, _)| s).collect(),
            question_scores: questions.into_iter().map(|(s, _)| s).collect(),
        }
    }
}

/// The report as a table, with every leak and wrong answer named.
pub fn render_table(r: &Report) -> String {
    let n = &r.notes;
    let q = &r.questions;
    let c = &r.cost;
    let mut out = format!("crmbot eval — model: {}\n", r.model);
    if let Some(p) = &r.probe {
        out.push_str(&format!("  {p}\n"));
    }
    out.push_str(&format!(
        "  corpus: {} ({} notes, {} questions)\n\n",
        r.corpus, n.notes, q.questions
    ));
    let rows: Vec<(String, String)> = vec![
        (
            "notes (drafts failed)".into(),
            format!("{} ({})", n.notes, n.failed),
        ),
        ("values proposed".into(), n.proposed.to_string()),
        ("values one click writes".into(), n.written.to_string()),
        (
            "field precision".into(),
            format!(
                "{:.1} % ({} of {} right)",
                n.precision, n.right_written, n.written
            ),
        ),
        (
            "field recall".into(),
            format!(
                "{:.1} % ({} of {} expected)",
                n.recall, n.recalled, n.expected_values
            ),
        ),
        (
            "leak rate".into(),
            format!(
                "{:.1} per 100 proposed ({} wrong values one click writes)",
                n.leak_rate, n.leaks
            ),
        ),
        (
            "false alarms".into(),
            format!(
                "{:.1} per 100 proposed ({} right values held or flagged)",
                n.false_alarm_rate, n.false_alarms
            ),
        ),
        (
            "action accuracy".into(),
            format!(
                "{:.1} % ({} of {} records; {} extra)",
                n.action_accuracy, n.actions_right, n.expected_records, n.extra_records
            ),
        ),
        (
            "question plans valid".into(),
            format!(
                "{:.1} % ({} of {})",
                q.plan_validity, q.plans_valid, q.answerable
            ),
        ),
        (
            "question rows correct".into(),
            format!(
                "{:.1} % ({} of {})",
                q.row_correctness, q.rows_correct, q.answerable
            ),
        ),
        (
            "refused as expected".into(),
            format!("{} of {}", q.refused_correctly, q.refusals_expected),
        ),
        ("wrong answers".into(), q.wrong_answers.to_string()),
        (
            "model calls (retries)".into(),
            format!("{} ({})", c.calls, c.retries),
        ),
        (
            "tokens prompt / completion".into(),
            format!("{} / {}", c.prompt_tokens, c.completion_tokens),
        ),
        (
            "latency p50 / p95".into(),
            format!("{} ms / {} ms", c.latency_p50_ms, c.latency_p95_ms),
        ),
    ];
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (k, v) in rows {
        out.push_str(&format!("  {k:<width$}  {v}\n"));
    }
    if !r.leaks.is_empty() {
        out.push_str("\nLeaks (wrong values one click would write):\n");
        for l in &r.leaks {
            out.push_str(&format!(
                "  {}: {}.{} = {} (expected {})\n",
                l.note, l.object, l.field, l.value, l.expected
            ));
        }
    }
    let wrong: Vec<&QuestionScore> = r
        .question_scores
        .iter()
        .filter(|s| s.wrong_answer)
        .collect();
    if !wrong.is_empty() {
        out.push_str("\nWrong answers:\n");
        for s in wrong {
            out.push_str(&format!("  {}: {}\n", s.id, s.detail));
        }
    }
    let failed: Vec<&NoteScore> = r
        .note_scores
        .iter()
        .filter(|s| s.failed.is_some())
        .collect();
    if !failed.is_empty() {
        out.push_str("\nDrafts that failed:\n");
        for s in failed {
            out.push_str(&format!(
                "  {}: {}\n",
                s.id,
                s.failed.as_deref().unwrap_or("")
            ));
        }
    }
    out
}
