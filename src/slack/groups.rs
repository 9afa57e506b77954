//! Slack user groups for the policy: who is in `@sales-managers`, from
//! `usergroups.users.list` (handles mapped to ids with `usergroups.list`), cached for
//! `policy.group_ttl` so a click costs no Slack call most of the time, and refreshed after
//! it so a change in Slack reaches crmbot without a restart. Concurrent lookups of one group
//! share one call.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use moka::future::Cache;

use super::web::{SlackError, SlackWeb};
use crate::flow::policy::Directory;

/// Groups remembered at most (a workspace rarely has more).
const MAX_GROUPS: u64 = 1_000;

pub struct SlackGroups {
    web: SlackWeb,
    members: Cache<String, Arc<HashSet<String>>>,
    /// `@handle` -> group id.
    handles: Cache<(), Arc<HashMap<String, String>>>,
}

impl SlackGroups {
    pub fn new(web: SlackWeb, ttl: Duration) -> SlackGroups {
        SlackGroups {
            web,
            members: Cache::builder()
                .max_capacity(MAX_GROUPS)
                .time_to_live(ttl)
                .build(),
            handles: Cache::builder().max_capacity(1).time_to_live(ttl).build(),
        }
    }

    /// The group id of `S…` or `@handle`.
    async fn id_of(&self, group: &str) -> Result<String, String> {
        if !group.starts_with('@') {
            return Ok(group.to_string());
        }
        let web = self.web.clone();
        let handles = self
            .handles
            .try_get_with((), async move {
                let groups = web.user_groups().await?;
                Ok::<_, SlackError>(Arc::new(
                    groups
                        .into_iter()
                        .filter(|g| g.date_delete.unwrap_or(0) == 0)
                        .map(|g| (format!("@{}", g.handle.to_lowercase()), g.id))
                        .collect(),
                ))
            })
            .await
            .map_err(|e| e.to_string())?;
        handles
            .get(&group.to_lowercase())
            .cloned()
            .ok_or_else(|| format!("Slack has no user group {group}"))
    }
}

impl Directory for SlackGroups {
    fn members(&self, group: &str) -> BoxFuture<'_, Result<Arc<HashSet<String>>, String>> {
        let group = group.to_string();
        Box::pin(async move {
            let id = self.id_of(&group).await?;
            let web = self.web.clone();
            let key = id.clone();
            self.members
                .try_get_with(key, async move {
                    let users = web.user_group_members(&id).await?;
                    Ok::<_, SlackError>(Arc::new(users.into_iter().collect()))
                })
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn email(&self, user: &str) -> BoxFuture<'_, Result<Option<String>, String>> {
        let user = user.to_string();
        Box::pin(async move { self.web.user_email(&user).await.map_err(|e| e.to_string()) })
    }
}
