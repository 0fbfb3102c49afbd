//! The delivered sample issue as SpamAssassin (Debian's package, local rules only) scores it.

use std::path::Path;
use std::process::Command;

use crate::app::spawn_app;

/// SpamAssassin's verdict on one message: its score and the rules that fired, with the
/// report that explains them.
struct Verdict {
    score: f64,
    rules: Vec<String>,
    report: String,
}

/// Runs `spamassassin -L -t` (local tests only: no DNS, no network checks) on a message.
fn spamassassin(message: &Path, home: &Path) -> Verdict {
    let out = Command::new("spamassassin")
        .args(["-L", "-t"])
        .stdin(std::fs::File::open(message).unwrap())
        // It writes user preferences under $HOME on first use; keep them in the scratch dir.
        .env("HOME", home)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "spamassassin is required (`apt-get install spamassassin`, .ci/run does this): {e}"
            )
        });
    assert!(
        out.status.success(),
        "spamassassin failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // The folded `X-Spam-Status:` header, read as `issue check` reads it.
    let status = mailroom::checks::parse_spam_status(&stdout)
        .unwrap_or_else(|| panic!("no score in X-Spam-Status:\n{stdout}"));
    let report = stdout
        .split_once("Content analysis details:")
        .map(|(_, r)| r.to_string())
        .unwrap_or(stdout);
    Verdict {
        score: status.score,
        rules: status.rules,
        report,
    }
}

#[test]
fn the_delivered_sample_issue_does_not_look_like_spam() {
    let app = spawn_app();
    app.queue_sample("email,name\nada@example.org,Ada Lovelace\n");
    app.deliver_all();
    let message = std::fs::read_dir(app.outbox())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "eml"))
        .expect("a delivered message in the outbox");

    let verdict = spamassassin(&message, app.dir.path());
    println!(
        "SpamAssassin: score {} rules {:?}\n{}",
        verdict.score, verdict.rules, verdict.report
    );
    assert!(
        !verdict.rules.is_empty(),
        "the parse found the rules (HTML_MESSAGE fires on any HTML mail)"
    );
    assert!(
        verdict.score <= 0.0,
        "the sample issue scores {} with {:?}:\n{}",
        verdict.score,
        verdict.rules,
        verdict.report
    );
    // The hidden preheader must not be hidden by colouring it like the background.
    assert!(
        !verdict.rules.iter().any(|r| r == "HTML_FONT_LOW_CONTRAST"),
        "{:?}",
        verdict.rules
    );
}
