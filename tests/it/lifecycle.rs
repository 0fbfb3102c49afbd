//! Issue store and lifecycle through the CLI, against a real SQLite file.

use crate::helpers::{Instance, Sql, repo_path};

fn sample() -> String {
    repo_path("samples/issue-210.md").display().to_string()
}

#[test]
fn import_list_show_and_reimport_a_draft() {
    let i = Instance::new();
    let out = i.ok(&["issue", "import", &sample()]);
    assert!(
        out.contains("issue #210 imported as draft: 5 sections, 20 items"),
        "{out}"
    );
    let list = i.ok(&["issue", "list"]);
    assert!(list.contains("#210") && list.contains("draft"), "{list}");
    let show = i.ok(&["issue", "show", "210"]);
    assert!(show.contains("## Papers & Publications"), "{show}");
    assert!(show.contains("(draft: not frozen)"), "{show}");

    assert!(i.ok(&["issue", "import", &sample()]).contains("unchanged"));
    let edited = std::fs::read_to_string(sample())
        .unwrap()
        .replace("Hey folks,", "Hello all,");
    let file = i.write("edited.md", edited.as_bytes());
    assert!(
        i.ok(&["issue", "import", file.to_str().unwrap()])
            .contains("updated as draft")
    );
    let json = i.ok(&["issue", "show", "210", "--json"]);
    let stored: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(stored["intro"].as_str().unwrap().starts_with("Hello all,"));
    assert_eq!(i.query_scalar("SELECT count(*) FROM issues"), 1);
    assert_eq!(
        i.query_scalar(
            "SELECT count(*) FROM events WHERE kind IN ('issue_imported', 'issue_updated')"
        ),
        2
    );
}

#[test]
fn finalize_freezes_the_content() {
    let i = Instance::new();
    i.ok(&["issue", "import", &sample()]);
    let out = i.ok(&["issue", "finalize", "210"]);
    let hash = out.trim().rsplit(' ').next().unwrap().to_string();
    assert_eq!(hash.len(), 64, "{out}");
    assert!(i.ok(&["issue", "show", "210"]).contains(&hash));
    assert!(
        i.ok(&["issue", "finalize", "210"])
            .contains("already finalized")
    );

    let edited = std::fs::read_to_string(sample())
        .unwrap()
        .replace("Hey folks,", "Changed,");
    let file = i.write("edited.md", edited.as_bytes());
    let err = i.fails(&["issue", "import", file.to_str().unwrap()]);
    assert!(
        err.contains("issue #210 is finalized: its content is frozen"),
        "{err}"
    );
    let json = i.ok(&["issue", "show", "210", "--json"]);
    assert!(
        json.contains("Hey folks,"),
        "content unchanged after the refused import"
    );
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM events WHERE kind = 'issue_finalized'"),
        1
    );
}

#[test]
fn sending_requires_a_finalized_issue_and_subscribers() {
    let i = Instance::new();
    assert!(
        i.fails(&["issue", "send", "999"])
            .contains("there is no issue #999")
    );
    i.ok(&["issue", "import", &sample()]);
    assert!(
        i.fails(&["issue", "send", "210"])
            .contains("is a draft; finalize it first")
    );
    i.ok(&["issue", "finalize", "210"]);
    assert!(
        i.fails(&["issue", "send", "210"])
            .contains("no active subscribers")
    );
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM sends"),
        0,
        "a refused send writes nothing"
    );
    i.ok(&["subscribers", "add", "ada@example.org", "--name", "Ada"]);
    assert!(
        i.ok(&["issue", "send", "210"])
            .contains("queued for 1 subscriber")
    );
    assert!(
        i.fails(&["issue", "send", "210"])
            .contains("already sending")
    );
    assert_eq!(i.query_scalar("SELECT count(*) FROM deliveries"), 1);
}

#[test]
fn subscribers_are_validated_and_imported_all_or_nothing() {
    let i = Instance::new();
    assert!(
        i.ok(&["subscribers", "add", "Ada@Example.ORG", "--name", "Ada"])
            .contains("added Ada@example.org")
    );
    assert!(
        i.ok(&["subscribers", "add", "Ada@example.org"])
            .contains("already on the list")
    );
    assert!(
        i.fails(&["subscribers", "add", "not-an-address"])
            .contains("not a valid email address")
    );
    assert!(
        i.fails(&["subscribers", "add", "Eve <eve@example.org>"])
            .contains("display name")
    );

    let bad = i.write(
        "bad.csv",
        b"email,name\nok@example.org,OK\nbroken,B\nalso@bad,C\n",
    );
    let err = i.fails(&["subscribers", "import", bad.to_str().unwrap()]);
    assert!(err.contains("bad.csv:3: email \"broken\""), "{err}");
    assert!(err.contains("bad.csv:4: email \"also@bad\""), "{err}");
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM subscribers"),
        1,
        "nothing imported"
    );

    let no_header = i.write("nohdr.csv", b"address\nx@example.org\n");
    assert!(
        i.fails(&["subscribers", "import", no_header.to_str().unwrap()])
            .contains("no `email` column")
    );

    let good = i.write(
        "good.csv",
        "\u{feff}email,name\r\nAda@EXAMPLE.org,Dup\r\n\"grace@example.com\",\"Hopper, Grace\"\r\nalan@example.net,\r\n".as_bytes(),
    );
    let out = i.ok(&["subscribers", "import", good.to_str().unwrap()]);
    assert!(
        out.contains("3 row(s): 2 added, 1 updated, 0 unchanged"),
        "{out}"
    );
    assert!(i.ok(&["subscribers", "stats"]).contains("active 3"));
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM subscribers WHERE name = 'Hopper, Grace'"),
        1,
        "quoted field with a comma"
    );
    assert_eq!(
        i.query_scalar("SELECT count(*) FROM events WHERE kind = 'subscribed'"),
        3
    );
}
