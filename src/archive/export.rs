//! `mailroom archive export DIR`: the archive as static files for any web host.
//!
//! Everything is rendered first and written into a new folder beside DIR, which then
//! takes DIR's place: a failed export leaves DIR as it was, and a web server publishing
//! DIR never sees half an archive.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::{Layout, Site, Snapshot, View, load};
use crate::config::Settings;
use crate::db::{self, Db};

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    pub dir: PathBuf,
    /// Where the files are meant to be published.
    pub base_url: String,
    pub issues: usize,
    pub files: usize,
    pub bytes: u64,
}

/// Writes the archive of the issues public now into `dir`, for publication at `base_url`
/// (default: the archive's configured address). An existing `dir` must be empty unless
/// `force`, which replaces its contents.
pub async fn export(
    settings: &Settings,
    db: &Db,
    dir: &Path,
    base_url: Option<&str>,
    force: bool,
) -> Result<Exported> {
    let base_url = match base_url {
        Some(url) => url.trim().trim_end_matches('/').to_string(),
        None => {
            crate::config::archive_base(&settings.archive.base_url, &settings.newsletter.base_url)
        }
    };
    if !(base_url.starts_with("https://") || base_url.starts_with("http://"))
        || base_url.contains(['?', '#', ' ', '"', '<', '>'])
    {
        bail!(
            "--base-url {base_url:?}: give the http(s) address where the files will be \
             published, without a query or fragment, e.g. https://example.org/newsletter"
        );
    }
    let Some(name) = dir.file_name() else {
        bail!("{}: give the export folder a name", dir.display());
    };
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let replacing = match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => bail!("{} exists and is not a folder", dir.display()),
        Ok(_) => {
            let empty = std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .next()
                .is_none();
            if !empty && !force {
                bail!(
                    "{} is not empty; pass --force to replace its contents with the archive",
                    dir.display()
                );
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    if !parent.is_dir() {
        bail!(
            "{}: the folder {} does not exist",
            dir.display(),
            parent.display()
        );
    }

    let list = db.published_issues(&db::now()).await?;
    let snapshot = Snapshot::new(list)?;
    let site = Site::new(settings)?;
    let layout = Layout::exported(&base_url, &settings.newsletter.base_url);
    let view = View {
        layout: &layout,
        issues: &snapshot.list.issues,
        updated: snapshot.updated,
    };
    let numbers: Vec<u32> = snapshot.list.issues.iter().map(|p| p.number).collect();
    let contents = load(db, &numbers).await?;
    let mut files = Vec::new();
    for r in site.resources(&view) {
        files.push((layout.file(r), site.render(&view, r, &contents)?));
    }

    let suffix = format!("{}-{}", std::process::id(), unique());
    let partial = parent.join(format!(".{}.partial-{suffix}", name.to_string_lossy()));
    let written = write_all(&partial, &files);
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    if replacing {
        let old = parent.join(format!(".{}.old-{suffix}", name.to_string_lossy()));
        std::fs::rename(dir, &old)
            .with_context(|| format!("moving the old {} aside", dir.display()))?;
        if let Err(e) = std::fs::rename(&partial, dir) {
            let _ = std::fs::rename(&old, dir);
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e).with_context(|| format!("putting the export at {}", dir.display()));
        }
        std::fs::remove_dir_all(&old)
            .with_context(|| format!("removing the old export {}", old.display()))?;
    } else {
        std::fs::rename(&partial, dir)
            .with_context(|| format!("putting the export at {}", dir.display()))?;
    }
    Ok(Exported {
        dir: dir.to_path_buf(),
        base_url,
        issues: numbers.len(),
        files: files.len(),
        bytes,
    })
}

fn write_all(root: &Path, files: &[(String, String)]) -> Result<u64> {
    std::fs::create_dir(root).with_context(|| format!("creating {}", root.display()))?;
    let mut bytes = 0;
    for (file, body) in files {
        let path = root.join(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
        bytes += body.len() as u64;
    }
    Ok(bytes)
}

/// Distinguishes two exports started by the same process.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
