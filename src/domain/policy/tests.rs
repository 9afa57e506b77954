//! The policy's rules, one case at a time.

use serde_json::json;

use super::*;

const REQ: &str = "UREQ";

fn closing() -> Tier {
    Tier {
        name: "closing a deal".into(),
        object: "Opportunity".into(),
        field: Some("StageName".into()),
        to: vec!["Closed Won".into(), "Closed Lost".into()],
        changes: Changes::Any,
        over: None,
        over_percent: None,
        approvers: vec![Who::Group("@sales-managers".into())],
        approvals: 2,
        self_approve: false,
    }
}

fn update(object: &str, field: &str, old: Value, new: Value) -> RecordFacts {
    RecordFacts {
        object: object.into(),
        create: false,
        changes: vec![Change {
            field: field.into(),
            old: Some(old),
            new,
        }],
        grounded: true,
    }
}

fn create(object: &str, fields: &[(&str, Value)], grounded: bool) -> RecordFacts {
    RecordFacts {
        object: object.into(),
        create: true,
        changes: fields
            .iter()
            .map(|(f, v)| Change {
                field: f.to_string(),
                old: None,
                new: v.clone(),
            })
            .collect(),
        grounded,
    }
}

fn managers(user: &str) -> impl Fn(&str) -> bool + '_ {
    move |g: &str| g == "@sales-managers" && matches!(user, "UM1" | "UM2" | "UREQ")
}

#[test]
fn who_parses_users_groups_handles_and_everyone() {
    assert_eq!(Who::parse("everyone"), Ok(Who::Everyone));
    assert_eq!(Who::parse("U012ABC"), Ok(Who::User("U012ABC".into())));
    assert_eq!(Who::parse("W012ABC"), Ok(Who::User("W012ABC".into())));
    assert_eq!(Who::parse("S012ABC"), Ok(Who::Group("S012ABC".into())));
    assert_eq!(
        Who::parse("@Sales-Managers"),
        Ok(Who::Group("@sales-managers".into()))
    );
    for bad in ["sales-managers", "u012abc", "@", "@a b", "", "X123"] {
        assert!(Who::parse(bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn a_closed_won_update_falls_in_the_tier_and_a_stage_move_does_not() {
    let policy = Policy {
        tiers: vec![closing()],
        ..Policy::default()
    };
    let won = update(
        "Opportunity",
        "StageName",
        json!("Negotiation/Review"),
        json!("Closed Won"),
    );
    let a = policy.assess(REQ, std::slice::from_ref(&won), false);
    assert_eq!(a.requirements.len(), 1);
    assert_eq!(a.requirements[0].rule, "closing a deal");
    assert_eq!(
        a.requirements[0].because.as_deref(),
        Some("Opportunity StageName from Negotiation/Review to Closed Won")
    );
    let moved = update(
        "Opportunity",
        "StageName",
        json!("Prospecting"),
        json!("Proposal/Price Quote"),
    );
    let a = policy.assess(REQ, &[moved], false);
    assert!(a.is_standard());
}

#[test]
fn amount_tiers_trigger_on_an_absolute_or_a_relative_change() {
    let tier = Tier {
        name: "big amount change".into(),
        field: Some("Amount".into()),
        to: vec![],
        over: Some(10_000.0),
        over_percent: Some(20.0),
        ..closing()
    };
    let amount = |old: Value, new: f64| update("Opportunity", "Amount", old, json!(new));
    assert!(
        tier.matches(&amount(json!(100_000), 111_000.0)).is_some(),
        "+11k"
    );
    assert!(
        tier.matches(&amount(json!(10_000), 12_500.0)).is_some(),
        "+25%"
    );
    assert!(
        tier.matches(&amount(json!(100_000), 105_000.0)).is_none(),
        "+5%, +5k"
    );
    assert!(
        tier.matches(&amount(Value::Null, 5_000.0)).is_some(),
        "from nothing"
    );
    assert!(
        tier.matches(&amount(json!(50_000), 40_000.0)).is_none(),
        "-10k and -20%: not more than either"
    );
    assert!(
        tier.matches(&amount(json!(50_000), 39_000.0)).is_some(),
        "-11k"
    );
}

#[test]
fn self_approval_is_settled_by_the_most_specific_setting() {
    let mut s = SelfApproval::default();
    let lead = create("Lead", &[("LastName", json!("Reed"))], true);
    let opp = update("Opportunity", "Amount", json!(1), json!(2));
    assert_eq!(s.forbids(&[lead.clone(), opp.clone()]), None);
    s.update = false;
    assert_eq!(
        s.forbids(std::slice::from_ref(&lead)),
        None,
        "creates still may"
    );
    assert_eq!(
        s.forbids(std::slice::from_ref(&opp)).as_deref(),
        Some("self_approve.update")
    );
    s.objects.insert("Opportunity".into(), true);
    assert_eq!(
        s.forbids(std::slice::from_ref(&opp)),
        None,
        "the object wins"
    );
    s.fields.insert("Opportunity.Amount".into(), false);
    assert_eq!(
        s.forbids(&[opp]).as_deref(),
        Some("self_approve.fields.\"Opportunity.Amount\""),
        "the field wins"
    );
}

#[test]
fn the_standard_tier_lets_the_requester_approve_unless_a_setting_forbids() {
    let policy = Policy {
        approvers: vec![Who::User("UBOSS".into())],
        ..Policy::default()
    };
    let lead = create("Lead", &[("LastName", json!("Reed"))], true);
    let a = policy.assess(REQ, std::slice::from_ref(&lead), false);
    let none = |_: &str| false;
    assert_eq!(
        judge(&a, REQ, &[], REQ, &none),
        Verdict::Complete {
            counted: vec![STANDARD.into()]
        }
    );
    assert!(matches!(
        judge(&a, REQ, &[], "UBOSS", &none),
        Verdict::Complete { .. }
    ));
    assert_eq!(
        judge(&a, REQ, &[], "UOTHER", &none),
        Verdict::Refused {
            why: Refusal::NotAnApprover,
            rule: STANDARD.into()
        }
    );
    let strict = Policy {
        self_approve: SelfApproval {
            create: false,
            ..SelfApproval::default()
        },
        ..policy
    };
    let a = strict.assess(REQ, &[lead], false);
    assert_eq!(
        a.requirements[0].self_rule.as_deref(),
        Some("self_approve.create")
    );
    assert!(!a.requirements[0].self_approve);
    assert_eq!(
        judge(&a, REQ, &[], REQ, &none),
        Verdict::Refused {
            why: Refusal::OwnDraft,
            rule: STANDARD.into()
        }
    );
}

#[test]
fn two_distinct_approvers_from_the_group_and_never_the_requester() {
    let policy = Policy {
        tiers: vec![closing()],
        ..Policy::default()
    };
    let won = update(
        "Opportunity",
        "StageName",
        json!("Prospecting"),
        json!("closed won"),
    );
    let a = policy.assess(REQ, &[won], false);
    // The requester is a manager, but the tier wants someone else.
    assert!(matches!(
        judge(&a, REQ, &[], REQ, &managers(REQ)),
        Verdict::Refused {
            why: Refusal::OwnDraft,
            ..
        }
    ));
    assert!(matches!(
        judge(&a, REQ, &[], "UREP", &managers("UREP")),
        Verdict::Refused {
            why: Refusal::NotAnApprover,
            ..
        }
    ));
    let first = judge(&a, REQ, &[], "UM1", &managers("UM1"));
    assert_eq!(
        first,
        Verdict::Partly {
            counted: vec!["closing a deal".into()]
        }
    );
    let given = vec![Given {
        user: "UM1".into(),
        counted: vec!["closing a deal".into()],
    }];
    assert_eq!(still_needed(&a.requirements[0], &given), 1);
    assert_eq!(
        judge(&a, REQ, &given, "UM1", &managers("UM1")),
        Verdict::Refused {
            why: Refusal::AlreadyApproved,
            rule: "closing a deal".into()
        }
    );
    assert!(matches!(
        judge(&a, REQ, &given, "UM2", &managers("UM2")),
        Verdict::Complete { .. }
    ));
}

#[test]
fn a_fully_approved_draft_may_be_sent_again_by_who_decided() {
    let policy = Policy::default();
    let a = policy.assess(
        REQ,
        &[create("Lead", &[("LastName", json!("R"))], true)],
        false,
    );
    let given = vec![Given {
        user: REQ.into(),
        counted: vec![STANDARD.into()],
    }];
    let none = |_: &str| false;
    assert!(matches!(
        judge(&a, REQ, &given, REQ, &none),
        Verdict::Complete { .. }
    ));
    assert!(matches!(
        judge(&a, REQ, &given, "UOTHER", &none),
        Verdict::Refused { .. }
    ));
}

#[test]
fn only_task_drafts_with_every_value_from_the_notes_are_written_without_a_click() {
    let policy = Policy {
        auto_approve_tasks: true,
        ..Policy::default()
    };
    let task = create("Task", &[("Subject", json!("Send the SOC 2 report"))], true);
    assert_eq!(
        policy
            .assess(REQ, std::slice::from_ref(&task), false)
            .auto
            .as_deref(),
        Some(AUTO_TASKS)
    );
    let guessed = create("Task", &[("Subject", json!("Call"))], false);
    assert_eq!(policy.assess(REQ, &[guessed], false).auto, None);
    let lead = create("Lead", &[("LastName", json!("R"))], true);
    assert_eq!(policy.assess(REQ, &[task.clone(), lead], false).auto, None);
    assert_eq!(
        policy.assess(REQ, std::slice::from_ref(&task), true).auto,
        None,
        "blocked"
    );
    assert_eq!(
        policy.assess(REQ, &[], false).auto,
        None,
        "nothing to write"
    );
    let off = Policy::default();
    assert_eq!(off.assess(REQ, &[task], false).auto, None, "off by default");
}

#[test]
fn reject_and_edit_belong_to_the_requester_and_whoever_may_approve() {
    let policy = Policy {
        tiers: vec![closing()],
        approvers: vec![Who::User("UBOSS".into())],
        ..Policy::default()
    };
    let won = update(
        "Opportunity",
        "StageName",
        json!("Prospecting"),
        json!("Closed Won"),
    );
    let a = policy.assess(REQ, &[won], false);
    let none = |_: &str| false;
    assert!(may_decide(&a, &policy.approvers, REQ, REQ, &none));
    assert!(may_decide(&a, &policy.approvers, REQ, "UBOSS", &none));
    assert!(may_decide(
        &a,
        &policy.approvers,
        REQ,
        "UM1",
        &managers("UM1")
    ));
    assert!(!may_decide(
        &a,
        &policy.approvers,
        REQ,
        "UREP",
        &managers("UREP")
    ));
}
