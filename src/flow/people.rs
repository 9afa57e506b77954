//! Who a Slack member is in Salesforce: the one place that maps a member to an active
//! Salesforce User — by the `[salesforce.users]` table, else by the email on their Slack
//! profile (one User query) — cached with a bound and a time to live, and looked up again
//! on a miss. Used for the owner of what an approval creates (`salesforce.owner`) and for
//! "my …" in questions (`"$me"`).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use moka::future::Cache;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::warn;

use super::policy::{Directory, NoGroups};
use crate::config::{OwnerChoice, PeopleSettings, UnmappedChoice};
use crate::domain::soql::quote;
use crate::salesforce::SalesforceClient;

/// People remembered at most.
const MAX_PEOPLE: u64 = 10_000;
/// A found User is trusted this long (deactivated users stop owning records after it).
const FOUND_TTL: Duration = Duration::from_secs(3600);
/// A member not found is looked up again after this long (a new User is found soon).
const MISSING_TTL: Duration = Duration::from_secs(300);

/// Someone to map: a stable key (the Slack member id; the CLI's `--as` email) and the
/// email to match, fetched only when the table and the cache do not answer.
pub trait Asker: Send + Sync {
    fn key(&self) -> String;
    fn email(&self) -> BoxFuture<'_, Option<String>>;

    /// Why there is no email to match, for the person.
    fn no_email(&self) -> String {
        "crmbot cannot read an email on your Slack profile".into()
    }

    /// How the person gets mapped.
    fn name_yourself(&self) -> String {
        "Ask your crmbot admin to map your Slack account to your Salesforce user ([salesforce.users] in crmbot.toml).".into()
    }
}

/// An active Salesforce User.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfUser {
    pub id: String,
    pub name: String,
}

/// What the mapping found.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapping {
    User(SfUser),
    /// No active User: the words say why, for the person (no trailing period).
    Unmapped(String),
}

/// The owner an action's creates get, decided by code from `salesforce.owner`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    /// The Slack member it was decided for.
    pub member: String,
    /// Their User; `None`: the integration user (no OwnerId is sent).
    pub user: Option<SfUser>,
    /// Why not the member's own User, in words for the card.
    pub unmapped: Option<String>,
    /// `salesforce.unmapped = "refuse"` and unmapped: nothing may be written.
    pub refused: bool,
}

impl Owner {
    /// The OwnerId creates carry, if any.
    pub fn user_id(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.id.as_str())
    }

    /// The card's line about who will own (or owns) what is created.
    pub fn card_line(&self, whose: &str) -> String {
        match (&self.user, &self.unmapped) {
            (Some(u), _) => format!(
                ":bust_in_silhouette: Records created are owned in Salesforce by {} ({whose}).",
                u.name
            ),
            (None, Some(why)) if self.refused => format!(
                ":no_entry: {why}, and crmbot writes only for people it can map (salesforce.unmapped = \"refuse\"): approving is refused. Ask your crmbot admin to add you to [salesforce.users] in crmbot.toml."
            ),
            (None, Some(why)) => format!(
                ":warning: {why}, so records created will be owned by crmbot's integration user. Your crmbot admin can map you in [salesforce.users] of crmbot.toml."
            ),
            (None, None) => {
                ":bust_in_silhouette: Records created are owned by crmbot's integration user."
                    .into()
            }
        }
    }
}

/// The mapping service. Cheap to clone (the caches are shared).
#[derive(Clone)]
pub struct People {
    sf: SalesforceClient,
    settings: Arc<PeopleSettings>,
    directory: Arc<dyn Directory>,
    found: Cache<String, SfUser>,
    missing: Cache<String, String>,
}

/// A Slack member, asked of the directory.
struct Member<'a> {
    user: &'a str,
    directory: &'a dyn Directory,
}

impl Asker for Member<'_> {
    fn key(&self) -> String {
        self.user.to_string()
    }

    fn email(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move {
            match self.directory.email(self.user).await {
                Ok(email) => email,
                Err(e) => {
                    warn!(error = %e, "cannot read a Slack profile's email");
                    None
                }
            }
        })
    }
}

impl People {
    pub fn new(
        sf: SalesforceClient,
        settings: PeopleSettings,
        directory: Arc<dyn Directory>,
    ) -> People {
        People {
            sf,
            settings: Arc::new(settings),
            directory,
            found: Cache::builder()
                .max_capacity(MAX_PEOPLE)
                .time_to_live(FOUND_TTL)
                .build(),
            missing: Cache::builder()
                .max_capacity(MAX_PEOPLE)
                .time_to_live(MISSING_TTL)
                .build(),
        }
    }

    /// Mapping by email only, nobody's creates owned (the command line, the console).
    pub fn by_email(sf: SalesforceClient) -> People {
        let settings = PeopleSettings {
            owner: OwnerChoice::Integration,
            ..PeopleSettings::default()
        };
        People::new(sf, settings, Arc::new(NoGroups))
    }

    pub fn settings(&self) -> &PeopleSettings {
        &self.settings
    }

    /// A Slack member's User.
    pub async fn member(&self, user: &str) -> Mapping {
        let member = Member {
            user,
            directory: self.directory.as_ref(),
        };
        self.map(&member).await
    }

    /// Someone's User: the table, the cache, else their email and one User query.
    pub async fn map(&self, who: &dyn Asker) -> Mapping {
        let key = who.key();
        if let Some(user) = self.found.get(&key).await {
            return Mapping::User(user);
        }
        if let Some(why) = self.missing.get(&key).await {
            return Mapping::Unmapped(why);
        }
        let (soql, named) = match self.settings.users.get(&key) {
            Some(name) => (by_name(name), format!("[salesforce.users] names {name}")),
            None => match who.email().await.filter(|e| !e.trim().is_empty()) {
                Some(email) => (
                    format!(
                        "SELECT Id, Name FROM User WHERE Email = {} AND IsActive = true LIMIT 2",
                        quote(email.trim())
                    ),
                    format!("Your Slack email {email}"),
                ),
                None => {
                    let why = who.no_email();
                    self.missing.insert(key, why.clone()).await;
                    return Mapping::Unmapped(why);
                }
            },
        };
        let rows = match self.sf.query(&soql).await {
            Ok(r) => r.records,
            Err(e) => {
                // Not cached: Salesforce may answer in a moment.
                warn!(error = %e, "cannot look up a Salesforce user");
                return Mapping::Unmapped(format!(
                    "crmbot could not look up your Salesforce user ({e})"
                ));
            }
        };
        let users: Vec<SfUser> = rows.iter().filter_map(user_of).collect();
        match users.as_slice() {
            [one] => {
                self.found.insert(key, one.clone()).await;
                Mapping::User(one.clone())
            }
            [] => {
                let why = format!("{named} matches no active Salesforce user");
                self.missing.insert(key, why.clone()).await;
                Mapping::Unmapped(why)
            }
            _ => {
                let why = format!("{named} matches several active Salesforce users");
                self.missing.insert(key, why.clone()).await;
                Mapping::Unmapped(why)
            }
        }
    }

    /// The owner of what `member`'s action creates, by `salesforce.owner` and
    /// `salesforce.unmapped`. `None` when creates are the integration user's by choice.
    pub async fn owner(&self, member: &str) -> Option<Owner> {
        if self.settings.owner == OwnerChoice::Integration {
            return None;
        }
        Some(match self.member(member).await {
            Mapping::User(user) => Owner {
                member: member.to_string(),
                user: Some(user),
                unmapped: None,
                refused: false,
            },
            Mapping::Unmapped(why) => Owner {
                member: member.to_string(),
                user: None,
                unmapped: Some(why),
                refused: self.settings.unmapped == UnmappedChoice::Refuse,
            },
        })
    }
}

/// Emails (or names) in one User query of the bulk mapping (the query URL stays short).
const BULK_CHUNK: usize = 100;

impl People {
    /// Many members at once (`crmbot doctor`): (Slack id, profile email) -> their mapping,
    /// with one User query per 100 emails or table entries, not one per member.
    pub async fn map_many(
        &self,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Mapping>, crate::salesforce::SalesforceError> {
        let mut by_key: std::collections::HashMap<String, Vec<SfUser>> = Default::default();
        let keys: Vec<(String, &'static str)> = members
            .iter()
            .filter_map(|(id, email)| match self.settings.users.get(id) {
                Some(name) => Some((
                    name.trim().to_string(),
                    if is_user_id(name) { "Id" } else { "Username" },
                )),
                None => email.as_ref().map(|e| (e.trim().to_lowercase(), "Email")),
            })
            .collect();
        for field in ["Id", "Username", "Email"] {
            let values: Vec<&String> = keys
                .iter()
                .filter(|(_, f)| *f == field)
                .map(|(v, _)| v)
                .collect();
            for chunk in values.chunks(BULK_CHUNK) {
                let list: Vec<String> = chunk.iter().map(|v| quote(v)).collect();
                let soql = format!(
                    "SELECT Id, Name, Username, Email FROM User WHERE IsActive = true AND {field} IN ({})",
                    list.join(", ")
                );
                for row in self.sf.query(&soql).await?.records {
                    let key = row.get(field).and_then(Value::as_str).unwrap_or_default();
                    let key = if field == "Email" {
                        key.to_lowercase()
                    } else {
                        key.to_string()
                    };
                    if let Some(user) = user_of(&row) {
                        by_key.entry(key).or_default().push(user);
                    }
                }
            }
        }
        Ok(members
            .iter()
            .map(|(id, email)| {
                let (key, named) = match self.settings.users.get(id) {
                    Some(name) => (
                        name.trim().to_string(),
                        format!("[salesforce.users] names {name}"),
                    ),
                    None => match email {
                        Some(e) => (e.trim().to_lowercase(), format!("Slack email {e}")),
                        None => return Mapping::Unmapped("no email on the Slack profile".into()),
                    },
                };
                match by_key.get(&key).map(Vec::as_slice) {
                    Some([one]) => Mapping::User(one.clone()),
                    Some([_, _, ..]) => Mapping::Unmapped(format!(
                        "{named} matches several active Salesforce users"
                    )),
                    _ => Mapping::Unmapped(format!("{named} matches no active Salesforce user")),
                }
            })
            .collect())
    }
}

fn is_user_id(name: &str) -> bool {
    let name = name.trim();
    (name.len() == 15 || name.len() == 18)
        && name.starts_with("005")
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The table's value: a User id (`005…`) or a username.
fn by_name(name: &str) -> String {
    let name = name.trim();
    let field = if is_user_id(name) { "Id" } else { "Username" };
    format!(
        "SELECT Id, Name FROM User WHERE {field} = {} AND IsActive = true LIMIT 2",
        quote(name)
    )
}

fn user_of(row: &serde_json::Map<String, Value>) -> Option<SfUser> {
    Some(SfUser {
        id: row.get("Id")?.as_str()?.to_string(),
        name: row
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or("your Salesforce user")
            .to_string(),
    })
}
