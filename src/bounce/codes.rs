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

/// The status code to report and to judge by: the declared one (a DSN's Status field) or
/// the one in the server's words, whichever says more (`prefer`).
pub fn best_status(declared: Option<String>, text: &str, reply: Option<u16>) -> Option<String> {
    let in_text = status_in_text(text);
    match (declared, in_text) {
        (Some(d), Some(t)) => Some(prefer(&d, &t, reply)),
        (d, t) => d.or(t),
    }
}

/// The code a server's words carry. Several codes in one reply usually repeat one
/// another; the first precise one counts, and a generic `x.0.0` (or the ambiguous
/// 4.4.7, which a relay adds when it gives up) only when there is nothing else.
fn status_in_text(text: &str) -> Option<String> {
    let mut precise: Vec<String> = Vec::new();
    let mut generic = None;
    let mut rest = text;
    while let Some(code) = find_status(rest) {
        let Some(at) = rest.find(code.as_str()) else {
            break;
        };
        rest = &rest[at + code.len()..];
        if code.get(1..5) == Some(".0.0") && code.len() == 5 || code == "4.4.7" {
            generic.get_or_insert(code);
        } else {
            precise.push(code);
        }
    }
    let mut codes = precise.into_iter();
    let first = codes.next();
    let folded = codes.fold(first, |acc, code| acc.map(|a| prefer(&a, &code, None)));
    folded.or(generic)
}

/// Which of two status codes to believe: `field` (a DSN's Status) or `said` (found in
/// the server's words), given the SMTP reply code. RFC 3463 codes are hierarchical, so the
/// more specific one wins: a generic `x.0.0` or `x.y.0` gives way, and so do the codes
/// that describe the transport rather than the failure (4.4.7 "delivery time expired",
/// 4.7.0, the x.3.x system codes and the x.5.x protocol codes). When the two disagree on
/// temporary or permanent, the one that matches the reply code is the server's own.
pub fn prefer(field: &str, said: &str, reply: Option<u16>) -> String {
    let (field_s, said_s) = (field.to_string(), said.to_string());
    if field.len() < 5 {
        return said_s;
    }
    if said.len() < 5 {
        return field_s;
    }
    let reply_class = reply.map(|r| (b'0' + (r / 100) as u8) as char);
    let (f0, s0) = (field.chars().next(), said.chars().next());
    if let Some(rc) = reply_class
        && f0 != s0
    {
        if Some(rc) == f0 {
            return field_s;
        }
        if Some(rc) == s0 {
            return said_s;
        }
    }
    if field == said {
        return field_s;
    }
    let zero_zero = |c: &str| c.get(1..5) == Some(".0.0");
    let has_zero = |c: &str| c.contains(".0");
    if zero_zero(field) {
        return if zero_zero(said) { field_s } else { said_s };
    }
    if has_zero(field) && !has_zero(said) {
        return said_s;
    }
    if zero_zero(said) {
        return field_s;
    }
    let subject = &field[1..];
    if field == "4.4.7"
        || field == "4.7.0"
        || field.starts_with("5.3.")
        || [".5.1", ".5.2", ".5.4", ".5.5"]
            .iter()
            .any(|p| subject.starts_with(p))
    {
        return said_s;
    }
    if field == "5.1.1" {
        return if has_zero(said) || said.starts_with("5.5.") {
            field_s
        } else {
            said_s
        };
    }
    if field == "5.1.3" && said.starts_with("5.7.") {
        return said_s;
    }
    field_s
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

/// Which SMTP command a notice says was refused, in this order of evidence: a session
/// transcript (`>>> DATA`, `<<< 550 …`: the last command sent before the first error
/// reply); the fixed sentences of qmail, Postfix and Exim that name the stage ("does not
/// like recipient", "in reply to RCPT TO command", "after initial connection"); else the
/// SMTP verbs the text names in capitals, the latest stage of the conversation winning
/// (`Sisimai::SMTP::Command`: a reply quoted "after RCPT TO" was not about MAIL FROM).
pub fn find_command(text: &str) -> Option<Command> {
    let lower = text.to_ascii_lowercase();
    transcript_command(&lower)
        .or_else(|| stage_sentence(&lower))
        .or_else(|| verb_command(text))
        .or_else(|| {
            lower
                .contains("refused to talk to me")
                .then_some(Command::Helo)
        })
}

/// The command of a session transcript that drew the first error reply. An error reply
/// before we sent anything answered our connection or greeting.
fn transcript_command(lower: &str) -> Option<Command> {
    let mut last_sent = None;
    for line in lower.lines().map(str::trim_start) {
        if let Some(sent) = line.strip_prefix(">>>") {
            last_sent = Some(sent.trim_start());
        } else if let Some(reply) = line.strip_prefix("<<<")
            && reply.trim_start().starts_with(['4', '5'])
        {
            return match last_sent {
                Some(sent) => sent_command(sent),
                None => Some(Command::Helo),
            };
        }
    }
    None
}

fn sent_command(line: &str) -> Option<Command> {
    let verb = line.split([' ', ':']).next().unwrap_or_default();
    Some(match verb {
        "mail" => Command::MailFrom,
        "rcpt" => Command::RcptTo,
        "data" | "." | "bdat" => Command::Data,
        "helo" | "ehlo" | "starttls" | "auth" => Command::Helo,
        _ => return None,
    })
}

/// Sentences with which mail servers name the stage of a refusal (qmail-remote.c,
/// Postfix's "in reply to … command", Exim's "SMTP error from remote mail server after …").
fn stage_sentence(lower: &str) -> Option<Command> {
    const TABLE: &[(&str, Command)] = &[
        (" but greeting failed", Command::Connect),
        ("after initial connection", Command::Connect),
        ("in reply to initial greeting", Command::Connect),
        (" but my name was rejected", Command::Helo),
        (" but sender was rejected", Command::MailFrom),
        ("does not like recipient", Command::RcptTo),
        ("failed on data command", Command::Data),
        ("failed after i sent the message", Command::Data),
        ("in reply to end of data command", Command::Data),
        ("in reply to data command", Command::Data),
        ("after end of data", Command::Data),
        ("in reply to rcpt to command", Command::RcptTo),
        ("in reply to mail from command", Command::MailFrom),
        ("in reply to ehlo command", Command::Helo),
        ("in reply to helo command", Command::Helo),
    ];
    TABLE
        .iter()
        .filter_map(|(p, c)| lower.find(p).map(|at| (at, *c)))
        .min_by_key(|(at, _)| *at)
        .map(|(_, c)| c)
}

/// The latest stage named by an SMTP verb written in capitals as a word of its own, in
/// running text: a line that starts with the verb is a transcript or a list of the
/// message's details ("RCPT TO: a@b"), not the server naming the refused command.
fn verb_command(text: &str) -> Option<Command> {
    const VERBS: &[(&str, Command)] = &[
        ("HELO", Command::Helo),
        ("EHLO", Command::Helo),
        ("MAIL FROM", Command::MailFrom),
        ("MAIL From", Command::MailFrom),
        ("RCPT", Command::RcptTo),
        ("DATA", Command::Data),
    ];
    VERBS
        .iter()
        .filter(|(v, _)| {
            text.lines().any(|line| {
                let line = line.trim_start();
                find_word(line, v).is_some_and(|at| at > 0)
                    || find_word(line, v).is_some_and(|_| line.matches(v).count() > 1)
            })
        })
        .map(|(_, c)| *c)
        .max_by_key(|c| stage(*c))
}

fn stage(command: Command) -> u8 {
    match command {
        Command::Connect => 0,
        Command::Helo => 1,
        Command::MailFrom => 2,
        Command::RcptTo => 3,
        Command::Data => 4,
    }
}

/// The remote host a notice names: `host mx.example.com[192.0.2.1] said`,
/// `host mx.example.com [192.0.2.1]:`, `... while talking to mx.example.com.:`.
pub fn find_host(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    for marker in ["host ", "talking to ", "remote-mta: dns;"] {
        let mut from = 0;
        while let Some(at) = lower[from..].find(marker).map(|p| p + from) {
            from = at + marker.len();
            let before_ok = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
            let token = lower[from..]
                .trim_start()
                .split(|c: char| c.is_whitespace() || matches!(c, '[' | '(' | ':' | ','))
                .next()
                .unwrap_or_default()
                .trim_end_matches('.');
            if before_ok && is_host_name(token) {
                return Some(token.to_string());
            }
        }
    }
    None
}

/// A DNS name with a dot and a letter in it (not an IP address, not an e-mail address).
pub fn is_host_name(token: &str) -> bool {
    token.contains('.')
        && token.bytes().any(|b| b.is_ascii_alphabetic())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
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
