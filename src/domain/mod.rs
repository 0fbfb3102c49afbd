//! Domain types: parsed once at the boundary, trusted everywhere after.

mod email;
mod issue;
mod subscriber;

pub use email::SubscriberEmail;
pub use issue::{
    ContentHash, ControlCharacter, Issue, IssueStatus, Item, Section, describe_control,
    is_forbidden_control,
};
pub use subscriber::SubscriberStatus;
