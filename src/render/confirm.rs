//! The double opt-in confirmation email. Rendered whole for each request: it goes to one
//! address at a time and its template is small, so there is nothing to personalize later.

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::{MAX_HTML_LINE, NewsletterView, Renderer, mjml_to_html, seven_bit_html};

/// A confirmation ready for [`crate::message::MessageFactory::confirmation`].
#[derive(Debug, Clone)]
pub struct RenderedConfirmation {
    pub subject: String,
    /// 7-bit, CRLF lines, as the issue HTML.
    pub html: String,
    pub text: String,
}

#[derive(Serialize)]
struct ConfirmContext<'a> {
    newsletter: NewsletterView<'a>,
    email: &'a str,
    confirm_url: &'a str,
    valid_days: i64,
}

impl Renderer {
    /// Fills `confirm.mjml` and `confirm.txt` for `email`, whose link is `confirm_url`.
    pub fn render_confirmation(
        &self,
        email: &str,
        confirm_url: &str,
        valid_days: i64,
    ) -> Result<RenderedConfirmation> {
        let n = &self.newsletter;
        let ctx = ConfirmContext {
            newsletter: NewsletterView {
                name: &n.name,
                postal_address: &n.postal_address,
                why_line: &n.why_line,
                base_url: &n.base_url,
            },
            email,
            confirm_url,
            valid_days,
        };
        let mjml = self
            .templates
            .render("confirm.mjml", &ctx)
            .context("filling confirm.mjml")?;
        let text = self
            .templates
            .render("confirm.txt", &ctx)
            .context("filling confirm.txt")?;
        Ok(RenderedConfirmation {
            subject: format!("Confirm your subscription to {}", n.name),
            html: seven_bit_html(&mjml_to_html(&mjml)?, MAX_HTML_LINE),
            text,
        })
    }
}
