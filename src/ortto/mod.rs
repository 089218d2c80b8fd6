//! Ortto's API: request and response shapes, and (with delivery) the client.

mod compose;

pub use compose::{ComposeRequest, Conversation, Message};
