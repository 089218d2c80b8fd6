//! Server-side CAPTCHA verification: Turnstile, hCaptcha and reCAPTCHA share the
//! `siteverify` shape (`secret`, `response`, `remoteip` → `{"success": bool}`).

use crate::config::CaptchaConfig;
use crate::domain::SubmittedFields;
use secrecy::ExposeSecret;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptchaVerdict {
    Passed,
    /// Missing, expired or wrong token: the person may just need to try again.
    Failed(String),
    /// The provider could not be asked; the form's `on_unreachable` decides.
    Unreachable(String),
}

/// Verifies the form's token field with the provider.
pub async fn verify(
    http: &awc::Client,
    captcha: &CaptchaConfig,
    fields: &SubmittedFields,
    client_ip: Option<&str>,
) -> CaptchaVerdict {
    let Some(token) = fields.first(captcha.provider.token_field()) else {
        return CaptchaVerdict::Failed("no CAPTCHA token was submitted".to_owned());
    };
    let mut form = vec![("secret", captcha.secret.expose_secret()), ("response", token)];
    if let Some(ip) = client_ip {
        form.push(("remoteip", ip));
    }
    let timeout = Duration::from_millis(captcha.timeout_ms);
    let exchange = async {
        let mut response = http
            .post(&captcha.verify_url)
            .timeout(timeout)
            .send_form(&form)
            .await
            .map_err(|e| format!("siteverify request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("siteverify answered HTTP {}", response.status().as_u16()));
        }
        response
            .json::<serde_json::Value>()
            .limit(64 * 1024)
            .await
            .map_err(|e| format!("siteverify answer was not JSON: {e}"))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => CaptchaVerdict::Unreachable(format!("siteverify timed out after {timeout:?}")),
        Ok(Err(error)) => CaptchaVerdict::Unreachable(error),
        Ok(Ok(answer)) if answer["success"] == true => CaptchaVerdict::Passed,
        Ok(Ok(answer)) => {
            let codes = answer["error-codes"].as_array().map(|codes| {
                codes
                    .iter()
                    .filter_map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            CaptchaVerdict::Failed(format!(
                "the CAPTCHA provider refused the token ({})",
                codes
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| "no reason given".to_owned())
            ))
        }
    }
}
