//! Tokens from an identity provider: PEM public keys and a JWKS with key rotation, checked
//! the same way by the socket upgrade, the `refresh` frame and REST.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use pushgate_fanout::clock::now_micros;
use pushgate_fanout::testing::identity_provider::{IdentityProvider, KeyKind};
use pushgate_fanout::token::JwksSettings;
use pushgate_protocol::{ClientFrame, Codec, ErrorCode, ServerFrame};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;

use crate::support::{Options, TestNode, WsClient};

const ISSUER: &str = "https://id.test";

fn claims(user: &str, ttl_secs: u64) -> Value {
    json!({"sub": user, "iss": ISSUER, "exp": now_micros() / 1_000_000 + ttl_secs})
}

fn refused_status(result: Result<WsClient, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("the upgrade was accepted"),
    }
}

/// A token signed with the node's secret but without `iss`.
fn hs256_without_issuer(node: &TestNode) -> String {
    let claims = json!({"sub": "alice", "exp": now_micros() / 1_000_000 + 600});
    let secret = &node.node.gateway().config.tokens.secret;
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("sign")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_provider_tokens_open_sockets_refresh_them_and_call_rest() {
    let idp = IdentityProvider::start().await;
    let pem = idp.generate(KeyKind::Rsa, "pem");
    let k1 = idp.generate(KeyKind::P256, "k1");
    idp.publish(&[k1.jwk(Algorithm::ES256)]);
    let mut options = Options::default();
    let tokens = &mut options.config.tokens;
    tokens.public_key_files = vec![pem.public_key_file().to_owned()];
    tokens.jwks = Some(JwksSettings {
        refetch_min: Duration::ZERO,
        ..JwksSettings::new(idp.jwks_url())
    });
    tokens.issuer = Some(ISSUER.into());
    let node = TestNode::start_with(options).await;

    // Tokens the node mints (dev tokens) carry the issuer, so they pass too.
    let (status, minted) = node
        .call(
            reqwest::Method::POST,
            "/v1/dev/token",
            "",
            Some(json!({"user": "bob"})),
        )
        .await;
    assert_eq!(status, 200, "{minted}");
    let dev = minted["token"].as_str().expect("token");
    assert!(
        WsClient::connect(node.addr(), dev, Codec::Json, None)
            .await
            .is_ok()
    );

    // A socket opened with a token signed by the PEM key.
    let rs256 = pem.sign(Algorithm::RS256, &claims("alice", 600), false);
    let mut alice = WsClient::connect(node.addr(), &rs256, Codec::Json, None)
        .await
        .expect("an RS256 token opens a socket");

    // The provider rotates to k2; a refresh with a k2 token is accepted at once.
    let k2 = idp.generate(KeyKind::Ed25519, "k2");
    idp.publish(&[k2.jwk(Algorithm::EdDSA)]);
    let eddsa = k2.sign(Algorithm::EdDSA, &claims("alice", 1200), true);
    alice
        .send(&ClientFrame::Refresh {
            token: eddsa.clone(),
        })
        .await;
    alice.send(&ClientFrame::Ping).await;
    assert_eq!(
        alice.next().await,
        ServerFrame::Pong,
        "no error frame first"
    );
    // A refresh with k1, which the provider dropped, is refused.
    let es256 = k1.sign(Algorithm::ES256, &claims("alice", 600), true);
    alice.send(&ClientFrame::Refresh { token: es256 }).await;
    match alice.next().await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::Unauthorized),
        other => panic!("expected an error frame, got {other:?}"),
    }

    // A socket opened with a key the provider published after the last fetch works on its
    // first try: the upgrade fetches the JWKS before it decides.
    let k3 = idp.generate(KeyKind::P384, "k3");
    idp.publish(&[k2.jwk(Algorithm::EdDSA), k3.jwk(Algorithm::ES384)]);
    let es384 = k3.sign(Algorithm::ES384, &claims("carol", 600), true);
    WsClient::connect(node.addr(), &es384, Codec::Json, None)
        .await
        .expect("a token of a just-rotated key opens a socket");

    // REST takes the same tokens.
    let (status, body) = node
        .call(reqwest::Method::GET, "/v1/feed?limit=5", &eddsa, None)
        .await;
    assert_eq!(status, 200, "{body}");

    // And refuses what the provider did not issue as configured.
    let hs256 = hs256_without_issuer(&node);
    let foreign =
        json!({"sub": "alice", "iss": "https://evil.test", "exp": now_micros() / 1_000_000 + 600});
    let forever = json!({"sub": "alice", "iss": ISSUER, "exp": u64::MAX});
    let early = json!({"sub": "alice", "iss": ISSUER, "exp": now_micros() / 1_000_000 + 600, "nbf": now_micros() / 1_000_000 + 86_400});
    for (what, token) in [
        ("a token without the issuer", hs256),
        (
            "a foreign issuer",
            pem.sign(Algorithm::RS256, &foreign, false),
        ),
        ("exp = 2^64-1", pem.sign(Algorithm::RS256, &forever, false)),
        ("nbf a day ahead", pem.sign(Algorithm::RS256, &early, false)),
    ] {
        let socket = WsClient::connect(node.addr(), &token, Codec::Json, None).await;
        assert_eq!(refused_status(socket), 401, "{what} at the upgrade");
        let (status, _) = node
            .call(reqwest::Method::GET, "/v1/feed", &token, None)
            .await;
        assert_eq!(status, 401, "{what} on REST");
    }
}
