//! Signed tokens for unsubscribe links, VERP bounce addresses, double opt-in links and
//! click-count links.
//!
//! A token is `kind | key id | payload | truncated HMAC-SHA256`, encoded as lowercase base32
//! so it survives mail systems that fold the case of local parts. Unsubscribe and bounce
//! tokens never expire; a confirmation token carries the time it was made, and the caller
//! decides how long it stays good. Rotating the key keeps old tokens valid as long as the
//! old key stays configured.

use anyhow::{Result, ensure};
use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

const KIND_UNSUBSCRIBE: u8 = b'U';
const KIND_BOUNCE: u8 = b'B';
const KIND_CONFIRM: u8 = b'C';
const KIND_CLICK: u8 = b'K';
/// 128-bit tags for links that live forever in inboxes; 80 bits keep VERP local parts short.
const UNSUBSCRIBE_TAG: usize = 16;
const BOUNCE_TAG: usize = 10;
/// A confirmation link grants a place on the list, so it gets the long tag too.
const CONFIRM_TAG: usize = 16;
/// A forged click token gains nothing but a false count (the redirect goes only to the
/// stored item's URL), and each message carries one per item: 80 bits keep them short.
const CLICK_TAG: usize = 10;
const CLICK_BODY: usize = 14;
const CLICK_BYTES: usize = 2 + CLICK_BODY + CLICK_TAG;
/// The length of every click token, in characters.
pub const CLICK_TOKEN_LEN: usize = (CLICK_BYTES * 8).div_ceil(5);
/// Click tokens are signed with a key of their own, derived from each secret with this
/// label (HMAC-SHA256(secret, label)): a click token can never pass as an unsubscribe,
/// bounce or confirmation token, nor one of those as a click token, whatever the bytes.
const CLICK_KEY_LABEL: &[u8] = b"mailroom/click-token/v1";

/// What an unsubscribe token names: the subscriber and the issue the message carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsubscribeClaim {
    pub subscriber_id: i64,
    pub issue_number: u32,
}

/// What a confirmation token names: the subscriber, and when the link was made (to the
/// millisecond) so that it can expire and so that a link mailed before an unsubscribe
/// cannot quietly undo it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmClaim {
    pub subscriber_id: i64,
    pub issued_at: OffsetDateTime,
}

/// What a click token names: the issue, the item (its index among all the issue's items,
/// in order) and the delivery that carried the link. Never the URL: that is looked up in
/// the stored issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClickClaim {
    pub issue_number: u32,
    pub item: u16,
    pub delivery_id: i64,
}

#[derive(Clone)]
struct Key {
    id: u8,
    mac: HmacSha256,
    /// Keyed with HMAC(secret, CLICK_KEY_LABEL).
    click: HmacSha256,
}

/// The current signing key and the keys that still verify.
#[derive(Clone)]
pub struct TokenKeys {
    keys: Vec<Key>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKeys({} keys)", self.keys.len())
    }
}

impl TokenKeys {
    /// `current` signs new tokens; `previous` only verify.
    pub fn new(current: &str, previous: &[&str]) -> Result<Self> {
        let mut keys = Vec::new();
        for secret in std::iter::once(current).chain(previous.iter().copied()) {
            ensure!(
                secret.len() >= 32,
                "token keys must be at least 32 characters"
            );
            let id = Sha256::digest(secret.as_bytes())[0];
            let mac =
                HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
            let mut derive = mac.clone();
            derive.update(CLICK_KEY_LABEL);
            let click = HmacSha256::new_from_slice(&derive.finalize().into_bytes())
                .expect("HMAC takes any key length");
            keys.push(Key { id, mac, click });
        }
        Ok(Self { keys })
    }

    pub fn unsubscribe(&self, claim: UnsubscribeClaim) -> String {
        let mut body = [0u8; 12];
        body[..8].copy_from_slice(&claim.subscriber_id.to_be_bytes());
        body[8..].copy_from_slice(&claim.issue_number.to_be_bytes());
        self.sign(KIND_UNSUBSCRIBE, &body, UNSUBSCRIBE_TAG)
    }

    pub fn verify_unsubscribe(&self, token: &str) -> Option<UnsubscribeClaim> {
        let body = self.verify(KIND_UNSUBSCRIBE, token, 12, UNSUBSCRIBE_TAG)?;
        Some(UnsubscribeClaim {
            subscriber_id: i64::from_be_bytes(body[..8].try_into().ok()?),
            issue_number: u32::from_be_bytes(body[8..12].try_into().ok()?),
        })
    }

    /// The token in `bounces+TOKEN@…`: names the delivery a bounce belongs to.
    pub fn bounce(&self, delivery_id: i64) -> String {
        self.sign(KIND_BOUNCE, &delivery_id.to_be_bytes(), BOUNCE_TAG)
    }

    pub fn verify_bounce(&self, token: &str) -> Option<i64> {
        let body = self.verify(KIND_BOUNCE, token, 8, BOUNCE_TAG)?;
        Some(i64::from_be_bytes(body[..8].try_into().ok()?))
    }

    /// The token in a double opt-in link. `issued_at` is kept to the millisecond.
    pub fn confirm(&self, claim: ConfirmClaim) -> String {
        let millis = (claim.issued_at.unix_timestamp_nanos() / 1_000_000) as i64;
        let mut body = [0u8; 16];
        body[..8].copy_from_slice(&claim.subscriber_id.to_be_bytes());
        body[8..].copy_from_slice(&millis.to_be_bytes());
        self.sign(KIND_CONFIRM, &body, CONFIRM_TAG)
    }

    /// The claim of a genuine confirmation token, expired or not: expiry is the caller's
    /// policy, and an expired link deserves a page that says so.
    pub fn verify_confirm(&self, token: &str) -> Option<ConfirmClaim> {
        let body = self.verify(KIND_CONFIRM, token, 16, CONFIRM_TAG)?;
        let millis = i64::from_be_bytes(body[8..16].try_into().ok()?);
        Some(ConfirmClaim {
            subscriber_id: i64::from_be_bytes(body[..8].try_into().ok()?),
            issued_at: OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
                .ok()?,
        })
    }

    /// The token in an item's `/c/` link.
    pub fn click(&self, claim: ClickClaim) -> String {
        let mut out = String::with_capacity(CLICK_TOKEN_LEN);
        self.click_into(&mut out, claim);
        out
    }

    /// Appends the click token to `out`. Messages carry one per item, so this allocates
    /// nothing: one HMAC over 16 bytes and a base32 pass on the stack.
    pub fn click_into(&self, out: &mut String, claim: ClickClaim) {
        let key = &self.keys[0];
        let mut bytes = [0u8; CLICK_BYTES];
        bytes[0] = KIND_CLICK;
        bytes[1] = key.id;
        bytes[2..6].copy_from_slice(&claim.issue_number.to_be_bytes());
        bytes[6..8].copy_from_slice(&claim.item.to_be_bytes());
        bytes[8..16].copy_from_slice(&claim.delivery_id.to_be_bytes());
        let mut mac = key.click.clone();
        mac.update(&bytes[..2 + CLICK_BODY]);
        let tag = mac.finalize().into_bytes();
        bytes[2 + CLICK_BODY..].copy_from_slice(&tag[..CLICK_TAG]);
        let mut encoded = [0u8; CLICK_TOKEN_LEN];
        BASE32_NOPAD.encode_mut(&bytes, &mut encoded);
        encoded.make_ascii_lowercase();
        out.push_str(std::str::from_utf8(&encoded).expect("base32 is ASCII"));
    }

    pub fn verify_click(&self, token: &str) -> Option<ClickClaim> {
        if token.len() != CLICK_TOKEN_LEN || !token.is_ascii() {
            return None;
        }
        let mut upper = [0u8; CLICK_TOKEN_LEN];
        upper.copy_from_slice(token.as_bytes());
        upper.make_ascii_uppercase();
        let mut bytes = [0u8; CLICK_BYTES];
        // BASE32_NOPAD refuses set trailing bits, so each token has exactly one spelling.
        let written = BASE32_NOPAD.decode_mut(&upper, &mut bytes).ok()?;
        if written != CLICK_BYTES || bytes[0] != KIND_CLICK {
            return None;
        }
        let (signed, tag) = bytes.split_at(2 + CLICK_BODY);
        let ok = self.keys.iter().filter(|k| k.id == bytes[1]).any(|k| {
            let mut mac = k.click.clone();
            mac.update(signed);
            mac.verify_truncated_left(tag).is_ok()
        });
        ok.then(|| ClickClaim {
            issue_number: u32::from_be_bytes(signed[2..6].try_into().expect("4 bytes")),
            item: u16::from_be_bytes(signed[6..8].try_into().expect("2 bytes")),
            delivery_id: i64::from_be_bytes(signed[8..16].try_into().expect("8 bytes")),
        })
    }

    fn sign(&self, kind: u8, body: &[u8], tag_len: usize) -> String {
        let key = &self.keys[0];
        let mut bytes = Vec::with_capacity(2 + body.len() + tag_len);
        bytes.extend_from_slice(&[kind, key.id]);
        bytes.extend_from_slice(body);
        let mut mac = key.mac.clone();
        mac.update(&bytes);
        let tag = mac.finalize().into_bytes();
        bytes.extend_from_slice(&tag[..tag_len]);
        BASE32_NOPAD.encode(&bytes).to_ascii_lowercase()
    }

    fn verify(&self, kind: u8, token: &str, body_len: usize, tag_len: usize) -> Option<Vec<u8>> {
        let expected_len = 2 + body_len + tag_len;
        if token.len() != BASE32_NOPAD.encode_len(expected_len) || !token.is_ascii() {
            return None;
        }
        let bytes = BASE32_NOPAD
            .decode(token.to_ascii_uppercase().as_bytes())
            .ok()?;
        if bytes.len() != expected_len || bytes[0] != kind {
            return None;
        }
        let (signed, tag) = bytes.split_at(2 + body_len);
        // Key ids are one byte of a hash and may collide: try every key that matches.
        let ok = self.keys.iter().filter(|k| k.id == bytes[1]).any(|k| {
            let mut mac = k.mac.clone();
            mac.update(signed);
            mac.verify_truncated_left(tag).is_ok()
        });
        ok.then(|| signed[2..].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "0123456789abcdef0123456789abcdef-one";
    const K2: &str = "0123456789abcdef0123456789abcdef-two";

    #[test]
    fn round_trips_and_rejects_tampering() {
        let keys = TokenKeys::new(K1, &[]).unwrap();
        let claim = UnsubscribeClaim {
            subscriber_id: 42,
            issue_number: 209,
        };
        let token = keys.unsubscribe(claim);
        assert_eq!(keys.verify_unsubscribe(&token), Some(claim));
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        // Every single-character change is refused.
        for i in 0..token.len() {
            let mut t = token.clone().into_bytes();
            t[i] = if t[i] == b'a' { b'b' } else { b'a' };
            let t = String::from_utf8(t).unwrap();
            if t != token {
                assert_eq!(keys.verify_unsubscribe(&t), None, "altered at {i}");
            }
        }
        assert_eq!(keys.verify_unsubscribe(&token[..token.len() - 1]), None);
        assert_eq!(keys.verify_bounce(&token), None, "kinds do not mix");
    }

    #[test]
    fn confirmation_tokens_round_trip_and_stay_apart_from_other_kinds() {
        let keys = TokenKeys::new(K1, &[]).unwrap();
        let claim = ConfirmClaim {
            subscriber_id: 7,
            issued_at: OffsetDateTime::from_unix_timestamp_nanos(1_795_000_000_123_000_000)
                .unwrap(),
        };
        let token = keys.confirm(claim);
        assert_eq!(keys.verify_confirm(&token), Some(claim));
        assert_eq!(keys.verify_unsubscribe(&token), None);
        assert_eq!(
            keys.verify_confirm(&keys.unsubscribe(UnsubscribeClaim {
                subscriber_id: 7,
                issue_number: 1
            })),
            None
        );
        let mut altered = token.clone().into_bytes();
        altered[30] = if altered[30] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            keys.verify_confirm(&String::from_utf8(altered).unwrap()),
            None
        );
        let other = TokenKeys::new(K2, &[]).unwrap();
        assert_eq!(other.verify_confirm(&token), None);
    }

    #[test]
    fn click_tokens_round_trip_and_refuse_tampering_and_other_kinds() {
        let keys = TokenKeys::new(K1, &[]).unwrap();
        let claim = ClickClaim {
            issue_number: 210,
            item: 7,
            delivery_id: 123_456,
        };
        let token = keys.click(claim);
        assert_eq!(token.len(), CLICK_TOKEN_LEN);
        assert_eq!(keys.verify_click(&token), Some(claim));
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        for i in 0..token.len() {
            let mut t = token.clone().into_bytes();
            t[i] = if t[i] == b'a' { b'b' } else { b'a' };
            let t = String::from_utf8(t).unwrap();
            assert_eq!(keys.verify_click(&t), None, "altered at {i}");
        }
        assert_eq!(keys.verify_click(&token[..token.len() - 1]), None);
        // Like the other kinds, a token survives case folding.
        assert_eq!(keys.verify_click(&token.to_ascii_uppercase()), Some(claim));
        // Kinds never mix, either way.
        let unsubscribe = keys.unsubscribe(UnsubscribeClaim {
            subscriber_id: 123_456,
            issue_number: 210,
        });
        assert_eq!(keys.verify_click(&unsubscribe), None);
        assert_eq!(keys.verify_unsubscribe(&token), None);
        assert_eq!(keys.verify_bounce(&token), None);
        assert_eq!(keys.verify_confirm(&token), None);
        // Another key's token is refused; a rotated-out key still verifies.
        assert_eq!(TokenKeys::new(K2, &[]).unwrap().verify_click(&token), None);
        assert_eq!(
            TokenKeys::new(K2, &[K1]).unwrap().verify_click(&token),
            Some(claim)
        );
    }

    #[test]
    fn a_click_tag_under_the_unsubscribe_key_is_refused() {
        // The same bytes MAC'd with the unsubscribe key (no derivation) must not verify:
        // the derived key is what separates the kinds, not only the kind byte.
        let keys = TokenKeys::new(K1, &[]).unwrap();
        let key = &keys.keys[0];
        let mut bytes = vec![KIND_CLICK, key.id];
        bytes.extend_from_slice(&210u32.to_be_bytes());
        bytes.extend_from_slice(&1u16.to_be_bytes());
        bytes.extend_from_slice(&5i64.to_be_bytes());
        let mut mac = key.mac.clone();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes()[..CLICK_TAG]);
        let forged = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
        assert_eq!(forged.len(), CLICK_TOKEN_LEN);
        assert_eq!(keys.verify_click(&forged), None);
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let old = TokenKeys::new(K1, &[]).unwrap();
        let rotated = TokenKeys::new(K2, &[K1]).unwrap();
        let token = old.bounce(7);
        assert_eq!(rotated.verify_bounce(&token), Some(7));
        assert_eq!(TokenKeys::new(K2, &[]).unwrap().verify_bounce(&token), None);
        assert_ne!(rotated.bounce(7), token, "new tokens use the new key");
    }
}
