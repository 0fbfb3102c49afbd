//! Dashboard operators: argon2id password hashes, sign-in checks and session tokens.
//!
//! A session token is 32 random bytes the browser keeps in a cookie; the database keeps
//! only its SHA-256, and the session's CSRF token is derived from it (HMAC), so nothing
//! that would let someone act as the operator is stored.

use std::sync::OnceLock;

use anyhow::{Context, Result};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::db::{Db, Source};

/// Shorter passwords are refused when an operator is created.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longer ones too: argon2 would hash a megabyte, but nobody types one.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// An operator name: what they type to sign in and what the event log records.
pub fn check_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    anyhow::ensure!(
        ok,
        "operator name {name:?}: 1 to 64 letters, digits, '.', '_', '-' or '@'"
    );
    Ok(())
}

pub fn check_password(password: &str) -> Result<()> {
    anyhow::ensure!(
        password.chars().count() >= MIN_PASSWORD_CHARS,
        "the password must have at least {MIN_PASSWORD_CHARS} characters"
    );
    anyhow::ensure!(
        password.len() <= MAX_PASSWORD_BYTES,
        "the password must have at most {MAX_PASSWORD_BYTES} bytes"
    );
    Ok(())
}

/// The argon2id PHC string of `password` with a fresh salt (OWASP's parameters, the
/// crate's defaults: 19 MiB, 2 passes, 1 lane).
pub fn hash_password(password: &str) -> Result<String> {
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `hash` (with the parameters it names).
pub fn verify_password(hash: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash no password matches, checked when the name is unknown so that a sign-in takes
/// as long for a wrong name as for a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("operating system random source");
        hash_password(&data_encoding::HEXLOWER.encode(&bytes)).expect("argon2 with defaults")
    })
}

/// Creates an operator from the CLI.
pub async fn add(db: &Db, name: &str, password: &str) -> Result<()> {
    check_name(name)?;
    check_password(password)?;
    let hash = hash_blocking(password).await?;
    db.add_operator(name, &hash, Source::Cli).await?;
    Ok(())
}

/// Sets a new password; the operator's sessions end. Returns how many ended.
pub async fn set_password(db: &Db, name: &str, password: &str) -> Result<u64> {
    check_password(password)?;
    let hash = hash_blocking(password).await?;
    Ok(db.set_operator_password(name, &hash, Source::Cli).await?)
}

async fn hash_blocking(password: &str) -> Result<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .context("hashing the password")?
}

/// The operator's id when `password` is theirs. Unknown names and wrong passwords are
/// answered alike, after the same work, and recorded in the event log.
pub async fn check_sign_in(
    db: &Db,
    name: &str,
    password: &str,
    ip: Option<&str>,
) -> crate::db::Result<Option<i64>> {
    let stored = db.operator_credentials(name).await?;
    let (id, hash) = match &stored {
        Some((id, hash)) => (Some(*id), hash.clone()),
        None => (None, decoy_hash().to_string()),
    };
    let password = password.to_string();
    // Tens of milliseconds of CPU: off the async threads.
    let matches = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .map_err(|e| crate::db::Error::internal(format!("checking a password: {e}")))?;
    match id {
        Some(id) if matches => Ok(Some(id)),
        _ => {
            db.record_sign_in_refused(name, ip).await?;
            Ok(None)
        }
    }
}

/// A new session token (for the cookie) and its SHA-256 (for the database).
pub struct NewSession {
    pub token: String,
    pub token_sha256: String,
}

pub fn new_session() -> NewSession {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("operating system random source");
    let token = data_encoding::BASE64URL_NOPAD.encode(&bytes);
    NewSession {
        token_sha256: token_sha256(&token),
        token,
    }
}

/// What the database knows a session token by.
pub fn token_sha256(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

/// The CSRF token of a session, or of a sign-in form's pre-session cookie: derived from
/// the secret only the browser holding the cookie knows, so a page elsewhere cannot
/// compute it.
pub fn csrf_token(secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(b"mailroom dashboard csrf");
    data_encoding::BASE64URL_NOPAD.encode(&mac.finalize().into_bytes())
}

/// Whether `presented` is the CSRF token of `secret`, compared in constant time.
pub fn csrf_matches(secret: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    let expected = csrf_token(secret);
    expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify_only_their_password() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse batterz"));
        assert!(!verify_password("not a hash", "correct horse battery"));
        assert_ne!(
            hash,
            hash_password("correct horse battery").unwrap(),
            "salted"
        );
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let a = new_session();
        let b = new_session();
        assert!(csrf_matches(&a.token, &csrf_token(&a.token)));
        assert!(!csrf_matches(&a.token, &csrf_token(&b.token)));
        assert!(!csrf_matches(&a.token, ""));
        assert_eq!(a.token_sha256.len(), 64);
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_name("ops").is_ok());
        assert!(check_name("ada.lovelace@example.org").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("has space").is_err());
        assert!(check_password("short").is_err());
        assert!(check_password("long enough pass").is_ok());
    }
}
