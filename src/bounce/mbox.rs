//! Splitting a file into messages: a single message, or an mbox of several separated by
//! `From ` postmark lines; CRLF and CR-only line endings become LF first.

use std::borrow::Cow;

/// Rewrites CRLF and lone CR line endings as LF, so a message saved on any platform parses
/// the same. Borrows when there is nothing to change.
pub fn normalize_eol(bytes: &[u8]) -> Cow<'_, [u8]> {
    if !bytes.contains(&b'\r') {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut iter = bytes.iter().copied().peekable();
    while let Some(b) = iter.next() {
        if b == b'\r' {
            out.push(b'\n');
            if iter.peek() == Some(&b'\n') {
                iter.next();
            }
        } else {
            out.push(b);
        }
    }
    Cow::Owned(out)
}

/// The messages in a file, LF-terminated, without their mbox postmark lines.
///
/// A file is an mbox only when its first line is a postmark; otherwise it is one message,
/// even if a quoted `From ` line appears inside (forwarded bounces carry them). Inside an
/// mbox a new message starts at a postmark followed by a header line, which keeps body
/// text that happens to begin with "From " in its message.
pub fn split_mbox(bytes: &[u8]) -> Vec<Vec<u8>> {
    let text = normalize_eol(bytes);
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let starts_mbox = lines.first().is_some_and(|l| is_postmark(l));
    if !starts_mbox {
        return vec![text.into_owned()];
    }
    let mut messages = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let next_is_header = lines.get(i + 1).is_some_and(|n| is_header_line(n));
        if i == 0 || (is_postmark(line) && next_is_header) {
            if i > 0 && !current.is_empty() {
                messages.push(std::mem::take(&mut current));
            }
            continue;
        }
        current.extend_from_slice(line);
    }
    if !current.is_empty() || messages.is_empty() {
        messages.push(current);
    }
    messages
}

/// One message as saved by a mail program or handed over by an MTA pipe (Postfix's `F`
/// flag): a leading postmark line is not part of it.
pub fn without_postmark(bytes: &[u8]) -> &[u8] {
    let first_line_end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| p + 1);
    if is_postmark(&bytes[..first_line_end]) {
        &bytes[first_line_end..]
    } else {
        bytes
    }
}

/// `From sender date`, where the date has a clock time: a sentence starting with "From"
/// rarely has one.
fn is_postmark(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"From ") else {
        return false;
    };
    rest.windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == b':' && w[2].is_ascii_digit())
        || rest.windows(4).any(|w| w.iter().all(u8::is_ascii_digit))
}

fn is_header_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    colon > 0
        && line[..colon]
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_cr_become_lf() {
        assert_eq!(&*normalize_eol(b"a\r\nb\rc\n"), b"a\nb\nc\n");
        assert!(matches!(normalize_eol(b"a\nb\n"), Cow::Borrowed(_)));
        assert_eq!(&*normalize_eol(b"a\r\r\nb"), b"a\n\nb");
    }

    #[test]
    fn a_plain_message_is_one_message() {
        let raw =
            b"Subject: x\n\nFrom here on\nFrom MAILER-DAEMON Thu Apr 29 23:34:45 2015\nX: y\n";
        assert_eq!(split_mbox(raw), vec![raw.to_vec()]);
    }

    #[test]
    fn an_mbox_splits_at_postmarks_followed_by_headers() {
        let raw = b"From a@b Thu Apr 29 23:34:45 2015\nSubject: one\n\nFrom me, hello\n\
                    From c@d Fri Apr 30 01:02:03 2015\r\nSubject: two\r\n\r\nbody\r\n";
        let messages = split_mbox(raw);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0], b"Subject: one\n\nFrom me, hello\n");
        assert_eq!(messages[1], b"Subject: two\n\nbody\n");
    }

    #[test]
    fn a_single_message_loses_its_postmark_line_only() {
        let raw = b"From MAILER-DAEMON Thu Apr 29 23:34:45 2015\r\nSubject: x\r\n\r\nbody\n";
        assert_eq!(without_postmark(raw), b"Subject: x\r\n\r\nbody\n");
        assert_eq!(
            without_postmark(b"Subject: x\n\nbody"),
            b"Subject: x\n\nbody"
        );
        assert_eq!(without_postmark(b"From me, hello\n"), b"From me, hello\n");
        assert_eq!(without_postmark(b""), b"");
    }

    #[test]
    fn empty_input_is_one_empty_message() {
        assert_eq!(split_mbox(b""), vec![Vec::<u8>::new()]);
        assert_eq!(split_mbox(b"From x Thu Apr 29 23:34:45 2015\n").len(), 1);
    }
}
