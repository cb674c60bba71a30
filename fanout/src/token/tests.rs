//! The verifier against tokens signed with keys these tests generate, and a JWKS document
//! served over real HTTP (see `testing::identity_provider`).

use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::*;
use crate::testing::eventually;
use crate::testing::identity_provider::{IdentityProvider, KeyKind};

const SECRET: &str = "a-test-secret-of-32-bytes-------";

fn now() -> u64 {
    now_micros() / 1_000_000
}

fn claims(user: &str) -> Value {
    json!({"sub": user, "exp": now() + 600})
}

fn hs(secret: &str, algorithm: Algorithm, claims: &Value) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&Header::new(algorithm), claims, &key).expect("sign")
}

fn with_jwks(url: &str, tune: impl FnOnce(&mut JwksSettings)) -> TokenSettings {
    let mut jwks = JwksSettings::new(url);
    tune(&mut jwks);
    TokenSettings {
        jwks: Some(jwks),
        ..TokenSettings::with_secret(SECRET)
    }
}

#[tokio::test]
async fn minted_tokens_verify_and_foreign_ones_do_not() {
    let verifier = TokenVerifier::new(SECRET, "key");
    let token = verifier.mint("alice", 60);
    assert_eq!(
        verifier.verify(&token).await.map(|c| c.sub),
        Ok("alice".into())
    );
    let other = TokenVerifier::new("another-secret-of-32-bytes------", "key").mint("alice", 60);
    assert!(matches!(
        verifier.verify(&other).await,
        Err(TokenError::Invalid(_))
    ));
    assert_eq!(verifier.identify("key").await, Ok(Caller::Service));
    assert!(verifier.identify("kez").await.is_err());
}

#[tokio::test]
async fn every_hmac_algorithm_verifies_with_the_secret() {
    let verifier = TokenVerifier::new(SECRET, "key");
    for algorithm in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let token = hs(SECRET, algorithm, &claims("alice"));
        assert!(verifier.verify(&token).await.is_ok(), "{algorithm:?}");
    }
}

#[tokio::test]
async fn lifetimes_are_checked() {
    let verifier = TokenVerifier::new(SECRET, "key");
    let verify = async |claims: Value| {
        verifier
            .verify(&hs(SECRET, Algorithm::HS256, &claims))
            .await
    };
    assert_eq!(
        verify(json!({"sub": "a", "exp": 1})).await,
        Err(TokenError::Expired)
    );
    assert_eq!(
        verify(json!({"sub": "a", "exp": now()})).await,
        Err(TokenError::Expired)
    );
    assert_eq!(
        verify(json!({"sub": "a", "exp": u64::MAX})).await,
        Err(TokenError::TooLong),
        "a socket that never expires"
    );
    let week = DEFAULT_MAX_TTL.as_secs();
    assert!(
        verify(json!({"sub": "a", "exp": now() + week - 60}))
            .await
            .is_ok()
    );
    assert_eq!(
        verify(json!({"sub": "a", "exp": now() + week + 60})).await,
        Err(TokenError::TooLong)
    );
    let day_ahead = json!({"sub": "a", "exp": now() + 600, "nbf": now() + 86_400});
    assert!(matches!(
        verify(day_ahead).await,
        Err(TokenError::Invalid(_))
    ));
    let skew = DEFAULT_LEEWAY.as_secs() / 2;
    let skewed = json!({"sub": "a", "exp": now() + 600, "nbf": now() + skew});
    assert!(verify(skewed).await.is_ok(), "nbf within the leeway");
    let anonymous = json!({"exp": now() + 600});
    assert!(
        matches!(verify(anonymous).await, Err(TokenError::Invalid(_))),
        "sub is required"
    );
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_set() {
    let settings = TokenSettings {
        issuer: Some("https://id.example".into()),
        audience: Some("pushgate".into()),
        ..TokenSettings::with_secret(SECRET)
    };
    let verifier = TokenVerifier::start(&settings, "key", &Drain::new())
        .await
        .expect("starts");
    let verify =
        async |claims: &Value| verifier.verify(&hs(SECRET, Algorithm::HS256, claims)).await;
    let exp = now() + 600;
    let good =
        json!({"sub": "a", "exp": exp, "iss": "https://id.example", "aud": ["other", "pushgate"]});
    assert!(verify(&good).await.is_ok());
    for bad in [
        json!({"sub": "a", "exp": exp, "iss": "https://evil.example", "aud": "pushgate"}),
        json!({"sub": "a", "exp": exp, "aud": "pushgate"}),
        json!({"sub": "a", "exp": exp, "iss": "https://id.example", "aud": "other"}),
        json!({"sub": "a", "exp": exp, "iss": "https://id.example"}),
    ] {
        assert!(
            matches!(verify(&bad).await, Err(TokenError::Invalid(_))),
            "{bad}"
        );
    }
    // Without a configured audience, a token that names one is still accepted.
    let plain = TokenVerifier::new(SECRET, "key");
    let with_aud = hs(
        SECRET,
        Algorithm::HS256,
        &json!({"sub": "a", "exp": exp, "aud": "x"}),
    );
    assert!(plain.verify(&with_aud).await.is_ok());
}

#[tokio::test]
async fn pem_public_keys_verify_their_own_algorithms_only() {
    let idp = IdentityProvider::start().await;
    let rsa = idp.generate(KeyKind::Rsa, "rsa");
    let p256 = idp.generate(KeyKind::P256, "p256");
    let p384 = idp.generate(KeyKind::P384, "p384");
    let ed = idp.generate(KeyKind::Ed25519, "ed");
    let settings = TokenSettings {
        public_key_files: [&rsa, &p256, &p384, &ed]
            .iter()
            .map(|key| key.public_key_file().to_owned())
            .collect(),
        ..TokenSettings::with_secret(SECRET)
    };
    let verifier = TokenVerifier::start(&settings, "key", &Drain::new())
        .await
        .expect("starts");
    for (key, algorithm) in [
        (&rsa, Algorithm::RS256),
        (&rsa, Algorithm::RS512),
        (&rsa, Algorithm::PS256),
        (&p256, Algorithm::ES256),
        (&p384, Algorithm::ES384),
        (&ed, Algorithm::EdDSA),
    ] {
        let token = key.sign(algorithm, &claims("bob"), false);
        assert_eq!(
            verifier.verify(&token).await.map(|c| c.sub),
            Ok("bob".into()),
            "{algorithm:?}"
        );
    }
    // The algorithm-confusion attack: an HS256 token keyed with a public key's bytes.
    let public_pem = std::fs::read(rsa.public_key_file()).expect("public key");
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("mallory"),
        &EncodingKey::from_secret(&public_pem),
    )
    .expect("sign");
    assert!(matches!(
        verifier.verify(&forged).await,
        Err(TokenError::Invalid(_))
    ));
    let stranger = idp.generate(KeyKind::Rsa, "stranger");
    let unknown = stranger.sign(Algorithm::RS256, &claims("eve"), false);
    assert!(matches!(
        verifier.verify(&unknown).await,
        Err(TokenError::Invalid(_))
    ));
}

#[tokio::test]
async fn a_file_that_is_not_a_public_key_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("pushgate-bad-pem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let junk = dir.join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .expect("write");
    let mut settings = TokenSettings::with_secret(SECRET);
    settings.public_key_files = vec![junk];
    let refused = TokenVerifier::start(&settings, "key", &Drain::new()).await;
    assert!(matches!(refused, Err(TokenSetupError::UnusableKey { .. })));
    settings.public_key_files = vec![dir.join("missing.pem")];
    let refused = TokenVerifier::start(&settings, "key", &Drain::new()).await;
    assert!(matches!(refused, Err(TokenSetupError::ReadKey { .. })));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn jwks_keys_are_chosen_by_kid_and_rotation_is_seen_at_once() {
    let idp = IdentityProvider::start().await;
    let old = idp.generate(KeyKind::Rsa, "k1");
    let new = idp.generate(KeyKind::P256, "k2");
    idp.publish(&[old.jwk(Algorithm::RS256)]);
    let settings = with_jwks(idp.jwks_url(), |j| j.refetch_min = Duration::ZERO);
    let drain = Drain::new();
    let verifier = TokenVerifier::start(&settings, "key", &drain)
        .await
        .expect("starts");
    assert_eq!(idp.requests(), 1, "fetched at start");

    let old_token = old.sign(Algorithm::RS256, &claims("carol"), true);
    assert!(verifier.verify(&old_token).await.is_ok());
    assert_eq!(idp.requests(), 1, "a known kid needs no fetch");

    // Rotation: the provider publishes k2 and drops k1.
    idp.publish(&[new.jwk(Algorithm::ES256)]);
    let new_token = new.sign(Algorithm::ES256, &claims("carol"), true);
    assert_eq!(
        verifier.verify(&new_token).await.map(|c| c.sub),
        Ok("carol".into())
    );
    assert_eq!(
        idp.requests(),
        2,
        "the unknown kid fetched the document again"
    );
    assert!(
        verifier.verify(&old_token).await.is_err(),
        "k1 left with the document that dropped it"
    );
    // A token naming k2 but signed by another key is refused.
    let impostor = idp.generate(KeyKind::P256, "k2");
    let forged = impostor.sign(Algorithm::ES256, &claims("carol"), true);
    assert!(verifier.verify(&forged).await.is_err());
    drain.drain_and_wait().await;
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let idp = IdentityProvider::start().await;
    let key = idp.generate(KeyKind::Ed25519, "k1");
    idp.publish(&[key.jwk(Algorithm::EdDSA)]);
    let drain = Drain::new();
    let settings = with_jwks(idp.jwks_url(), |_| {});
    let verifier = TokenVerifier::start(&settings, "key", &drain)
        .await
        .expect("starts");
    for i in 0..20 {
        let stranger = idp.generate(KeyKind::Ed25519, &format!("nope-{i}"));
        let token = stranger.sign(Algorithm::EdDSA, &claims("x"), true);
        assert_eq!(verifier.verify(&token).await, Err(TokenError::UnknownKey));
    }
    assert_eq!(
        idp.requests(),
        1,
        "within refetch_min no unknown kid fetches the document again"
    );
    drain.drain_and_wait().await;
}

#[tokio::test]
async fn the_document_is_refreshed_periodically_and_symmetric_keys_are_ignored() {
    let idp = IdentityProvider::start().await;
    let key = idp.generate(KeyKind::P384, "k1");
    // A published HMAC secret must never verify anything.
    let published = EncodingKey::from_secret(b"published-secret");
    idp.publish(&[Jwk::from_encoding_key(&published, Algorithm::HS256).expect("jwk")]);
    let drain = Drain::new();
    let settings = with_jwks(idp.jwks_url(), |j| j.refresh = Duration::from_millis(50));
    let verifier = TokenVerifier::start(&settings, "key", &drain)
        .await
        .expect("starts");
    let symmetric = hs("published-secret", Algorithm::HS256, &claims("x"));
    assert!(verifier.verify(&symmetric).await.is_err());

    idp.publish(&[key.jwk(Algorithm::ES384)]);
    let token = key.sign(Algorithm::ES384, &claims("dave"), false);
    eventually("the refresh to pick up the ES384 key", || {
        verifier.verify(&token)
    })
    .await;
    drain.drain_and_wait().await;
}

#[tokio::test]
async fn an_unreachable_jwks_url_fails_the_start() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    drop(listener);
    let refused = TokenVerifier::start(&with_jwks(&url, |_| {}), "key", &Drain::new()).await;
    assert!(matches!(refused, Err(TokenSetupError::Jwks(_))));
}
