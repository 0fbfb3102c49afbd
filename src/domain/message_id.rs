//! Our Message-IDs, `issue.delivery.nonce@domain`: made when a message is built, read back
//! when a bounce, a complaint or a webhook names one, to find the delivery it is about.

/// The Message-ID (without angle brackets) of delivery `delivery` of issue `issue`.
pub fn format(issue: u32, delivery: i64, nonce: &str, domain: &str) -> String {
    format!("{issue}.{delivery}.{nonce}@{domain}")
}

/// The delivery that a Message-ID in our shape (`issue.delivery.nonce@domain`, see
/// `MessageFactory::build`) claims to belong to. Anyone can write an id in this shape, so
/// the claim holds only if the delivery's stored Message-ID is the same.
pub fn delivery(id: &str) -> Option<i64> {
    parts(id).map(|parts| parts.delivery)
}

/// The pieces of a Message-ID in our shape, without angle brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts<'a> {
    pub issue: u32,
    pub delivery: i64,
    /// Random per delivery: what makes the id hard to guess.
    pub nonce: &'a str,
}

pub fn parts(id: &str) -> Option<Parts<'_>> {
    let (local, _) = id.rsplit_once('@')?;
    let mut parts = local.split('.');
    let (issue, delivery, nonce) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if parts.next().is_some() || nonce.is_empty() || !digits(issue) || !digits(delivery) {
        return None;
    }
    Some(Parts {
        issue: issue.parse().ok()?,
        delivery: delivery.parse().ok()?,
        nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_name_their_delivery() {
        assert_eq!(delivery(&format(210, 42, "9f3a", "example.org")), Some(42));
        assert_eq!(delivery("210.42.9f3a@example.org"), Some(42));
        for other in [
            "210.42@example.org",
            "210.42.x.y@example.org",
            "x.42.n@example.org",
            "210.-4.n@example.org",
            "210.+4.n@example.org",
            "210.42.n",
            "",
        ] {
            assert_eq!(delivery(other), None, "{other}");
        }
    }
}
