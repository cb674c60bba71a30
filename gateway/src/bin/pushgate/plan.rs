//! What a role will run with: its settings read from the flags and validated, before any I/O.

use pushgate_fanout::memory::MemoryConfig;
use pushgate_fanout::redis::RedisConfig;
use pushgate_gateway::config::{ConfigError, NodeConfig};
use pushgate_gateway::roles::Roles;

use crate::cli::Role;

/// A role's validated settings: everything it needs to start but its connections.
#[derive(Debug)]
pub struct Plan {
    /// The node's settings (every role has them; non-gateway roles keep gateway defaults).
    pub config: NodeConfig,
    /// Which parts run in this process.
    pub roles: Roles,
    /// The backplane it runs on.
    pub store: Store,
}

/// Which backplane a role runs on, with its settings.
#[derive(Debug)]
pub enum Store {
    /// The embedded one (`pushgate dev`).
    Memory(MemoryConfig),
    /// Redis, shared with the other processes.
    /// Boxed: the target (URL, credentials, TLS trust) makes it far larger than the rest.
    Redis(Box<RedisConfig>),
}

impl Plan {
    /// The settings `role` runs with, or the first one that breaks its rule.
    pub fn of(role: &Role) -> Result<Plan, ConfigError> {
        let only = |gateway, api, worker, demo: Option<bool>| Roles {
            gateway,
            api,
            worker,
            dev_tokens: false,
            demo: demo.unwrap_or(false),
        };
        let plan = match role {
            Role::Dev(args) => {
                let worker = args.worker.config();
                worker.validate()?;
                let memory = args.memory();
                memory.validate()?;
                Plan {
                    config: NodeConfig {
                        allowed_origins: args.browser.origins()?,
                        ..args.gateway.config(&args.common, "dev")
                    }
                    .validate()?,
                    roles: Roles {
                        demo: args.common.demo.unwrap_or(true),
                        ..Roles::dev(worker, args.api.limits())
                    },
                    store: Store::Memory(memory),
                }
            }
            Role::Gateway(args) => {
                let default_id = format!("gw-{}", args.common.listen.port());
                Plan {
                    config: NodeConfig {
                        allowed_origins: args.browser.origins()?,
                        ..args.gateway.config(&args.common, &default_id)
                    }
                    .validate_production()?,
                    roles: only(true, None, None, args.common.demo),
                    store: redis(args.redis.config()?)?,
                }
            }
            Role::Worker(args) => {
                let worker = args.worker.config();
                worker.validate()?;
                Plan {
                    config: args.common.config().validate_production()?,
                    roles: only(false, None, Some(worker), args.common.demo),
                    store: redis(args.redis.config()?)?,
                }
            }
            Role::Api(args) => Plan {
                config: NodeConfig {
                    allowed_origins: args.browser.origins()?,
                    ..args.common.config()
                }
                .validate_production()?,
                roles: only(false, Some(args.api.limits()), None, args.common.demo),
                store: redis(args.redis.config()?)?,
            },
        };
        Ok(plan)
    }
}

/// `config` as a store, once valid.
fn redis(config: RedisConfig) -> Result<Store, ConfigError> {
    config.validate()?;
    Ok(Store::Redis(Box::new(config)))
}
