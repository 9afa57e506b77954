//! Whose Salesforce client a use case acts with: the one integration client, or in user
//! mode each person's own (from `SignIn`).

use super::{PersonError, SignIn};
use crate::config::Identity;
use crate::salesforce::{SalesforceClient, SalesforceError};

/// Whose client a call uses: the integration user's, or — in user mode — the person's.
/// Cheap to clone.
#[derive(Clone)]
pub struct Clients {
    integration: SalesforceClient,
    signin: Option<SignIn>,
}

impl Clients {
    /// Every call as the integration user.
    pub fn integration(sf: SalesforceClient) -> Clients {
        Clients {
            integration: sf,
            signin: None,
        }
    }

    /// Each person's own client (`salesforce.identity = "user"`).
    pub fn per_user(sf: SalesforceClient, signin: SignIn) -> Clients {
        Clients {
            integration: sf,
            signin: Some(signin),
        }
    }

    pub fn identity(&self) -> Identity {
        match self.signin {
            Some(_) => Identity::User,
            None => Identity::Integration,
        }
    }

    pub fn signin(&self) -> Option<&SignIn> {
        self.signin.as_ref()
    }

    /// The integration user's client (describes, people lookups, background checks).
    pub fn shared(&self) -> &SalesforceClient {
        &self.integration
    }

    /// The client to act as `user` with.
    pub async fn of(&self, user: &str) -> Result<SalesforceClient, PersonError> {
        match &self.signin {
            None => Ok(self.integration.clone()),
            Some(s) => s.client(user).await,
        }
    }

    /// `user`'s client when there is one, else the integration user's (reads that must
    /// happen anyway, such as looking for a write whose answer was lost).
    pub async fn of_or_shared(&self, user: Option<&str>) -> SalesforceClient {
        match (user, &self.signin) {
            (Some(u), Some(_)) => self
                .of(u)
                .await
                .unwrap_or_else(|_| self.integration.clone()),
            _ => self.integration.clone(),
        }
    }

    /// After `e` from `user`'s client: `Lapsed` when their sign-in ended (and it is forgotten).
    pub async fn lapsed(&self, user: &str, e: &SalesforceError) -> Option<PersonError> {
        match &self.signin {
            Some(s) => s.lapsed(user, e).await,
            None => None,
        }
    }
}
