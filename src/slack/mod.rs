//! Slack: the HTTP endpoints (slash command, interactivity, events) behind a signature check,
//! the Web API calls, and the Block Kit the user sees (cards, the Edit form, answers). Knows nothing of Salesforce: it calls
//! the `flow` use cases and shows what they return.

pub mod answers;
pub mod app;
pub mod ask;
pub mod background;
pub mod cards;
pub mod commands;
pub mod events;
pub mod gate;
pub mod groups;
pub mod home;
pub mod http;
pub mod interactions;
pub mod lanes;
pub mod limit;
pub mod modal;
pub mod refused;
pub mod shortcut;
pub mod signin;
pub mod socket;
pub mod templates;
pub mod verify;
pub mod web;

pub use app::{Jobs, Keep, SlackApp, SlackAppParts, router};
