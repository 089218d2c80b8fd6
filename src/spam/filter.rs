//! The local content filter (docs/spam.md, "A local content filter"): SpamAssassin's `spamd`
//! over the SPAMC protocol. The post goes as a small MIME message; the filter's score and rules
//! come back as a reason. A filter that is down or slow never blocks intake: past
//! `spam_filter.timeout_ms` the post goes on with `filter_unavailable`.

use super::Reason;
use crate::config::SpamFilterSettings;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the filter made of a post.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterVerdict {
    /// spamd's score, its threshold and the rules that fired.
    Scored {
        score: f64,
        threshold: f64,
        rules: Vec<String>,
    },
    /// Not reached, refused, too slow, or an answer that was not SPAMC.
    Unavailable(String),
}

impl FilterVerdict {
    /// The reason it adds: spamd's score doubled, so its own threshold (5 by default) lands on
    /// the relay's `spam` (10), and half of it on `suspect`.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Scored {
                score,
                threshold,
                rules,
            } => {
                let scaled = (score / threshold.max(0.1) * 10.0).round().max(0.0) as u32;
                Reason::new(
                    "content_filter",
                    scaled,
                    format!("spamd {score:.1}/{threshold:.1}: {}", rules.join(",")),
                )
            }
            Self::Unavailable(why) => Reason::new("filter_unavailable", 0, why.clone()),
        }
    }
}

/// The message spamd reads: From the submitter, the subject, the text. Header values are one
/// line each; the relay's own name marks it.
pub fn message(email: Option<&str>, subject: Option<&str>, text: &str) -> String {
    let line = |v: &str| {
        v.chars()
            .filter(|c| !c.is_control())
            .take(500)
            .collect::<String>()
    };
    let from = email.map(line).unwrap_or_else(|| "unknown@invalid".to_owned());
    format!(
        "From: <{from}>\r\nTo: <form@talk-relay.invalid>\r\nSubject: {}\r\nDate: {}\r\n\
         Message-ID: <{}@talk-relay.invalid>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
        line(subject.unwrap_or("(form submission)")),
        chrono::Utc::now().to_rfc2822(),
        crate::domain::new_submission_id(),
        text.replace("\r\n", "\n").replace('\n', "\r\n"),
    )
}

/// Asks spamd about `message`, within the configured timeout.
pub async fn check(settings: &SpamFilterSettings, message: &str) -> FilterVerdict {
    let timeout = Duration::from_millis(settings.timeout_ms);
    match tokio::time::timeout(timeout, ask(&settings.spamd_address, message)).await {
        Ok(Ok(verdict)) => verdict,
        Ok(Err(error)) => FilterVerdict::Unavailable(format!("spamd: {error}")),
        Err(_) => FilterVerdict::Unavailable(format!("spamd: no answer within {} ms", settings.timeout_ms)),
    }
}

async fn ask(address: &str, message: &str) -> std::io::Result<FilterVerdict> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request = format!(
        "REPORT SPAMC/1.5\r\nContent-length: {}\r\nUser: talk-relay\r\n\r\n",
        message.len()
    );
    stream.write_all(request.as_bytes()).await?;
    stream.write_all(message.as_bytes()).await?;
    stream.shutdown().await?;
    let mut answer = Vec::new();
    // An answer is a few hundred bytes; a peer that sends more is not spamd.
    (&mut stream).take(64 * 1024).read_to_end(&mut answer).await?;
    Ok(parse(&String::from_utf8_lossy(&answer)))
}

/// Rules about the envelope and headers of the message the relay made up (no `Received`, no
/// DKIM, a freemail `From` that gmail did not relay): they say nothing about the post.
const ENVELOPE_RULES: &[&str] = &[
    "NO_RECEIVED",
    "NO_RELAYS",
    "DKIM_",
    "NML_ADSP",
    "FORGED_",
    "FREEMAIL_",
    "MSGID_",
    "SPF_",
    "DMARC_",
    "RCVD_",
    "HEADER_FROM_DIFFERENT",
    "MISSING_",
    "TO_NO_BRKTS",
    "PDS_FROM_2_EMAILS",
    "__",
];

/// `SPAMD/1.1 0 EX_OK`, a `Spam: True ; 16.2 / 5.0` header, a blank line, then the report:
/// one line per rule, `pts rule-name description`. The score is the rules about the content.
fn parse(answer: &str) -> FilterVerdict {
    let (head, report) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("SPAMD/") || !status.contains(" 0 ") {
        return FilterVerdict::Unavailable(format!(
            "spamd answered `{}`",
            status.chars().take(80).collect::<String>()
        ));
    }
    let threshold = lines.filter_map(|l| l.strip_prefix("Spam:")).find_map(|v| {
        let (_, numbers) = v.split_once(';')?;
        numbers.split_once('/')?.1.trim().parse::<f64>().ok()
    });
    let Some(threshold) = threshold else {
        return FilterVerdict::Unavailable("spamd's answer had no score".to_owned());
    };
    let mut score = 0.0;
    let mut rules = Vec::new();
    for line in report.lines() {
        let mut words = line.split_whitespace();
        let (Some(points), Some(rule)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(points) = points.parse::<f64>() else {
            continue;
        };
        let is_rule = !rule.is_empty()
            && rule
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !is_rule || ENVELOPE_RULES.iter().any(|r| rule.starts_with(r)) {
            continue;
        }
        score += points;
        if rules.len() < 40 {
            rules.push(rule.to_owned());
        }
    }
    FilterVerdict::Scored {
        score,
        threshold,
        rules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spamc_answers_parse_and_scale() {
        let report = "SPAMD/1.1 0 EX_OK\r\nContent-length: 20\r\nSpam: True ; 8.7 / 5.0\r\n\r\n\
            Content analysis details:   (8.7 points, 5.0 required)\n\n pts rule name   description\n\
            ---- --------- -----------\n-0.0 NO_RECEIVED  Informational: no Received headers\n\
             1.2 NML_ADSP_CUSTOM_MED  ADSP custom_med hit\n 2.7 GUARANTEED_100_PERCENT BODY: guaranteed\n\
                                       [URI: claim-btc.top (top)]\n 4.8 ADVANCE_FEE_2 Appears to be advance fee fraud\n";
        let verdict = parse(report);
        assert_eq!(
            verdict.reason().score,
            15,
            "7.5 of the content's points, of 5.0 required"
        );
        assert_eq!(
            verdict.reason().detail,
            "spamd 7.5/5.0: GUARANTEED_100_PERCENT,ADVANCE_FEE_2"
        );
        assert_eq!(
            parse("SPAMD/1.1 0 EX_OK\r\nSpam: False ; -0.3 / 5.0\r\n\r\n")
                .reason()
                .score,
            0
        );
        assert!(matches!(
            parse("HTTP/1.1 200 OK\r\n\r\n"),
            FilterVerdict::Unavailable(_)
        ));
        assert!(matches!(
            parse("SPAMD/1.0 76 Bad header line"),
            FilterVerdict::Unavailable(_)
        ));
    }
}
