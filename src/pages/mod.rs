//! HTML pages (docs/pages.md, "Pages"): the visitor's thank-you, error and rate-limited pages and the
//! operator's admin pages, rendered from minijinja templates with HTML autoescaping. The
//! built-in templates live in `src/pages/templates/`; `pages.dir` may override the visitor
//! pages, for every form (`DIR/NAME.html`) or for one (`DIR/FORM/NAME.html`). A leaf module:
//! it knows templates and words, not requests.

pub mod charts;
mod strings;

use anyhow::Context;
use minijinja::{context, Environment};
use serde::Serialize;
use std::path::Path;
pub use strings::{for_lang, Strings, ENGLISH, LANGUAGES};

const BUILT_IN: [(&str, &str); 9] = [
    ("layout.html", include_str!("templates/layout.html")),
    ("back.html", include_str!("templates/back.html")),
    ("thank_you.html", include_str!("templates/thank_you.html")),
    ("error.html", include_str!("templates/error.html")),
    ("rate_limited.html", include_str!("templates/rate_limited.html")),
    ("admin/layout.html", include_str!("templates/admin/layout.html")),
    ("admin/status.html", include_str!("templates/admin/status.html")),
    ("admin/inbox.html", include_str!("templates/admin/inbox.html")),
    (
        "admin/submission.html",
        include_str!("templates/admin/submission.html"),
    ),
];

/// The templates a site may replace in `pages.dir`.
pub const OVERRIDABLE: [&str; 4] = ["layout.html", "thank_you.html", "error.html", "rate_limited.html"];

/// One problem on an error page.
#[derive(Debug, Serialize)]
pub struct Problem<'a> {
    pub field: Option<&'a str>,
    pub message: &'a str,
}

/// What a visitor page needs besides its template: the words, and the way back.
pub struct Visit<'a> {
    /// The form, for its own templates in `pages.dir/FORM/`.
    pub form: Option<&'a str>,
    pub strings: &'static Strings,
    pub back: Option<&'a str>,
}

/// Sample values every visitor page is rendered with at load.
fn sample() -> minijinja::Value {
    context! {
        t => ENGLISH, title => "Contact", back => "https://example.com/contact",
        heading => "Heading", status => 422, retry_after => 60, dry_run => false,
        problems => vec![Problem { field: Some("email"), message: "sample" }],
    }
}

/// The text a visitor would see: tags, styles, scripts and the title dropped, space folded.
fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        rest = &rest[open..];
        let skip_to = ["style", "script", "title"].iter().find_map(|tag| {
            rest.get(1..=tag.len())
                .filter(|t| t.eq_ignore_ascii_case(tag))
                .map(|_| format!("</{tag}"))
        });
        let end = match skip_to {
            Some(close) => rest.to_ascii_lowercase().find(&close).unwrap_or(rest.len()),
            None => 0,
        };
        rest = &rest[end..];
        rest = rest.find('>').map_or("", |gt| &rest[gt + 1..]);
        text.push(' ');
    }
    text.push_str(rest);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The loaded templates. Built at start and on reload; a template that does not parse
/// stops the load with the file's name, so a bad edit never replaces working pages.
pub struct Pages {
    env: Environment<'static>,
    /// The built-in templates alone: what a site template that fails while serving falls
    /// back to (with their own `layout.html`, which the site may have replaced).
    built_in: Environment<'static>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pages")
    }
}

impl Pages {
    fn built_in_env() -> anyhow::Result<Environment<'static>> {
        let mut env = Environment::new();
        for (name, source) in BUILT_IN {
            env.add_template(name, source)
                .with_context(|| format!("built-in template {name}"))?;
        }
        Ok(env)
    }

    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut env = Self::built_in_env()?;
        if let Some(dir) = dir {
            let mut overrides = vec![String::new()];
            for entry in std::fs::read_dir(dir).with_context(|| format!("pages.dir {}", dir.display()))? {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    overrides.push(format!("{}/", entry.file_name().to_string_lossy()));
                }
            }
            for prefix in overrides {
                for name in OVERRIDABLE {
                    let path = dir.join(format!("{prefix}{name}"));
                    if !path.is_file() {
                        continue;
                    }
                    let source = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading the template {}", path.display()))?;
                    env.add_template_owned(format!("{prefix}{name}"), source)
                        .with_context(|| format!("the template {} does not parse", path.display()))?;
                }
            }
        }
        let pages = Self {
            env,
            built_in: Self::built_in_env()?,
        };
        pages.check()?;
        Ok(pages)
    }

    /// Renders every visitor page once with sample values, so an error shows at load.
    fn check(&self) -> anyhow::Result<()> {
        for name in self.visitor_pages() {
            self.env
                .get_template(&name)
                .and_then(|t| t.render(sample()))
                .with_context(|| format!("the template {name} does not render"))?;
        }
        Ok(())
    }

    fn visitor_pages(&self) -> Vec<String> {
        self.env
            .templates()
            .map(|(name, _)| name.to_owned())
            .filter(|n| !n.starts_with("admin/") && n.as_str() != "back.html")
            .collect()
    }

    /// Pages that render nothing of their own with sample values (`check-config` warns): a
    /// site template that fills a block `layout.html` does not have (it has `title`, `style`
    /// and `body`) renders the bare layout, a blank page for the visitor.
    pub fn warnings(&self) -> Vec<String> {
        let text =
            |html: Result<String, minijinja::Error>| html.map(|h| visible_text(&h)).unwrap_or_default();
        let bare = text(self.env.render_str(r#"{% extends "layout.html" %}"#, sample()));
        self.visitor_pages()
            .into_iter()
            .filter(|name| !name.ends_with("layout.html"))
            .filter(|name| {
                let page = text(self.env.get_template(name).and_then(|t| t.render(sample())));
                page.is_empty() || page == bare
            })
            .map(|name| {
                format!(
                    "the page template {name} shows no content of its own: does it fill the \
                     `body` block of layout.html (whose blocks are title, style and body)?"
                )
            })
            .collect()
    }

    /// The form's own template when `pages.dir/FORM/NAME` exists, else the site-wide one.
    fn visitor_template(&self, form: Option<&str>, name: &str) -> String {
        form.map(|form| format!("{form}/{name}"))
            .filter(|own| self.env.get_template(own).is_ok())
            .unwrap_or_else(|| name.to_owned())
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> String {
        match self.env.get_template(name).and_then(|t| t.render(&ctx)) {
            Ok(html) => html,
            Err(error) => {
                // A site template failing at runtime: the built-in page, never a blank one.
                tracing::error!(template = name, error = %error, "a page template failed; using the built-in one");
                let page = name.rsplit('/').next().unwrap_or(name);
                self.built_in
                    .get_template(name)
                    .or_else(|_| self.built_in.get_template(page))
                    .and_then(|t| t.render(ctx))
                    .unwrap_or_else(|e| {
                        format!("<!doctype html><p>{}</p>", minijinja::HtmlEscape(&e.to_string()))
                    })
            }
        }
    }

    /// The thank-you page; in `dry_run` it says the message was kept, not sent.
    pub fn thank_you(&self, visit: &Visit<'_>, title: Option<&str>, dry_run: bool) -> String {
        let name = self.visitor_template(visit.form, "thank_you.html");
        self.render(
            &name,
            context! {
                t => visit.strings, title => title, back => visit.back, form => visit.form,
                dry_run => dry_run,
            },
        )
    }

    /// The error page for `status`; 429 uses the rate-limited template.
    pub fn error(
        &self,
        visit: &Visit<'_>,
        status: u16,
        problems: &[Problem<'_>],
        retry_after: Option<u64>,
    ) -> String {
        let t = visit.strings;
        let heading = match status {
            422 => t.check_the_form,
            404 => t.form_not_found,
            413 => t.too_large,
            503 => t.try_again,
            429 => t.wait_a_moment,
            403 => t.not_accepted,
            _ => t.not_sent,
        };
        let template = if status == 429 {
            "rate_limited.html"
        } else {
            "error.html"
        };
        let name = self.visitor_template(visit.form, template);
        self.render(
            &name,
            context! {
                t => t, heading => heading, status => status, problems => problems,
                back => visit.back, retry_after => retry_after, form => visit.form,
            },
        )
    }

    /// An admin page (`admin/NAME.html`), in English.
    pub fn admin(&self, name: &str, ctx: minijinja::Value) -> String {
        let ctx = context! { t => ENGLISH, ..ctx };
        self.render(&format!("admin/{name}.html"), ctx)
    }
}
