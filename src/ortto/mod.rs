//! Ortto's API: request shapes, the client, and what its answers mean.

mod client;
mod compose;
mod outcome;
mod validate;

pub use client::{OrttoClient, OrttoReply, TransportError};
pub use compose::{ComposeRequest, Conversation, Message};
pub use outcome::{classify_compose, response_excerpt, ComposeOutcome};
pub use validate::check_compose_payload;
