//! CPU per HS256 user token verified: `jsonwebtoken::decode` with the claim checks the
//! verifier configures (what every connect paid before the HMAC fast path) against
//! `TokenVerifier::verify_with_held_keys` (what a connect pays now, `exp`, `iat` and
//! revocation checks included).
//!
//! ```text
//! cargo run --release -p pushgate-fanout --example token_cost
//! ```
//!
//! 200,000 distinct minted tokens, each verified once per round by each path; three rounds,
//! the paths alternating, so a neighbour's compile slows both alike. A figure, not a test:
//! nothing is asserted beyond every token verifying.

use std::hint::black_box;
use std::time::Instant;

use jsonwebtoken::{AlgorithmFamily, DecodingKey, Validation};
use pushgate_fanout::token::{Claims, DEFAULT_LEEWAY, TokenVerifier};

const TOKENS: usize = 200_000;
const ROUNDS: usize = 3;
const SECRET: &str = "a-benchmark-secret-of-32-bytes--";

/// The checks `TokenVerifier` gives jsonwebtoken for default settings (no issuer, no
/// audience): `exp` and `sub` required, `nbf` with the leeway, `exp` left to the verifier.
fn validation() -> Validation {
    let mut validation = Validation::new_for_family(AlgorithmFamily::Hmac);
    validation.leeway = DEFAULT_LEEWAY.as_secs();
    validation.validate_exp = false;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation
}

/// Nanoseconds per token of `verify` over all `tokens`.
fn ns_per_token(tokens: &[String], verify: impl Fn(&str) -> Claims) -> f64 {
    let started = Instant::now();
    for token in tokens {
        black_box(verify(black_box(token)));
    }
    started.elapsed().as_nanos() as f64 / tokens.len() as f64
}

fn main() {
    let verifier = TokenVerifier::new(SECRET, "api-key");
    let tokens: Vec<String> = (0..TOKENS)
        .map(|i| verifier.mint(&format!("user-{i}"), 3600))
        .collect();
    let key = DecodingKey::from_secret(SECRET.as_bytes());
    let validation = validation();
    let decode = |token: &str| {
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .expect("verifies")
            .claims
    };
    let verify = |token: &str| verifier.verify_with_held_keys(token).expect("verifies");
    println!(
        "{TOKENS} HS256 tokens of {} bytes, ns per token:",
        tokens[0].len()
    );
    println!("round  jsonwebtoken::decode  verify_with_held_keys");
    for round in 1..=ROUNDS {
        let old = ns_per_token(&tokens, decode);
        let new = ns_per_token(&tokens, verify);
        println!("{round:>5}  {old:>20.0}  {new:>21.0}");
    }
}
