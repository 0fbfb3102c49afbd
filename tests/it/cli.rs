//! The command line itself: help everywhere, configuration layering, bad configuration.

use crate::helpers::{Instance, mailroom_command};

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["issue"],
        &["issue", "import"],
        &["issue", "list"],
        &["issue", "show"],
        &["issue", "finalize"],
        &["issue", "preview"],
        &["issue", "send"],
        &["subscribers"],
        &["subscribers", "add"],
        &["subscribers", "import"],
        &["subscribers", "stats"],
        &["subscribers", "show"],
        &["subscribers", "unsubscribe"],
        &["ingest"],
        &["bounces"],
        &["bounces", "parse"],
        &["send"],
        &["send", "status"],
        &["send", "pause"],
        &["send", "resume"],
        &["send", "cancel"],
        &["worker"],
        &["serve"],
        &["db"],
        &["db", "backup"],
        &["db", "check"],
    ];
    for args in commands {
        let out = mailroom_command(dir.path())
            .args(*args)
            .arg("--help")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?} --help failed");
        assert!(stdout.contains("Usage: mailroom"), "{args:?}: {stdout}");
    }
}

#[test]
fn environment_overrides_the_config_file() {
    let i = Instance::new();
    let other_db = i.dir.path().join("from-env.db");
    let out = mailroom_command(i.dir.path())
        .arg("--config")
        .arg(&i.config)
        .env("MAILROOM_DATABASE__PATH", &other_db)
        .args(["subscribers", "add", "env@example.org"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(other_db.exists(), "the environment chose the database file");
    assert!(
        !i.db_path().exists(),
        "the config file's database was not used"
    );
}

#[test]
fn bad_configuration_names_the_setting() {
    let i = Instance::with_config("[delivery]\ntransport = \"carrier-pigeon\"\n");
    let err = i.fails(&["issue", "list"]);
    assert!(err.contains("transport"), "{err}");

    let i = Instance::with_config("[newsletter]\nbase_url = \"ftp://x\"\n");
    assert!(i.fails(&["issue", "list"]).contains("newsletter.base_url"));

    let i = Instance::with_config("[nonsense]\nkey = 1\n");
    assert!(i.fails(&["issue", "list"]).contains("nonsense"));

    let dir = tempfile::tempdir().unwrap();
    let out = mailroom_command(dir.path())
        .args(["--config", "missing.toml", "issue", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml does not exist"));
}
