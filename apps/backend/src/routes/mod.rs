pub mod auth;
pub mod chat;
pub mod tasks;
