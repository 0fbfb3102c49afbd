//! Header-style text: `Name: value` lines with folded continuations. Mail headers, the
//! blocks of a `message/delivery-status` part and an ARF `message/feedback-report` all use
//! it, so one reader serves them all. Also finds e-mail addresses in free text.

/// One block of fields, in order, names lower-cased, continuation lines unfolded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pairs: Vec<(String, String)>,
}

impl Fields {
    /// Reads fields until the first blank line (or the end).
    pub fn parse(text: &str) -> Self {
        let mut fields = Fields::default();
        for line in text.lines() {
            if line.trim().is_empty() {
                break;
            }
            fields.push_line(line);
        }
        fields
    }

    /// Adds one physical line: a continuation (leading white space) extends the previous
    /// field, and so does a line that is no field at all, since some servers forget to
    /// indent the rest of a long Diagnostic-Code.
    pub fn push_line(&mut self, line: &str) {
        let field = line
            .split_once(':')
            .filter(|(name, _)| is_field_name(name.trim_end()));
        match field {
            Some((name, value)) if !line.starts_with([' ', '\t']) => {
                self.pairs.push((
                    name.trim_end().to_ascii_lowercase(),
                    value.trim().to_string(),
                ));
            }
            _ => {
                if let Some((_, value)) = self.pairs.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            }
        }
    }

    /// The first value of a field (name in lower case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first non-empty value of a field.
    pub fn get_nonempty(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

fn is_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// Strips the `rfc822;` style type prefix of a DSN field value (`smtp; 550 …`).
pub fn typed_value(value: &str) -> (Option<&str>, &str) {
    match value.split_once(';') {
        Some((kind, rest)) if !kind.trim().is_empty() && kind.trim().chars().all(is_type_char) => {
            (Some(kind.trim()), rest.trim())
        }
        _ => (None, value.trim()),
    }
}

fn is_type_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// Every e-mail address in a piece of text, lower-cased, in order of appearance.
pub fn addresses(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&b| b == b'@').map(|p| p + i) {
        let start = (0..at)
            .rev()
            .take_while(|&j| is_local_char(bytes[j]))
            .last()
            .unwrap_or(at);
        let end = (at + 1..bytes.len())
            .take_while(|&j| is_domain_char(bytes[j]))
            .last()
            .map_or(at + 1, |j| j + 1);
        let local = text[start..at].trim_start_matches(['.', '\'', '"', '`']);
        let domain = text[at + 1..end].trim_end_matches(['.', '-']);
        if !local.is_empty() && domain.contains('.') && !domain.starts_with(['.', '-']) {
            found.push(format!("{local}@{domain}").to_ascii_lowercase());
        }
        i = end.max(at + 1);
    }
    found
}

/// The address of a field value such as `Name <a@b>` or `rfc822; a@b`.
pub fn first_address(text: &str) -> Option<String> {
    addresses(text).into_iter().next()
}

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-=!#$&'*/?^`{|}~".contains(&b)
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_fields_are_unfolded() {
        let f = Fields::parse(
            "Final-Recipient: rfc822; a@b.c\nDiagnostic-Code: smtp; 550\n  user unknown\n\nX: y",
        );
        assert_eq!(f.get("final-recipient"), Some("rfc822; a@b.c"));
        assert_eq!(f.get("diagnostic-code"), Some("smtp; 550 user unknown"));
        assert_eq!(f.get("x"), None);
    }

    #[test]
    fn addresses_in_text() {
        assert_eq!(
            addresses("<Neko@Example.JP>: host x said: 550 <root@nijo.example.jp>... denied."),
            vec!["neko@example.jp", "root@nijo.example.jp"]
        );
        assert!(addresses("@ a@b @@ x@localhost").is_empty());
        assert_eq!(typed_value("rfc822; a@b.c"), (Some("rfc822"), "a@b.c"));
        assert_eq!(typed_value("a@b.c"), (None, "a@b.c"));
    }
}
