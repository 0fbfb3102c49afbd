//! Mail that comes back to us: messages to the List-Unsubscribe mailto address, bounces
//! and complaints. Read from standard input (an MTA pipe), files, an mbox or a Maildir;
//! [`classify`] decides what each message is from its bytes, this module applies it.
//!
//! A bounce or complaint changes a subscriber only through the delivery it names: the
//! VERP token of the address it was returned to (or of the envelope sender it quotes),
//! or, when it carries no token at all, the Message-ID of the returned message checked
//! against the one stored for that delivery. The address a report names is never enough
//! on its own: anyone can write a report naming anyone.

pub mod classify;
pub mod pop3;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::bounce::{Class, Reason, Report as Returned};
use crate::db::bounces::{Applied, NewBounce, Target};
use crate::db::unsubscribe::Change;
use crate::db::{Db, Source};
use crate::domain::{BounceClass, Policy};
use crate::token::TokenKeys;

pub use classify::{Classifier, Kind, Origin, Refusal};

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Unsubscribed,
    AlreadyUnsubscribed,
    /// Bounced or complained before: stays so.
    Closed,
    /// Addressed to unsubscribe+TOKEN but the token does not verify.
    InvalidToken,
    /// Not addressed to an address mailroom handles, and no bounce; left for others.
    NotOurs,
    /// A bounce or complaint applied to its delivery's subscriber; `suppressed` when the
    /// subscriber left the list because of it.
    Bounce {
        class: BounceClass,
        suppressed: bool,
    },
    /// A report that changes nothing: delivered, delayed, an auto-reply, an
    /// authentication-failure report.
    NoEffect,
    /// Names no delivery of ours (a forged or altered token, an unknown Message-ID, or
    /// nothing at all): logged and ignored.
    Ignored,
    /// The same message was applied before.
    Duplicate,
    /// Not read: logged, and from a Maildir moved to `.quarantine/`.
    Refused(Refusal),
}

/// Counts for a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub unsubscribed: usize,
    pub already: usize,
    pub closed: usize,
    pub invalid: usize,
    pub not_ours: usize,
    pub hard: usize,
    pub soft: usize,
    pub complaints: usize,
    pub suppressed: usize,
    pub no_effect: usize,
    pub ignored: usize,
    pub duplicates: usize,
    pub refused: usize,
}

impl Report {
    pub fn add(&mut self, handled: &Handled) {
        match handled {
            Handled::Unsubscribed => self.unsubscribed += 1,
            Handled::AlreadyUnsubscribed => self.already += 1,
            Handled::Closed => self.closed += 1,
            Handled::InvalidToken => self.invalid += 1,
            Handled::NotOurs => self.not_ours += 1,
            Handled::Bounce { class, suppressed } => {
                *match class {
                    BounceClass::Hard => &mut self.hard,
                    BounceClass::Soft => &mut self.soft,
                    BounceClass::Complaint => &mut self.complaints,
                } += 1;
                self.suppressed += usize::from(*suppressed);
            }
            Handled::NoEffect => self.no_effect += 1,
            Handled::Ignored => self.ignored += 1,
            Handled::Duplicate => self.duplicates += 1,
            Handled::Refused(_) => self.refused += 1,
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} unsubscribed, {} already unsubscribed, {} bounced/complained (unchanged), \
             {} invalid token(s), {} not for mailroom; bounces: {} hard, {} soft, \
             {} complaint(s), {} address(es) suppressed, {} without effect, \
             {} ignored (forged or unknown), {} already applied, {} refused",
            self.unsubscribed,
            self.already,
            self.closed,
            self.invalid,
            self.not_ours,
            self.hard,
            self.soft,
            self.complaints,
            self.suppressed,
            self.no_effect,
            self.ignored,
            self.duplicates,
            self.refused
        )
    }
}

pub struct Inbound<'a> {
    pub db: &'a Db,
    pub classifier: Classifier<'a>,
    pub policy: Policy,
}

impl<'a> Inbound<'a> {
    /// Reads returned mail as this instance's settings say: its token keys, its bounce and
    /// unsubscribe domains, its size cap and its one bounce policy.
    pub fn new(db: &'a Db, keys: &'a TokenKeys, settings: &'a crate::config::Settings) -> Self {
        Self {
            db,
            classifier: Classifier {
                keys,
                unsubscribe_domain: &settings.delivery.unsubscribe_domain,
                bounce_domain: &settings.delivery.bounce_domain,
                max_bytes: settings.bounces.max_message_bytes,
            },
            policy: Policy::from(&settings.bounces),
        }
    }

    /// Handles one raw message. `envelope_recipient` is the address the MTA delivered it
    /// to, when it says so.
    pub async fn handle(&self, raw: &[u8], envelope_recipient: Option<&str>) -> Result<Handled> {
        match self.classifier.classify(raw, envelope_recipient) {
            Kind::Refused(why) => {
                tracing::warn!(%why, "message refused unread");
                Ok(Handled::Refused(why))
            }
            Kind::NotOurs => Ok(Handled::NotOurs),
            Kind::Unsubscribe(None) => {
                tracing::warn!("mailto unsubscribe with an invalid token");
                Ok(Handled::InvalidToken)
            }
            Kind::Unsubscribe(Some(claim)) => {
                let change = self
                    .db
                    .unsubscribe(
                        claim.subscriber_id,
                        Some(claim.issue_number),
                        Source::Mailto,
                    )
                    .await?;
                Ok(match change {
                    Change::Done => Handled::Unsubscribed,
                    Change::Unchanged => Handled::AlreadyUnsubscribed,
                    Change::Blocked(_) => Handled::Closed,
                    Change::Unknown => Handled::InvalidToken,
                })
            }
            Kind::Bounce {
                reports,
                origin,
                key,
            } => self.bounce(&reports, origin, &key).await,
        }
    }

    async fn bounce(&self, reports: &[Returned], origin: Origin, key: &str) -> Result<Handled> {
        let Some(target) = self.target(&origin).await? else {
            let recipients: Vec<&str> = reports.iter().map(|r| r.recipient.as_str()).collect();
            match origin {
                Origin::Forged => tracing::warn!(
                    ?recipients,
                    "bounce with a forged or altered VERP token ignored"
                ),
                _ => tracing::warn!(
                    ?recipients,
                    ?origin,
                    "bounce names no delivery of ours; ignored"
                ),
            }
            return Ok(Handled::Ignored);
        };
        let Some((report, class, counted)) = decisive(reports, &target.email) else {
            return Ok(Handled::NoEffect);
        };
        let bounce = NewBounce {
            class,
            counted,
            reason: report.reason.as_str(),
            status: report.status.as_deref(),
            reply_code: report.reply_code,
            feedback_type: report.feedback_type.as_deref(),
            diagnostic: &report.diagnostic,
            recipient: &report.recipient,
            source: if class == BounceClass::Complaint {
                Source::Arf
            } else {
                Source::Dsn
            },
        };
        let applied = self
            .db
            .record_returned(&target, &bounce, key, &self.policy)
            .await?;
        Ok(match applied {
            Applied::Duplicate => Handled::Duplicate,
            Applied::Recorded { suppressed } => {
                tracing::info!(
                    delivery = target.delivery_id,
                    subscriber = target.subscriber_id,
                    class = class.as_str(),
                    reason = bounce.reason,
                    suppressed,
                    "bounce applied"
                );
                Handled::Bounce { class, suppressed }
            }
        })
    }

    /// The delivery the origin names, if it is ours.
    async fn target(&self, origin: &Origin) -> Result<Option<Target>> {
        Ok(match origin {
            Origin::Token(id) => self.db.delivery_target(*id).await?,
            Origin::MessageId {
                delivery_id,
                message_id,
            } => self
                .db
                .delivery_target(*delivery_id)
                .await?
                .filter(|t| t.message_id.as_deref() == Some(message_id.as_str())),
            Origin::Forged | Origin::Unknown => None,
        })
    }

    /// Processes every message in `maildir/new`: handled ones move to `cur/` (flagged
    /// seen), refused ones to the `.quarantine` sub-folder for an operator, and mail for
    /// other addresses stays in `new/`. A re-run sees only what is left.
    pub async fn maildir(&self, maildir: &Path) -> Result<Report> {
        let new = maildir.join("new");
        let cur = maildir.join("cur");
        std::fs::create_dir_all(&cur).with_context(|| format!("creating {}", cur.display()))?;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&new)
            .with_context(|| format!("reading {}", new.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        let mut report = Report::default();
        for path in entries {
            let handled = match read_message(&path, self.classifier.max_bytes)? {
                Ok(raw) => self
                    .handle(&raw, None)
                    .await
                    .with_context(|| path.display().to_string())?,
                Err(refused) => refused,
            };
            report.add(&handled);
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("message");
            let base = name.split(':').next().unwrap_or(name);
            let target = match handled {
                Handled::NotOurs => continue,
                Handled::Refused(_) => {
                    tracing::info!(file = %path.display(), "moved to .quarantine/new");
                    let aside = maildir.join(".quarantine");
                    for sub in ["new", "cur", "tmp"] {
                        std::fs::create_dir_all(aside.join(sub))
                            .with_context(|| format!("creating {}", aside.display()))?;
                    }
                    aside.join("new").join(base)
                }
                _ => cur.join(format!("{base}:2,S")),
            };
            std::fs::rename(&path, &target)
                .with_context(|| format!("moving {} to {}", path.display(), target.display()))?;
        }
        Ok(report)
    }

    /// Processes one message (a file, or standard input) and counts it in `report`.
    pub async fn message(
        &self,
        raw: &[u8],
        envelope_recipient: Option<&str>,
        report: &mut Report,
    ) -> Result<()> {
        report.add(&self.handle(raw, envelope_recipient).await?);
        Ok(())
    }

    /// Processes every message of an mbox file, in order.
    pub async fn mbox(&self, bytes: &[u8], report: &mut Report) -> Result<()> {
        for (n, raw) in crate::bounce::split_mbox(bytes).iter().enumerate() {
            self.message(raw, None, report)
                .await
                .with_context(|| format!("message {}", n + 1))?;
        }
        Ok(())
    }
}

/// A message file's bytes, or its refusal when it is larger than `max_bytes` (which is
/// decided before reading it).
pub fn read_message(path: &Path, max_bytes: u64) -> Result<Result<Vec<u8>, Handled>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > max_bytes {
        tracing::warn!(file = %path.display(), size, "message refused unread: too large");
        return Ok(Err(Handled::Refused(Refusal::TooLarge(size))));
    }
    Ok(Ok(
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
    ))
}

/// The report that decides what happens to the delivery's subscriber, with its class and
/// whether a soft bounce counts; `None` when no report changes anything. Reports about
/// the subscriber's own address come first; a report naming only other addresses (a
/// forward that failed further on) still speaks of this delivery, since the token or
/// Message-ID named it.
fn decisive<'r>(reports: &'r [Returned], email: &str) -> Option<(&'r Returned, BounceClass, bool)> {
    let about = |r: &&Returned| r.recipient.eq_ignore_ascii_case(email);
    let theirs: Vec<&Returned> = reports.iter().filter(about).collect();
    let pool = if theirs.is_empty() {
        reports.iter().collect()
    } else {
        theirs
    };
    pool.into_iter()
        .filter_map(|r| effect(r).map(|(class, counted)| (r, class, counted)))
        .max_by_key(|&(_, class, counted)| match class {
            BounceClass::Complaint => 3,
            BounceClass::Hard => 2,
            BounceClass::Soft => u8::from(counted),
        })
}

/// What one report does to an address, if anything.
fn effect(report: &Returned) -> Option<(BounceClass, bool)> {
    // A delay notice is a warning: the sending server is still trying.
    if report
        .action
        .as_deref()
        .is_some_and(|a| a.starts_with("delayed"))
    {
        return None;
    }
    match report.class {
        Class::Hard => Some((BounceClass::Hard, true)),
        Class::Soft => Some((BounceClass::Soft, report.reason.counts_against_address())),
        Class::None if report.reason == Reason::Feedback && is_complaint(report) => {
            Some((BounceClass::Complaint, true))
        }
        Class::None => None,
    }
}

/// ARF reports that are not a person's complaint: an authentication-failure report
/// (RFC 6591), a virus scanner's report, a "not spam" vote.
fn is_complaint(report: &Returned) -> bool {
    !matches!(
        report.feedback_type.as_deref(),
        Some("auth-failure" | "dmarc" | "virus" | "not-spam")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(recipient: &str, class: Class, reason: Reason) -> Returned {
        Returned {
            recipient: recipient.into(),
            class,
            reason,
            status: None,
            reply_code: None,
            feedback_type: None,
            action: Some("failed".into()),
            diagnostic: String::new(),
            original: Default::default(),
        }
    }

    #[test]
    fn what_reports_do_to_an_address() {
        let full = report("a@x", Class::Soft, Reason::MailboxFull);
        assert_eq!(effect(&full), Some((BounceClass::Soft, true)));
        let blocked = report("a@x", Class::Soft, Reason::Blocked);
        assert_eq!(effect(&blocked), Some((BounceClass::Soft, false)));
        let gone = report("a@x", Class::Hard, Reason::UserUnknown);
        assert_eq!(effect(&gone), Some((BounceClass::Hard, true)));
        let delayed = Returned {
            action: Some("delayed".into()),
            ..report("a@x", Class::Soft, Reason::Expired)
        };
        assert_eq!(effect(&delayed), None, "a delay notice is only a warning");
        for nothing in [Reason::Delivered, Reason::Vacation] {
            assert_eq!(effect(&report("a@x", Class::None, nothing)), None);
        }
        let complaint = |kind: Option<&str>| Returned {
            feedback_type: kind.map(str::to_string),
            ..report("", Class::None, Reason::Feedback)
        };
        assert_eq!(
            effect(&complaint(Some("abuse"))),
            Some((BounceClass::Complaint, true))
        );
        assert_eq!(
            effect(&complaint(None)),
            Some((BounceClass::Complaint, true))
        );
        assert_eq!(effect(&complaint(Some("auth-failure"))), None);
    }

    #[test]
    fn the_subscribers_own_report_decides() {
        let reports = [
            report("other@x", Class::Hard, Reason::UserUnknown),
            report("Ada@Example.org", Class::Soft, Reason::MailboxFull),
        ];
        let (r, class, _) = decisive(&reports, "ada@example.org").unwrap();
        assert_eq!(
            (r.recipient.as_str(), class),
            ("Ada@Example.org", BounceClass::Soft)
        );
        // Naming only someone else (a forward), the worst report about the delivery counts.
        let (r, class, _) = decisive(&reports, "kim@example.org").unwrap();
        assert_eq!(
            (r.recipient.as_str(), class),
            ("other@x", BounceClass::Hard)
        );
        let harmless = [report("ada@example.org", Class::None, Reason::Vacation)];
        assert!(decisive(&harmless, "ada@example.org").is_none());
    }
}
