//! Salesforce: the org answers at SALESFORCE_INSTANCE_URL and offers the configured REST
//! version, the access token is accepted, and every configured object and field exists and
//! can be written (for drafts) or read (for questions). Drafting quietly leaves out a field
//! the org lacks — right for a salesperson, wrong for the admin who configured it, who
//! learns it here with the crmbot.toml key to edit.

use std::collections::BTreeMap;

use futures::future::join_all;
use serde_json::Value;

use super::{CHECK_TIMEOUT, Check, SALESFORCE, Status, timed};
use crate::config::Config;
use crate::flow::query_schema::query_schema;
use crate::flow::schema::{SchemaProblem, build_schema};
use crate::salesforce::{SalesforceClient, SalesforceError};

/// Runs the checks; returns the client when the org is usable for drafting (version
/// offered, token accepted, describe readable), for the model's draft check.
pub(super) async fn checks(config: &Config) -> (Vec<Check>, Option<SalesforceClient>) {
    let names = [
        "API version",
        "login",
        "writable fields",
        "queryable fields",
        super::keys::NAME,
    ];
    let skip_all = |reason: &str| {
        names
            .iter()
            .map(|n| Check::skipped(SALESFORCE, *n, reason))
            .collect::<Vec<_>>()
    };
    if config.salesforce.instance_url.is_none() {
        return (skip_all("SALESFORCE_INSTANCE_URL is not set"), None);
    }
    let client = match SalesforceClient::new(&config.salesforce) {
        Ok(c) => c,
        Err(e) => {
            let mut checks = vec![Check::problem(
                SALESFORCE,
                "credentials",
                e.to_string(),
                "set SALESFORCE_ACCESS_TOKEN (or salesforce.access_token in crmbot.toml); `sf org display` shows one for an org you are logged in to",
            )];
            checks.extend(skip_all("no usable credentials"));
            return (checks, None);
        }
    };
    let mut checks = Vec::new();
    let configured = config.salesforce.api_version.clone();
    let version = timed(CHECK_TIMEOUT, versions(&client)).await;
    let (version_check, usable_version) = match version {
        Ok(Ok(offered)) => version_check(&configured, &offered),
        Ok(Err(e)) => {
            let (detail, fix) = explain(&e, client.instance_url());
            checks.push(Check::problem(SALESFORCE, "API version", detail, fix));
            checks.extend(skip_all("Salesforce did not answer").into_iter().skip(1));
            return (checks, None);
        }
        Err(late) => {
            checks.push(Check::problem(
                SALESFORCE,
                "API version",
                format!("{}: {late}", client.instance_url()),
                "check SALESFORCE_INSTANCE_URL and the network (proxy, firewall)",
            ));
            checks.extend(skip_all("Salesforce did not answer").into_iter().skip(1));
            return (checks, None);
        }
    };
    let version_ok = version_check.status == Status::Ok;
    checks.push(version_check);

    // The login is checked even when the configured version is not offered (with the
    // newest one), so one run shows both problems.
    let limits = format!("/services/data/{usable_version}/limits");
    let login = match timed(CHECK_TIMEOUT, client.get_json(&limits)).await {
        Ok(Ok(body)) => Check::ok(SALESFORCE, "login", logged_in(&client, &body)),
        Ok(Err(e)) => {
            let (detail, fix) = explain(&e, client.instance_url());
            Check::problem(SALESFORCE, "login", detail, fix)
        }
        Err(late) => Check::problem(
            SALESFORCE,
            "login",
            late,
            "check SALESFORCE_INSTANCE_URL and the network",
        ),
    };
    let login_ok = login.status == Status::Ok;
    checks.push(login);
    if !login_ok {
        for name in &names[2..] {
            checks.push(Check::skipped(SALESFORCE, *name, "the login failed"));
        }
        return (checks, None);
    }
    if !version_ok {
        let reason = format!("the API version {configured} is not offered");
        for name in &names[2..] {
            checks.push(Check::skipped(SALESFORCE, *name, &reason));
        }
        return (checks, None);
    }

    let writable = match timed(CHECK_TIMEOUT, writable(&client, config)).await {
        Ok(checks) => checks,
        Err(late) => vec![Check::problem(
            SALESFORCE,
            names[2],
            format!("describe: {late}"),
            "run `crmbot doctor` again; if it persists, check the org's status",
        )],
    };
    let describable = !writable
        .iter()
        .any(|c| c.name == names[2] && c.status == Status::Problem);
    checks.extend(writable);
    let queryable = match timed(CHECK_TIMEOUT, query_schema(&client, &config.ask.objects)).await {
        Ok(Ok((schema, problems))) => {
            if problems.is_empty() {
                let fields: usize = schema.objects.values().map(|o| o.fields.len()).sum();
                vec![Check::ok(
                    SALESFORCE,
                    names[3],
                    format!(
                        "{} objects, {fields} fields confirmed by describe (ask.objects)",
                        schema.objects.len()
                    ),
                )]
            } else {
                problems
                    .iter()
                    .map(|p| problem_check(p, Status::Warning))
                    .collect()
            }
        }
        Ok(Err(e)) => {
            let (detail, fix) = explain(&e, client.instance_url());
            vec![Check::problem(SALESFORCE, names[3], detail, fix)]
        }
        Err(late) => vec![Check::problem(
            SALESFORCE,
            names[3],
            format!("describe: {late}"),
            "run `crmbot doctor` again",
        )],
    };
    checks.extend(queryable);
    checks.push(if describable {
        match timed(CHECK_TIMEOUT, super::keys::check(&client, config)).await {
            Ok(check) => check,
            Err(late) => Check::problem(SALESFORCE, names[4], late, "run `crmbot doctor` again"),
        }
    } else {
        Check::skipped(SALESFORCE, names[4], "describe failed")
    });
    (checks, describable.then_some(client))
}

/// `GET /services/data/`: the versions the org offers, e.g. `["31.0", ..., "62.0"]`.
async fn versions(client: &SalesforceClient) -> Result<Vec<String>, SalesforceError> {
    let body = client.get_json("/services/data/").await?;
    let list = body.as_array().ok_or_else(|| {
        SalesforceError::Decode("/services/data/ did not answer a list of versions".into())
    })?;
    Ok(list
        .iter()
        .filter_map(|v| v["version"].as_str().map(str::to_string))
        .collect())
}

/// The check of the configured version, and the version to use for the next calls.
fn version_check(configured: &str, offered: &[String]) -> (Check, String) {
    let number = |v: &str| -> Option<(u32, u32)> {
        let (a, b) = v.trim_start_matches('v').split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let newest = offered
        .iter()
        .filter_map(|v| number(v).map(|n| (n, v)))
        .max()
        .map(|(_, v)| format!("v{v}"));
    let Some(newest) = newest else {
        return (
            Check::problem(
                SALESFORCE,
                "API version",
                "the org offered no REST version",
                "check that SALESFORCE_INSTANCE_URL is your org's address",
            ),
            configured.to_string(),
        );
    };
    if offered.iter().any(|v| number(v) == number(configured)) {
        let detail = if newest == configured {
            format!("{configured} is offered (the newest)")
        } else {
            format!("{configured} is offered (newest {newest})")
        };
        (
            Check::ok(SALESFORCE, "API version", detail),
            configured.to_string(),
        )
    } else {
        (
            Check::problem(
                SALESFORCE,
                "API version",
                format!("{configured} is not offered; newest is {newest}"),
                format!(
                    "set SALESFORCE_API_VERSION={newest} (or salesforce.api_version in crmbot.toml)"
                ),
            ),
            newest,
        )
    }
}

fn logged_in(client: &SalesforceClient, limits: &Value) -> String {
    let daily = &limits["DailyApiRequests"];
    match (daily["Max"].as_u64(), daily["Remaining"].as_u64()) {
        (Some(max), Some(remaining)) => format!(
            "token accepted by {}; API requests in the last 24 h: {} of {max}",
            client.instance_url(),
            max.saturating_sub(remaining)
        ),
        _ => format!("token accepted by {}", client.instance_url()),
    }
}

/// Describe of every configured object, intersected with the config: each thing the org
/// lacks or makes read-only is a problem naming its crmbot.toml key.
async fn writable(client: &SalesforceClient, config: &Config) -> Vec<Check> {
    let names: Vec<&String> = config.objects.keys().collect();
    let results = join_all(names.iter().map(|n| client.describe(n))).await;
    let mut describes = Vec::new();
    for (name, result) in names.into_iter().zip(results) {
        match result {
            Ok(d) => describes.push((name.clone(), d)),
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                let (detail, fix) = explain(&e, client.instance_url());
                return vec![Check::problem(
                    SALESFORCE,
                    "writable fields",
                    format!("describe {name}: {detail}"),
                    fix,
                )];
            }
        }
    }
    let by_name: BTreeMap<String, _> = describes
        .iter()
        .map(|(n, d)| (n.clone(), d.as_ref()))
        .collect();
    let (schema, problems) = build_schema(&config.objects, &by_name);
    if problems.is_empty() {
        let fields: usize = schema.objects.values().map(|o| o.fields.len()).sum();
        return vec![Check::ok(
            SALESFORCE,
            "writable fields",
            format!(
                "{} objects, {fields} fields present and writable in the org (objects.*)",
                schema.objects.len()
            ),
        )];
    }
    problems
        .iter()
        .map(|p| problem_check(p, Status::Problem))
        .collect()
}

/// A schema problem as a check named by its crmbot.toml key.
fn problem_check(p: &SchemaProblem, status: Status) -> Check {
    let fix = if p.key.ends_with(".fields") {
        format!(
            "remove it from {} in crmbot.toml, or fix the org: create the field, or give crmbot's Salesforce user edit access to it (field-level security)",
            p.key
        )
    } else if p.key.ends_with(".lookup") || p.key.ends_with(".links") {
        format!("edit {} in crmbot.toml", p.key)
    } else {
        format!(
            "remove [{}] from crmbot.toml (or set enabled = false), or give crmbot's Salesforce user access to the object",
            p.key
        )
    };
    Check {
        status,
        ..Check::problem(SALESFORCE, p.key.clone(), p.message.clone(), fix)
    }
}

/// A Salesforce error in plain words, and what to do. Never the token.
pub(super) fn explain(e: &SalesforceError, instance: &str) -> (String, String) {
    let network = "check SALESFORCE_INSTANCE_URL and the network (proxy, firewall)";
    match e {
        SalesforceError::Unauthorized { errors } => {
            let code = errors
                .first()
                .map(|e| format!(" (Salesforce answered {})", e.code))
                .unwrap_or_default();
            (
                format!("the access token is expired or invalid{code}"),
                "get a fresh token (`sf org display` shows one for an org you are logged in to) and set SALESFORCE_ACCESS_TOKEN".into(),
            )
        }
        SalesforceError::LimitExceeded { .. } => (
            "the org has used up its API requests for the last 24 hours".into(),
            "wait, or ask your Salesforce admin to raise the limit".into(),
        ),
        SalesforceError::Unavailable { status } => (
            format!("Salesforce is unavailable (HTTP {status})"),
            "try again in a few minutes (see status.salesforce.com)".into(),
        ),
        SalesforceError::Rejected { .. }
            if e.codes()
                .iter()
                .any(|c| c.starts_with("API_DISABLED") || *c == "API_CURRENTLY_DISABLED") =>
        {
            (
                format!("the REST API is not enabled for this user: {e}"),
                "give crmbot's Salesforce user the \"API Enabled\" permission (and an edition with API access)".into(),
            )
        }
        SalesforceError::Rejected { status: 404, .. } => (
            format!("{instance} does not answer like a Salesforce org ({e})"),
            "set SALESFORCE_INSTANCE_URL to your org's My Domain address, e.g. https://acme.my.salesforce.com".into(),
        ),
        SalesforceError::Rejected { .. } => (e.to_string(), network.into()),
        SalesforceError::Timeout => (
            format!("{instance} did not answer in time"),
            network.into(),
        ),
        SalesforceError::Transport { url, cause, .. } => {
            (format!("cannot reach {url}: {cause}"), network.into())
        }
        SalesforceError::TooLarge { .. } => (e.to_string(), network.into()),
        SalesforceError::Decode(why) => (
            format!("{instance} answered something that is not Salesforce's JSON ({why})"),
            "set SALESFORCE_INSTANCE_URL to your org's My Domain address".into(),
        ),
        SalesforceError::Login { flow, .. } => (
            e.to_string(),
            format!(
                "check the {flow} settings (SALESFORCE_CLIENT_ID, SALESFORCE_USERNAME, SALESFORCE_PRIVATE_KEY_FILE, SALESFORCE_CLIENT_SECRET, SALESFORCE_REFRESH_TOKEN, SALESFORCE_LOGIN_URL) and that the connected app pre-authorises this user"
            ),
        ),
        SalesforceError::Config(_) | SalesforceError::MultipleMatches { .. } => {
            (e.to_string(), "check the salesforce settings".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_version_names_the_newest() {
        let offered: Vec<String> = ["31.0", "61.0", "62.0", "9.0"].map(String::from).into();
        let (check, used) = version_check("v99.0", &offered);
        assert_eq!(check.status, Status::Problem);
        assert_eq!(check.detail, "v99.0 is not offered; newest is v62.0");
        assert!(
            check
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("SALESFORCE_API_VERSION=v62.0")
        );
        assert_eq!(used, "v62.0");
        let (check, used) = version_check("v61.0", &offered);
        assert_eq!(check.status, Status::Ok);
        assert_eq!(check.detail, "v61.0 is offered (newest v62.0)");
        assert_eq!(used, "v61.0");
    }

    #[test]
    fn a_401_is_explained() {
        let e = SalesforceError::from_response(
            401,
            br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
        );
        let (detail, fix) = explain(&e, "https://acme.my.salesforce.com");
        assert!(detail.contains("expired or invalid"), "{detail}");
        assert!(detail.contains("INVALID_SESSION_ID"));
        assert!(fix.contains("SALESFORCE_ACCESS_TOKEN"));
    }
}
