use actix_web::HttpRequest;

/// Who is asking, for the shape of the answer (README, "A plain HTML form" and "fetch()").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// A page navigation: redirects and HTML pages.
    Browser,
    /// `fetch()`, XHR, a script or a webhook sender: JSON only, never a redirect.
    Api,
}

impl ResponseKind {
    pub fn of(req: &HttpRequest) -> Self {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
        if header("x-requested-with").is_some_and(|v| v.eq_ignore_ascii_case("xmlhttprequest")) {
            return Self::Api;
        }
        let (json_q, html_q) = header("accept").map_or((0.0, 0.0), accept_preferences);
        if json_q > html_q {
            return Self::Api;
        }
        let body_is_json = header("content-type")
            .and_then(|ct| ct.parse::<mime::Mime>().ok())
            .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
        if body_is_json && html_q <= json_q {
            return Self::Api;
        }
        Self::Browser
    }
}

/// The quality the `Accept` header gives JSON and HTML, counting wildcards.
fn accept_preferences(accept: &str) -> (f32, f32) {
    let mut json: Option<(u8, f32)> = None;
    let mut html: Option<(u8, f32)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        // More specific ranges win over wildcards, whatever their order.
        let specificity = |exact: &str| -> Option<u8> {
            if media == exact {
                Some(3)
            } else if media.ends_with("+json") && exact == "application/json" {
                Some(2)
            } else if media == format!("{}/*", exact.split('/').next().unwrap_or("")) {
                Some(1)
            } else if media == "*/*" {
                Some(0)
            } else {
                None
            }
        };
        for (slot, exact) in [(&mut json, "application/json"), (&mut html, "text/html")] {
            if let Some(s) = specificity(exact) {
                if slot.is_none_or(|(best, _)| s > best) {
                    *slot = Some((s, q));
                }
            }
        }
    }
    (json.map_or(0.0, |(_, q)| q), html.map_or(0.0, |(_, q)| q))
}

#[cfg(test)]
mod tests {
    use super::accept_preferences;

    #[test]
    fn browsers_prefer_html_fetch_with_json_accept_prefers_json() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        let (json, html) = accept_preferences(browser);
        assert!(html > json);
        let (json, html) = accept_preferences("application/json");
        assert!(json > html);
        let (json, html) = accept_preferences("*/*");
        assert_eq!(json, html);
    }
}
