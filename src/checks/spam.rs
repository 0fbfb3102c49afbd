//! SpamAssassin's score of the delivered message, where `spamassassin` is installed: its
//! local rules only (`-L`: no DNS blocklists or other network tests, which would need this
//! host's network and vary by the hour), in test mode (`-t`: the report is added to the
//! message, nothing is learned).

use std::io::Write as _;
use std::process::{Command, Stdio};

use super::report::{Finding, SpamScore};

/// At or above the required score the message is an error (SpamAssassin's own verdict);
/// above half of it, a warning.
pub async fn score(eml: Vec<u8>) -> (Finding, Option<SpamScore>) {
    let run = tokio::task::spawn_blocking(move || run(&eml)).await;
    let output = match run {
        Ok(Ok(Some(out))) => out,
        Ok(Ok(None)) => {
            return (
                Finding::ok(
                    "spamassassin",
                    "skipped: spamassassin is not installed (Debian: apt-get install spamassassin)",
                ),
                None,
            );
        }
        Ok(Err(e)) => return (Finding::warning("spamassassin", e), None),
        Err(e) => return (Finding::warning("spamassassin", e.to_string()), None),
    };
    let Some(verdict) = parse(&output) else {
        return (
            Finding::warning("spamassassin", "no X-Spam-Status in spamassassin's output"),
            None,
        );
    };
    let rules = if verdict.rules.is_empty() {
        "no rule fired".to_string()
    } else {
        format!("rules: {}", verdict.rules.join(", "))
    };
    let message = format!(
        "score {:.1} of {:.1} required ({rules})",
        verdict.score, verdict.required
    );
    let finding = if verdict.score >= verdict.required {
        Finding::error("spamassassin", message)
    } else if verdict.score >= verdict.required / 2.0 {
        Finding::warning("spamassassin", message)
    } else {
        Finding::ok("spamassassin", message)
    };
    (finding, Some(verdict))
}

/// The marked-up message, or `None` when spamassassin is not installed.
fn run(eml: &[u8]) -> Result<Option<String>, String> {
    let child = Command::new("spamassassin")
        .args(["-L", "-t"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("starting spamassassin: {e}")),
    };
    // spamassassin reads the whole message before it writes anything, so writing all of it
    // first cannot block on a full output pipe.
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(eml)
            .map_err(|e| format!("writing to spamassassin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("running spamassassin: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "spamassassin failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Reads `X-Spam-Status: No, score=-0.0 required=5.0 tests=A,B,\n\tC autolearn=…`, which
/// spamassassin folds over several lines.
pub fn parse(output: &str) -> Option<SpamScore> {
    let headers = output.split("\r\n\r\n").next()?.split("\n\n").next()?;
    let status: String = headers
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .skip_while(|l| !l.starts_with("X-Spam-Status:"))
        .enumerate()
        .take_while(|(n, l)| *n == 0 || l.starts_with([' ', '\t']))
        .map(|(_, l)| l.trim())
        .collect::<Vec<_>>()
        .join(" ");
    let field = |name: &str| -> Option<f64> {
        status
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))?
            .parse()
            .ok()
    };
    let score = field("score=")?;
    let required = field("required=")?;
    let tests = status
        .split_once("tests=")
        .map(|(_, rest)| rest.split(" autolearn=").next().unwrap_or(rest))
        .unwrap_or_default();
    let rules = tests
        .split(',')
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty() && r != "none")
        .collect();
    Some(SpamScore {
        score,
        required,
        rules,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_folded_status_header() {
        let out = "From: a@b\r\nX-Spam-Status: No, score=1.2 required=5.0 tests=HTML_MESSAGE,\r\n\tMIME_HTML_ONLY autolearn=no\r\n\r\nbody X-Spam-Status: Yes";
        let v = super::parse(out).unwrap();
        assert_eq!(v.score, 1.2);
        assert_eq!(v.required, 5.0);
        assert_eq!(v.rules, ["HTML_MESSAGE", "MIME_HTML_ONLY"]);
    }
}
