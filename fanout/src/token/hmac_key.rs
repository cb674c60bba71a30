//! The shared secret as keyed HMAC states, verifying HS256/384/512 signatures without
//! jsonwebtoken.
//!
//! Hand-written because jsonwebtoken has no API for a precomputed key or for a token parsed
//! once: `jsonwebtoken::decode` keys a fresh HMAC for every token, decodes and parses the
//! header twice (through serde's buffering of its flattened `extras`) and the claims twice
//! (into the caller's type and into its own validation struct), allocating throughout. On
//! this project's 2-core machine that was 2.1-2.5 us of the 2.4-3.0 us (medians) a connect
//! spent verifying an HS256 token; this path takes 1.1 us, lifetime and revocation checks
//! included (docs/benchmarks/2026-12-01-token-verify.md). The HMAC family is
//! the common case and small enough to redo exactly: [`HmacKey`] here, the header in
//! [`super::key_choice`] and the claims in [`super::claim_checks`], each refusing what
//! jsonwebtoken refuses (a property test compares the two on generated tokens). Tokens of the
//! RSA, EC and Ed families still go through jsonwebtoken.

use base64::DecodeSliceError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::{Error, ErrorKind};
use sha2::{Sha256, Sha384, Sha512};

/// Longest HMAC tag (HS512's): a signature decoding to more bytes cannot match.
const MAX_TAG: usize = 64;

/// The secret, keyed once per algorithm: a token clones a keyed state instead of hashing the
/// padded key again.
#[derive(Clone)]
pub(super) struct HmacKey {
    /// Verifies HS256 tokens.
    hs256: Hmac<Sha256>,
    /// Verifies HS384 tokens.
    hs384: Hmac<Sha384>,
    /// Verifies HS512 tokens.
    hs512: Hmac<Sha512>,
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacKey").finish_non_exhaustive()
    }
}

impl HmacKey {
    /// Key the three states with `secret`.
    pub fn new(secret: &[u8]) -> Self {
        const ANY_LENGTH: &str = "HMAC takes keys of any length";
        Self {
            hs256: Hmac::new_from_slice(secret).expect(ANY_LENGTH),
            hs384: Hmac::new_from_slice(secret).expect(ANY_LENGTH),
            hs512: Hmac::new_from_slice(secret).expect(ANY_LENGTH),
        }
    }

    /// Whether `signature` (base64url, unpadded) is `algorithm`'s MAC of `signing_input`,
    /// compared in constant time. Fails as `jsonwebtoken::decode` would: `Base64` for a
    /// signature that is not base64url, `InvalidSignature` for a wrong one.
    pub fn verify(
        &self,
        algorithm: Algorithm,
        signing_input: &[u8],
        signature: &str,
    ) -> Result<(), Error> {
        let mut tag = [0u8; MAX_TAG];
        let tag = match URL_SAFE_NO_PAD.decode_slice(signature, &mut tag) {
            Ok(len) => &tag[..len],
            Err(DecodeSliceError::DecodeError(e)) => return Err(ErrorKind::Base64(e).into()),
            // Too long to match; decoded in full only to fail as jsonwebtoken does.
            Err(DecodeSliceError::OutputSliceTooSmall) => {
                return Err(match URL_SAFE_NO_PAD.decode(signature) {
                    Ok(_) => ErrorKind::InvalidSignature,
                    Err(e) => ErrorKind::Base64(e),
                }
                .into());
            }
        };
        let valid = match algorithm {
            Algorithm::HS256 => matches(&self.hs256, signing_input, tag),
            Algorithm::HS384 => matches(&self.hs384, signing_input, tag),
            Algorithm::HS512 => matches(&self.hs512, signing_input, tag),
            _ => return Err(ErrorKind::InvalidAlgorithm.into()),
        };
        if valid {
            Ok(())
        } else {
            Err(ErrorKind::InvalidSignature.into())
        }
    }
}

/// Whether `tag` is the MAC of `input` under the `keyed` state (constant time: `verify_slice`).
fn matches<M: Mac + Clone>(keyed: &M, input: &[u8], tag: &[u8]) -> bool {
    let mut mac = keyed.clone();
    mac.update(input);
    mac.verify_slice(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::EncodingKey;
    use jsonwebtoken::crypto::sign;

    use super::*;

    const SECRET: &[u8] = b"a-test-secret-of-32-bytes-------";
    const INPUT: &[u8] = b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0";

    fn signature(algorithm: Algorithm, secret: &[u8]) -> String {
        sign(INPUT, &EncodingKey::from_secret(secret), algorithm).expect("signs")
    }

    #[test]
    fn each_algorithm_verifies_jsonwebtokens_signatures_and_only_its_own() {
        let key = HmacKey::new(SECRET);
        let all = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
        for signed in all {
            let signature = signature(signed, SECRET);
            for checked in all {
                assert_eq!(
                    key.verify(checked, INPUT, &signature).is_ok(),
                    signed == checked,
                    "{signed:?} signature checked as {checked:?}"
                );
            }
            let other = HmacKey::new(b"another secret");
            assert_eq!(
                other
                    .verify(signed, INPUT, &signature)
                    .map_err(|e| e.into_kind()),
                Err(ErrorKind::InvalidSignature)
            );
            assert!(key.verify(signed, b"other input", &signature).is_err());
        }
    }

    #[test]
    fn refuses_malformed_signatures_as_jsonwebtoken_does() {
        let key = HmacKey::new(SECRET);
        let good = signature(Algorithm::HS256, SECRET);
        // Whole base64 quads off: what is left still decodes.
        let truncated = &good[..good.len() / 4 * 4 - 4];
        let extended = format!("{good}AAAA");
        let too_long = URL_SAFE_NO_PAD.encode([7u8; 100]);
        let padded = format!("{}=", &good[..good.len() - 1]);
        let kind = |signature: &str| {
            key.verify(Algorithm::HS256, INPUT, signature)
                .map_err(|e| std::mem::discriminant(&e.into_kind()))
        };
        assert_eq!(
            kind(truncated),
            Err(std::mem::discriminant(&ErrorKind::InvalidSignature))
        );
        assert_eq!(
            kind(&extended),
            Err(std::mem::discriminant(&ErrorKind::InvalidSignature))
        );
        assert_eq!(
            kind(&too_long),
            Err(std::mem::discriminant(&ErrorKind::InvalidSignature))
        );
        assert_eq!(
            kind(""),
            Err(std::mem::discriminant(&ErrorKind::InvalidSignature))
        );
        let not_base64 =
            std::mem::discriminant(&ErrorKind::Base64(base64::DecodeError::InvalidPadding));
        for bad in [
            padded.as_str(),
            "!!!!",
            &format!("{}+", &good[..good.len() - 1]),
            &"A".repeat(101),
        ] {
            assert_eq!(kind(bad), Err(not_base64), "{bad:?}");
        }
        assert_eq!(
            key.verify(Algorithm::RS256, INPUT, &good)
                .map_err(|e| e.into_kind()),
            Err(ErrorKind::InvalidAlgorithm)
        );
    }
}
