//! A local Salesforce: a real HTTP server speaking Salesforce's REST shapes and errors, so
//! tests, the demo and prompt work run without an org, through the same client code that
//! talks to production.

pub mod soql;
