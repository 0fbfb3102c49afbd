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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
