//! Where Redis is and how to reach it: the URL (TLS, credentials, Cluster seeds) and trust roots.

use std::fmt;
use std::path::{Path, PathBuf};

use ::redis::{ConnectionAddr, IntoConnectionInfo, RedisError};

use super::connection::Connector;

/// Scheme suffix that selects Redis Cluster; the host list after it holds the seed nodes.
const CLUSTER_SUFFIX: &str = "+cluster://";

/// Stands in for a password wherever a URL is shown.
const REDACTED: &str = "***";

/// A parsed, checked Redis location: everything needed to open connections, with the URL's
/// password kept out of every `Display` and `Debug` (logs and errors show [`Self::redacted`]).
///
/// URLs: `redis://[user:password@]host:port[/db]` and `rediss://…` (TLS) for one server,
/// `redis+cluster://[user:password@]h1:p1,h2:p2,…` and `rediss+cluster://…` for a Cluster's
/// seed nodes (the credentials apply to every node). TLS certificates are always verified:
/// against the system roots, or against the private CA given instead.
#[derive(Clone)]
pub struct RedisTarget {
    /// Clients built from the URL, ready to connect.
    pub(crate) connector: Connector,
    /// The URL with its password replaced, for logs and errors.
    redacted: String,
}

/// Why a Redis URL or CA certificate cannot be used. Shows URLs without their password.
#[derive(Debug, thiserror::Error)]
pub enum RedisTargetError {
    /// The URL does not parse as a Redis URL (or its parts disagree, e.g. seeds with different
    /// credentials).
    #[error("redis url {url}: {source}")]
    Invalid {
        /// The URL, password redacted.
        url: String,
        /// What the Redis client objected to.
        source: RedisError,
    },
    /// A Cluster URL without a host.
    #[error("redis url {url} names no cluster node")]
    NoSeeds {
        /// The URL, password redacted.
        url: String,
    },
    /// `#insecure` asks to skip certificate checks, which pushgate does not offer.
    #[error("redis url {url}: certificate verification cannot be turned off (drop #insecure)")]
    Insecure {
        /// The URL, password redacted.
        url: String,
    },
    /// A CA certificate for a URL that does not use TLS: the operator expects TLS.
    #[error("a redis CA certificate is set but redis url {url} does not use TLS (rediss://)")]
    CaWithoutTls {
        /// The URL, password redacted.
        url: String,
    },
    /// The CA certificate file cannot be read.
    #[error("redis CA certificate {}: {source}", path.display())]
    CaUnreadable {
        /// The file named.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// The CA certificate file holds no PEM certificate, so nothing could ever be verified.
    #[error("redis CA certificate {} holds no PEM certificate", path.display())]
    CaNotPem {
        /// The file named.
        path: PathBuf,
    },
}

impl RedisTarget {
    /// Parse `url`; with `ca_cert`, TLS connections trust that PEM CA (instead of the system
    /// roots). Nothing connects yet.
    pub fn new(url: &str, ca_cert: Option<&Path>) -> Result<Self, RedisTargetError> {
        let redacted = redact_url(url);
        let ca_pem = ca_cert.map(read_ca).transpose()?;
        let invalid = |source| RedisTargetError::Invalid {
            url: redacted.clone(),
            source,
        };
        let seeds = cluster_seeds(url);
        let mut nodes = match &seeds {
            None => vec![url.into_connection_info().map_err(invalid)?],
            Some(seeds) => {
                let nodes = seeds
                    .iter()
                    .map(|seed| seed.as_str().into_connection_info())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(invalid)?;
                if nodes.is_empty() {
                    return Err(RedisTargetError::NoSeeds { url: redacted });
                }
                nodes
            }
        };
        let mut tls = false;
        for node in &nodes {
            if let ConnectionAddr::TcpTls { insecure, .. } = node.addr() {
                if *insecure {
                    return Err(RedisTargetError::Insecure { url: redacted });
                }
                tls = true;
            }
        }
        if ca_pem.is_some() && !tls {
            return Err(RedisTargetError::CaWithoutTls { url: redacted });
        }
        let connector = match seeds {
            Some(_) => Connector::cluster(nodes, ca_pem),
            None => Connector::standalone(nodes.swap_remove(0), ca_pem),
        }
        .map_err(invalid)?;
        Ok(Self {
            connector,
            redacted,
        })
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedisTarget").field(&self.redacted).finish()
    }
}

/// The seed URLs of a `redis+cluster://` or `rediss+cluster://` URL (each a single-node URL
/// carrying the shared credentials), or `None` for a single-server URL.
fn cluster_seeds(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = url.split_once(CLUSTER_SUFFIX)?;
    if scheme != "redis" && scheme != "rediss" {
        return None;
    }
    let (userinfo, hosts) = match rest.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), rest),
    };
    Some(
        hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|host| format!("{scheme}://{userinfo}{host}"))
            .collect(),
    )
}

/// Read a PEM CA file, refusing one without a certificate in it. (The Redis client parses
/// the PEM itself; this only catches the file that would make every handshake fail.)
fn read_ca(path: &Path) -> Result<Vec<u8>, RedisTargetError> {
    let pem = std::fs::read(path).map_err(|source| RedisTargetError::CaUnreadable {
        path: path.to_owned(),
        source,
    })?;
    let marker = b"-----BEGIN CERTIFICATE-----";
    if !pem.windows(marker.len()).any(|w| w == marker) {
        return Err(RedisTargetError::CaNotPem {
            path: path.to_owned(),
        });
    }
    Ok(pem)
}

/// `url` with the password of its user info (`user:password@`) and of a `pass=` query
/// parameter (unix-socket URLs) replaced. Works on text, not a parsed URL, so even a URL
/// that fails to parse is shown without its password. Also what `config check` shows.
pub fn redact_url(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let mut out = String::with_capacity(url.len());
    match url[authority_start..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &url[authority_start..authority_start + at];
            out.push_str(&url[..authority_start]);
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(REDACTED);
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&url[authority_start + at..authority_end]);
        }
        None => out.push_str(&url[..authority_end]),
    }
    let rest = &url[authority_end..];
    match rest.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some(("pass", _)) => format!("pass={REDACTED}"),
                    _ => param.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(rest),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_wherever_they_sit() {
        assert_eq!(
            redact_url("rediss://pg:s3cret@redis.example:6380/2"),
            "rediss://pg:***@redis.example:6380/2"
        );
        assert_eq!(redact_url("redis://:s3cret@h:1"), "redis://:***@h:1");
        assert_eq!(redact_url("redis://pg@h:1"), "redis://pg@h:1");
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        assert_eq!(
            redact_url("rediss+cluster://pg:p@ss@h1:1,h2:2"),
            "rediss+cluster://pg:***@h1:1,h2:2"
        );
        assert_eq!(
            redact_url("redis+unix:///run/redis.sock?db=1&pass=s3cret"),
            "redis+unix:///run/redis.sock?db=1&pass=***"
        );
    }

    #[test]
    fn cluster_urls_carry_their_credentials_to_every_seed() {
        let seeds = cluster_seeds("rediss+cluster://pg:pw@h1:1, h2:2,").expect("cluster");
        assert_eq!(seeds, ["rediss://pg:pw@h1:1", "rediss://pg:pw@h2:2"]);
        let info = seeds[1].as_str().into_connection_info().expect("parses");
        assert!(matches!(info.addr(), ConnectionAddr::TcpTls { .. }));
        assert_eq!(info.redis_settings().username(), Some("pg"));
        assert_eq!(info.redis_settings().password(), Some("pw"));
        assert_eq!(cluster_seeds("redis://h:1"), None);
        assert_eq!(
            cluster_seeds("redis+cluster://h1:1").expect("cluster"),
            ["redis://h1:1"]
        );
    }

    #[test]
    fn bad_settings_are_refused_before_anything_connects_and_errors_hide_the_password() {
        let err = RedisTarget::new("redis+cluster://u:hunter2@", None).expect_err("no seeds");
        assert!(matches!(err, RedisTargetError::NoSeeds { .. }), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = RedisTarget::new("rediss://u:hunter2@h:1/#insecure", None).expect_err("insecure");
        assert!(matches!(err, RedisTargetError::Insecure { .. }), "{err}");
        let err = RedisTarget::new("bogus://u:hunter2@h:1", None).expect_err("scheme");
        assert!(matches!(err, RedisTargetError::Invalid { .. }), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = RedisTarget::new(
            "redis+cluster://a:hunter2@h1:1,h2:2",
            Some(Path::new("/nonexistent/ca.pem")),
        )
        .expect_err("unreadable");
        assert!(
            matches!(err, RedisTargetError::CaUnreadable { .. }),
            "{err}"
        );
        let not_pem = std::env::temp_dir().join(format!("pg-not-pem-{}", std::process::id()));
        std::fs::write(&not_pem, "hello").expect("write");
        let err = RedisTarget::new("rediss://h:1", Some(&not_pem)).expect_err("not pem");
        assert!(matches!(err, RedisTargetError::CaNotPem { .. }), "{err}");
        std::fs::write(&not_pem, "-----BEGIN CERTIFICATE-----\n").expect("write");
        let err = RedisTarget::new("redis://h:1", Some(&not_pem)).expect_err("plain url");
        assert!(
            matches!(err, RedisTargetError::CaWithoutTls { .. }),
            "{err}"
        );
        std::fs::remove_file(&not_pem).expect("remove");
    }

    #[test]
    fn a_target_shows_only_the_redacted_url() {
        let target = RedisTarget::new("rediss://pg:hunter2@h:6380", None).expect("parses");
        assert_eq!(target.to_string(), "rediss://pg:***@h:6380");
        assert!(!format!("{target:?}").contains("hunter2"));
        let cluster =
            RedisTarget::new("rediss+cluster://pg:hunter2@h1:1,h2:2", None).expect("parses");
        assert_eq!(cluster.redacted(), "rediss+cluster://pg:***@h1:1,h2:2");
    }
}
