//! Domain types: parsed once at the boundary, trusted everywhere after.

mod email;
mod issue;
mod subscriber;

pub use email::SubscriberEmail;
pub use issue::{ContentHash, Issue, IssueStatus, Item, Section};
pub use subscriber::SubscriberStatus;
