//! The issue model: what an editor hands over, frozen by a content hash once finalized.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One newsletter issue. Intro and blurbs hold Markdown that already passed the issue-file
/// checks (inline formatting, paragraphs and lists only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issue {
    pub number: u32,
    pub title: String,
    pub subject: String,
    #[serde(default)]
    pub preheader: String,
    pub date: time::Date,
    #[serde(default)]
    pub intro: String,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub name: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default)]
    pub blurb: String,
}

impl Issue {
    /// SHA-256 over the canonical JSON form: what "the content" means when it is frozen.
    pub fn content_hash(&self) -> ContentHash {
        let json = serde_json::to_vec(self).expect("issue serializes");
        ContentHash(hex(&Sha256::digest(json)))
    }

    pub fn item_count(&self) -> usize {
        self.sections.iter().map(|s| s.items.len()).sum()
    }

    /// Every item across sections, in order. An item's position here is its index in
    /// click tokens, stable once the issue is finalized.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }

    /// Every control character in the issue's text, by field and line within the field.
    /// None belongs in a newsletter: MJML and XML refuse most of them, so an issue holding
    /// one could not be rendered at send time. Line feeds and tabs are text.
    pub fn control_characters(&self) -> Vec<ControlCharacter> {
        let mut found = Vec::new();
        let mut scan = |field: String, text: &str| {
            for (line, content) in text.split('\n').enumerate() {
                if let Some(c) = content.chars().find(|c| is_forbidden_control(*c)) {
                    found.push(ControlCharacter {
                        field: field.clone(),
                        line: line + 1,
                        character: c,
                    });
                }
            }
        };
        scan("title".into(), &self.title);
        scan("subject".into(), &self.subject);
        scan("preheader".into(), &self.preheader);
        scan("intro".into(), &self.intro);
        for (s, section) in self.sections.iter().enumerate() {
            scan(format!("sections[{s}].name"), &section.name);
            for (i, item) in section.items.iter().enumerate() {
                scan(format!("sections[{s}].items[{i}].title"), &item.title);
                if let Some(url) = &item.url {
                    scan(format!("sections[{s}].items[{i}].url"), url);
                }
                scan(format!("sections[{s}].items[{i}].blurb"), &item.blurb);
            }
        }
        found
    }
}

/// A control character other than line feed and tab (C0, DEL, C1).
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Where an issue holds a control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlCharacter {
    pub field: String,
    /// 1-based, within the field.
    pub line: usize,
    pub character: char,
}

impl fmt::Display for ControlCharacter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, line {}: {}",
            self.field,
            self.line,
            describe_control(self.character)
        )
    }
}

/// "the control character U+001B (escape)": what an editor can search their file for.
pub fn describe_control(c: char) -> String {
    let name = match c {
        '\0' => " (NUL)",
        '\u{8}' => " (backspace)",
        '\u{b}' => " (vertical tab)",
        '\u{c}' => " (form feed)",
        '\r' => " (carriage return)",
        '\u{1b}' => " (escape)",
        '\u{7f}' => " (delete)",
        _ => "",
    };
    format!(
        "the control character U+{:04X}{name} is not allowed; remove it (only line breaks and tabs may appear in text)",
        u32::from(c)
    )
}

/// Hex SHA-256 of an issue's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentHash(pub String);

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// Where an issue is in its life. Content may change only while `Draft`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum IssueStatus {
    Draft,
    Finalized,
    Sending,
    Sent,
    /// Its send was cancelled before everyone got it.
    Cancelled,
}

impl IssueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Finalized => "finalized",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Cancelled => "cancelled",
        }
    }
}

impl FromStr for IssueStatus {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "draft" => Self::Draft,
            "finalized" => Self::Finalized,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "cancelled" => Self::Cancelled,
            other => anyhow::bail!("unknown issue status {other:?}"),
        })
    }
}

impl fmt::Display for IssueStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
