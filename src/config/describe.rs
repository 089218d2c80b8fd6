//! `talk-relay check-config`: the effective forms and hooks, in words.

use super::{Config, MappingRules, WebOrigin};
use crate::domain::PersonFieldId;

impl Config {
    /// The effective forms and hooks, in words, for `check-config`.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "listen: {}:{}", self.server.host, self.server.port);
        let _ = writeln!(out, "database: {}", self.database.describe_target());
        let _ = writeln!(
            out,
            "ortto: {} (plan {:?}, key {})",
            self.ortto.base_url(),
            self.ortto.plan,
            if self.ortto_api_key.is_some() {
                format!("from ${}", self.ortto.api_key_env)
            } else {
                format!("not set: ${} is empty, dry run", self.ortto.api_key_env)
            }
        );
        for form in self.forms.values() {
            let _ = writeln!(
                out,
                "form {} — \"{}\" at POST /f/{}",
                form.name, form.rules.title, form.name
            );
            let _ = writeln!(out, "  enabled: {}", form.switch.describe());
            let origins = if form.allowed_origins.is_empty() {
                "any".to_owned()
            } else {
                form.allowed_origins
                    .iter()
                    .map(WebOrigin::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(out, "  origins: {origins}");
            let merge: Vec<&str> = form.rules.merge_by.iter().map(PersonFieldId::as_str).collect();
            let _ = writeln!(out, "  merge_by: {}", merge.join(", "));
            for (field, id) in &form.rules.field_map {
                let _ = writeln!(out, "  field {field} → {id}");
            }
            describe_consent(&mut out, &form.rules);
        }
        for hook in self.hooks.values() {
            let _ = writeln!(
                out,
                "hook {} — {:?} preset at POST /hooks/{}, auth: {}",
                hook.name,
                hook.preset,
                hook.name,
                hook.auth.describe()
            );
            describe_consent(&mut out, &hook.rules);
        }
        out
    }
}

/// The consent field and the exact words read as yes and as no, for `check-config`.
fn describe_consent(out: &mut String, rules: &MappingRules) {
    use std::fmt::Write;
    let Some(c) = &rules.consent else {
        let _ = writeln!(out, "  consent: none (no permission field sent)");
        return;
    };
    let (ticked, unticked) = c.words();
    let quoted = |words: Vec<String>| {
        words
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let unchecked = match c.unchecked {
        super::UncheckedConsent::OptOut => "opt_out",
        super::UncheckedConsent::Leave => "leave",
    };
    let _ = writeln!(out, "  consent: field {} (unchecked = {unchecked})", c.field);
    let _ = writeln!(out, "    ticked words: {}", quoted(ticked));
    let _ = writeln!(out, "    unticked words: {}", quoted(unticked));
    let _ = writeln!(out, "    anything else: no permission sent, noted on the row");
}
