//! Codes and commands found in a server's words: SMTP reply codes (`550`), RFC 3463
//! enhanced status codes (`5.1.1`) and which SMTP command was refused.

/// The SMTP command a remote server refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Connect,
    Helo,
    MailFrom,
    RcptTo,
    Data,
}

/// A bare SMTP reply code: three digits starting 2, 4 or 5 (`550`).
pub fn is_reply_code(word: &str) -> bool {
    word.len() == 3
        && word.bytes().all(|b| b.is_ascii_digit())
        && matches!(word.as_bytes()[0], b'2' | b'4' | b'5')
}

/// The status code to report: the declared one (a DSN's Status field, else the first in
/// the text), unless it is a generic `x.y.0` summary and the text holds a more precise code
/// of the same class — the remote server's own, preferably not generic itself.
pub fn best_status(declared: Option<String>, text: &str) -> Option<String> {
    let mut in_text = Vec::new();
    let mut rest = text;
    while let Some(code) = find_status(rest) {
        let Some(at) = rest.find(code.as_str()) else {
            break;
        };
        rest = &rest[at + code.len()..];
        in_text.push(code);
    }
    let declared = declared.or_else(|| in_text.first().cloned())?;
    if !declared.ends_with(".0") {
        return Some(declared);
    }
    let candidates: Vec<String> = in_text
        .into_iter()
        .filter(|t| *t != declared && t.get(..1) == declared.get(..1))
        .collect();
    let precise = candidates
        .iter()
        .find(|t| !t.ends_with(".0"))
        .or(candidates.first())
        .cloned();
    Some(precise.unwrap_or(declared))
}

/// The first RFC 3463 code in a text (`5.1.1`, `#4.4.7`), skipping dotted numbers that
/// are IP addresses or versions.
pub fn find_status(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.');
        if boundary && matches!(c, b'2' | b'4' | b'5') && bytes.get(i + 1) == Some(&b'.') {
            let (subject, after_subject) = digits(bytes, i + 2, 3);
            if subject > 0 && bytes.get(after_subject) == Some(&b'.') {
                let (detail, end) = digits(bytes, after_subject + 1, 3);
                let clean_end = bytes.get(end).is_none_or(|b| {
                    !(b.is_ascii_alphanumeric()
                        || *b == b'.' && bytes.get(end + 1).is_some_and(u8::is_ascii_digit))
                });
                if detail > 0 && clean_end {
                    return Some(text[i..end].to_string());
                }
            }
        }
        i += 1;
    }
    None
}

/// `(count of digits, index after them)`, reading at most `max` digits.
fn digits(bytes: &[u8], from: usize, max: usize) -> (usize, usize) {
    let n = bytes
        .iter()
        .skip(from)
        .take(max + 1)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if n > max { (0, from) } else { (n, from + n) }
}

/// The first SMTP reply code in a text: three digits starting 2, 4 or 5, standing alone
/// or followed by `-`.
pub fn find_reply_code(text: &str) -> Option<u16> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(2)).find_map(|i| {
        let before_ok = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || matches!(bytes[i - 1], b'.' | b'-' | b':' | b'#' | b'/'));
        let code = &bytes[i..i + 3];
        let after_ok = bytes
            .get(i + 3)
            .is_none_or(|b| matches!(b, b' ' | b'-' | b'\n' | b'\t' | b')' | b']'));
        (before_ok
            && after_ok
            && matches!(code[0], b'2' | b'4' | b'5')
            && code[1..].iter().all(u8::is_ascii_digit)
            && code[1] <= b'5')
            .then(|| {
                u16::from(code[0] - b'0') * 100
                    + u16::from(code[1] - b'0') * 10
                    + u16::from(code[2] - b'0')
            })
    })
}

/// Which SMTP command a notice says was refused. A session transcript (`>>> DATA`,
/// `<<< 550 …`) is read first: the refused command is the last one sent before the first
/// error reply.
pub fn find_command(text: &str) -> Option<Command> {
    let lower = text.to_ascii_lowercase();
    transcript_command(&lower).or_else(|| mentioned_command(&lower))
}

fn transcript_command(lower: &str) -> Option<Command> {
    let mut last_sent = None;
    for line in lower.lines().map(str::trim_start) {
        if let Some(sent) = line.strip_prefix(">>>") {
            last_sent = Some(sent.trim_start());
        } else if let Some(reply) = line.strip_prefix("<<<")
            && reply.trim_start().starts_with(['4', '5'])
        {
            return last_sent.and_then(sent_command);
        }
    }
    None
}

fn sent_command(line: &str) -> Option<Command> {
    let verb = line.split([' ', ':']).next().unwrap_or_default();
    Some(match verb {
        "mail" => Command::MailFrom,
        "rcpt" => Command::RcptTo,
        "data" | "." => Command::Data,
        "helo" | "ehlo" => Command::Helo,
        _ => return mentioned_command(line),
    })
}

fn mentioned_command(lower: &str) -> Option<Command> {
    const TABLE: &[(&str, Command)] = &[
        ("rcpt", Command::RcptTo),
        ("does not like recipient", Command::RcptTo),
        ("end of data", Command::Data),
        ("final data", Command::Data),
        ("data command", Command::Data),
        ("after data", Command::Data),
        ("data", Command::Data),
        // A bare "MAIL FROM:" is as often a line of message details as the refused
        // command, so only phrasings that say it was refused count.
        ("after mail from", Command::MailFrom),
        ("to mail from", Command::MailFrom),
        ("our mail from", Command::MailFrom),
        ("mail from command", Command::MailFrom),
        ("helo", Command::Helo),
        ("ehlo", Command::Helo),
        ("initial connection", Command::Connect),
        ("greeting", Command::Connect),
        ("banner", Command::Connect),
    ];
    TABLE
        .iter()
        .filter_map(|(p, c)| find_word(lower, p).map(|at| (at, *c)))
        .min_by_key(|(at, _)| *at)
        .map(|(_, c)| c)
}

/// Position of `word` in `text` where it is not part of a longer word.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find(word).map(|p| p + from) {
        let end = at + word.len();
        let before = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        let after = bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
        if before && after {
            return Some(at);
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_in_text() {
        assert_eq!(
            find_status("550 5.1.1 <a@b>: user unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(find_status("(#5.5.0)").as_deref(), Some("5.5.0"));
        assert_eq!(
            find_status("host 192.0.2.5 said 4.4.1").as_deref(),
            Some("4.4.1")
        );
        assert_eq!(
            find_status("Exim 4.80 and 5.7.509 Access").as_deref(),
            Some("5.7.509")
        );
        assert_eq!(find_status("version 2.3.4.5"), None);
    }

    #[test]
    fn reply_codes_in_text() {
        assert_eq!(find_reply_code("said: 550-5.1.1 x"), Some(550));
        assert_eq!(find_reply_code("port 25 553 5.1.1"), Some(553));
        assert_eq!(find_reply_code("id 1234567 and 999"), None);
    }
}
