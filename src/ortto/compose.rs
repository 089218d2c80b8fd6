use serde::Serialize;
use serde_json::{Map, Value};

/// The body of `POST /v1/talk/compose` (README, "The log"), built at intake and stored as sent.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComposeRequest {
    pub fields: Map<String, Value>,
    pub merge_by: Vec<String>,
    pub conversation: Conversation,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Conversation {
    pub subject: String,
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Message {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub body: String,
}

impl Message {
    pub fn text(body: String) -> Self {
        Self { kind: "text", body }
    }

    pub fn html(body: String) -> Self {
        Self { kind: "html", body }
    }
}
