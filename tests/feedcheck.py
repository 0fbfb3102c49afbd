#!/usr/bin/env python3
"""Reads feeds back as a feed reader would and prints what it understood, as JSON.

    python3 tests/feedcheck.py FEED...

RSS and Atom are read with feedparser (PyPI's `feedparser`, the parser most Python feed
readers use); JSON Feed, which feedparser 6.0 does not read, with `feedparser-rs`, which
offers the same API. Each feed prints one JSON object: the format detected, whether the
parser found the feed malformed ("bozo") and why, the feed's fields and every entry's,
dates normalized to RFC 3339 UTC. tests/it/archive.rs compares them with what was sent.
"""

import calendar
import json
import sys
import time


def parser_for(data):
    if data.lstrip().startswith(b"{"):
        import feedparser_rs

        return feedparser_rs
    import feedparser

    return feedparser


def date(obj, name):
    parsed = obj.get(name + "_parsed")
    if parsed:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(calendar.timegm(parsed)))
    return obj.get(name)


def text(obj, name):
    value = obj.get(name)
    return None if value is None else str(value)


def read(path):
    data = open(path, "rb").read()
    d = parser_for(data).parse(data)
    feed = d.feed
    out = {
        "version": d.version,
        "bozo": bool(d.bozo),
        "bozo_exception": str(d.get("bozo_exception")) if d.bozo else None,
        "feed": {
            "title": text(feed, "title"),
            "link": text(feed, "link"),
            "subtitle": text(feed, "subtitle"),
            "id": text(feed, "id"),
            "language": text(feed, "language"),
            "author": text(feed, "author"),
            "updated": date(feed, "updated"),
            "links": [
                {"rel": l.get("rel"), "type": l.get("type"), "href": l.get("href")}
                for l in (feed.get("links") or [])
            ],
        },
        "entries": [],
    }
    for e in d.entries:
        content = (e.get("content") or [{}])[0]
        out["entries"].append(
            {
                "title": text(e, "title"),
                "link": text(e, "link"),
                "id": text(e, "id"),
                "published": date(e, "published"),
                "updated": date(e, "updated"),
                "summary": text(e, "summary"),
                "content_type": content.get("type"),
                "content": content.get("value"),
            }
        )
    return out


if __name__ == "__main__":
    print(json.dumps([read(p) for p in sys.argv[1:]]))
