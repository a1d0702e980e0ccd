//! The base64 forms of a secret that masking also looks for.
//!
//! A job can print `echo -n "$SECRET" | base64`, or the secret can sit inside a longer base64
//! stream (a base64'd config file, an HTTP basic-auth header). Base64 turns every 3 bytes into 4
//! characters, so inside a stream the secret's encoding depends on where it starts within a 3-byte
//! group (three alignments) and on its neighbours at both ends. Character `j` of an encoding holds
//! input bits `6j..6j+6`; the characters whose bits all come from the secret are the same whatever
//! surrounds it, and that run is what is masked for each alignment. The standalone, padded encoding
//! is masked whole too. Both the standard and the URL-safe alphabets are covered.
//!
//! This is best-effort, and so is all masking: a job can always transform a secret in a way no
//! mask recognises (reverse it, split it, encrypt it). Protected branches and protected variables
//! are the boundary; masking only keeps honest logs clean.

use base64::Engine;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};

fn encode(data: &[u8], engine: &GeneralPurpose) -> Vec<u8> {
    engine.encode(data).into_bytes()
}

/// For a secret starting `shift` bytes into a 3-byte group: the characters of any stream's
/// encoding that depend on the secret's bytes alone.
fn stable_part(secret: &[u8], shift: usize, alphabet: &GeneralPurpose) -> Vec<u8> {
    let mut framed = vec![0u8; shift];
    framed.extend_from_slice(secret);
    framed.extend_from_slice(&[0, 0]);
    let encoded = encode(&framed, alphabet);
    let first = (8 * shift).div_ceil(6);
    let end = (8 * (shift + secret.len())) / 6;
    encoded.get(first..end).map(<[u8]>::to_vec).unwrap_or_default()
}

/// Every base64 form of `secret` worth masking, without duplicates: none for a secret shorter
/// than `min_len` (it is not masked either), and no fragment shorter than that.
pub(super) fn base64_forms(secret: &[u8], min_len: usize) -> Vec<Vec<u8>> {
    if secret.len() < min_len {
        return Vec::new();
    }
    let mut forms = vec![encode(secret, &STANDARD)];
    for alphabet in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        for shift in 0..3 {
            forms.push(stable_part(secret, shift, alphabet));
        }
    }
    forms.retain(|f| f.len() >= min_len);
    forms.sort();
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, b64) in vectors {
            assert_eq!(encode(plain.as_bytes(), &STANDARD), b64.as_bytes(), "{plain:?}");
        }
        assert_eq!(encode(&[0xfb, 0xff], &URL_SAFE_NO_PAD), b"-_8");
    }

    #[test]
    fn forms_of_a_known_secret() {
        let forms = base64_forms(b"s3cr3t-v4lue-42", 8);
        // `echo -n s3cr3t-v4lue-42 | base64`
        assert!(forms.contains(&b"czNjcjN0LXY0bHVlLTQy".to_vec()), "{forms:?}");
        // `printf 'x s3cr3t-v4lue-42' | base64` = eCBzM2NyM3QtdjRsdWUtNDI= : starts 2 bytes in.
        let stream = encode(b"x s3cr3t-v4lue-42", &STANDARD);
        assert!(forms.iter().any(|f| stream.windows(f.len()).any(|w| w == f.as_slice())));
        assert!(base64_forms(b"short", 8).is_empty(), "tiny secrets give tiny fragments: none");
    }

    proptest! {
        /// Wherever a secret sits in a base64'd stream, one of its forms appears in the encoding.
        #[test]
        fn every_alignment_is_found(
            prefix in prop::collection::vec(any::<u8>(), 0..7),
            secret in prop::collection::vec(any::<u8>(), 8..24),
            suffix in prop::collection::vec(any::<u8>(), 0..7),
            url_safe in any::<bool>(),
        ) {
            let (padded, alphabet) = if url_safe {
                (&base64::engine::general_purpose::URL_SAFE, &URL_SAFE_NO_PAD)
            } else {
                (&STANDARD, &STANDARD_NO_PAD)
            };
            let stream = encode(&[prefix.as_slice(), &secret, &suffix].concat(), padded);
            let want = stable_part(&secret, prefix.len() % 3, alphabet);
            prop_assert!(want.len() >= 8);
            prop_assert!(stream.windows(want.len()).any(|w| w == want.as_slice()));
            prop_assert!(base64_forms(&secret, 8).contains(&want));
        }
    }
}
