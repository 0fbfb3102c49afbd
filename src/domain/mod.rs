//! Domain types: parsed once at the boundary, trusted everywhere after.

mod click;
mod delivery;
mod email;
mod issue;
pub mod message_id;
mod provider;
pub mod reply;
mod schedule;
mod subscriber;
mod suppression;

pub use click::MachineReason;
pub use delivery::{Bounce, BounceKind, DeliveryStatus, Outcome, SendStatus};
pub use email::SubscriberEmail;
pub use issue::{
    ContentHash, ControlCharacter, Issue, IssueStatus, Item, Section, describe_control,
    is_forbidden_control,
};
pub use provider::Provider;
pub use schedule::{Schedule, ScheduleError, ScheduleField, SendAction};
pub use subscriber::SubscriberStatus;
pub use suppression::{BounceClass, Policy};

/// Formats a time as mailroom stores and shows it: UTC, millisecond precision, sortable
/// as text (`2026-12-04T07:00:00.000Z`).
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}
