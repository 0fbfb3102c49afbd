//! The database file itself: consistent copies taken while mailroom runs, and SQLite's own
//! integrity checks. Both open the file as it is — never created, never migrated — so that
//! they can look at a backup, or at a file too damaged for mailroom to start on.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions as _, Connection as _, Row as _};

/// A finished backup.
#[derive(Debug)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Copies the database at `database` to `target` while other connections keep writing.
///
/// `VACUUM INTO` reads the whole database inside one read transaction, so the copy is one
/// consistent snapshot (under WAL, readers never block the writers). It is written to a
/// temporary name beside `target`, synced, checked, and only then given its name: a failed
/// or interrupted backup never leaves a partial file under `target`. Without `overwrite`
/// an existing `target` is refused, also when it appears during the copy.
pub async fn backup(database: &Path, target: &Path, overwrite: bool) -> Result<Backup> {
    let name = target
        .file_name()
        .with_context(|| format!("{}: not a file name", target.display()))?;
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // Absolute, so that SQLite cannot read the name as a `file:` URI.
    let dir = dir
        .canonicalize()
        .with_context(|| format!("backup folder {}", dir.display()))?;
    let target = dir.join(name);
    if target.is_dir() {
        bail!("{} is a folder", target.display());
    }
    if !overwrite && target.exists() {
        bail!("{} already exists", target.display());
    }
    let source = database
        .canonicalize()
        .with_context(|| format!("no database at {}", database.display()))?;
    if source == target {
        bail!(
            "{} is the database itself; back it up to another file",
            target.display()
        );
    }

    let partial = Partial::create(&dir, name)?;
    let path = partial
        .path
        .to_str()
        .with_context(|| format!("{}: not a UTF-8 path", partial.path.display()))?;
    let mut conn = open_existing(&source).await?;
    if let Err(e) = sqlx::query("VACUUM INTO ?")
        .bind(path)
        .execute(&mut conn)
        .await
    {
        bail!("copying {} to {path}: {}", source.display(), message(&e));
    }
    conn.close().await?;
    // SQLite does not sync the file VACUUM INTO writes.
    std::fs::File::open(&partial.path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {path}"))?;
    let problems = check(&partial.path).await?;
    if !problems.is_empty() {
        bail!(
            "the copy failed its integrity check, so it was not kept:\n  {}",
            problems.join("\n  ")
        );
    }
    // The copy holds the whole list: no more readable than the database it comes from.
    let permissions = std::fs::metadata(&source)
        .with_context(|| source.display().to_string())?
        .permissions();
    std::fs::set_permissions(&partial.path, permissions)
        .with_context(|| partial.path.display().to_string())?;
    partial.persist(&target, overwrite)?;
    let bytes = std::fs::metadata(&target)
        .with_context(|| target.display().to_string())?
        .len();
    Ok(Backup {
        path: target,
        bytes,
    })
}

/// SQLite's `integrity_check` and `foreign_key_check` on the file at `path`: the problems
/// found, none when the database is sound. A file that cannot be read as a database at all
/// is an error.
pub async fn check(path: &Path) -> Result<Vec<String>> {
    let mut conn = open_existing(path).await?;
    let mut problems = Vec::new();
    match sqlx::query_scalar::<_, String>("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
    {
        Ok(rows) => problems.extend(rows.into_iter().filter(|r| r != "ok")),
        // Damage can stop the check itself ("database disk image is malformed").
        Err(e) => problems.push(format!("integrity check stopped: {}", message(&e))),
    }
    match sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut conn)
        .await
    {
        Ok(rows) => problems.extend(rows.iter().map(|row| {
            let table: String = row.try_get(0).unwrap_or_default();
            let rowid: Option<i64> = row.try_get(1).unwrap_or_default();
            let parent: String = row.try_get(2).unwrap_or_default();
            let rowid = rowid.map_or_else(|| "a row".to_string(), |id| format!("row {id}"));
            format!("{table} {rowid} refers to a missing {parent} row")
        })),
        Err(e) => problems.push(format!("foreign key check stopped: {}", message(&e))),
    }
    conn.close().await?;
    Ok(problems)
}

/// Opens an existing database file without creating, migrating or changing anything.
async fn open_existing(path: &Path) -> Result<SqliteConnection> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("no database at {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a database file", path.display());
    }
    let mut conn = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        // Writers hold their lock for short group commits; a reader only waits for a WAL
        // recovery, but the same patience as mailroom's own connections does no harm.
        .busy_timeout(Duration::from_secs(10))
        // Copying or checking a large file takes long by nature: no warning for that.
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1))
        .connect()
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    // Opening reads nothing; the first statement reads the header.
    if let Err(e) = sqlx::query("SELECT count(*) FROM sqlite_schema")
        .execute(&mut conn)
        .await
    {
        bail!(
            "{} cannot be read as an SQLite database: {}",
            path.display(),
            message(&e)
        );
    }
    Ok(conn)
}

/// SQLite's own words, without sqlx's wrapping (which repeats the code).
fn message(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(e) => e.message().to_string(),
        e => e.to_string(),
    }
}

/// The copy under its temporary name; removed on drop unless it was given its final name.
struct Partial {
    path: PathBuf,
    kept: bool,
}

impl Partial {
    /// An empty file (`VACUUM INTO` accepts one) under a name no other backup uses.
    fn create(dir: &Path, name: &std::ffi::OsStr) -> Result<Self> {
        let mut random = [0u8; 6];
        getrandom::fill(&mut random).context("random name for the partial backup")?;
        let mut file_name = std::ffi::OsString::from(".");
        file_name.push(name);
        file_name.push(format!(
            ".{}.partial",
            data_encoding::HEXLOWER.encode(&random)
        ));
        let path = dir.join(file_name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // Owner only while it is written; it gets the database's permissions when done.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path, kept: false })
    }

    fn persist(mut self, target: &Path, overwrite: bool) -> Result<()> {
        if overwrite {
            std::fs::rename(&self.path, target)
        } else {
            // A link fails if the name is taken, where a rename would replace the file.
            std::fs::hard_link(&self.path, target).and_then(|()| std::fs::remove_file(&self.path))
        }
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                anyhow::anyhow!("{} already exists", target.display())
            }
            _ => anyhow::Error::new(e).context(format!("naming the backup {}", target.display())),
        })?;
        self.kept = true;
        if let Some(dir) = target.parent() {
            // The new name is durable once its directory is synced.
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .with_context(|| format!("syncing {}", dir.display()))?;
        }
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
        // Left by the check's connection if it was cut short.
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut side = self.path.clone().into_os_string();
            side.push(suffix);
            let _ = std::fs::remove_file(side);
        }
    }
}
