//! The attachments' list in a conversation's messages (docs/files.md, "In the conversation"):
//! each file with its name, size and type, and its signed link. Files are only ever linked,
//! never inlined, so no file's bytes (no `data:` URI) go to Ortto.

use crate::ortto::{Message, MessageKind};

/// One attachment as a message lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentLine {
    pub name: String,
    /// As a person reads it (`14.2 KB`).
    pub size: String,
    pub content_type: String,
    /// The signed link; `None` for a file the virus scanner removed.
    pub link: Option<String>,
}

/// Adds the list to the text message and to the HTML message, making either if it is missing.
pub fn list_in(messages: &mut Vec<Message>, attachments: &[AttachmentLine]) {
    if attachments.is_empty() {
        return;
    }
    let text = text_list(attachments);
    match messages.iter_mut().find(|m| m.kind == MessageKind::Text) {
        Some(message) => message.body = format!("{}\n\n{text}", message.body),
        None => messages.insert(0, Message::text(text)),
    }
    let html = html_list(attachments);
    match messages.iter_mut().find(|m| m.kind == MessageKind::Html) {
        Some(message) => message.body.push_str(&html),
        None => messages.push(Message::html(html)),
    }
}

fn text_list(attachments: &[AttachmentLine]) -> String {
    let lines: Vec<String> = attachments
        .iter()
        .map(|a| match &a.link {
            Some(link) => format!("- {} ({}, {}): {link}", a.name, a.content_type, a.size),
            None => format!(
                "- {} ({}, {}): removed, a virus was found",
                a.name, a.content_type, a.size
            ),
        })
        .collect();
    format!("Attachments:\n{}", lines.join("\n"))
}

fn html_list(attachments: &[AttachmentLine]) -> String {
    let items: String = attachments
        .iter()
        .map(|a| {
            let (name, kind) = (escape(&a.name), escape(&a.content_type));
            match &a.link {
                Some(link) => format!(
                    "<li><a href=\"{}\">{name}</a> ({kind}, {})</li>",
                    escape(link),
                    a.size
                ),
                None => format!("<li>{name} ({kind}, {}): removed, a virus was found</li>", a.size),
            }
        })
        .collect();
    format!("<p><strong>Attachments</strong></p><ul>{items}</ul>")
}

/// Text as HTML shows it, links included (`&` of a query string too).
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_messages_list_every_file_and_names_are_escaped() {
        let mut messages = vec![Message::text("Hello".to_owned())];
        let files = [
            AttachmentLine {
                name: "<b>shot</b>.png".to_owned(),
                size: "2.0 KB".to_owned(),
                content_type: "image/png".to_owned(),
                link: Some("https://relay/files/x.0/shot.png?exp=1&sig=ab".to_owned()),
            },
            AttachmentLine {
                name: "bad.pdf".to_owned(),
                size: "68 B".to_owned(),
                content_type: "application/pdf".to_owned(),
                link: None,
            },
        ];
        list_in(&mut messages, &files);
        assert_eq!(messages.len(), 2);
        assert!(messages[0]
            .body
            .starts_with("Hello\n\nAttachments:\n- <b>shot</b>.png (image/png, 2.0 KB): https://"));
        assert!(messages[0]
            .body
            .ends_with("- bad.pdf (application/pdf, 68 B): removed, a virus was found"));
        assert!(messages[1].body.contains("&lt;b&gt;shot&lt;/b&gt;.png"));
        assert!(messages[1].body.contains("exp=1&amp;sig=ab"));
    }
}
