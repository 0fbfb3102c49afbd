//! The email templates: built in from `email-templates/`, optionally overridden from a folder.

use std::path::Path;

use anyhow::{Context, Result};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

/// Templates compiled into the binary, by name.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "issue.mjml",
        include_str!("../../email-templates/issue.mjml"),
    ),
    ("issue.txt", include_str!("../../email-templates/issue.txt")),
    (
        "confirm.mjml",
        include_str!("../../email-templates/confirm.mjml"),
    ),
    (
        "confirm.txt",
        include_str!("../../email-templates/confirm.txt"),
    ),
    (
        "partials/head.mjml",
        include_str!("../../email-templates/partials/head.mjml"),
    ),
    (
        "partials/header.mjml",
        include_str!("../../email-templates/partials/header.mjml"),
    ),
    (
        "partials/item.mjml",
        include_str!("../../email-templates/partials/item.mjml"),
    ),
    (
        "partials/footer.mjml",
        include_str!("../../email-templates/partials/footer.mjml"),
    ),
    (
        "partials/view-online.mjml",
        include_str!("../../email-templates/partials/view-online.mjml"),
    ),
    (
        "partials/preheader.mjml",
        include_str!("../../email-templates/partials/preheader.mjml"),
    ),
];

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Loads the built-in templates, replacing each one that `dir` (if not empty) provides.
    pub fn load(dir: &str) -> Result<Self> {
        let mut env = Environment::new();
        // `.mjml` is not an extension minijinja escapes by default; everything except
        // plain text is HTML to us.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".txt") {
                AutoEscape::None
            } else {
                AutoEscape::Html
            }
        });
        // minijinja's HTML escaping also turns `/` into `&#x2f;`, which bloats every URL and
        // makes links harder to audit; `&<>"'` is all HTML needs.
        env.set_formatter(|out, state, value| {
            let plain = matches!(state.auto_escape(), AutoEscape::Html)
                && !value.is_safe()
                && !value.is_undefined()
                && !value.is_none();
            if !plain {
                return minijinja::escape_formatter(out, state, value);
            }
            let mut escaped = String::new();
            match value.as_str() {
                Some(s) => super::escape_html_into(&mut escaped, s),
                None => super::escape_html_into(&mut escaped, &value.to_string()),
            }
            out.write_str(&escaped).map_err(minijinja::Error::from)
        });
        // A misspelt variable must fail the render, not vanish from an email.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .context("template syntax configuration")?,
        );
        for (name, built_in) in BUILT_IN {
            let source = if dir.is_empty() {
                None
            } else {
                let path = Path::new(dir).join(name);
                path.is_file()
                    .then(|| std::fs::read_to_string(&path))
                    .transpose()
                    .with_context(|| format!("reading template {}", path.display()))?
            };
            let source = source.unwrap_or_else(|| (*built_in).to_string());
            env.add_template_owned(*name, source)
                .with_context(|| format!("template {name} does not parse"))?;
        }
        Ok(Self { env })
    }

    pub fn render<S: Serialize>(&self, name: &str, ctx: &S) -> Result<String> {
        let template = self.env.get_template(name)?;
        template
            .render(minijinja::value::Serde(ctx))
            .map_err(|e| anyhow::anyhow!("{e:#}"))
    }
}
