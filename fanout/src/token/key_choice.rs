//! The two header fields that pick the keys a token is tried against, from one parse of the
//! header that refuses what jsonwebtoken's `Header` refuses.
//!
//! HS256/384/512 tokens are verified without jsonwebtoken (see [`super::hmac_key`]), so this
//! is their only header parse and must be as strict as jsonwebtoken's: every member of its
//! `Header` is type-checked here too, and unknown members are read whole (a number out of
//! range or a lone surrogate fails) as its flattened `extras` map reads them, but nothing is
//! kept beyond `alg` and `kid`.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, LazyLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::Jwk;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};

use super::signed_token::decode_part;

/// Room on the stack for a decoded header; ordinary ones hold 20-80 bytes.
const HEADER_ON_STACK: usize = 256;

/// Headers exactly as the common JWT libraries write them (jsonwebtoken puts `typ` first,
/// jose, jjwt and PyJWT put `alg` first), for the algorithms of the secret.
const USUAL_HEADERS: [(&str, Algorithm); 9] = [
    (r#"{"typ":"JWT","alg":"HS256"}"#, Algorithm::HS256),
    (r#"{"alg":"HS256","typ":"JWT"}"#, Algorithm::HS256),
    (r#"{"alg":"HS256"}"#, Algorithm::HS256),
    (r#"{"typ":"JWT","alg":"HS384"}"#, Algorithm::HS384),
    (r#"{"alg":"HS384","typ":"JWT"}"#, Algorithm::HS384),
    (r#"{"alg":"HS384"}"#, Algorithm::HS384),
    (r#"{"typ":"JWT","alg":"HS512"}"#, Algorithm::HS512),
    (r#"{"alg":"HS512","typ":"JWT"}"#, Algorithm::HS512),
    (r#"{"alg":"HS512"}"#, Algorithm::HS512),
];

/// [`USUAL_HEADERS`] base64url-encoded as they arrive, so such a header is known by its bytes:
/// a compare instead of a decode and a JSON parse on every connect. Encoded once here rather
/// than written out, so the table cannot disagree with its JSON.
static USUAL_ENCODED: LazyLock<Vec<(String, Algorithm)>> = LazyLock::new(|| {
    USUAL_HEADERS
        .iter()
        .map(|(json, alg)| (URL_SAFE_NO_PAD.encode(json), *alg))
        .collect()
});

/// `alg` and `kid` of a token's header.
#[derive(Debug)]
pub(super) struct KeyChoice {
    /// Which family of keys may verify the token.
    pub alg: Algorithm,
    /// Which JWKS key signed it, when the token says.
    pub kid: Option<String>,
}

/// jsonwebtoken's `Header` member for member (same names, same accepted JSON types); only
/// `alg` and `kid` are kept, the others checked and dropped.
#[derive(Deserialize)]
struct StrictHeader<'a> {
    alg: Algorithm,
    #[serde(borrow)]
    kid: Option<Cow<'a, str>>,
    #[serde(rename = "typ")]
    _typ: Option<Text>,
    #[serde(rename = "cty")]
    _cty: Option<Text>,
    #[serde(rename = "jku")]
    _jku: Option<Text>,
    #[serde(rename = "jwk")]
    _jwk: Option<Box<Jwk>>,
    #[serde(rename = "x5u")]
    _x5u: Option<Text>,
    #[serde(rename = "x5c")]
    _x5c: Option<Texts>,
    #[serde(rename = "x5t")]
    _x5t: Option<Text>,
    #[serde(rename = "x5t#S256")]
    _x5t_s256: Option<Text>,
    #[serde(rename = "crit")]
    _crit: Option<Texts>,
    #[serde(rename = "enc")]
    _enc: Option<Text>,
    #[serde(rename = "zip")]
    _zip: Option<Text>,
    #[serde(rename = "url")]
    _url: Option<Text>,
    #[serde(rename = "nonce")]
    _nonce: Option<Text>,
    /// Flattened like `Header::extras`, so unknown members are buffered (and so fully
    /// checked) as there, and the header must be a JSON object, not an array.
    #[serde(flatten)]
    _extras: IgnoredAny,
}

/// A JSON string, checked and dropped (where `Header` reads a `String`).
struct Text;

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;

        impl Visitor<'_> for Visit {
            type Value = Text;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Text, E> {
                Ok(Text)
            }
        }

        deserializer.deserialize_str(Visit)
    }
}

/// A JSON array of strings, checked and dropped (where `Header` reads a `Vec<String>`).
struct Texts;

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;

        impl<'de> Visitor<'de> for Visit {
            type Value = Texts;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an array of strings")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Texts, A::Error> {
                while seq.next_element::<Text>()?.is_some() {}
                Ok(Texts)
            }
        }

        deserializer.deserialize_seq(Visit)
    }
}

impl KeyChoice {
    /// Read from a token's base64url header part; fails as `jsonwebtoken::decode_header`
    /// would.
    pub fn read(encoded_header: &str) -> Result<Self, Error> {
        if let Some((_, alg)) = USUAL_ENCODED
            .iter()
            .find(|(encoded, _)| encoded == encoded_header)
        {
            return Ok(Self {
                alg: *alg,
                kid: None,
            });
        }
        let (mut stack, mut heap) = ([0u8; HEADER_ON_STACK], Vec::new());
        let json = decode_part(encoded_header, &mut stack, &mut heap).map_err(ErrorKind::Base64)?;
        let header: StrictHeader<'_> =
            serde_json::from_slice(json).map_err(|e| ErrorKind::Json(Arc::new(e)))?;
        Ok(Self {
            alg: header.alg,
            kid: header.kid.map(Cow::into_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header};

    use super::*;

    fn token(header: &Header) -> String {
        let claims = serde_json::json!({ "sub": "alice", "exp": 4_000_000_000u64 });
        jsonwebtoken::encode(header, &claims, &EncodingKey::from_secret(b"s")).expect("signs")
    }

    fn header_part(token: &str) -> &str {
        token.split('.').next().expect("a header")
    }

    #[test]
    fn reads_what_decode_header_reads() {
        let mut header = Header::new(Algorithm::HS384);
        header.kid = Some("k1".into());
        header.cty = Some("JWT".into());
        header.x5c = Some(vec!["MII".into()]);
        header
            .extras
            .insert("custom", serde_json::json!({"nested": [1, 2.5, null]}));
        let token = token(&header);
        let choice = KeyChoice::read(header_part(&token)).expect("reads");
        let full = jsonwebtoken::decode_header(&token).expect("decodes");
        assert_eq!(
            (choice.alg, choice.kid.as_deref()),
            (full.alg, full.kid.as_deref())
        );
        let mut long = Header::new(Algorithm::HS512);
        long.kid = Some("k".repeat(2 * HEADER_ON_STACK));
        let long_token = self::token(&long);
        let choice = KeyChoice::read(header_part(&long_token)).expect("reads");
        assert_eq!(choice.kid, long.kid, "decoded on the heap");
        let plain = KeyChoice::read(header_part(&self::token(&Header::default()))).expect("reads");
        assert_eq!((plain.alg, plain.kid), (Algorithm::HS256, None));
    }

    #[test]
    fn usual_headers_are_known_by_their_bytes_as_a_parse_reads_them() {
        for (json, alg) in USUAL_HEADERS {
            let full =
                jsonwebtoken::decode_header(format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(json)))
                    .expect("a header jsonwebtoken reads");
            assert_eq!((full.alg, full.kid), (alg, None), "{json}");
        }
        let written = header_part(&token(&Header::new(Algorithm::HS512))).to_owned();
        assert!(
            USUAL_ENCODED.iter().any(|(encoded, _)| *encoded == written),
            "jsonwebtoken's own header is one of them"
        );
    }

    /// Each header, as JSON, reaches the same decision as `jsonwebtoken::decode_header`.
    #[test]
    fn refuses_what_decode_header_refuses() {
        let headers: [&[u8]; 25] = [
            br#"{"alg":"HS256"}"#,
            br#"{"alg":"HS256","kid":"a\"b","typ":null}"#,
            br#"{"alg":"HS256","extra":1e400}"#,
            br#"{"alg":"HS256","extra":"\ud800"}"#,
            br#"{"alg":"HS256","extra":[1,{"a":-2.5e-3}],"other":true}"#,
            br#"{"alg":"HS256","x":1,"x":2}"#,
            br#"{"alg":"HS256","typ":5}"#,
            br#"{"alg":"HS256","kid":7}"#,
            br#"{"alg":"HS256","x5c":"one"}"#,
            br#"{"alg":"HS256","crit":["exp"]}"#,
            br#"{"alg":"HS256","crit":[1]}"#,
            br#"{"alg":"HS256","x5c":["a","\ud800"],"crit":null}"#,
            br#"{"alg":"HS256","typ":"\ud800"}"#,
            br#"{"alg":"HS256","x5c":[],"typ":"J\u0057T"}"#,
            br#"{"alg":"HS256","jwk":{}}"#,
            br#"{"alg":"HS256","enc":false}"#,
            br#"{"alg":"HS256","alg":"HS256"}"#,
            br#"{"alg":{"HS256":null}}"#,
            br#"{"alg":"none"}"#,
            br#"{"typ":"JWT"}"#,
            br#"["HS256"]"#,
            br#"{"alg":"HS256"} x"#,
            br#" {"alg":"HS256"} "#,
            b"{\"alg\":\"HS256\",\"typ\":\"\xff\"}",
            br#"{"alg":"HS256","x5t#S256":"abc","url":"u","nonce":"n","zip":"DEF"}"#,
        ];
        for json in headers {
            let header = URL_SAFE_NO_PAD.encode(json);
            let token = format!("{header}.e30.sig");
            assert_eq!(
                KeyChoice::read(&header).is_ok(),
                jsonwebtoken::decode_header(&token).is_ok(),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        for bad in ["", "!!", "e30.e30", "eyJhbGciOiJIUzI1NiJ9="] {
            assert!(KeyChoice::read(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
