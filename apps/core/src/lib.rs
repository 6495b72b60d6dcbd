//! The library every todo-chatbot service shares: domain rules, the data layer, authentication,
//! configuration and the HTTP essentials (errors, health, metrics, request ids, shutdown).

pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod service;
pub mod telemetry;
#[doc(hidden)]
pub mod test_support;
