//! `talk-relay init` (docs/operations.md, "Commands"): a first configuration without reading
//! the reference. One form, the site's origin, comments that say what to change; checked by
//! loading it as `serve` would before it is written, and never written over an existing file.

use crate::config::{Config, ConfigSources, WebOrigin};
use std::path::Path;

/// What `init` was asked for.
pub struct Starter<'a> {
    pub form: &'a str,
    /// The site that posts to the form (`https://www.example.com`); `None`: any site.
    pub origin: Option<&'a str>,
}

/// The starter configuration's text, checked: it loads as `serve` would read it.
pub fn render(starter: &Starter<'_>) -> anyhow::Result<String> {
    crate::config::check_url_name("forms", starter.form)?;
    let origin = match starter.origin {
        Some(raw) => Some(WebOrigin::parse(raw).ok_or_else(|| {
            anyhow::anyhow!("--origin: `{raw}` is not an http(s) origin like https://www.example.com")
        })?),
        None => None,
    };
    let origins = origin.map_or_else(
        || {
            "# Sites allowed to post here (CORS, redirects); empty: any site.\nallowed_origins = []"
                .to_owned()
        },
        |o| {
            format!(
                "# Sites allowed to post here (CORS, redirects).\nallowed_origins = [\"{}\"]",
                o.as_str()
            )
        },
    );
    let form = starter.form;
    let text = format!(
        "# talk-relay: a starter configuration written by `talk-relay init`.\n\
         # It is layered over the shipped defaults; every key: docs/configuration.md.\n\
         # Secrets never go here: ORTTO_API_KEY and TALK_RELAY_ADMIN_TOKEN come from the environment.\n\
         \n\
         [server]\n\
         # Behind a reverse proxy keep 127.0.0.1; 0.0.0.0 listens on every address.\n\
         host = \"127.0.0.1\"\n\
         port = 8080\n\
         # The address visitors reach the relay at, e.g. https://relay.example.com: set it in production.\n\
         public_url = \"\"\n\
         \n\
         [database]\n\
         path = \"data/talk-relay.db\"\n\
         \n\
         [forms.{form}]\n\
         title = \"{title}\"\n\
         {origins}\n\
         # Where browsers go after posting; unset: the relay's own thank-you page.\n\
         # redirect = \"https://www.example.com/thanks\"\n\
         # A consent box that sends Ortto's bol::p (docs/mapping.md, \"Consent\"):\n\
         # [forms.{form}.consent]\n\
         # field = \"subscribe\"\n\
         # unchecked = \"opt_out\"\n\
         # text = \"Yes, send me the newsletter. I can unsubscribe at any time.\"\n",
        title = title_of(form),
    );
    Config::load(&ConfigSources {
        overlays: vec![text.clone()],
        lenient_secrets: true,
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("the starter configuration does not load: {e:#}"))?;
    Ok(text)
}

/// `contact-us` → `Contact us`.
fn title_of(form: &str) -> String {
    let words = form.replace(['-', '_'], " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Writes `text` to `path`, never over a file that is there (created with its directory).
pub fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                anyhow::anyhow!(
                    "{} already exists; init never overwrites a configuration",
                    path.display()
                )
            }
            _ => anyhow::Error::new(e).context(format!("writing {}", path.display())),
        })?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// What to do next: the form for the site, the secrets still to set, three commands.
pub fn next_steps(path: &Path, form: &str) -> String {
    let config = path.display();
    format!(
        "wrote {config}\n\
         \n\
         Put this form on your site (the hidden field is the honeypot):\n\
         \n\
         <form action=\"http://127.0.0.1:8080/f/{form}\" method=\"post\">\n\
         \x20 <input type=\"email\" name=\"email\" required>\n\
         \x20 <textarea name=\"message\" required></textarea>\n\
         \x20 <input type=\"text\" name=\"_gotcha\" style=\"display:none\" tabindex=\"-1\" autocomplete=\"off\">\n\
         \x20 <button type=\"submit\">Send</button>\n\
         </form>\n\
         \n\
         (Use server.public_url's address in `action` once the relay is public.)\n\
         \n\
         Still to set in the environment:\n\
         \x20 ORTTO_API_KEY           your Ortto API key (without it the relay runs dry: nothing is sent)\n\
         \x20 TALK_RELAY_ADMIN_TOKEN  a long random secret for /admin (openssl rand -hex 32)\n\
         \n\
         Next:\n\
         \x20 talk-relay --config {config} check-config\n\
         \x20 talk-relay --config {config} serve\n\
         \x20 curl -H 'Accept: application/json' -d 'email=you@example.com&message=hello' http://127.0.0.1:8080/f/{form}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_configurations_load_and_bad_input_is_refused() {
        let text = render(&Starter {
            form: "contact-us",
            origin: Some("https://www.example.com/contact"),
        })
        .unwrap();
        assert!(text.contains("[forms.contact-us]\ntitle = \"Contact us\""));
        assert!(text.contains("allowed_origins = [\"https://www.example.com\"]"));
        assert!(render(&Starter {
            form: "contact",
            origin: None
        })
        .is_ok());
        assert!(render(&Starter {
            form: "bad name",
            origin: None
        })
        .is_err());
        assert!(render(&Starter {
            form: "contact",
            origin: Some("ftp://x")
        })
        .is_err());
    }
}
