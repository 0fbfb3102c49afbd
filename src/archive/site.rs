//! Renders the archive's pages and feeds from the Issue model and the list of public
//! issues: web-templates/archive/ through minijinja (HTML-escaped by default), the feeds
//! through [`super::feeds`].

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, Value};
use serde::Serialize;
use time::OffsetDateTime;

use super::feeds::{self, Channel, Entry};
use super::layout::{Layout, Resource};
use crate::config::Settings;
use crate::db::archive::Published;
use crate::domain::Issue;
use crate::render::{long_date, markdown_to_html};

const TEMPLATES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../web-templates/archive/layout.html"),
    ),
    (
        "index.html",
        include_str!("../../web-templates/archive/index.html"),
    ),
    (
        "issue.html",
        include_str!("../../web-templates/archive/issue.html"),
    ),
    (
        "content.html",
        include_str!("../../web-templates/archive/content.html"),
    ),
];

/// The newsletter as the archive presents it, and its templates.
pub struct Site {
    env: Environment<'static>,
    name: String,
    description: String,
    author: String,
    postal_address: String,
    per_page: usize,
    feed_items: usize,
}

/// The state of the archive a page is rendered from.
pub struct View<'a> {
    pub layout: &'a Layout,
    /// Every public issue, newest first.
    pub issues: &'a [Published],
    /// When the archive last changed.
    pub updated: OffsetDateTime,
}

#[derive(Serialize)]
struct IndexContext<'a> {
    site: SiteVars<'a>,
    links: Links,
    page: PageVars,
    issues: Vec<ListedIssue<'a>>,
}

#[derive(Serialize)]
struct IssueContext<'a> {
    site: SiteVars<'a>,
    links: Links,
    page: PageVars,
    issue: IssueVars,
    permalinks: bool,
}

#[derive(Serialize)]
struct ContentContext {
    issue: IssueVars,
    permalinks: bool,
}

#[derive(Serialize)]
struct SiteVars<'a> {
    name: &'a str,
    description: &'a str,
    postal_address: &'a str,
}

#[derive(Serialize)]
struct Links {
    index: String,
    rss: String,
    atom: String,
    json: String,
    sitemap: String,
    subscribe: String,
}

#[derive(Serialize, Default)]
struct PageVars {
    /// The document title.
    title: String,
    /// The h1 and the sharing title.
    heading: String,
    description: String,
    canonical: String,
    og_type: &'static str,
    published: String,
    /// Links to the neighbouring page (index) or issue (issue page); empty when none.
    newer: String,
    older: String,
    number: usize,
    pages: usize,
}

#[derive(Serialize)]
struct ListedIssue<'a> {
    number: u32,
    href: String,
    title: &'a str,
    subject: &'a str,
    preheader: &'a str,
    date: String,
    date_iso: &'a str,
}

#[derive(Serialize)]
struct IssueVars {
    number: u32,
    title: String,
    preheader: String,
    date: String,
    date_iso: String,
    intro: Value,
    sections: Vec<SectionVars>,
}

#[derive(Serialize)]
struct SectionVars {
    id: String,
    name: String,
    items: Vec<ItemVars>,
}

#[derive(Serialize)]
struct ItemVars {
    id: String,
    title: String,
    url: Option<String>,
    blurb: Value,
}

impl Site {
    pub fn new(settings: &Settings) -> Result<Self> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        // minijinja's HTML escaping also writes `/` as `&#x2f;`, which makes every URL
        // harder to read in the source; `&<>"'` is what HTML needs.
        env.set_formatter(|out, state, value| {
            if value.is_safe() || value.is_undefined() || value.is_none() {
                return minijinja::escape_formatter(out, state, value);
            }
            let text = match value.as_str() {
                Some(s) => feeds::escape(s),
                None => feeds::escape(&value.to_string()),
            };
            out.write_str(&text).map_err(minijinja::Error::from)
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .context("template syntax configuration")?,
        );
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .with_context(|| format!("web template archive/{name} does not parse"))?;
        }
        let n = &settings.newsletter;
        let a = &settings.archive;
        let description = if a.description.trim().is_empty() {
            format!("Every issue of {}, as it was sent by email.", n.name)
        } else {
            a.description.trim().to_string()
        };
        Ok(Self {
            env,
            name: n.name.clone(),
            description,
            author: if n.from_name.is_empty() {
                n.name.clone()
            } else {
                n.from_name.clone()
            },
            postal_address: n.postal_address.clone(),
            per_page: a.per_page as usize,
            feed_items: a.feed_items as usize,
        })
    }

    /// How many index pages `count` public issues fill (at least one, which may be empty).
    pub fn pages(&self, count: usize) -> usize {
        count.div_ceil(self.per_page).max(1)
    }

    /// Whether `r` exists in `view`; a missing one is a 404 (or not written).
    pub fn exists(&self, view: &View<'_>, r: Resource) -> bool {
        match r {
            Resource::Index(n) => n >= 1 && n as usize <= self.pages(view.issues.len()),
            Resource::Issue(n) => view.issues.iter().any(|p| p.number == n),
            Resource::Rss | Resource::Atom | Resource::JsonFeed | Resource::Sitemap => true,
        }
    }

    /// Every resource of the archive in `view`: what an export writes.
    pub fn resources(&self, view: &View<'_>) -> Vec<Resource> {
        let pages = self.pages(view.issues.len()) as u32;
        (1..=pages)
            .map(Resource::Index)
            .chain(view.issues.iter().map(|p| Resource::Issue(p.number)))
            .chain([
                Resource::Rss,
                Resource::Atom,
                Resource::JsonFeed,
                Resource::Sitemap,
            ])
            .collect()
    }

    /// The issues whose content rendering `r` needs.
    pub fn needs(&self, view: &View<'_>, r: Resource) -> Vec<u32> {
        match r {
            Resource::Issue(n) => vec![n],
            Resource::Rss | Resource::Atom | Resource::JsonFeed => view
                .issues
                .iter()
                .take(self.feed_items)
                .map(|p| p.number)
                .collect(),
            Resource::Index(_) | Resource::Sitemap => Vec::new(),
        }
    }

    /// Renders `r`, which must exist; `contents` holds the issues [`Site::needs`] named.
    pub fn render(
        &self,
        view: &View<'_>,
        r: Resource,
        contents: &HashMap<u32, Issue>,
    ) -> Result<String> {
        let content = |n: u32| {
            contents
                .get(&n)
                .with_context(|| format!("the content of issue #{n} was not loaded"))
        };
        match r {
            Resource::Index(n) => self.index(view, n),
            Resource::Issue(n) => {
                let at = view
                    .issues
                    .iter()
                    .position(|p| p.number == n)
                    .with_context(|| format!("issue #{n} is not public"))?;
                self.issue(view, at, content(n)?)
            }
            Resource::Rss | Resource::Atom | Resource::JsonFeed => {
                let mut entries = Vec::new();
                for p in view.issues.iter().take(self.feed_items) {
                    entries.push(self.entry(view, p, content(p.number)?)?);
                }
                let channel = Channel {
                    title: &self.name,
                    description: &self.description,
                    home_url: &view.layout.url(Resource::Index(1)),
                    author: &self.author,
                    updated: view.updated,
                };
                let self_url = view.layout.url(r);
                Ok(match r {
                    Resource::Rss => feeds::rss(&channel, &self_url, &entries),
                    Resource::Atom => feeds::atom(&channel, &self_url, &entries),
                    _ => feeds::json_feed(&channel, &self_url, &entries),
                })
            }
            Resource::Sitemap => {
                let mut pages = Vec::new();
                for n in 1..=self.pages(view.issues.len()) as u32 {
                    pages.push((view.layout.url(Resource::Index(n)), view.updated));
                }
                for p in view.issues {
                    pages.push((view.layout.url(Resource::Issue(p.number)), published_at(p)?));
                }
                Ok(feeds::sitemap(&pages))
            }
        }
    }

    fn links(&self, layout: &Layout, from: Resource) -> Links {
        Links {
            index: layout.href(from, Resource::Index(1)),
            rss: layout.href(from, Resource::Rss),
            atom: layout.href(from, Resource::Atom),
            json: layout.href(from, Resource::JsonFeed),
            sitemap: layout.href(from, Resource::Sitemap),
            subscribe: layout.subscribe_href(from),
        }
    }

    fn site_vars(&self) -> SiteVars<'_> {
        SiteVars {
            name: &self.name,
            description: &self.description,
            postal_address: &self.postal_address,
        }
    }

    fn index(&self, view: &View<'_>, number: u32) -> Result<String> {
        let me = Resource::Index(number);
        let pages = self.pages(view.issues.len());
        let start = (number as usize - 1) * self.per_page;
        let issues: Vec<ListedIssue<'_>> = view
            .issues
            .iter()
            .skip(start)
            .take(self.per_page)
            .map(|p| ListedIssue {
                number: p.number,
                href: view.layout.href(me, Resource::Issue(p.number)),
                title: &p.title,
                subject: &p.subject,
                preheader: &p.preheader,
                date: display_date(&p.date),
                date_iso: &p.date,
            })
            .collect();
        let heading = if number == 1 {
            format!("{}: all issues", self.name)
        } else {
            format!("{}: all issues, page {number} of {pages}", self.name)
        };
        let page = PageVars {
            title: heading.clone(),
            heading,
            description: self.description.clone(),
            canonical: view.layout.url(me),
            og_type: "website",
            newer: if number > 1 {
                view.layout.href(me, Resource::Index(number - 1))
            } else {
                String::new()
            },
            older: if (number as usize) < pages {
                view.layout.href(me, Resource::Index(number + 1))
            } else {
                String::new()
            },
            number: number as usize,
            pages,
            ..PageVars::default()
        };
        let ctx = IndexContext {
            site: self.site_vars(),
            links: self.links(view.layout, me),
            page,
            issues,
        };
        Ok(self.env.get_template("index.html")?.render(Serde(&ctx))?)
    }

    fn issue(&self, view: &View<'_>, at: usize, issue: &Issue) -> Result<String> {
        let p = &view.issues[at];
        let me = Resource::Issue(p.number);
        let neighbour = |i: Option<usize>| {
            i.and_then(|i| view.issues.get(i))
                .map(|n| view.layout.href(me, Resource::Issue(n.number)))
                .unwrap_or_default()
        };
        let page = PageVars {
            title: format!("{} · {}", issue.title, self.name),
            heading: issue.title.clone(),
            description: summary(issue),
            canonical: view.layout.url(me),
            og_type: "article",
            published: feeds::rfc3339(published_at(p)?),
            newer: neighbour(at.checked_sub(1)),
            older: neighbour(Some(at + 1)),
            ..PageVars::default()
        };
        let ctx = IssueContext {
            site: self.site_vars(),
            links: self.links(view.layout, me),
            page,
            issue: issue_vars(issue),
            permalinks: true,
        };
        Ok(self.env.get_template("issue.html")?.render(Serde(&ctx))?)
    }

    fn entry(&self, view: &View<'_>, p: &Published, issue: &Issue) -> Result<Entry> {
        let ctx = ContentContext {
            issue: issue_vars(issue),
            permalinks: false,
        };
        let content_html = self.env.get_template("content.html")?.render(Serde(&ctx))?;
        Ok(Entry {
            url: view.layout.url(Resource::Issue(p.number)),
            title: issue.title.clone(),
            summary: summary(issue),
            content_html,
            published: published_at(p)?,
        })
    }
}

/// What a page or feed entry says about an issue in one line: its preheader, else its
/// subject.
fn summary(issue: &Issue) -> String {
    if issue.preheader.trim().is_empty() {
        issue.subject.clone()
    } else {
        issue.preheader.clone()
    }
}

fn published_at(p: &Published) -> Result<OffsetDateTime> {
    Ok(crate::db::parse_timestamp(&p.published_at)?)
}

/// "6 August 2021" from the stored `2021-08-06`.
fn display_date(iso: &str) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(iso, &format)
        .map(long_date)
        .unwrap_or_else(|_| iso.to_string())
}

fn issue_vars(issue: &Issue) -> IssueVars {
    let mut item_number = 0;
    IssueVars {
        number: issue.number,
        title: issue.title.clone(),
        preheader: issue.preheader.clone(),
        date: long_date(issue.date),
        date_iso: issue.date.to_string(),
        intro: Value::from_safe_string(markdown_to_html(&issue.intro)),
        sections: issue
            .sections
            .iter()
            .enumerate()
            .map(|(s, section)| SectionVars {
                id: format!("section-{}", s + 1),
                name: section.name.clone(),
                items: section
                    .items
                    .iter()
                    .map(|item| {
                        item_number += 1;
                        ItemVars {
                            id: format!("item-{item_number}"),
                            title: item.title.clone(),
                            url: item.url.clone(),
                            blurb: Value::from_safe_string(markdown_to_html(&item.blurb)),
                        }
                    })
                    .collect(),
            })
            .collect(),
    }
}
