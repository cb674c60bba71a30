//! One handle over standalone Redis and Redis Cluster, with errors mapped to backplane terms.

use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClient;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{
    Cmd, ConnectionInfo, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Script,
    TlsCertificates, Value,
};
use futures_util::future::try_join_all;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backplane::{BackplaneError, BackplaneResult, Unavailable};

/// Reconnect attempts per failed call: few and short, so an outage fails calls fast and the
/// caller's own retry policy (with jitter) decides what happens next.
const RECONNECT_RETRIES: usize = 2;

/// Every failed Redis call becomes a backplane error here, so this is where they are counted.
impl From<RedisError> for BackplaneError {
    fn from(e: RedisError) -> Self {
        metrics::counter!(super::REDIS_ERRORS).increment(1);
        match e.kind() {
            ErrorKind::Parse | ErrorKind::UnexpectedReturnType => {
                BackplaneError::Corrupt(e.to_string())
            }
            _ => Unavailable::Redis(e).into(),
        }
    }
}

impl From<::redis::ParsingError> for BackplaneError {
    fn from(e: ::redis::ParsingError) -> Self {
        BackplaneError::Corrupt(e.to_string())
    }
}

/// Decode a MessagePack value written by [`encode`].
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> BackplaneResult<T> {
    rmp_serde::from_slice(bytes).map_err(|e| BackplaneError::Corrupt(format!("{what}: {e}")))
}

/// MessagePack with field names, so stored values survive added optional fields.
pub(crate) fn encode<T: Serialize>(value: &T) -> BackplaneResult<Vec<u8>> {
    rmp_serde::to_vec_named(value).map_err(|e| BackplaneError::Corrupt(format!("encode: {e}")))
}

/// TLS settings that trust exactly the CA in `pem` (no client certificate).
fn trusting(pem: Vec<u8>) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }
}

/// A single-node client, verifying TLS against `ca_pem` when given (else the system roots).
fn single(node: ConnectionInfo, ca_pem: Option<Vec<u8>>) -> RedisResult<::redis::Client> {
    match ca_pem {
        Some(pem) => ::redis::Client::build_with_tls(node, trusting(pem)),
        None => ::redis::Client::open(node),
    }
}

/// Where Redis is and how to open connections to it.
#[derive(Clone)]
pub(crate) enum Connector {
    /// One server.
    Standalone(::redis::Client),
    /// A cluster; `seeds` are single-node clients for pub/sub, which any node serves.
    Cluster {
        client: ClusterClient,
        seeds: Vec<::redis::Client>,
    },
}

impl Connector {
    /// One server; with `ca_pem`, its TLS certificate must chain to that CA.
    pub(crate) fn standalone(node: ConnectionInfo, ca_pem: Option<Vec<u8>>) -> RedisResult<Self> {
        Ok(Connector::Standalone(single(node, ca_pem)?))
    }

    /// A cluster reached through `seeds` (they share credentials and TLS settings); with
    /// `ca_pem`, every node's TLS certificate must chain to that CA.
    pub(crate) fn cluster(
        seeds: Vec<ConnectionInfo>,
        ca_pem: Option<Vec<u8>>,
    ) -> RedisResult<Self> {
        let mut builder = ClusterClient::builder(seeds.clone()).retries(RECONNECT_RETRIES as u32);
        if let Some(pem) = &ca_pem {
            builder = builder.certs(trusting(pem.clone()));
        }
        let client = builder.build()?;
        let seeds = seeds
            .into_iter()
            .map(|seed| single(seed, ca_pem.clone()))
            .collect::<RedisResult<Vec<_>>>()?;
        Ok(Connector::Cluster { client, seeds })
    }

    /// A new multiplexed connection; calls on it time out after `response_timeout`.
    pub(crate) async fn connect(&self, response_timeout: Duration) -> BackplaneResult<Conn> {
        match self {
            Connector::Standalone(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(RECONNECT_RETRIES)
                    .set_max_delay(Duration::from_secs(1))
                    .set_response_timeout(Some(response_timeout));
                Ok(Conn::Standalone(
                    ConnectionManager::new_with_config(client.clone(), config).await?,
                ))
            }
            Connector::Cluster { client, .. } => {
                let config =
                    ::redis::cluster::ClusterConfig::new().set_response_timeout(response_timeout);
                Ok(Conn::Cluster(
                    client.get_async_connection_with_config(config).await?,
                ))
            }
        }
    }

    /// A pub/sub connection: the server, or the first cluster node that answers (classic
    /// pub/sub messages reach every node of a cluster).
    pub(crate) async fn pubsub(&self) -> BackplaneResult<::redis::aio::PubSub> {
        let seeds = match self {
            Connector::Standalone(client) => std::slice::from_ref(client),
            Connector::Cluster { seeds, .. } => seeds.as_slice(),
        };
        let mut last = None;
        for seed in seeds {
            match seed.get_async_pubsub().await {
                Ok(pubsub) => return Ok(pubsub),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(|| Unavailable::NoSubscriber.into(), BackplaneError::from))
    }
}

/// A cheap-to-clone connection to either deployment shape.
#[derive(Clone)]
pub(crate) enum Conn {
    /// Reconnects with backoff after I/O errors.
    Standalone(ConnectionManager),
    /// Follows slot moves and reconnects to cluster nodes by itself.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Standalone(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Standalone(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Standalone(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// One script call: its keys (all in one slot) and arguments.
#[derive(Debug, Default)]
pub(crate) struct ScriptCall {
    /// `KEYS` of the call.
    pub keys: Vec<String>,
    /// `ARGV` of the call, already encoded.
    pub args: Vec<Vec<u8>>,
}

impl ScriptCall {
    /// Add a key.
    pub(crate) fn key(mut self, key: String) -> Self {
        self.keys.push(key);
        self
    }

    /// Add an argument.
    pub(crate) fn arg(mut self, arg: impl ::redis::ToRedisArgs) -> Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    fn invocation<'a>(&self, script: &'a Script) -> ::redis::ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        for arg in &self.args {
            invocation.arg(arg.as_slice());
        }
        invocation
    }

    fn evalsha(&self, script: &Script) -> Cmd {
        let mut cmd = ::redis::cmd("EVALSHA");
        cmd.arg(script.get_hash())
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        cmd
    }
}

fn is_noscript(e: &RedisError) -> bool {
    e.kind() == ErrorKind::Server(::redis::ServerErrorKind::NoScript)
}

impl Conn {
    /// One command.
    pub(crate) async fn query<T: ::redis::FromRedisValue>(&self, cmd: &Cmd) -> BackplaneResult<T> {
        Ok(cmd.query_async(&mut self.clone()).await?)
    }

    /// A pipeline whose keys all share one slot (so a cluster can run it on one node).
    pub(crate) async fn pipe<T: ::redis::FromRedisValue>(
        &self,
        pipe: &Pipeline,
    ) -> BackplaneResult<T> {
        Ok(pipe.query_async(&mut self.clone()).await?)
    }

    /// One script call; loads the script on the node when it lacks it.
    pub(crate) async fn script<T: ::redis::FromRedisValue>(
        &self,
        script: &Script,
        call: &ScriptCall,
    ) -> BackplaneResult<T> {
        Ok(call
            .invocation(script)
            .invoke_async(&mut self.clone())
            .await?)
    }

    /// Commands on unrelated keys, in one round trip: one pipeline on a single server, all in
    /// flight at once on a cluster (which multiplexes them per node).
    pub(crate) async fn scatter(&self, cmds: &[Cmd]) -> BackplaneResult<Vec<Value>> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Conn::Standalone(_) => {
                let mut pipe = ::redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd.clone());
                }
                self.pipe(&pipe).await
            }
            Conn::Cluster(_) => try_join_all(cmds.iter().map(|cmd| self.query::<Value>(cmd))).await,
        }
    }

    /// Script calls on unrelated keys, in one round trip like [`Conn::scatter`].
    pub(crate) async fn scatter_scripts(
        &self,
        script: &Script,
        calls: &[ScriptCall],
    ) -> BackplaneResult<Vec<Value>> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Conn::Standalone(_) => {
                let mut pipe = ::redis::pipe();
                for call in calls {
                    pipe.add_command(call.evalsha(script));
                }
                match pipe.query_async(&mut self.clone()).await {
                    Err(e) if is_noscript(&e) => {
                        // A restarted server forgot its scripts; every call here is safe to
                        // repeat (they are idempotent or fenced), so load and run them again.
                        script.load_async(&mut self.clone()).await?;
                        Ok(pipe.query_async(&mut self.clone()).await?)
                    }
                    other => Ok(other?),
                }
            }
            Conn::Cluster(_) => {
                try_join_all(calls.iter().map(|call| self.script::<Value>(script, call))).await
            }
        }
    }
}
