//! DKIM signatures checked by an independent verifier (Python's dkimpy, key given directly).

use std::path::Path;
use std::process::Command;

use crate::app::{TestApp, spawn_app_with};
use crate::helpers::{Instance, repo_path};

/// Runs dkimpy on a message; returns its JSON report.
fn verify(message: &Path, record: &str) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(repo_path("tests/dkim_verify.py"))
        .arg(message)
        .arg(record)
        .output()
        .expect("python3 is installed");
    assert!(
        out.status.success(),
        "dkimpy failed (.ci/run installs it: pip install dkimpy pynacl): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn rsa_key(dir: &Path) -> (String, String) {
    let key = dir.join("rsa.pem");
    let ok = Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .unwrap();
    assert!(ok.status.success());
    let public = Command::new("openssl")
        .args(["rsa", "-pubout", "-outform", "DER", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(public.status.success());
    let p = data_encoding::BASE64.encode(&public.stdout);
    (
        std::fs::read_to_string(&key).unwrap(),
        format!("v=DKIM1; k=rsa; p={p}"),
    )
}

fn ed25519_key() -> (String, String) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import base64, nacl.signing; k = nacl.signing.SigningKey.generate(); \
             print(base64.b64encode(bytes(k)).decode()); print(base64.b64encode(bytes(k.verify_key)).decode())",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let seed = lines.next().unwrap().to_string();
    let public = lines.next().unwrap();
    (seed, format!("v=DKIM1; k=ed25519; p={public}"))
}

fn signed_message(algorithm: &str, key_file: &Path) -> (TestApp, std::path::PathBuf) {
    let app = spawn_app_with(&format!(
        "[dkim]\nselector = \"mr2026\"\nalgorithm = \"{algorithm}\"\nprivate_key_file = \"{}\"\n",
        key_file.display()
    ));
    app.queue_sample("email,name\nada@example.org,Ada Lovelace\n");
    app.deliver_all();
    let file = std::fs::read_dir(app.outbox())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    (app, file)
}

/// The headers a receiver shows or acts on. Each is named in `h=` once more than the
/// message carries it, so that a copy added in transit breaks the signature.
const OVERSIGNED: &[&str] = &[
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
];

fn check(report: &serde_json::Value, algorithm: &str) {
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["algorithm"], algorithm);
    assert_eq!(report["domain"], "newsletter.example.org");
    assert_eq!(report["selector"], "mr2026");
    let headers: Vec<&str> = report["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    let named = |name: &str| headers.iter().filter(|h| **h == name).count();
    for oversigned in OVERSIGNED {
        assert_eq!(
            named(oversigned),
            2,
            "{oversigned} is named twice (the message has one): {headers:?}"
        );
    }
    for once in ["list-id", "feedback-id", "mime-version"] {
        assert_eq!(named(once), 1, "{once} signed once: {headers:?}");
    }
}

/// A header line as a relay would add it: above everything else.
fn prepend(dir: &Path, message: &str, line: &str) -> std::path::PathBuf {
    let path = dir.join("added.eml");
    std::fs::write(&path, format!("{line}\r\n{message}")).unwrap();
    path
}

#[test]
fn rsa_signatures_verify_and_tampering_breaks_them() {
    let dir = tempfile::tempdir().unwrap();
    let (key, record) = rsa_key(dir.path());
    let key_file = dir.path().join("dkim.pem");
    std::fs::write(&key_file, key).unwrap();
    let (_i, message) = signed_message("rsa", &key_file);
    check(&verify(&message, &record), "rsa-sha256");

    let tampered = dir.path().join("tampered.eml");
    let text = std::fs::read_to_string(&message).unwrap();
    std::fs::write(
        &tampered,
        text.replace(
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "List-Unsubscribe-Post: nope",
        ),
    )
    .unwrap();
    assert_eq!(
        verify(&tampered, &record)["verified"],
        false,
        "a changed signed header fails"
    );
    let body_changed = dir.path().join("body.eml");
    std::fs::write(&body_changed, text.replace("Hi Ada Lovelace,", "Hi Eve,")).unwrap();
    assert_eq!(
        verify(&body_changed, &record)["verified"],
        false,
        "a changed body fails"
    );

    // A header nobody signs may be added (relays add Received and the like) ...
    let received = prepend(
        dir.path(),
        &text,
        "Received: from relay.example.net by mx.example.org",
    );
    assert_eq!(verify(&received, &record)["verified"], true);
    // ... but a second copy of a signed one, where a reader would see it first, may not.
    for added in [
        "From: \"Deep Learning Weekly\" <newsletter@evil.example>",
        "To: eve@evil.example",
        "Subject: Your account is locked",
        "Date: Mon, 01 Jan 2001 00:00:00 +0000",
        "Message-ID: <forged@evil.example>",
        "List-Unsubscribe: <https://evil.example/u>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    ] {
        let report = verify(&prepend(dir.path(), &text, added), &record);
        assert_eq!(report["verified"], false, "added `{added}`: {report}");
    }
}

#[test]
fn ed25519_signatures_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (seed, record) = ed25519_key();
    let key_file = dir.path().join("dkim.key");
    std::fs::write(&key_file, seed).unwrap();
    let (_i, message) = signed_message("ed25519", &key_file);
    check(&verify(&message, &record), "ed25519-sha256");
}

#[test]
fn a_bad_key_is_refused_at_start_up_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("garbage.pem");
    std::fs::write(&key_file, "not a key").unwrap();
    let i = Instance::with_config(&format!(
        "[dkim]\nselector = \"s\"\nprivate_key_file = \"{}\"\n",
        key_file.display()
    ));
    let err = i.fails(&["issue", "list"]);
    assert!(err.contains("dkim: the private key does not load"), "{err}");
    let missing = Instance::with_config("[dkim]\nselector = \"s\"\n");
    assert!(
        missing
            .fails(&["issue", "list"])
            .contains("there is no key")
    );
}
