//! Ortto's API: request shapes, the client, and what its answers mean.

mod client;
mod compose;
mod outcome;
mod validate;

pub use client::{OrttoClient, OrttoReply, TransportError};
pub use compose::{ComposeRequest, Conversation, Message, MessageKind};
pub use outcome::{
    classify_compose, classify_reply, response_excerpt, ComposeOutcome, Delivered, ReplyClass, SuccessBody,
};
pub use validate::{check_compose, check_compose_payload};

/// Ortto's longest `str` value (and subject, and `geo` name), in characters.
pub const STR_MAX_CHARS: usize = 255;
/// Ortto's longest `txt` value, in characters.
pub const TXT_MAX_CHARS: usize = 4000;
