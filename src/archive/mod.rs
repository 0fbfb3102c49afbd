//! The public archive: every issue that went out, as web pages and feeds, made from the
//! same Issue model as the email (never the email's HTML), with nothing personal in it.
//!
//! [`Archive`] serves `mailroom serve`'s archive from memory. It keeps a snapshot of the
//! public issues (re-read at most once a [`REFRESH`]) and renders each page once per
//! snapshot, with its ETag; a new snapshot that differs (an issue published or withdrawn)
//! drops every rendered page, since index pages, feeds and the issues' newer/older links
//! all depend on the list. [`export`] writes the same archive as static files.

pub mod export;
pub mod feeds;
mod layout;
mod site;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use layout::{Layout, Resource, relative};
pub use site::{Site, View};

use crate::config::Settings;
use crate::db::archive::PublishedList;
use crate::db::{self, Db};
use crate::domain::Issue;

/// How stale the list of public issues may be: a send that starts or ends shows in the
/// archive within this time, whichever process changed it.
pub const REFRESH: Duration = Duration::from_secs(1);

/// A rendered page or feed, with its validators.
#[derive(Debug)]
pub struct Page {
    pub body: Bytes,
    pub content_type: &'static str,
    /// A strong entity tag, quoted: a digest of the body.
    pub etag: String,
    /// When the archive last changed (to the second), if anything was ever published.
    pub last_modified: Option<OffsetDateTime>,
}

impl Page {
    fn new(body: String, r: Resource, last_modified: Option<OffsetDateTime>) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        Self {
            etag: format!("\"{}\"", data_encoding::HEXLOWER.encode(&digest[..12])),
            body: Bytes::from(body),
            content_type: r.content_type(),
            last_modified,
        }
    }
}

/// One reading of the public issues and the pages rendered from it so far.
struct Snapshot {
    list: PublishedList,
    updated: OffsetDateTime,
    last_modified: Option<OffsetDateTime>,
    pages: Mutex<HashMap<Resource, Arc<Page>>>,
}

impl Snapshot {
    fn new(list: PublishedList) -> db::Result<Self> {
        let changed = list
            .changed_at
            .as_deref()
            .map(db::parse_timestamp)
            .transpose()?
            .map(|t| t.replace_nanosecond(0).expect("0 is valid"));
        Ok(Self {
            list,
            // An archive that never changed is as old as anything can be.
            updated: changed.unwrap_or(OffsetDateTime::UNIX_EPOCH),
            last_modified: changed,
            pages: Mutex::new(HashMap::new()),
        })
    }
}

struct Current {
    snapshot: Arc<Snapshot>,
    read_at: Instant,
}

/// The archive as `mailroom serve` answers it.
pub struct Archive {
    db: Db,
    site: Site,
    layout: Layout,
    current: RwLock<Option<Current>>,
    /// Held while the list is re-read, so one request reads it while others are served
    /// from the snapshot they have.
    refreshing: tokio::sync::Mutex<()>,
}

impl Archive {
    pub fn new(settings: &Settings, db: Db) -> anyhow::Result<Self> {
        let archive_url =
            crate::config::archive_base(&settings.archive.base_url, &settings.newsletter.base_url);
        Ok(Self {
            db,
            site: Site::new(settings)?,
            layout: Layout::served(&archive_url, &settings.newsletter.base_url),
            current: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// `r` as rendered for the current list of public issues; `None` when it does not
    /// exist (an issue that is not public, a page past the last).
    pub async fn get(&self, r: Resource) -> db::Result<Option<Arc<Page>>> {
        let snapshot = self.snapshot().await?;
        if let Some(page) = snapshot.pages.lock().expect("not poisoned").get(&r) {
            return Ok(Some(page.clone()));
        }
        let view = View {
            layout: &self.layout,
            issues: &snapshot.list.issues,
            updated: snapshot.updated,
        };
        if !self.site.exists(&view, r) {
            return Ok(None);
        }
        // Two requests may render the same page at once; both results are the same.
        let contents = load(&self.db, &self.site.needs(&view, r)).await?;
        let body = self.site.render(&view, r, &contents)?;
        let page = Arc::new(Page::new(body, r, snapshot.last_modified));
        snapshot
            .pages
            .lock()
            .expect("not poisoned")
            .insert(r, page.clone());
        Ok(Some(page))
    }

    /// The current snapshot, re-reading the list when it is older than [`REFRESH`].
    async fn snapshot(&self) -> db::Result<Arc<Snapshot>> {
        let stale = {
            let current = self.current.read().expect("not poisoned");
            match &*current {
                Some(c) if c.read_at.elapsed() < REFRESH => return Ok(c.snapshot.clone()),
                Some(c) => Some(c.snapshot.clone()),
                None => None,
            }
        };
        let _guard = match (self.refreshing.try_lock(), stale) {
            (Ok(guard), _) => guard,
            // Someone is re-reading it: the snapshot at hand is at most a moment older.
            (Err(_), Some(stale)) => return Ok(stale),
            (Err(_), None) => self.refreshing.lock().await,
        };
        if let Some(c) = &*self.current.read().expect("not poisoned")
            && c.read_at.elapsed() < REFRESH
        {
            return Ok(c.snapshot.clone());
        }
        let list = self.db.published_issues(&db::now()).await?;
        let mut current = self.current.write().expect("not poisoned");
        let snapshot = match &*current {
            // Unchanged: keep every page rendered so far.
            Some(c) if c.snapshot.list == list => c.snapshot.clone(),
            _ => Arc::new(Snapshot::new(list)?),
        };
        *current = Some(Current {
            snapshot: snapshot.clone(),
            read_at: Instant::now(),
        });
        Ok(snapshot)
    }
}

/// The content of each issue in `numbers`.
async fn load(db: &Db, numbers: &[u32]) -> db::Result<HashMap<u32, Issue>> {
    let mut contents = HashMap::new();
    for &number in numbers {
        if let std::collections::hash_map::Entry::Vacant(slot) = contents.entry(number) {
            slot.insert(db.require_issue(number).await?.issue);
        }
    }
    Ok(contents)
}
