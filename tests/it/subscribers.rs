//! The subscriber list from the CLI: addresses, import, export, listing and removal, on a
//! real SQLite file.

use crate::helpers::{Instance, Sql};

#[test]
fn idn_addresses_are_stored_as_punycode_and_found_either_way() {
    let i = Instance::new();
    let out = i.ok(&["subscribers", "add", "Leser@Bücher.DE", "--name", "Leser"]);
    assert!(out.contains("added Leser@xn--bcher-kva.de"), "{out}");
    let again = i.ok(&["subscribers", "add", "Leser@xn--bcher-kva.de"]);
    assert!(again.contains("already on the list"), "{again}");
    assert_eq!(i.query_scalar("SELECT count(*) FROM subscribers"), 1);
    for (input, reason) in [
        ("ada@example.org\r\nBcc: x@y.org", "line break"),
        ("\"Ada\" <ada@example.org>", "display name"),
        (&format!("{}@example.org", "a".repeat(65)), "longer than 64"),
        (&format!("a@{}.org", "b".repeat(250)), "longer than 254"),
        ("ada@bü\u{202e}cher.de", "internationalized"),
    ] {
        let err = i.fails(&["subscribers", "add", input]);
        assert!(err.contains(reason), "{input:?}: {err}");
    }
    assert_eq!(i.query_scalar("SELECT count(*) FROM subscribers"), 1);
}

#[test]
fn import_upserts_but_never_revives_and_records_consent() {
    let i = Instance::new();
    i.ok(&["subscribers", "add", "ada@example.org", "--name", "Ada"]);
    for (email, status) in [
        ("left@example.org", "unsubscribed"),
        ("dead@example.org", "bounced"),
        ("angry@example.org", "complained"),
    ] {
        i.ok(&["subscribers", "add", email]);
        i.execute(&format!(
            "UPDATE subscribers SET status = '{status}' WHERE email = '{email}'"
        ));
    }
    let csv = i.write(
        "list.csv",
        b"email,name,city\nada@example.org,Ada Lovelace,London\nleft@example.org,Left,\n\
          dead@example.org,,\nangry@example.org,,\nnew@example.org,New,Paris\nnew@EXAMPLE.org,Again,\n",
    );
    let out = i.ok(&[
        "subscribers",
        "import",
        csv.to_str().unwrap(),
        "--status",
        "pending",
    ]);
    assert!(
        out.contains(
            "6 row(s): 1 added, 1 updated, 0 unchanged, 3 skipped, 1 duplicate(s), 0 invalid"
        ),
        "{out}"
    );
    assert!(
        out.contains("list.csv:3: skipped left@example.org: unsubscribed"),
        "{out}"
    );
    assert!(
        out.contains("list.csv:4: skipped dead@example.org: bounced"),
        "{out}"
    );
    assert!(
        out.contains("list.csv:5: skipped angry@example.org: complained"),
        "{out}"
    );
    assert_eq!(i.subscriber_status("left@example.org"), "unsubscribed");
    assert_eq!(i.subscriber_status("dead@example.org"), "bounced");
    assert_eq!(i.subscriber_status("angry@example.org"), "complained");
    // An existing subscriber keeps their status; name and attributes follow the file.
    assert_eq!(i.subscriber_status("ada@example.org"), "active");
    assert_eq!(
        i.query_text(
            "SELECT name || ' ' || attributes FROM subscribers WHERE email = 'ada@example.org'"
        ),
        "Ada Lovelace {\"city\":\"London\"}"
    );
    assert_eq!(
        i.query_text(
            "SELECT status || ' ' || name || ' ' || consent_source || ' ' || attributes
             FROM subscribers WHERE email = 'new@example.org'"
        ),
        "pending New import {\"city\":\"Paris\"}",
        "the first row of a duplicated address wins"
    );
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM events WHERE kind = 'subscriber_updated'"),
        1
    );
    let stats = i.ok(&["subscribers", "stats"]);
    assert!(
        stats.contains("active 1  pending 1  unsubscribed 1  bounced 1  complained 1"),
        "{stats}"
    );
}

#[test]
fn a_bad_row_anywhere_leaves_the_list_exactly_as_before() {
    let i = Instance::new();
    i.ok(&["subscribers", "add", "ada@example.org", "--name", "Ada"]);
    let before = i.ok(&["subscribers", "export"]);
    // Thousands of good rows (several write rounds) and an update, then defects at the end.
    let mut csv = String::from("email,name\nada@example.org,Changed\n");
    for k in 0..5000 {
        csv.push_str(&format!("reader{k}@example.org,Reader {k}\n"));
    }
    csv.push_str("not-an-address,X\n\"unterminated@example.org,Y\nshort\n");
    let file = i.write("big.csv", csv.as_bytes());
    let err = i.fails(&["subscribers", "import", file.to_str().unwrap()]);
    assert!(
        err.contains("big.csv:5003: email \"not-an-address\""),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(i.ok(&["subscribers", "export"]), before);
    assert_eq!(
        i.query_scalar(
            "SELECT count(*) FROM events WHERE kind LIKE 'subscriber%' OR kind = 'subscribed'"
        ),
        1
    );

    // --dry-run reports what would happen and writes nothing.
    let good = i.write(
        "good.csv",
        b"email,name\nada@example.org,Changed\nnew@example.org,\n",
    );
    let dry = i.ok(&["subscribers", "import", good.to_str().unwrap(), "--dry-run"]);
    assert!(
        dry.contains("1 added, 1 updated") && dry.contains("nothing was written"),
        "{dry}"
    );
    assert_eq!(i.ok(&["subscribers", "export"]), before);

    // --skip-invalid takes the good rows and lists the others.
    let mixed = i.write(
        "mixed.csv",
        b"email,name,status\nok@example.org,,\nbroken,,\nfine@example.org,,active\nodd@example.org,,vip\n",
    );
    let out = i.ok(&[
        "subscribers",
        "import",
        mixed.to_str().unwrap(),
        "--skip-invalid",
    ]);
    assert!(out.contains("mixed.csv:3: email \"broken\""), "{out}");
    assert!(
        out.contains("mixed.csv:5: status: unknown status \"vip\""),
        "{out}"
    );
    assert!(out.contains("2 added"), "{out}");
    assert_eq!(i.query_scalar("SELECT count(*) FROM subscribers"), 3);
}

#[test]
fn csv_defects_are_named_by_line() {
    let i = Instance::new();
    for (contents, expected) in [
        (
            &b"address,name\nx@example.org,X\n"[..],
            "x.csv:1: the header row has no `email` column",
        ),
        (
            b"email,email\nx@example.org,y@example.org\n",
            "x.csv:1: column \"email\" appears twice",
        ),
        (
            b"email,name\nx@example.org,X,extra\n",
            "x.csv:2: expected 2 fields like the header, found 3",
        ),
        (
            b"email,name\nx@example.org,\xff\xfe\n",
            "x.csv:2: not valid UTF-8",
        ),
        (
            b"email,consent_at\nx@example.org,yesterday\n",
            "x.csv:2: consent_at: \"yesterday\" is not an RFC 3339 time",
        ),
        (
            b"email,consent_ip\nx@example.org,300.1.1.1\n",
            "x.csv:2: consent_ip: \"300.1.1.1\" is not an IP address",
        ),
        (
            b"email,name\nx@example.org,\"two\nlines\"\n",
            "x.csv:2: name: must be one line",
        ),
    ] {
        let file = i.write("x.csv", contents);
        let err = i.fails(&["subscribers", "import", file.to_str().unwrap()]);
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
    assert_eq!(i.query_scalar("SELECT count(*) FROM subscribers"), 0);
    let missing = i.fails(&["subscribers", "import", "/nonexistent/list.csv"]);
    assert!(
        missing.contains("/nonexistent/list.csv: cannot open"),
        "{missing}"
    );
}

#[test]
fn an_export_imports_back_into_the_same_list() {
    let i = Instance::new();
    let csv = i.write(
        "list.csv",
        "\u{feff}email,name,status,consent_source,consent_at,consent_ip,company,note\r\n\
         ada@example.org,\"Lovelace, Ada\",active,form,2025-03-01T10:00:00Z,203.0.113.9,Analytical,\r\n\
         bob@example.org,=HYPERLINK(\"http://evil.example\"),pending,,,,,+1 cell\r\n\
         carol@example.org,Carol,unsubscribed,,,,@corp,\r\n"
            .as_bytes(),
    );
    i.ok(&["subscribers", "import", csv.to_str().unwrap()]);
    let exported = i.ok(&["subscribers", "export"]);
    assert!(
        exported
            .starts_with("email,name,status,consent_source,consent_at,consent_ip,company,note\n"),
        "{exported}"
    );
    assert!(
        exported.contains("bob@example.org,\"'=HYPERLINK(\"\"http://evil.example\"\")\",pending"),
        "a formula stays text in a spreadsheet: {exported}"
    );
    assert!(
        exported.contains("ada@example.org,\"Lovelace, Ada\",active,form,2025-03-01T10:00:00.000Z,203.0.113.9,Analytical,"),
        "{exported}"
    );
    assert_eq!(
        i.query_text("SELECT name FROM subscribers WHERE email = 'bob@example.org'"),
        "=HYPERLINK(\"http://evil.example\")",
        "stored as the text it was"
    );

    let copy = Instance::new();
    let file = copy.write("export.csv", exported.as_bytes());
    copy.ok(&["subscribers", "import", file.to_str().unwrap()]);
    assert_eq!(copy.ok(&["subscribers", "export"]), exported);
    let active = i.ok(&["subscribers", "export", "--status", "active"]);
    assert_eq!(active.lines().count(), 2, "{active}");
}

#[test]
fn list_search_and_remove() {
    let i = Instance::new();
    let csv = i.write(
        "list.csv",
        b"email,name\nada@example.org,Ada Lovelace\ngrace@example.com,Grace Hopper\nalan@example.net,Alan Turing\n",
    );
    i.ok(&["subscribers", "import", csv.to_str().unwrap()]);
    i.ok(&["subscribers", "unsubscribe", "alan@example.net"]);
    let all = i.ok(&["subscribers", "list"]);
    assert_eq!(all.lines().count(), 3, "{all}");
    let active = i.ok(&["subscribers", "list", "--status", "active"]);
    assert!(!active.contains("alan@"), "{active}");
    let found = i.ok(&["subscribers", "list", "--search", "HOPPER"]);
    assert_eq!(found.lines().count(), 1);
    assert!(found.contains("grace@example.com"), "{found}");
    let wildcard = i.ok(&["subscribers", "list", "--search", "%"]);
    assert_eq!(
        wildcard.lines().count(),
        0,
        "% is text, not a wildcard: {wildcard}"
    );
    assert_eq!(
        i.ok(&["subscribers", "list", "--limit", "2"])
            .lines()
            .count(),
        2
    );

    let out = i.ok(&["subscribers", "remove", "alan@example.net"]);
    assert!(out.contains("removed (was unsubscribed)"), "{out}");
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM subscribers WHERE email = 'alan@example.net'"),
        0
    );
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM events WHERE kind = 'subscriber_removed' AND subscriber_id IS NULL"),
        1
    );
    // Gone, and no import or add brings the address back.
    let again = i.write("again.csv", b"email\nalan@example.net\nnew@example.org\n");
    let out = i.ok(&["subscribers", "import", again.to_str().unwrap()]);
    assert!(
        out.contains("again.csv:2: skipped alan@example.net: erased"),
        "{out}"
    );
    assert!(
        i.fails(&["subscribers", "add", "alan@example.net"])
            .contains("removed from the list on request")
    );
    assert!(
        i.fails(&["subscribers", "remove", "nobody@example.org"])
            .contains("not on the list")
    );
}

#[test]
fn attributes_fill_template_placeholders_per_subscriber() {
    let i = Instance::new();
    let dir = i.db_path().parent().unwrap().join("templates");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["issue.mjml", "issue.txt"] {
        let original = std::fs::read_to_string(crate::helpers::repo_path(&format!(
            "email-templates/{name}"
        )))
        .unwrap();
        let changed = original.replacen(
            "Hi {{ subscriber.name }},",
            "Hi {{ subscriber.name }} from {{ subscriber.attributes.city }}{{ subscriber.attributes.missing }},",
            1,
        );
        assert_ne!(changed, original, "{name} has the greeting");
        std::fs::write(dir.join(name), changed).unwrap();
    }
    i.reconfigure(&format!(
        "[newsletter]\ntemplates_dir = \"{}\"\n",
        dir.display()
    ));
    let app = i.spawn_app();
    app.queue_sample("email,name,city\nada@example.org,Ada,London\nbob@example.org,Bob,<b>Paris</b> & Co\ncarl@example.org,Carl,\n");
    app.deliver_all();
    let mut greetings = Vec::new();
    for entry in std::fs::read_dir(app.outbox()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let message = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        let text = message.body_text(0).unwrap().into_owned();
        let html = message.body_html(0).unwrap().into_owned();
        let greeting = text
            .lines()
            .find(|l| l.starts_with("Hi "))
            .unwrap()
            .to_string();
        let collapsed = html.split_whitespace().collect::<Vec<_>>().join(" ");
        greetings.push((greeting, collapsed));
    }
    greetings.sort();
    assert_eq!(greetings.len(), 3);
    assert_eq!(greetings[0].0, "Hi Ada from London,");
    assert_eq!(
        greetings[1].0, "Hi Bob from <b>Paris</b> & Co,",
        "plain text is not escaped"
    );
    assert!(
        greetings[1]
            .1
            .contains("Hi Bob from &lt;b&gt;Paris&lt;/b&gt; &amp; Co,"),
        "HTML is escaped"
    );
    assert_eq!(
        greetings[2].0, "Hi Carl from ,",
        "no attribute: nothing filled in"
    );
}

/// A dry run and the real import count the same, also when an address comes back in a
/// later chunk of the file (each chunk is its own transaction).
#[test]
fn a_dry_run_counts_what_the_import_then_does() {
    let i = Instance::new();
    i.ok(&["subscribers", "add", "reader7@example.org"]);
    let mut csv = String::from("email,name\n");
    for k in 0..4500 {
        csv.push_str(&format!("reader{k}@example.org,Reader {k}\n"));
    }
    csv.push_str("reader3@example.org,Again\nreader4000@Example.ORG,Again\n");
    let file = i.write("list.csv", csv.as_bytes());
    let summary =
        "4502 row(s): 4499 added, 1 updated, 0 unchanged, 0 skipped, 2 duplicate(s), 0 invalid";
    let dry = i.ok(&["subscribers", "import", file.to_str().unwrap(), "--dry-run"]);
    assert!(dry.contains(summary), "{dry}");
    assert_eq!(i.query_scalar("SELECT count(*) FROM subscribers"), 1);
    let real = i.ok(&["subscribers", "import", file.to_str().unwrap()]);
    assert!(real.contains(summary), "{real}");
    assert_eq!(i.query_scalar("SELECT count(*) FROM subscribers"), 4500);
    assert_eq!(
        i.query_text("SELECT name FROM subscribers WHERE email = 'reader3@example.org'"),
        "Reader 3",
        "the first row of an address wins"
    );
}

/// A hostile header row: too many columns, or columns with absurd names, are refused with
/// the row named, before any work per column.
#[test]
fn a_huge_header_row_is_refused_with_its_row() {
    let i = Instance::new();
    let mut wide = String::from("email");
    for k in 0..80_000 {
        wide.push_str(&format!(",c{k}"));
    }
    wide.push('\n');
    let file = i.write("wide.csv", wide.as_bytes());
    let err = i.fails(&["subscribers", "import", file.to_str().unwrap()]);
    assert!(
        err.contains("wide.csv:1: the header row is longer than 256 KiB"),
        "{err}"
    );

    // 10 MB of one-letter columns; one column name of 10 MB.
    let flood = format!("email,{}\n", "a,".repeat(5_000_000));
    let long = format!("email,{}\nada@example.org,x\n", "n".repeat(10 << 20));
    for (name, text) in [("flood.csv", flood), ("long.csv", long)] {
        let file = i.write(name, text.as_bytes());
        let err = i.fails(&["subscribers", "import", file.to_str().unwrap()]);
        assert!(
            err.contains(&format!("{name}:1: the header row is longer than")),
            "{err}"
        );
    }

    // Short enough, but too many columns, or a name too long for an attribute.
    let mut narrow = String::from("email");
    for k in 0..1500 {
        narrow.push_str(&format!(",{k}"));
    }
    narrow.push('\n');
    let file = i.write("narrow.csv", narrow.as_bytes());
    let err = i.fails(&["subscribers", "import", file.to_str().unwrap()]);
    assert!(
        err.contains("narrow.csv:1: the header row has 1501 columns; at most 1000"),
        "{err}"
    );
    let named = format!("email,{}\nada@example.org,x\n", "n".repeat(101));
    let file = i.write("named.csv", named.as_bytes());
    let err = i.fails(&["subscribers", "import", file.to_str().unwrap()]);
    assert!(
        err.contains("named.csv:1: column 2's name is longer than 100 characters"),
        "{err}"
    );

    // The most allowed, with a repeat at the very end: found without comparing all pairs.
    let mut many = String::from("email");
    for k in 1..999 {
        many.push_str(&format!(",c{k}"));
    }
    many.push_str(",C1\nada@example.org");
    many.push_str(&",x".repeat(999));
    many.push('\n');
    let file = i.write("many.csv", many.as_bytes());
    let err = i.fails(&["subscribers", "import", file.to_str().unwrap()]);
    assert!(
        err.contains("many.csv:1: column \"c1\" appears twice in the header row"),
        "{err}"
    );
    assert_eq!(i.query_scalar("SELECT count(*) FROM subscribers"), 0);
}
