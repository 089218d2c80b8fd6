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

/// Ortto's longest `str` value (and subject, and `geo` name), in [`text_len`] units.
pub const STR_MAX_CHARS: usize = 255;
/// Ortto's longest `txt` value, in [`text_len`] units.
pub const TXT_MAX_CHARS: usize = 4000;

/// A value's length as Ortto's limits are counted here: UTF-16 code units. Ortto's docs do not
/// say which unit they count in, so the stricter one: an emoji outside the Basic Multilingual
/// Plane counts 2, so 255 of them (510 units) are refused rather than spent on a bad request.
pub fn text_len(text: &str) -> usize {
    text.encode_utf16().count()
}
