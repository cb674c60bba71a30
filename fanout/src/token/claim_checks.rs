//! The claim checks of an HS256/384/512 token: those jsonwebtoken's `Validation` makes as the
//! verifier configures it, on one strict, borrowed parse of the claims.
//!
//! jsonwebtoken parses the claims twice, into [`Claims`] and into its own validation struct,
//! and refuses a token either parse refuses. Its validation parse forgives a malformed `nbf`,
//! `iss` or `aud` (it notes "failed to parse" and reads on from wherever the error left it),
//! which no single parse can imitate exactly. So [`Payload`] forgives nothing: each member is
//! read at least as strictly as either of jsonwebtoken's parses reads it, and claims it reads
//! are claims both of those read alike. Claims it cannot read ([`Judgement::Unusual`]: a
//! member of an odd type, a duplicate, broken JSON) are rare, and only the secret's holder
//! can sign them; jsonwebtoken judges those itself.
//! `exp` is checked by the verifier itself, exactly, after these checks.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use jsonwebtoken::errors::{Error, ErrorKind};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::signed_token::decode_part;
use super::{Claims, TokenSettings};
use crate::clock::now_micros;

/// Room on the stack for decoded claims; ordinary ones hold 50-500 bytes.
const CLAIMS_ON_STACK: usize = 1024;

/// What the claims of a token must say, besides a lifetime the verifier accepts.
#[derive(Clone, Debug)]
pub(super) struct ClaimChecks {
    /// When set, `iss` must be present and equal it (or, as an array, contain it); minted
    /// tokens carry it.
    pub issuer: Option<String>,
    /// When set, `aud` must be present and equal it (or, as an array, contain it); when not,
    /// any `aud` passes. Minted tokens carry it.
    pub audience: Option<String>,
    /// Clock skew forgiven on `nbf`.
    pub leeway: Duration,
}

impl ClaimChecks {
    /// The checks `settings` ask for.
    pub fn new(settings: &TokenSettings) -> Self {
        Self {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway: settings.leeway,
        }
    }

    /// Judge the claims of a token's base64url payload part (its signature verified).
    pub fn judge(&self, encoded_payload: &str) -> Judgement {
        let (mut stack, mut heap) = ([0u8; CLAIMS_ON_STACK], Vec::new());
        let json = match decode_part(encoded_payload, &mut stack, &mut heap) {
            Ok(json) => json,
            Err(e) => return Judgement::Checked(Err(ErrorKind::Base64(e).into())),
        };
        match Payload::parse(json) {
            Some(payload) => Judgement::Checked(self.check(payload)),
            None => Judgement::Unusual,
        }
    }

    /// jsonwebtoken's checks, in its order: presence, `nbf`, `iss`, `aud`.
    fn check(&self, payload: Payload<'_>) -> Result<Claims, Error> {
        if self.issuer.is_some() && payload.iss.is_none() {
            return Err(ErrorKind::MissingRequiredClaim("iss".into()).into());
        }
        if self.audience.is_some() && payload.aud.is_none() {
            return Err(ErrorKind::MissingRequiredClaim("aud".into()).into());
        }
        if payload
            .nbf
            .is_some_and(|nbf| nbf > now_secs().saturating_add(self.leeway.as_secs()))
        {
            return Err(ErrorKind::ImmatureSignature.into());
        }
        if let (Some(issuer), Some(iss)) = (&self.issuer, &payload.iss) {
            if !iss.contains(issuer) {
                return Err(ErrorKind::InvalidIssuer.into());
            }
        }
        if let (Some(audience), Some(aud)) = (&self.audience, &payload.aud) {
            if !aud.contains(audience) {
                return Err(ErrorKind::InvalidAudience.into());
            }
        }
        Ok(Claims {
            sub: payload.sub.into_owned(),
            exp: payload.exp,
            iat: payload.iat,
        })
    }
}

/// What [`ClaimChecks::judge`] makes of a token's claims.
#[derive(Debug)]
pub(super) enum Judgement {
    /// Read and checked: jsonwebtoken's decision, as it would make it.
    Checked(Result<Claims, Error>),
    /// Not claims the strict parse reads; jsonwebtoken must judge them.
    Unusual,
}

fn now_secs() -> u64 {
    now_micros() / 1_000_000
}

/// The members of the claims that are read, borrowed from the decoded JSON.
#[derive(Deserialize)]
struct Payload<'a> {
    /// [`Claims::sub`], required.
    #[serde(borrow)]
    sub: Cow<'a, str>,
    /// [`Claims::exp`], required, a JSON integer.
    exp: u64,
    /// [`Claims::iat`].
    #[serde(default)]
    iat: Option<u64>,
    /// Not before: a number of seconds, rounded if fractional.
    #[serde(default, deserialize_with = "numeric_date")]
    nbf: Option<u64>,
    /// Issuer, checked when one is configured (`null` counts as absent, as there).
    #[serde(borrow, default)]
    iss: Option<Names<'a>>,
    /// Audience, checked when one is configured.
    #[serde(borrow, default)]
    aud: Option<Names<'a>>,
}

impl<'a> Payload<'a> {
    /// The claims, or `None` if they are not a JSON object of members this struct reads.
    fn parse(json: &'a [u8]) -> Option<Self> {
        // serde would read a JSON array as the struct's members in order; jsonwebtoken
        // refuses every array (its two structs cannot both read one).
        let first = json
            .iter()
            .find(|b| !matches!(b, b' ' | b'\n' | b'\t' | b'\r'));
        if first == Some(&b'[') {
            return None;
        }
        serde_json::from_slice(json).ok()
    }
}

/// `iss` or `aud`: one string or an array of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Names<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(#[serde(borrow)] Vec<Name<'a>>),
}

/// One string of a [`Names`] array (a newtype, as serde borrows a `Cow` only as a field).
#[derive(Debug, Deserialize)]
struct Name<'a>(#[serde(borrow)] Cow<'a, str>);

impl Names<'_> {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Names::One(name) => name == wanted,
            Names::Many(names) => names.iter().any(|Name(name)| name == wanted),
        }
    }
}

/// A NumericDate as jsonwebtoken reads one: a non-negative integer, or a finite non-negative
/// float below 2^64 rounded to the nearest second (anything else it refuses).
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    struct NumericDate;

    impl Visitor<'_> for NumericDate {
        type Value = Option<u64>;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("a non-negative number of seconds")
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(Some(value))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
            if value.is_finite() && value >= 0.0 && value < u64::MAX as f64 {
                Ok(Some(value.round() as u64))
            } else {
                Err(de::Error::custom("not representable as seconds"))
            }
        }
    }

    deserializer.deserialize_any(NumericDate)
}

#[cfg(test)]
mod tests;
