//! Just enough DER to find the public key in an X.509 certificate or a
//! SubjectPublicKeyInfo, for ring to verify signatures with.

/// rsaEncryption, 1.2.840.113549.1.1.1
const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1
const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 (P-256), 1.2.840.10045.3.1.7
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
const BIT_STRING: u8 = 0x03;

/// A public key as ring takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// The PKCS#1 RSAPublicKey.
    Rsa(Vec<u8>),
    /// The uncompressed P-256 point.
    P256(Vec<u8>),
}

/// The key of an X.509 certificate (DER).
pub fn certificate_key(cert: &[u8]) -> Option<PublicKey> {
    let (certificate, _) = expect(cert, SEQUENCE)?;
    let (mut tbs, _) = expect(certificate, SEQUENCE)?;
    // [0] version (optional), serial, signature algorithm, issuer, validity, subject.
    if tbs.first() == Some(&0xa0) {
        tbs = tlv(tbs)?.2;
    }
    for _ in 0..5 {
        tbs = tlv(tbs)?.2;
    }
    spki_key(tlv_whole(tbs)?)
}

/// The key of a SubjectPublicKeyInfo (DER), RSA or P-256.
pub fn spki_key(spki: &[u8]) -> Option<PublicKey> {
    let (info, _) = expect(spki, SEQUENCE)?;
    let (algorithm, rest) = expect(info, SEQUENCE)?;
    let (bits, _) = expect(rest, BIT_STRING)?;
    // The key is a whole number of bytes: no unused bits.
    let key = bits.strip_prefix(&[0])?.to_vec();
    let (oid, params) = expect(algorithm, OID)?;
    match oid {
        RSA => Some(PublicKey::Rsa(key)),
        EC if expect(params, OID)?.0 == P256 => Some(PublicKey::P256(key)),
        _ => None,
    }
}

/// The content of the element at the start of `input` if it has `tag`, and what follows.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, content, rest) = tlv(input)?;
    (t == tag).then_some((content, rest))
}

/// The first element with its header, e.g. a SubjectPublicKeyInfo inside a certificate.
fn tlv_whole(input: &[u8]) -> Option<&[u8]> {
    let (_, _, rest) = tlv(input)?;
    input.get(..input.len() - rest.len())
}

/// Tag, content and the rest. Definite lengths up to 16 MB only.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = match first {
        0..=0x7f => usize::from(first),
        0x81..=0x83 => {
            let n = usize::from(first - 0x80);
            let bytes = input.get(..n)?;
            input = &input[n..];
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        }
        _ => return None,
    };
    let content = input.get(..len)?;
    Some((tag, content, &input[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_p256_key_and_refuses_garbage() {
        // SPKI header of every P-256 key, then a (dummy) uncompressed point.
        let mut spki = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        let point: Vec<u8> = std::iter::once(4).chain(1..=64).collect();
        spki.extend_from_slice(&point);
        assert_eq!(spki_key(&spki), Some(PublicKey::P256(point)));
        for cut in 0..spki.len() {
            assert_eq!(spki_key(&spki[..cut]), None, "truncated at {cut}");
        }
        assert_eq!(certificate_key(&spki), None);
        assert_eq!(certificate_key(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }
}
