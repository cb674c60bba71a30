//! The HMAC fast path against `jsonwebtoken::decode` with the `Validation` the verifier gave
//! it before: on generated tokens (odd claims, odd headers, bad signatures, flipped
//! characters) both must accept with the same claims or both refuse, for the same kind of
//! reason.

use std::mem::{Discriminant, discriminant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;

use super::*;

pub(super) const SECRET: &str = "a-test-secret-of-32-bytes-------";
pub(super) const ISSUER: &str = "https://id.example";
pub(super) const AUDIENCE: &str = "pushgate";

/// Default settings, with the issuer and the audience checked or not.
pub(super) fn settings(issuer: bool, audience: bool) -> TokenSettings {
    TokenSettings {
        issuer: issuer.then(|| ISSUER.to_owned()),
        audience: audience.then(|| AUDIENCE.to_owned()),
        ..TokenSettings::with_secret(SECRET)
    }
}

/// A token of these exact header and payload bytes, signed with `alg` and `secret`.
pub(super) fn signed(alg: Algorithm, secret: &str, header: &[u8], payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = EncodingKey::from_secret(secret.as_bytes());
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, alg).expect("signs");
    format!("{input}.{signature}")
}

/// A refusal's kind, without its details (a JSON error's message differs between one parse
/// and two; a missing claim's name is whichever jsonwebtoken's hash set lists first).
pub(super) type Refusal = Discriminant<ErrorKind>;

/// What the fast path and what jsonwebtoken decide for `token`: (now, before).
pub(super) fn decisions(
    settings: &TokenSettings,
    token: &str,
) -> (Result<Claims, Refusal>, Result<Claims, Refusal>) {
    let verifier = TokenVerifier::assemble(settings, Vec::new(), None, "key");
    let refusal = |e: Error| discriminant(e.kind());
    let now = SignedToken::parse(token).and_then(|token| {
        if token.choice.alg.family() == AlgorithmFamily::Hmac {
            verifier.verify_hmac(&token)
        } else {
            // Not the fast path's token; jsonwebtoken refuses it for its algorithm.
            Err(ErrorKind::InvalidAlgorithm.into())
        }
    });
    let key = DecodingKey::from_secret(SECRET.as_bytes());
    let validation = validation(settings, AlgorithmFamily::Hmac);
    let before = jsonwebtoken::decode::<Claims>(token, &key, &validation).map(|data| data.claims);
    (now.map_err(refusal), before.map_err(refusal))
}

/// The decision both reach; panics if they differ.
pub(super) fn decision(settings: &TokenSettings, token: &str) -> Result<Claims, Refusal> {
    let (now, before) = decisions(settings, token);
    assert_eq!(now, before, "{token}");
    now
}

pub(super) fn refused(kind: ErrorKind) -> Result<Claims, Refusal> {
    Err(discriminant(&kind))
}

fn seconds_now() -> i64 {
    (now_micros() / 1_000_000) as i64
}

/// A claim's JSON value.
#[derive(Clone, Debug)]
enum Value {
    /// JSON text as is.
    Text(String),
    /// `now + offset` seconds, as an integer.
    At(i64),
    /// `now + offset + fraction` seconds, as a float (`|fraction| < 0.5`, so it rounds to
    /// `now + offset`).
    AtFraction(i64, f64),
}

impl Value {
    fn render(&self, now: i64) -> String {
        match self {
            Value::Text(text) => text.clone(),
            Value::At(offset) => (now + offset).to_string(),
            Value::AtFraction(offset, fraction) => ((now + offset) as f64 + fraction).to_string(),
        }
    }
}

fn text(literals: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::sample::select(literals).prop_map(|t| Value::Text(t.to_owned()))
}

/// `sub`: plain, escaped, unicode and broken strings, and things that are not strings.
fn subject() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => "[a-z0-9-]{1,12}".prop_map(|s| Value::Text(serde_json::to_string(&s).expect("json"))),
        3 => "(?s).{0,10}".prop_map(|s| Value::Text(serde_json::to_string(&s).expect("json"))),
        2 => text(&[
            r#""al\u0069ce""#,
            r#""caf\u00e9 \ud83e\udd80""#,
            "\"Zo\u{eb} \u{7528}\u{6237}\"",
            r#""a\"b\\c\/d\n""#,
            r#""\ud800""#,
            r#""\udc00x""#,
            r#""""#,
            "5",
            "null",
            r#"["alice"]"#,
            "{}",
        ]),
    ]
}

/// `exp` or `iat`: integers, floats, strings, out-of-range and negative numbers.
fn time() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => (-200_000i64..200_000).prop_map(Value::At),
        1 => ((-200_000i64..200_000), -0.45f64..0.45).prop_map(|(o, f)| Value::AtFraction(o, f)),
        1 => odd_time(),
    ]
}

/// `nbf`: as [`time`], but never within 2 s of `now + leeway`, where the two paths'
/// clock readings could straddle a second.
fn not_before() -> impl Strategy<Value = Value> {
    let leeway = DEFAULT_LEEWAY.as_secs() as i64;
    let offset = prop_oneof![3 => -200_000i64..leeway - 2, 1 => leeway + 2..200_000];
    prop_oneof![
        6 => offset.clone().prop_map(Value::At),
        2 => (offset, -0.45f64..0.45).prop_map(|(o, f)| Value::AtFraction(o, f)),
        1 => odd_time(),
    ]
}

/// Times that are not plain seconds from now.
fn odd_time() -> impl Strategy<Value = Value> {
    text(&[
        "0",
        "18446744073709551615",
        "18446744073709551616",
        "1e400",
        "-1",
        "-0.0",
        "0.4",
        "1.7e9",
        r#""1764590000""#,
        "null",
        "true",
        "[1]",
        "{}",
    ])
}

/// `iss` or `aud`: the configured value (`right`, spelt plainly or with escapes), others,
/// arrays of them, and things that are neither.
fn names(right: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let wrong = prop::sample::select(&[r#""other""#, r#""""#, r#""Pushgate""#][..]);
    let name = prop_oneof![3 => prop::sample::select(right), 1 => wrong];
    prop_oneof![
        4 => name.clone().prop_map(|n| Value::Text(n.to_owned())),
        3 => prop::collection::vec(name, 0..4)
            .prop_map(|names| Value::Text(format!("[{}]", names.join(",")))),
        1 => text(&[
            "null",
            "5",
            "{}",
            "1e400",
            r#""\ud800""#,
            r#"["pushgate",1]"#,
            r#"["pushgate",null]"#,
            r#"[["pushgate"]]"#,
        ]),
    ]
}

const ISSUERS: &[&str] = &[r#""https://id.example""#, r#""https:\/\/id.example""#];
const AUDIENCES: &[&str] = &[r#""pushgate""#, r#""push\u0067ate""#];

/// A member neither parse knows, or a duplicate of one they do (keys may be escaped).
fn extra() -> impl Strategy<Value = (String, Value)> {
    let key = prop::sample::select(
        &[
            "x",
            "sub",
            "exp",
            "iat",
            "nbf",
            "iss",
            "aud",
            r"s\u0075b",
            r"n\u0062f",
        ][..],
    );
    let value = prop_oneof![
        subject(),
        time(),
        names(ISSUERS),
        names(AUDIENCES),
        text(&["1e400", r#""\ud800""#, r#"{"a":[1,{"b":null}]}"#, "[1,2"]),
    ];
    (key, value).prop_map(|(k, v)| (k.to_owned(), v))
}

/// The claims: each member present or not, plus perhaps an extra, in any order.
fn members() -> impl Strategy<Value = Vec<(String, Value)>> {
    (
        option::weighted(0.95, subject()),
        option::weighted(0.95, time()),
        option::weighted(0.4, time()),
        option::weighted(0.4, not_before()),
        option::weighted(0.75, names(ISSUERS)),
        option::weighted(0.75, names(AUDIENCES)),
        option::weighted(0.2, extra()),
    )
        .prop_flat_map(|(sub, exp, iat, nbf, iss, aud, extra)| {
            let named = [
                ("sub", sub),
                ("exp", exp),
                ("iat", iat),
                ("nbf", nbf),
                ("iss", iss),
                ("aud", aud),
            ];
            let mut members: Vec<(String, Value)> = named
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
                .collect();
            members.extend(extra);
            Just(members).prop_shuffle()
        })
}

/// Header members besides `alg`, odd ones included.
fn header_extras() -> impl Strategy<Value = Vec<&'static str>> {
    let usual = prop::sample::select(
        &[
            r#""typ":"JWT""#,
            r#""kid":"k\u0031""#,
            r#""cty":null"#,
            r#""x":{"nested":[1.5,true]}"#,
            r#""crit":["exp"]"#,
        ][..],
    );
    let odd = prop::sample::select(
        &[
            r#""typ":5"#,
            r#""x":1e400"#,
            r#""x":"\ud800""#,
            r#""x5c":"MII""#,
            r#""jwk":{}"#,
            r#""alg":"HS256""#,
        ][..],
    );
    prop::collection::vec(prop_oneof![8 => usual, 1 => odd], 0..3)
}

/// How the token is signed, or spoiled.
#[derive(Clone, Debug)]
enum Signing {
    Right,
    /// With another secret.
    WrongSecret,
    /// With the header's algorithm's sibling.
    OtherAlgorithm,
    /// Right, then the last characters cut off.
    Truncated(usize),
    /// Right, then more characters.
    Extended(&'static str),
}

fn signing() -> impl Strategy<Value = Signing> {
    prop_oneof![
        16 => Just(Signing::Right),
        1 => Just(Signing::WrongSecret),
        1 => Just(Signing::OtherAlgorithm),
        1 => (1usize..5).prop_map(Signing::Truncated),
        1 => prop::sample::select(&["A", "AA", "AAA", "AAAA", "=", "."][..]).prop_map(Signing::Extended),
    ]
}

/// A generated token and the settings it is checked against.
#[derive(Clone, Debug)]
struct Case {
    issuer: bool,
    audience: bool,
    alg: Algorithm,
    alg_last: bool,
    header_extras: Vec<&'static str>,
    members: Vec<(String, Value)>,
    signing: Signing,
    /// One character of the finished token replaced.
    flip: Option<(Index, char)>,
}

fn case() -> impl Strategy<Value = Case> {
    let alg = prop::sample::select(&[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512][..]);
    let flip = option::weighted(
        0.1,
        (
            any::<Index>(),
            prop::sample::select(&['A', 'z', '0', '-', '_', '.', '=', '+', '/'][..]),
        ),
    );
    (
        any::<bool>(),
        any::<bool>(),
        alg,
        any::<bool>(),
        header_extras(),
        members(),
        signing(),
        flip,
    )
        .prop_map(
            |(issuer, audience, alg, alg_last, header_extras, members, signing, flip)| Case {
                issuer,
                audience,
                alg,
                alg_last,
                header_extras,
                members,
                signing,
                flip,
            },
        )
}

impl Case {
    fn token(&self) -> String {
        let now = seconds_now();
        let alg = match self.alg {
            Algorithm::HS256 => r#""alg":"HS256""#,
            Algorithm::HS384 => r#""alg":"HS384""#,
            _ => r#""alg":"HS512""#,
        };
        let mut header = self.header_extras.clone();
        if self.alg_last {
            header.push(alg);
        } else {
            header.insert(0, alg);
        }
        let header = format!("{{{}}}", header.join(","));
        let payload = self
            .members
            .iter()
            .map(|(key, value)| format!("\"{key}\":{}", value.render(now)))
            .collect::<Vec<_>>()
            .join(",");
        let payload = format!("{{{payload}}}");
        let (alg, secret) = match self.signing {
            Signing::WrongSecret => (self.alg, "another-secret"),
            Signing::OtherAlgorithm if self.alg == Algorithm::HS256 => (Algorithm::HS384, SECRET),
            Signing::OtherAlgorithm => (Algorithm::HS256, SECRET),
            _ => (self.alg, SECRET),
        };
        let mut token = signed(alg, secret, header.as_bytes(), payload.as_bytes());
        match self.signing {
            Signing::Truncated(n) => token.truncate(token.len() - n),
            Signing::Extended(more) => token.push_str(more),
            _ => {}
        }
        if let Some((at, c)) = &self.flip {
            let at = at.index(token.len());
            token.replace_range(at..=at, &c.to_string());
        }
        token
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_fast_path_decides_as_jsonwebtoken_did(case in case()) {
        let token = case.token();
        let (now, before) = decisions(&settings(case.issuer, case.audience), &token);
        prop_assert_eq!(now, before, "{}", token);
    }
}

/// The generator is no test if it rarely makes a token either path accepts.
#[test]
fn generated_tokens_are_often_accepted() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = case();
    let (mut accepted, total) = (0, 1000);
    for _ in 0..total {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        let settings = settings(case.issuer, case.audience);
        accepted += usize::from(decision(&settings, &case.token()).is_ok());
    }
    assert!(
        accepted * 10 >= total,
        "only {accepted} of {total} generated tokens accepted"
    );
}

#[test]
fn minted_and_foreign_tokens() {
    let plain = settings(false, false);
    let verifier = TokenVerifier::assemble(&plain, Vec::new(), None, "key");
    let minted = verifier.mint("alice", 60);
    assert_eq!(
        decision(&plain, &minted).map(|c| c.sub),
        Ok("alice".to_owned())
    );
    let strict = settings(true, true);
    let minted = TokenVerifier::assemble(&strict, Vec::new(), None, "key").mint("bob", 60);
    assert!(decision(&strict, &minted).is_ok());
    let foreign = TokenVerifier::new("another-secret", "key").mint("alice", 60);
    assert_eq!(
        decision(&plain, &foreign),
        refused(ErrorKind::InvalidSignature)
    );
}

#[test]
fn malformed_tokens_are_refused_alike() {
    let plain = settings(false, false);
    let good = TokenVerifier::assemble(&plain, Vec::new(), None, "key").mint("alice", 60);
    let (header, rest) = good.split_once('.').expect("parts");
    let none = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#));
    let rs256 = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#));
    for bad in [
        String::new(),
        "abc".to_owned(),
        "a.b".to_owned(),
        format!("{header}.{rest}.x"),
        format!("x{good}"),
        format!("{good}="),
        none,
        rs256,
    ] {
        assert!(decision(&plain, &bad).is_err(), "{bad:?}");
    }
}
