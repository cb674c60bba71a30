//! Each claim rule on its own. Every decision is also checked against what jsonwebtoken
//! decides for the same token (`decision` fails the test when the two differ), and each case
//! says whether the checks here judge it or leave it to jsonwebtoken.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::ErrorKind;

use super::*;
use crate::token::DEFAULT_LEEWAY;
use crate::token::fast_path_tests::{Refusal, SECRET, decision, refused, settings, signed};

/// Who judges a token's claims.
#[derive(Debug, PartialEq)]
enum Judge {
    /// [`ClaimChecks`].
    Here,
    /// jsonwebtoken, for claims [`ClaimChecks`] calls unusual.
    Jsonwebtoken,
}

/// The decision for a token with these claims (JSON text) as configured, and who made it.
fn judged_with(issuer: bool, audience: bool, claims: &str) -> (Result<Claims, Refusal>, Judge) {
    let settings = settings(issuer, audience);
    let token = signed(
        Algorithm::HS256,
        SECRET,
        br#"{"alg":"HS256"}"#,
        claims.as_bytes(),
    );
    let judge = match ClaimChecks::new(&settings).judge(&URL_SAFE_NO_PAD.encode(claims)) {
        Judgement::Checked(_) => Judge::Here,
        Judgement::Unusual => Judge::Jsonwebtoken,
    };
    (decision(&settings, &token), judge)
}

fn judged(claims: &str) -> (Result<Claims, Refusal>, Judge) {
    judged_with(false, false, claims)
}

fn now() -> u64 {
    now_secs()
}

fn json_error() -> Result<Claims, Refusal> {
    refused(ErrorKind::Json(Arc::new(de::Error::custom("any"))))
}

fn missing() -> Result<Claims, Refusal> {
    refused(ErrorKind::MissingRequiredClaim(String::new()))
}

fn claims(sub: &str, exp: u64, iat: Option<u64>) -> Result<Claims, Refusal> {
    Ok(Claims {
        sub: sub.to_owned(),
        exp,
        iat,
    })
}

#[test]
fn sub_is_a_required_string_read_with_its_escapes() {
    let exp = now() + 600;
    for (json, sub) in [
        (r#""alice""#, "alice"),
        (r#""al\u0069ce \"\ud83e\udd80\"""#, "alice \"\u{1f980}\""),
        ("\"Zo\u{eb} \u{7528}\u{6237}\"", "Zo\u{eb} \u{7528}\u{6237}"),
        (r#""""#, ""),
    ] {
        let token = format!(r#"{{"sub":{json},"exp":{exp}}}"#);
        assert_eq!(
            judged(&token),
            (claims(sub, exp, None), Judge::Here),
            "{token}"
        );
    }
    // Longer than the stack buffer: decoded on the heap.
    let long = "x".repeat(3 * CLAIMS_ON_STACK);
    let token = format!(r#"{{"sub":"{long}","exp":{exp}}}"#);
    assert_eq!(judged(&token), (claims(&long, exp, None), Judge::Here));
    for bad in [
        format!(r#"{{"exp":{exp}}}"#),
        format!(r#"{{"sub":null,"exp":{exp}}}"#),
        format!(r#"{{"sub":5,"exp":{exp}}}"#),
        format!(r#"{{"sub":["alice"],"exp":{exp}}}"#),
        format!(r#"{{"sub":"\ud800","exp":{exp}}}"#),
        format!(r#"{{"sub":"a","sub":"b","exp":{exp}}}"#),
        format!(r#"{{"sub":"a","s\u0075b":"b","exp":{exp}}}"#),
    ] {
        assert_eq!(judged(&bad), (json_error(), Judge::Jsonwebtoken), "{bad}");
    }
}

#[test]
fn exp_is_a_required_integer_checked_later() {
    // Any integer passes here; the verifier's own check refuses past and far `exp`.
    assert_eq!(
        judged(r#"{"sub":"a","exp":1}"#),
        (claims("a", 1, None), Judge::Here)
    );
    assert_eq!(
        judged(r#"{"sub":"a","exp":18446744073709551615}"#),
        (claims("a", u64::MAX, None), Judge::Here)
    );
    for exp in [
        "1.5",
        "2e9",
        r#""2000000000""#,
        "-1",
        "null",
        "18446744073709551616",
        "[1]",
    ] {
        let token = format!(r#"{{"sub":"a","exp":{exp}}}"#);
        assert_eq!(
            judged(&token),
            (json_error(), Judge::Jsonwebtoken),
            "{token}"
        );
    }
    assert_eq!(
        judged(r#"{"sub":"a"}"#),
        (json_error(), Judge::Jsonwebtoken)
    );
}

#[test]
fn iat_is_an_optional_integer() {
    let exp = now() + 600;
    let with_iat = |iat: &str| judged(&format!(r#"{{"sub":"a","exp":{exp},"iat":{iat}}}"#));
    assert_eq!(with_iat("7"), (claims("a", exp, Some(7)), Judge::Here));
    assert_eq!(with_iat("null"), (claims("a", exp, None), Judge::Here));
    for iat in ["7.0", r#""7""#, "-7"] {
        assert_eq!(
            with_iat(iat),
            (json_error(), Judge::Jsonwebtoken),
            "iat {iat}"
        );
    }
}

#[test]
fn nbf_may_lie_ahead_by_the_leeway_and_must_be_a_number() {
    let exp = now() + 600;
    let leeway = DEFAULT_LEEWAY.as_secs();
    let with_nbf = |nbf: &str| judged(&format!(r#"{{"sub":"a","exp":{exp},"nbf":{nbf}}}"#));
    for passing in [
        (now() - 100).to_string(),
        (now() + leeway - 5).to_string(),
        format!("{}.4", now() + leeway - 5),
        "0".to_owned(),
        "-0.0".to_owned(),
    ] {
        assert_eq!(
            with_nbf(&passing),
            (claims("a", exp, None), Judge::Here),
            "nbf {passing}"
        );
    }
    for immature in [
        (now() + leeway + 5).to_string(),
        format!("{}.6", now() + leeway + 4),
        "1e19".to_owned(),
    ] {
        assert_eq!(
            with_nbf(&immature),
            (refused(ErrorKind::ImmatureSignature), Judge::Here),
            "nbf {immature}"
        );
    }
    for malformed in [
        "null",
        r#""0""#,
        "-1",
        "-0.5",
        "1e400",
        "18446744073709551616",
        "true",
    ] {
        assert_eq!(
            with_nbf(malformed),
            (
                refused(ErrorKind::InvalidClaimFormat(String::new())),
                Judge::Jsonwebtoken
            ),
            "nbf {malformed}"
        );
    }
    // jsonwebtoken's lenient reader stops inside a container and reads on from there.
    for container in ["[1]", "{}", r#"{"a":1}"#] {
        let (decision, judge) = with_nbf(container);
        assert!(decision.is_err(), "nbf {container}");
        assert_eq!(judge, Judge::Jsonwebtoken);
    }
}

#[test]
fn iss_must_name_the_configured_issuer_when_one_is() {
    let exp = now() + 600;
    let with_iss = |iss: &str| {
        judged_with(
            true,
            false,
            &format!(r#"{{"sub":"a","exp":{exp},"iss":{iss}}}"#),
        )
    };
    for good in [
        r#""https://id.example""#,
        r#""https:\/\/id.example""#,
        r#"["x","https://id.example"]"#,
    ] {
        assert_eq!(
            with_iss(good),
            (claims("a", exp, None), Judge::Here),
            "iss {good}"
        );
    }
    for wrong in [r#""https://evil.example""#, "[]", r#"["x"]"#] {
        assert_eq!(
            with_iss(wrong),
            (refused(ErrorKind::InvalidIssuer), Judge::Here),
            "iss {wrong}"
        );
    }
    assert_eq!(with_iss("null"), (missing(), Judge::Here));
    let absent = format!(r#"{{"sub":"a","exp":{exp}}}"#);
    assert_eq!(judged_with(true, false, &absent), (missing(), Judge::Here));
    for odd in ["5", r#"["https://id.example",1]"#, "{}"] {
        assert_eq!(with_iss(odd), (missing(), Judge::Jsonwebtoken), "iss {odd}");
    }
    // Unconfigured, any `iss` passes, even one of another type.
    for any in [r#""https://evil.example""#, "5", "{}"] {
        let token = format!(r#"{{"sub":"a","exp":{exp},"iss":{any}}}"#);
        assert_eq!(judged(&token).0, claims("a", exp, None), "iss {any}");
    }
}

#[test]
fn aud_must_name_the_configured_audience_when_one_is() {
    let exp = now() + 600;
    let with_aud = |aud: &str| {
        judged_with(
            false,
            true,
            &format!(r#"{{"sub":"a","exp":{exp},"aud":{aud}}}"#),
        )
    };
    for good in [
        r#""pushgate""#,
        r#""push\u0067ate""#,
        r#"["other","pushgate"]"#,
    ] {
        assert_eq!(
            with_aud(good),
            (claims("a", exp, None), Judge::Here),
            "aud {good}"
        );
    }
    for wrong in [r#""other""#, "[]", r#"["other"]"#, r#""Pushgate""#] {
        assert_eq!(
            with_aud(wrong),
            (refused(ErrorKind::InvalidAudience), Judge::Here),
            "aud {wrong}"
        );
    }
    assert_eq!(with_aud("null"), (missing(), Judge::Here));
    for odd in ["true", r#"["pushgate",null]"#, r#"[["pushgate"]]"#] {
        assert_eq!(with_aud(odd), (missing(), Judge::Jsonwebtoken), "aud {odd}");
    }
    // Unconfigured, any `aud` passes.
    for any in [r#""other""#, r#"["a","b"]"#] {
        let token = format!(r#"{{"sub":"a","exp":{exp},"aud":{any}}}"#);
        assert_eq!(
            judged(&token),
            (claims("a", exp, None), Judge::Here),
            "aud {any}"
        );
    }
    for odd in ["7", "1e400"] {
        let token = format!(r#"{{"sub":"a","exp":{exp},"aud":{odd}}}"#);
        assert_eq!(
            judged(&token),
            (claims("a", exp, None), Judge::Jsonwebtoken),
            "aud {odd}"
        );
    }
    // Both configured: both checked.
    let both = format!(r#"{{"sub":"a","exp":{exp},"iss":"https://id.example","aud":"pushgate"}}"#);
    assert_eq!(
        judged_with(true, true, &both),
        (claims("a", exp, None), Judge::Here)
    );
}

#[test]
fn only_a_json_object_of_claims_is_judged_here() {
    let exp = now() + 600;
    let unknown = format!(r#" {{"sub":"a","exp":{exp},"other":{{"x":[1e4,"\u00e9"]}}}} "#);
    assert_eq!(judged(&unknown), (claims("a", exp, None), Judge::Here));
    // Unknown members are skipped, not read: numbers out of range and lone surrogates pass.
    let odd_unknown = format!(r#"{{"sub":"a","exp":{exp},"other":[1e400,"\ud800"]}}"#);
    assert_eq!(judged(&odd_unknown).0, claims("a", exp, None));
    for bad in [
        format!(r#"["a",{exp}]"#),
        format!(r#" ["a",{exp},1]"#),
        format!(r#"[{exp},0,"a","x",["y"]]"#),
        r#""a""#.to_owned(),
        String::new(),
        format!(r#"{{"sub":"a","exp":{exp}}} x"#),
        format!(r#"{{"sub":"a","exp":{exp},}}"#),
        format!(r#"{{"sub":"a","exp":{exp},"iss":[1,2}}"#),
        format!(r#"{{"sub":"a","exp":{exp},"nbf":1,"nbf":2}}"#),
        format!(r#"{{"sub":"a","exp":{exp},"aud":"x","aud":"y"}}"#),
    ] {
        assert_eq!(judged(&bad), (json_error(), Judge::Jsonwebtoken), "{bad}");
    }
}

#[test]
fn a_payload_that_is_not_base64url_is_refused() {
    let checks = ClaimChecks::new(&settings(false, false));
    for bad in ["e30=", "e3+", "e"] {
        assert!(
            matches!(
                checks.judge(bad),
                Judgement::Checked(Err(e)) if matches!(e.kind(), ErrorKind::Base64(_))
            ),
            "{bad:?}"
        );
    }
}
