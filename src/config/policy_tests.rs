//! `[policy]`: read, checked against the allowed objects, printed in words.

use std::collections::HashMap;
use std::path::Path;

use super::*;
use crate::domain::policy::Who;

fn load(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crmbot.toml");
    std::fs::write(&path, text).expect("write");
    let env: HashMap<String, String> = HashMap::new();
    Config::load_with(Some(Path::new(&path)), |k| env.get(k).cloned())
}

#[test]
fn a_typo_in_the_policy_is_refused_naming_the_key_and_its_line() {
    let err = load("[policy]\nlog = [\"everyone\"]\napprovrs = [\"U0BOSS\"]\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("approvrs"), "{text}");
    assert!(text.contains("line 3"), "{text}");
    let err = load(
        "[[policy.tiers]]\nname = \"big deals\"\nobject = \"Opportunity\"\nfeild = \"Amount\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("feild") && err.contains("line 4"), "{err}");
    let err = load("[policy]\napprovers = [\"sales-managers\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("'sales-managers' is not"), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn names_in_tiers_must_be_allowed_objects_and_fields() {
    let tier = |body: &str| load(&format!("[[policy.tiers]]\nname = \"t\"\n{body}"));
    let err = tier("object = \"Opportunty\"\n").unwrap_err().to_string();
    assert!(
        err.contains("policy.tiers[0]") && err.contains("'Opportunty' is not an allowed object"),
        "{err}"
    );
    let err = tier("object = \"Opportunity\"\nfield = \"Amont\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("'Amont' is not a field"), "{err}");
    let err = tier("object = \"Opportunity\"\nto = [\"Closed Won\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("name it"), "{err}");
    let err = tier("object = \"Opportunity\"\napprovers = [\"U1AAA\"]\napprovals = 2\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("only 1 people are named"), "{err}");
    assert!(tier("object = \"Opportunity\"\nfield = \"Amount\"\nover = 10000\n").is_ok());
}

#[test]
fn restricting_self_approval_needs_someone_else_to_approve() {
    let err = load("[policy.self_approve]\nupdate = false\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("policy.approvers"), "{err}");
    assert!(
        load(
            "[policy]\napprovers = [\"@sales-managers\"]\n[policy.self_approve]\nupdate = false\n"
        )
        .is_ok()
    );
    let err = load("[policy]\napprovers = [\"everyone\"]\n[policy.self_approve.fields]\n\"Opportunity.Amont\" = false\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("'Amont' is not a field"), "{err}");
}

#[test]
fn the_default_policy_keeps_todays_behaviour_and_adds_four_eyes_on_closing() {
    let c = Config::default();
    c.check().unwrap();
    let p = c.effective_policy();
    assert_eq!(p.log, [Who::Everyone]);
    assert!(p.self_approve.create && p.self_approve.update);
    assert_eq!(p.tiers.len(), 1);
    assert_eq!(p.tiers[0].name, "closing a deal");
    assert_eq!(
        p.tiers[0].approvers,
        [Who::Everyone],
        "no approvers set: anyone else"
    );
    assert_eq!(p.answers.slash_command, SlashAnswers::Asker);
    assert!(!p.auto_approve.tasks);
}

#[test]
fn slack_approvers_join_the_policy_and_tiers_inherit_them() {
    let mut c = Config::from_toml("[slack]\napprovers = [\"U0BOSS\"]\n").unwrap();
    c.check().unwrap();
    let p = c.effective_policy();
    assert_eq!(p.approvers, [Who::User("U0BOSS".into())]);
    assert_eq!(p.tiers[0].approvers, [Who::User("U0BOSS".into())]);
    // A tier's own approvers stay; disabling Opportunity drops the built-in tier.
    c.objects.remove("Opportunity");
    c.ask.objects.remove("Opportunity");
    assert!(c.effective_policy().tiers.is_empty());
    c.check().unwrap();
}

#[test]
fn crmbot_config_prints_the_effective_policy_in_toml_and_in_words() {
    let c = load(
        "[policy]\napprovers = [\"@sales-managers\"]\n[[policy.tiers]]\nname = \"big amount change\"\nobject = \"Opportunity\"\nfield = \"Amount\"\nover_percent = 20\napprovals = 2\n",
    )
    .unwrap();
    let shown = c.to_masked_toml();
    for expected in [
        "[policy]",
        "approvers = [\"@sales-managers\"]",
        "name = \"big amount change\"",
        "# - Tier \"big amount change\": Opportunity Amount moving by more than 20% (creates and updates) needs 2 distinct approver(s) from @sales-managers, not the requester.",
        "# - /crm log: anyone in the workspace. Questions: anyone in the workspace.",
        "# - Answers to /crm ask go to the asker only",
        "# - Auto-approval: off",
        "# - crmbot answers only the Slack workspace of its bot token",
    ] {
        assert!(
            shown.contains(expected),
            "{expected:?} missing from:\n{shown}"
        );
    }
    // What is printed reads back as the same policy.
    let body: String = shown
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let again = Config::from_toml(&body).unwrap();
    assert_eq!(again.effective_policy(), c.effective_policy());
}
