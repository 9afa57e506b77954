//! Who owns what crmbot writes: the `[salesforce]` keys `owner` and `unmapped` and the
//! `[salesforce.users]` table. Kept apart from the connection settings because they are
//! about people, not about reaching the org.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Whose Salesforce User owns the records an approval creates (`salesforce.owner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OwnerChoice {
    /// The person who ran `/crm log` (the default).
    #[default]
    Requester,
    /// The person whose approval wrote it.
    Approver,
    /// crmbot's own (integration) user, as before mapping existed: no OwnerId is sent.
    Integration,
}

/// What happens to the draft of a Slack member crmbot cannot map to an active Salesforce
/// User (`salesforce.unmapped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnmappedChoice {
    /// Written anyway, owned by the integration user; the card says so.
    #[default]
    Integration,
    /// Not written: the card says why and approval is refused until an admin maps them.
    Refuse,
}

/// Whose Salesforce identity crmbot acts with (`salesforce.identity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    /// crmbot's own Salesforce user for every call (the default).
    #[default]
    Integration,
    /// Each person signs in once (`/crm connect`); their duplicate checks, approvals' writes
    /// and questions then run with their own token (README: "Per-user sign-in").
    User,
}

/// The people settings, as the flow needs them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeopleSettings {
    pub owner: OwnerChoice,
    pub unmapped: UnmappedChoice,
    /// Slack member id -> Salesforce username or User id (`005…`), before any email match.
    pub users: BTreeMap<String, String>,
}

impl PeopleSettings {
    pub fn from_settings(s: &super::SalesforceSettings) -> PeopleSettings {
        PeopleSettings {
            owner: s.owner,
            unmapped: s.unmapped,
            users: s.users.clone(),
        }
    }
}
