//! Socket Mode, for teams without a public URL: with SLACK_APP_TOKEN set, crmbot opens an
//! outbound WebSocket (slack-morphism's client, which reconnects after a drop) and Slack
//! delivers commands, clicks and events over it. Each envelope is acknowledged by the
//! client after our callback returns, and the callbacks are the same flows as HTTP: they
//! only start jobs, so the acknowledgement stays fast. Socket Mode requests are not signed.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use slack_morphism::prelude::*;
use tracing::{error, warn};

use super::app::SlackApp;
use super::commands::{Command, dispatch};
use super::events::on_callback;
use super::gate::FOREIGN;
use super::http::{SlackHttpClient, SlackHttpConnector};
use super::interactions::{Reply, on_payload};
use super::web::SlackError;

/// A running Socket Mode connection; `shutdown` closes it.
pub struct SocketMode {
    listener: SlackClientSocketModeListener<SlackHttpConnector>,
}

impl SocketMode {
    pub async fn shutdown(&self) {
        self.listener.shutdown().await;
    }
}

/// Connects (apps.connections.open with the app token, then the WebSocket) and starts
/// delivering to `app`.
pub async fn start(app: SlackApp, app_token: &SecretString) -> Result<SocketMode, SlackError> {
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(app.web.client())
            .with_error_handler(on_error)
            .with_user_state(app),
    );
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction)
        .with_push_events(on_push);
    let config = SlackClientSocketModeConfig::new().with_max_connections_count(1);
    let listener = SlackClientSocketModeListener::new(&config, environment, callbacks);
    let token = SlackApiToken::new(app_token.expose_secret().to_string().into());
    listener
        .listen_for(&token)
        .await
        .map_err(|e| SlackError::from_client(e, "Slack Socket Mode (apps.connections.open)"))?;
    listener.start().await;
    Ok(SocketMode { listener })
}

/// The longest an interaction's answer may take (Slack stops waiting after 3 s), as
/// `server.request_timeout` bounds it over HTTP.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

async fn state(states: &SlackClientEventsUserState) -> Option<SlackApp> {
    states.read().await.get_user_state::<SlackApp>().cloned()
}

fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHttpClient>,
    _states: SlackClientEventsUserState,
) -> axum::http::StatusCode {
    warn!(error = %err, "Socket Mode envelope not handled");
    axum::http::StatusCode::OK
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackHttpClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let Some(app) = state(&states).await else {
        error!("Socket Mode: no app state");
        return Err("no app state".into());
    };
    if !app
        .workspaces
        .admit("command", Some(event.team_id.0.as_str()), None)
    {
        return Ok(SlackCommandEventResponse::new(
            SlackMessageContent::new().with_text(FOREIGN.into()),
        )
        .with_response_type(SlackMessageResponseType::Ephemeral));
    }
    let reply = dispatch(
        &app,
        Command {
            team: event.team_id.to_string(),
            user: event.user_id.to_string(),
            channel: event.channel_id.to_string(),
            text: event.text.unwrap_or_default(),
            response_url: event.response_url.0.to_string(),
            thread_ts: None,
        },
    );
    let text = reply["text"].as_str().unwrap_or_default().to_string();
    let mut content = SlackMessageContent::new().with_text(text);
    // `/crm connect`'s button.
    if let Some(blocks) = reply.get("blocks") {
        match serde_json::from_value::<Vec<SlackBlock>>(blocks.clone()) {
            Ok(blocks) => content = content.with_blocks(blocks),
            Err(e) => warn!(error = %e, "command answer blocks dropped"),
        }
    }
    Ok(SlackCommandEventResponse::new(content)
        .with_response_type(SlackMessageResponseType::Ephemeral))
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackHttpClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let Some(app) = state(&states).await else {
        return Err("no app state".into());
    };
    // The typed event goes back to Slack's JSON, which the HTTP path reads too.
    let payload = serde_json::to_value(&event)?;
    let reply = tokio::time::timeout(ANSWER_WITHIN, on_payload(&app, &payload))
        .await
        .unwrap_or_else(|_| {
            warn!("Socket Mode interaction not answered in time");
            Reply::Empty
        });
    Ok(match reply {
        Reply::Empty | Reply::Foreign => SlackInteractionResponse::Empty,
        Reply::ViewErrors(errors) => SlackInteractionResponse::ViewSubmission(
            SlackViewSubmissionResponse::Errors(SlackViewSubmissionErrorsResponse::new(
                errors
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
                    .collect(),
            )),
        ),
    })
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<SlackHttpClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let Some(app) = state(&states).await else {
        return Err("no app state".into());
    };
    let envelope: Value = serde_json::to_value(&event)?;
    on_callback(&app, &envelope);
    Ok(())
}
