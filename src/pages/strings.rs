//! The words on the visitor pages, per `pages.lang` (docs/pages.md, "Pages"): English and German
//! built in. A template reads them as `t.NAME`.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Strings {
    pub lang: &'static str,
    pub thank_you_title: &'static str,
    pub thank_you_heading: &'static str,
    pub sent: &'static str,
    pub sent_to_before: &'static str,
    pub sent_to_after: &'static str,
    /// Dry run (no Ortto key): the message was kept, not passed on.
    pub received: &'static str,
    pub received_to_after: &'static str,
    pub test_mode: &'static str,
    pub reply_soon: &'static str,
    pub back_to_site: &'static str,
    pub back_to_form: &'static str,
    pub use_back_button: &'static str,
    pub error: &'static str,
    pub check_the_form: &'static str,
    pub form_not_found: &'static str,
    pub too_large: &'static str,
    pub try_again: &'static str,
    pub wait_a_moment: &'static str,
    pub not_accepted: &'static str,
    pub not_sent: &'static str,
    pub rate_limited_before: &'static str,
    pub rate_limited_after: &'static str,
}

pub const ENGLISH: Strings = Strings {
    lang: "en",
    thank_you_title: "Thank you",
    thank_you_heading: "Thank you!",
    sent: "Your message has been sent.",
    sent_to_before: "Your message to",
    sent_to_after: "has been sent.",
    received: "Your message was received.",
    received_to_after: "was received.",
    test_mode: "This relay is in test mode: your message has not been passed on to anyone yet.",
    reply_soon: "We'll get back to you soon.",
    back_to_site: "← Back to the site",
    back_to_form: "← Back to the form",
    use_back_button: "Use your browser's back button to return to the form.",
    error: "Error",
    check_the_form: "Please check the form",
    form_not_found: "Form not found",
    too_large: "That was too much to send",
    try_again: "Please try again",
    wait_a_moment: "Please wait a moment",
    not_accepted: "The form could not be accepted",
    not_sent: "The form could not be sent",
    rate_limited_before: "Too many messages were sent from your network. Please try again in",
    rate_limited_after: "seconds.",
};

pub const GERMAN: Strings = Strings {
    lang: "de",
    thank_you_title: "Vielen Dank",
    thank_you_heading: "Vielen Dank!",
    sent: "Ihre Nachricht wurde gesendet.",
    sent_to_before: "Ihre Nachricht an",
    sent_to_after: "wurde gesendet.",
    received: "Ihre Nachricht ist eingegangen.",
    received_to_after: "ist eingegangen.",
    test_mode: "Dieses Relay läuft im Testmodus: Ihre Nachricht wurde noch an niemanden weitergeleitet.",
    reply_soon: "Wir melden uns bald bei Ihnen.",
    back_to_site: "← Zurück zur Website",
    back_to_form: "← Zurück zum Formular",
    use_back_button: "Mit der Zurück-Taste Ihres Browsers kommen Sie zum Formular zurück.",
    error: "Fehler",
    check_the_form: "Bitte prüfen Sie das Formular",
    form_not_found: "Formular nicht gefunden",
    too_large: "Das war zu viel auf einmal",
    try_again: "Bitte versuchen Sie es noch einmal",
    wait_a_moment: "Bitte warten Sie einen Moment",
    not_accepted: "Das Formular konnte nicht angenommen werden",
    not_sent: "Das Formular konnte nicht gesendet werden",
    rate_limited_before: "Aus Ihrem Netz wurden zu viele Nachrichten gesendet. Bitte versuchen Sie es in",
    rate_limited_after: "Sekunden noch einmal.",
};

/// The languages `pages.lang` and `forms.NAME.lang` accept.
pub const LANGUAGES: [&Strings; 2] = [&ENGLISH, &GERMAN];

pub fn for_lang(code: &str) -> Option<&'static Strings> {
    LANGUAGES.iter().copied().find(|s| s.lang == code)
}
