use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The body of `POST /v1/talk/compose` (docs/log.md, "The log"), built and checked once at intake
/// and stored as sent: delivery sends those bytes as they are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComposeRequest {
    pub fields: Map<String, Value>,
    pub merge_by: Vec<String>,
    pub conversation: Conversation,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Conversation {
    pub subject: String,
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    #[serde(rename = "type")]
    pub kind: MessageKind,
    pub body: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Text,
    Html,
}

impl Message {
    pub fn text(body: String) -> Self {
        Self {
            kind: MessageKind::Text,
            body,
        }
    }

    pub fn html(body: String) -> Self {
        Self {
            kind: MessageKind::Html,
            body,
        }
    }
}
