//! Where each part of the archive lives: as `mailroom serve` answers it, or as files of a
//! static export. Pages link to each other with relative links, so the archive works
//! behind a reverse proxy that mounts it under a subpath and from any folder of a static
//! host; canonical URLs, Open Graph tags, feeds and the sitemap carry absolute ones.

/// One part of the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// An index page, 1-based (page 1 is the newest issues).
    Index(u32),
    /// An issue's page, by number.
    Issue(u32),
    Rss,
    Atom,
    JsonFeed,
    Sitemap,
}

impl Resource {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Index(_) | Self::Issue(_) => "text/html; charset=utf-8",
            Self::Rss => "application/rss+xml; charset=utf-8",
            Self::Atom => "application/atom+xml; charset=utf-8",
            Self::JsonFeed => "application/feed+json; charset=utf-8",
            Self::Sitemap => "application/xml; charset=utf-8",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `/archive`, `/archive/page/N`, `/archive/NUMBER`, `/feed.xml`, … on `mailroom serve`.
    Served,
    /// `index.html`, `page/N/`, `NUMBER/`, `feed.xml`, … in one folder.
    Exported,
}

/// The addresses of one archive: relative paths between its parts, absolute URLs for
/// what leaves the page (canonical, feeds, sitemap), and where the subscribe form posts.
#[derive(Debug, Clone)]
pub struct Layout {
    kind: Kind,
    /// The archive's absolute address, without a trailing slash.
    archive_url: String,
    /// `newsletter.base_url` without a trailing slash: where `mailroom serve` answers.
    server_url: String,
}

impl Layout {
    /// The archive as `mailroom serve` answers it. `archive_url` is its public address
    /// (canonical URLs); `server_url` is `newsletter.base_url`.
    pub fn served(archive_url: &str, server_url: &str) -> Self {
        Self {
            kind: Kind::Served,
            archive_url: archive_url.trim_end_matches('/').to_string(),
            server_url: server_url.trim_end_matches('/').to_string(),
        }
    }

    /// The archive as static files to be published at `archive_url`; the subscribe form
    /// posts to the `mailroom serve` at `server_url`.
    pub fn exported(archive_url: &str, server_url: &str) -> Self {
        Self {
            kind: Kind::Exported,
            ..Self::served(archive_url, server_url)
        }
    }

    /// The path of `r` from the layout's root (the server's root, or the export folder),
    /// as links name it.
    pub fn path(&self, r: Resource) -> String {
        match (self.kind, r) {
            (Kind::Served, Resource::Index(1)) => "archive".into(),
            (Kind::Served, Resource::Index(n)) => format!("archive/page/{n}"),
            (Kind::Served, Resource::Issue(n)) => format!("archive/{n}"),
            (Kind::Served, Resource::Sitemap) => "archive/sitemap.xml".into(),
            (Kind::Exported, Resource::Index(1)) => String::new(),
            (Kind::Exported, Resource::Index(n)) => format!("page/{n}/"),
            (Kind::Exported, Resource::Issue(n)) => format!("{n}/"),
            (Kind::Exported, Resource::Sitemap) => "sitemap.xml".into(),
            (_, Resource::Rss) => "feed.xml".into(),
            (_, Resource::Atom) => "atom.xml".into(),
            (_, Resource::JsonFeed) => "feed.json".into(),
        }
    }

    /// The file an export writes `r` to, relative to the export folder.
    pub fn file(&self, r: Resource) -> String {
        let path = self.path(r);
        if path.is_empty() || path.ends_with('/') {
            format!("{path}index.html")
        } else {
            path
        }
    }

    /// The absolute URL of `r`.
    pub fn url(&self, r: Resource) -> String {
        match (self.kind, r) {
            (Kind::Served, Resource::Index(1)) => self.archive_url.clone(),
            (Kind::Served, Resource::Index(n)) => format!("{}/page/{n}", self.archive_url),
            (Kind::Served, Resource::Issue(n)) => format!("{}/{n}", self.archive_url),
            (Kind::Served, Resource::Sitemap) => format!("{}/sitemap.xml", self.archive_url),
            (Kind::Served, _) => format!("{}/{}", self.server_url, self.path(r)),
            (Kind::Exported, _) => format!("{}/{}", self.archive_url, self.path(r)),
        }
    }

    /// A relative link from the page `from` to `to`.
    pub fn href(&self, from: Resource, to: Resource) -> String {
        relative(&self.path(from), &self.path(to))
    }

    /// Where the subscribe form on `from` posts: the server's `/subscribe`, relative when
    /// the server answers the page itself.
    pub fn subscribe_href(&self, from: Resource) -> String {
        match self.kind {
            Kind::Served => relative(&self.path(from), "subscribe"),
            Kind::Exported => format!("{}/subscribe", self.server_url),
        }
    }
}

/// The relative reference that leads from the document at `from` to `to`, both paths from
/// the same root without a leading slash; a path ending in `/` is a folder's index.
pub fn relative(from: &str, to: &str) -> String {
    let from_dirs: Vec<&str> = match from.rsplit_once('/') {
        Some((dirs, _)) => dirs.split('/').collect(),
        None => Vec::new(),
    };
    let (to_dirs, to_last): (Vec<&str>, &str) = match to.rsplit_once('/') {
        Some((dirs, last)) => (dirs.split('/').collect(), last),
        None => (Vec::new(), to),
    };
    let common = from_dirs
        .iter()
        .zip(&to_dirs)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = "../".repeat(from_dirs.len() - common);
    for dir in &to_dirs[common..] {
        out.push_str(dir);
        out.push('/');
    }
    out.push_str(to_last);
    if out.is_empty() {
        // The folder itself: "" would mean the current document.
        out.push_str("./");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resolves `href` against the document at `from` the way a browser does (for the
    /// relative references `relative` writes).
    fn resolve(from: &str, href: &str) -> String {
        let mut segs: Vec<&str> = from.split('/').collect();
        segs.pop();
        let mut rest = href;
        loop {
            if let Some(r) = rest.strip_prefix("../") {
                segs.pop();
                rest = r;
            } else if let Some(r) = rest.strip_prefix("./") {
                rest = r;
            } else {
                break;
            }
        }
        let mut path = segs.join("/");
        if !path.is_empty() {
            path.push('/');
        }
        path + rest
    }

    #[test]
    fn relative_links_resolve_to_their_target() {
        let paths = [
            "archive",
            "archive/page/2",
            "archive/210",
            "feed.xml",
            "subscribe",
            "",
            "page/2/",
            "page/3/",
            "210/",
            "sitemap.xml",
        ];
        for from in paths {
            for to in paths {
                let href = relative(from, to);
                assert!(!href.starts_with('/'), "{from} -> {to}: {href}");
                assert_eq!(resolve(from, &href), to, "{from} -> {to}: {href}");
            }
        }
    }

    #[test]
    fn served_and_exported_links() {
        let served = Layout::served(
            "https://news.example.org/archive/",
            "https://news.example.org",
        );
        assert_eq!(
            served.href(Resource::Issue(210), Resource::Index(1)),
            "../archive"
        );
        assert_eq!(
            served.href(Resource::Index(1), Resource::Issue(210)),
            "archive/210"
        );
        assert_eq!(served.href(Resource::Index(2), Resource::Issue(7)), "../7");
        assert_eq!(
            served.href(Resource::Issue(210), Resource::Rss),
            "../feed.xml"
        );
        assert_eq!(served.subscribe_href(Resource::Issue(210)), "../subscribe");
        assert_eq!(
            served.url(Resource::Issue(210)),
            "https://news.example.org/archive/210"
        );
        assert_eq!(
            served.url(Resource::Atom),
            "https://news.example.org/atom.xml"
        );

        let exported = Layout::exported("https://example.org/news", "https://news.example.org/");
        assert_eq!(
            exported.href(Resource::Issue(210), Resource::Index(1)),
            "../"
        );
        assert_eq!(
            exported.href(Resource::Index(1), Resource::Issue(210)),
            "210/"
        );
        assert_eq!(
            exported.href(Resource::Index(3), Resource::Index(2)),
            "../2/"
        );
        assert_eq!(exported.file(Resource::Index(1)), "index.html");
        assert_eq!(exported.file(Resource::Issue(210)), "210/index.html");
        assert_eq!(exported.file(Resource::Atom), "atom.xml");
        assert_eq!(
            exported.url(Resource::Issue(210)),
            "https://example.org/news/210/"
        );
        assert_eq!(
            exported.url(Resource::Index(1)),
            "https://example.org/news/"
        );
        assert_eq!(
            exported.subscribe_href(Resource::Issue(210)),
            "https://news.example.org/subscribe"
        );
    }
}
