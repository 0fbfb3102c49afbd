//! Line helpers shared by the readers of free-text bounce notices (`text`) and of the
//! body of a report (`body`): which address a line is about, and the paragraph about it.

use super::fields::first_address;

/// The address a line starts with, if the line is about that address: `<a@b>: …`,
/// `a@b`, `a@b... User unknown`, `"a@b"`, `Recipient: a@b`.
pub fn anchor(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    for prefix in [
        "recipient address:",
        "recipient:",
        "failed recipient:",
        "original recipient:",
        "address:",
        "rcpt:",
        "rcpt to:",
        "* ",
        "- ",
        "to:",
    ] {
        if let Some(head) = rest.get(..prefix.len())
            && head.eq_ignore_ascii_case(prefix)
        {
            rest = rest[prefix.len()..].trim_start();
            break;
        }
    }
    let rest = rest.trim_start_matches(['<', '"', '\'', '(', '[']);
    let word_end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '>' | '"' | '\'' | ')' | ']' | ','))
        .unwrap_or(rest.len());
    let word = rest[..word_end].trim_end_matches([':', '.', ';']);
    let address = first_address(word)?;
    // The whole leading word must be the address, not e.g. a URL that contains one.
    if word.to_ascii_lowercase() != address {
        return None;
    }
    // `display@name <real@address>`: the bracketed one is where the mail went.
    let after = rest[word_end..]
        .trim_start_matches(['>', '"', '\''])
        .trim_start();
    match after.strip_prefix('<').and_then(|a| a.split_once('>')) {
        Some((inner, _)) => Some(first_address(inner).unwrap_or(address)),
        None => Some(address),
    }
}

/// Lines of a block up to its second paragraph break: the address line, the reply,
/// and the paragraph after it (Exim and qmail put the reply there) — not the boilerplate
/// that closes a notice.
pub fn paragraph(lines: &[&str]) -> String {
    let mut out = Vec::new();
    let mut breaks = 0;
    let mut seen_text = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            if seen_text && i > 0 {
                breaks += 1;
                if breaks >= 2 {
                    break;
                }
            }
            continue;
        }
        seen_text = true;
        out.push(*line);
    }
    out.join("\n")
}
