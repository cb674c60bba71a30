//! A key that verifies user tokens, with the algorithms it may verify.

use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};

use super::TokenSetupError;

/// One verification key.
///
/// A key verifies only tokens of its own algorithms, chosen from the key's type rather than
/// from the token: an attacker who signs an HS256 token with the bytes of a public key (the
/// classic algorithm-confusion attack) finds no HMAC key to match it.
#[derive(Clone, Debug)]
pub(super) struct VerifyingKey {
    /// The JWKS `kid`, which a token's header names to pick its key; `None` for PEM files,
    /// which are tried for every token of their algorithms.
    pub kid: Option<String>,
    /// Algorithms this key may verify: its type's, narrowed by a JWK's `alg`.
    pub algorithms: Vec<Algorithm>,
    pub key: DecodingKey,
}

impl VerifyingKey {
    /// A PEM public key file: RSA (PKCS#1 or SPKI), EC P-256/P-384 or Ed25519 (SPKI).
    pub fn from_pem_file(path: &Path) -> Result<Self, TokenSetupError> {
        let pem = std::fs::read(path).map_err(|source| TokenSetupError::ReadKey {
            path: path.to_owned(),
            source,
        })?;
        let unusable = || TokenSetupError::UnusableKey {
            path: path.to_owned(),
        };
        let (key, algorithms) = if let Ok(key) = DecodingKey::from_ed_pem(&pem) {
            (key, vec![Algorithm::EdDSA])
        } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
            let algorithm = ec_algorithm(&key).ok_or_else(unusable)?;
            (key, vec![algorithm])
        } else if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
            (key, AlgorithmFamily::Rsa.algorithms().to_vec())
        } else {
            return Err(unusable());
        };
        Ok(Self {
            kid: None,
            algorithms,
            key,
        })
    }

    /// A key of a JWKS document, or `None` for keys we never accept from one: symmetric keys
    /// (a published secret is no secret), curves we do not support, and keys marked for
    /// encryption only.
    pub fn from_jwk(jwk: &Jwk) -> Option<Self> {
        use jsonwebtoken::jwk::PublicKeyUse;
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return None;
        }
        let family: Vec<Algorithm> = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa.algorithms().to_vec(),
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                vec![Algorithm::EdDSA]
            }
            _ => return None,
        };
        let algorithms = match jwk.common.key_algorithm {
            None => family,
            Some(declared) => {
                let declared = Algorithm::try_from(declared).ok()?;
                family.into_iter().filter(|a| *a == declared).collect()
            }
        };
        if algorithms.is_empty() {
            return None;
        }
        Some(Self {
            kid: jwk.common.key_id.clone(),
            algorithms,
            key: DecodingKey::from_jwk(jwk).ok()?,
        })
    }

    /// Whether this key may verify a token signed with `algorithm` and naming `kid`.
    pub fn matches(&self, algorithm: Algorithm, kid: Option<&str>) -> bool {
        self.algorithms.contains(&algorithm)
            && match (&self.kid, kid) {
                (Some(ours), Some(theirs)) => ours == theirs,
                // Keys without an ID (PEM files) serve every token of their type;
                // a JWKS key serves a token without `kid` too, as identity providers that
                // publish one key do.
                _ => true,
            }
    }
}

/// The one ECDSA algorithm of an EC public key, told by its curve's point size (an
/// uncompressed SEC1 point: 65 bytes on P-256, 97 on P-384).
fn ec_algorithm(key: &DecodingKey) -> Option<Algorithm> {
    match key.kind() {
        DecodingKeyKind::SecretOrDer(point) if point.len() == 65 => Some(Algorithm::ES256),
        DecodingKeyKind::SecretOrDer(point) if point.len() == 97 => Some(Algorithm::ES384),
        _ => None,
    }
}
