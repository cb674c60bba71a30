//! A validated description of one run, derived from the command line, and how it is split
//! into worker plans.

use std::time::Duration;

use crate::cli::{
    ChurnArgs, Command, FeedArgs, GatewayArgs, GenericArgs, KillArgs, RunArgs, SlowArgs,
};
use crate::{
    ChurnPlan, GenericPlan, GraphParams, LoadtestError, ProtocolPlan, PublishTarget, PushgatePlan,
    SourceAddrs, Template, WorkerPlan,
};

/// One run: the scenario and every argument group it uses.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub scenario: &'static str,
    pub run: RunArgs,
    pub gateway: Option<GatewayArgs>,
    pub feed: Option<FeedArgs>,
    pub churn: Option<ChurnArgs>,
    pub slow: Option<SlowArgs>,
    pub kill: Option<KillArgs>,
    pub generic: Option<GenericArgs>,
}

impl RunSpec {
    /// The run a command asks for; `None` for the internal worker command.
    pub fn from_command(command: Command) -> Option<Self> {
        let spec = |scenario, run, gateway| RunSpec {
            scenario,
            run,
            gateway,
            feed: None,
            churn: None,
            slow: None,
            kill: None,
            generic: None,
        };
        Some(match command {
            Command::Idle { run, gateway } => spec("idle", run, Some(gateway)),
            Command::Fanout { run, gateway, feed } => RunSpec {
                feed: Some(feed),
                ..spec("fanout", run, Some(gateway))
            },
            Command::Churn {
                run,
                gateway,
                feed,
                churn,
            } => RunSpec {
                feed: Some(feed),
                churn: Some(churn),
                ..spec("churn", run, Some(gateway))
            },
            Command::Slow {
                run,
                gateway,
                feed,
                slow,
            } => RunSpec {
                feed: Some(feed),
                slow: Some(slow),
                ..spec("slow", run, Some(gateway))
            },
            Command::Failover {
                run,
                gateway,
                feed,
                kill,
            } => RunSpec {
                feed: Some(feed),
                kill: Some(kill),
                ..spec("failover", run, Some(gateway))
            },
            Command::Generic { run, generic } => RunSpec {
                generic: Some(generic),
                ..spec("generic", run, None)
            },
            Command::Worker => return None,
        })
    }

    /// Every parameter of the run as JSON (secrets are skipped by the argument types).
    pub fn parameters(&self) -> Result<serde_json::Value, LoadtestError> {
        Ok(serde_json::json!({
            "scenario": self.scenario,
            "run": self.run,
            "gateway": self.gateway,
            "feed": self.feed,
            "churn": self.churn,
            "slow": self.slow,
            "kill": self.kill,
            "generic": self.generic,
        }))
    }

    /// Check the bounds that keep a run finite and sensible.
    pub fn validate(&self) -> Result<(), LoadtestError> {
        let fail = |message: String| Err(LoadtestError::InvalidArgument(message));
        let run = &self.run;
        if run.connections == 0 || run.connections > run.max_connections {
            return fail(format!(
                "--connections must be 1..={} (raise --max-connections deliberately)",
                run.max_connections
            ));
        }
        for (name, value) in [
            ("--duration", run.duration),
            ("--ramp", run.ramp),
            ("--connect-timeout", run.connect_timeout),
            ("--handshake-timeout", run.handshake_timeout),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return fail(format!("{name} must be a positive number of seconds"));
            }
        }
        if !(run.drain.is_finite() && run.drain >= 0.0) || run.per_worker == 0 {
            return fail("--drain must be >= 0 and --per-worker > 0".into());
        }
        let fractions = [
            self.churn.as_ref().map(|c| c.churn_fraction),
            self.slow.as_ref().map(|s| s.slow_fraction),
            self.feed.as_ref().map(|f| f.top_fraction),
        ];
        if fractions
            .into_iter()
            .flatten()
            .any(|f| !(0.0..=1.0).contains(&f))
        {
            return fail("fractions must lie in 0..=1".into());
        }
        if let Some(gateway) = &self.gateway
            && gateway.targets.is_empty()
        {
            return fail("at least one --target".into());
        }
        if let Some(feed) = &self.feed
            && (feed.authors == 0
                || feed.celebrities > feed.authors
                || feed.rate.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater))
        {
            return fail("--authors must be > 0, --celebrities <= --authors, --rate > 0".into());
        }
        if let Some(generic) = &self.generic {
            Template::parse(&generic.publish_body).require_timestamp("--publish-body")?;
            if generic.channels == 0
                || generic.rate.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
            {
                return fail("--channels and --rate must be > 0".into());
            }
        }
        self.worker_count().map(|_| ())
    }

    /// Worker processes: enough to keep each under `--per-worker`, and one per core at least
    /// (each worker runs a single-threaded runtime).
    pub fn worker_count(&self) -> Result<u32, LoadtestError> {
        let run = &self.run;
        let needed = run.connections.div_ceil(run.per_worker);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let count = run
            .workers
            .unwrap_or(needed.max(cores.min(run.connections)));
        if count == 0 || run.connections.div_ceil(count) > run.per_worker {
            return Err(LoadtestError::InvalidArgument(format!(
                "{count} workers cannot hold {} sockets at {} each",
                run.connections, run.per_worker
            )));
        }
        Ok(count.min(run.connections))
    }

    /// The follow graph, for scenarios that post.
    pub fn graph_params(&self) -> Option<GraphParams> {
        self.feed.as_ref().map(|feed| GraphParams {
            users: self.run.connections,
            authors: feed.authors,
            celebrities: feed.celebrities,
            zipf_exponent: feed.zipf_exponent,
            top_fraction: feed.top_fraction,
            seed: self.run.seed,
        })
    }

    /// How long minted tokens must live: longer than the whole run.
    fn token_ttl(&self) -> Duration {
        let run = &self.run;
        Duration::from_secs_f64(run.connect_timeout + run.duration + run.drain)
            + Duration::from_secs(3600)
    }

    /// The client protocol of the run, for user names prefixed by `run_id`.
    pub fn protocol(&self, run_id: &str) -> ProtocolPlan {
        match (&self.gateway, &self.generic) {
            (_, Some(generic)) => ProtocolPlan::Generic(GenericPlan {
                subscribe_url: generic.subscribe_url.clone(),
                subscribe_message: generic.subscribe_message.clone(),
                channels: generic.channels,
                channel_prefix: generic.channel_prefix.clone(),
                ts_key: generic.ts_key.clone(),
            }),
            (gateway, None) => {
                let gateway = gateway
                    .clone()
                    .expect("every non-generic scenario has gateway args");
                ProtocolPlan::Pushgate(PushgatePlan {
                    targets: gateway.targets,
                    run_id: run_id.to_owned(),
                    codec: gateway.codec,
                    jwt_secret: gateway.jwt_secret,
                    token_ttl_s: self.token_ttl().as_secs(),
                    follow_connect: gateway.follow_connect,
                    graph: self.graph_params(),
                })
            }
        }
    }

    /// Where and how fast the run publishes, if it does.
    pub fn publish_target(&self, run_id: &str) -> Option<(PublishTarget, f64)> {
        if let Some(generic) = &self.generic {
            let target = PublishTarget::Generic {
                url: Template::parse(&generic.publish_url),
                body: Template::parse(&generic.publish_body),
                content_type: generic.content_type.clone(),
                channels: generic.channels,
                channel_prefix: generic.channel_prefix.clone(),
            };
            return Some((target, generic.rate));
        }
        let (gateway, feed) = (self.gateway.as_ref()?, self.feed.as_ref()?);
        let target = PublishTarget::Pushgate {
            targets: gateway.targets.clone(),
            api_key: gateway.api_key.clone(),
            run_id: run_id.to_owned(),
            authors: feed.authors,
        };
        Some((target, feed.rate))
    }

    /// Split the clients evenly over the workers.
    pub fn worker_plans(
        &self,
        epoch_us: u64,
        protocol: &ProtocolPlan,
    ) -> Result<Vec<WorkerPlan>, LoadtestError> {
        let count = self.worker_count()?;
        let source_addrs = match self.run.source_addrs.as_str() {
            "none" | "" => None,
            range => Some(range.parse::<SourceAddrs>()?),
        };
        let (base, extra) = (self.run.connections / count, self.run.connections % count);
        let mut first_client = 0;
        Ok((0..count)
            .map(|index| {
                let clients = base + u32::from(index < extra);
                let plan = WorkerPlan {
                    index,
                    first_client,
                    clients,
                    epoch_us,
                    ramp_per_sec: self.run.ramp / f64::from(count),
                    connect_timeout_ms: (self.run.handshake_timeout * 1000.0) as u64,
                    pending_connects: self.run.max_pending_connects.div_ceil(count),
                    source_addrs,
                    churn: self.churn.as_ref().map(|churn| ChurnPlan {
                        fraction: churn.churn_fraction,
                        interval_ms: (churn.churn_interval * 1000.0) as u64,
                    }),
                    slow_fraction: self.slow.as_ref().map_or(0.0, |slow| slow.slow_fraction),
                    protocol: protocol.clone(),
                };
                first_client += clients;
                plan
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn spec(args: &[&str]) -> RunSpec {
        let cli = Cli::try_parse_from(args).expect("parses");
        RunSpec::from_command(cli.command).expect("a scenario")
    }

    #[test]
    fn splits_clients_over_workers_within_the_cap() {
        let spec = spec(&["lt", "fanout", "-n", "40001", "--per-worker", "18000"]);
        spec.validate().expect("valid");
        let plans = spec.worker_plans(0, &spec.protocol("r")).expect("plans");
        assert!(plans.len() >= 3);
        assert_eq!(plans.iter().map(|p| p.clients).sum::<u32>(), 40001);
        assert!(plans.iter().all(|p| p.clients <= 18000));
        for pair in plans.windows(2) {
            assert_eq!(pair[0].first_client + pair[0].clients, pair[1].first_client);
        }
        let ProtocolPlan::Pushgate(plan) = &plans[0].protocol else {
            panic!("pushgate scenario");
        };
        assert_eq!(plan.graph.as_ref().map(|g| g.users), Some(40001));
    }

    #[test]
    fn rejects_runs_past_the_bounds() {
        assert!(spec(&["lt", "idle", "-n", "200000"]).validate().is_err());
        assert!(
            spec(&[
                "lt",
                "idle",
                "-n",
                "100",
                "--workers",
                "1",
                "--per-worker",
                "50"
            ])
            .validate()
            .is_err()
        );
        assert!(
            spec(&["lt", "churn", "--churn-fraction", "1.5"])
                .validate()
                .is_err()
        );
        let generic = [
            "lt",
            "generic",
            "--subscribe-url",
            "ws://127.0.0.1:1/s",
            "--publish-url",
            "http://127.0.0.1:1/p",
        ];
        assert!(spec(&generic).validate().is_ok());
        let mut no_ts = generic.to_vec();
        no_ts.extend(["--publish-body", "{}"]);
        assert!(spec(&no_ts).validate().is_err());
    }

    #[test]
    fn parameters_leave_secrets_out() {
        let spec = spec(&["lt", "fanout", "--jwt-secret", "hunter2", "--rate", "7"]);
        let text = spec.parameters().expect("json").to_string();
        assert!(
            !text.contains("hunter2") && text.contains("\"rate\":7.0"),
            "{text}"
        );
    }
}
