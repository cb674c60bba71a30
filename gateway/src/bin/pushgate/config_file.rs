//! The `--config` TOML file: its keys are the flags' long names, its values the flags' defaults.
//!
//! The set of keys is not kept by hand: a key is valid for a role when the role's clap
//! `Command` has a flag of that long name (global flags such as `log` included), so a flag
//! added anywhere in `cli.rs` has its key at once. File values become those flags' default
//! values before the real parse, which gives the precedence for free: a flag beats its env var
//! (clap), the env var beats the file (clap: env before default), the file beats the built-in
//! default (it replaces it).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};

use crate::cli::Cli;

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {} is not valid TOML: {source}", path.display())]
    Syntax {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    /// Keys that no flag of the role has (typos, or a key of another role).
    #[error("config file {}: unknown keys for `pushgate {role}`: {}", path.display(), keys.join(", "))]
    UnknownKeys {
        path: PathBuf,
        role: String,
        keys: Vec<String>,
    },
    /// A value clap refuses for the flag, or one of a TOML type no flag takes.
    #[error("config file {}: key `{key}`: {reason}", path.display())]
    BadValue {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

/// The settings a config file holds, keyed by flag long name.
#[derive(Debug)]
pub struct ConfigFile {
    /// Where it was read from, for error messages.
    path: PathBuf,
    /// Its top-level table.
    table: toml::Table,
}

/// A command line read with its config file.
#[derive(Debug)]
pub struct Parsed {
    /// The settings.
    pub cli: Cli,
    /// What clap matched, for `config check` to tell where each value came from.
    pub matches: ArgMatches,
    /// The config file, if one was given.
    pub file: Option<ConfigFile>,
}

/// The command line `argv` read with its config file, or why it cannot be (clap's errors
/// include help and version, which clap prints and exits with).
pub fn parse(argv: Vec<OsString>) -> Result<Parsed, ParseError> {
    let mut argv = argv;
    // A first, forgiving pass only finds the file and the subcommand path; the second pass
    // below reports every error.
    let (path, mut subcommands) = match Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(&argv)
    {
        Ok(matches) => located(&matches),
        Err(_) => (None, Vec::new()),
    };
    // `pushgate config check` without a role checks `dev`.
    if subcommands == ["config", "check"] {
        argv.push("dev".into());
        subcommands.push("dev".into());
    }
    let file = path.map(|path| ConfigFile::read(&path)).transpose()?;
    let command = match &file {
        // Without a subcommand clap's own error says what is missing.
        Some(file) if !subcommands.is_empty() => file.apply(Cli::command(), &subcommands)?,
        _ => Cli::command(),
    };
    let matches = command.try_get_matches_from(argv)?;
    let cli = Cli::from_arg_matches(&matches)?;
    Ok(Parsed { cli, matches, file })
}

/// Why the command line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    File(#[from] ConfigFileError),
    #[error(transparent)]
    Clap(#[from] clap::Error),
}

/// The `--config` path (flag or `PUSHGATE_CONFIG`) and the subcommand names down to the leaf.
fn located(matches: &ArgMatches) -> (Option<PathBuf>, Vec<String>) {
    let mut path = matches.get_one::<PathBuf>("config").cloned();
    let mut names = Vec::new();
    let mut current = matches;
    while let Some((name, sub)) = current.subcommand() {
        names.push(name.to_owned());
        // A global flag is visible at every level; the deepest is where it was given.
        if let Ok(Some(found)) = sub.try_get_one::<PathBuf>("config") {
            path = Some(found.clone());
        }
        current = sub;
    }
    (path, names)
}

impl ConfigFile {
    /// Read and parse `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parse `text`, read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigFileError> {
        let table = text
            .parse::<toml::Table>()
            .map_err(|source| ConfigFileError::Syntax {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
        Ok(Self {
            path: path.to_owned(),
            table,
        })
    }

    /// Whether the file sets the flag of long name `key`.
    pub fn sets(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// `root` with this file's values as the defaults of the flags of the subcommand at
    /// `subcommands` (and of the root's global flags).
    pub fn apply(&self, root: Command, subcommands: &[String]) -> Result<Command, ConfigFileError> {
        let role = subcommands.last().cloned().unwrap_or_default();
        let leaf = subcommands
            .iter()
            .try_fold(&root, |command, name| command.find_subcommand(name));
        let mut unknown = Vec::new();
        // (id, values, on the root) for each key, checked before anything is changed.
        let mut defaults = Vec::new();
        for (key, value) in &self.table {
            let found = leaf
                .and_then(|leaf| flag(leaf, key).map(|arg| (arg, false)))
                .or_else(|| {
                    flag(&root, key)
                        .filter(|arg| arg.is_global_set())
                        .map(|arg| (arg, true))
                });
            let Some((arg, global)) = found else {
                unknown.push(key.clone());
                continue;
            };
            let values = self.values(key, value, arg)?;
            if arg.get_action().takes_values() {
                // The flag's own parser judges the value now, so the error can name the file.
                let probe = Command::new("pushgate")
                    .no_binary_name(true)
                    .arg(arg.clone().env(None).required(false));
                for value in &values {
                    probe
                        .clone()
                        .try_get_matches_from([format!("--{key}={value}")])
                        .map_err(|e| self.bad_value(key, clap_reason(&e)))?;
                }
            }
            defaults.push((arg.get_id().clone(), values, global));
        }
        if !unknown.is_empty() {
            return Err(ConfigFileError::UnknownKeys {
                path: self.path.clone(),
                role,
                keys: unknown,
            });
        }
        let mut root = root;
        for (id, values, global) in defaults {
            // Set in the file, a required flag (`redis`) is no longer required on the command line.
            let set = |arg: clap::Arg| arg.default_values(values.clone()).required(false);
            root = if global {
                root.mut_arg(&id, set)
            } else {
                mut_leaf(root, subcommands, &|leaf: Command| leaf.mut_arg(&id, set))
            };
        }
        Ok(root)
    }

    /// The flag values `value` stands for: one per scalar, one per array element where the
    /// flag takes several.
    fn values(
        &self,
        key: &str,
        value: &toml::Value,
        arg: &clap::Arg,
    ) -> Result<Vec<String>, ConfigFileError> {
        let scalar = |value: &toml::Value| match value {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            _ => Err(self.bad_value(key, "must be a string, number or boolean".into())),
        };
        match value {
            toml::Value::Array(items) if matches!(arg.get_action(), ArgAction::Append) => {
                items.iter().map(scalar).collect()
            }
            toml::Value::Array(_) => Err(self.bad_value(key, "takes one value, not a list".into())),
            _ if !arg.get_action().takes_values() && !value.is_bool() => {
                Err(self.bad_value(key, "is a switch: true or false".into()))
            }
            _ => Ok(vec![scalar(value)?]),
        }
    }

    fn bad_value(&self, key: &str, reason: String) -> ConfigFileError {
        ConfigFileError::BadValue {
            path: self.path.clone(),
            key: key.to_owned(),
            reason,
        }
    }
}

/// The flag of `command` whose long name is `key`; `config` names the file itself, so no file
/// sets it.
fn flag<'c>(command: &'c Command, key: &str) -> Option<&'c clap::Arg> {
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(key) && arg.get_id() != "config")
}

/// `root` with `change` applied to the subcommand at `path`.
fn mut_leaf(root: Command, path: &[String], change: &dyn Fn(Command) -> Command) -> Command {
    match path.split_first() {
        None => change(root),
        Some((name, rest)) => root.mut_subcommand(name, |sub| mut_leaf(sub, rest, change)),
    }
}

/// clap's message for a refused value, without its `error: ` prefix and usage hints.
fn clap_reason(error: &clap::Error) -> String {
    let rendered = error.to_string();
    let first = rendered.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

#[cfg(test)]
mod tests {
    use clap::{Arg, ArgAction};

    use super::*;

    /// A root with one global flag and a `dev` subcommand with a value, a list and a switch.
    fn command() -> Command {
        Command::new("pushgate")
            .arg(
                Arg::new("log")
                    .long("log")
                    .global(true)
                    .default_value("info"),
            )
            .subcommand(
                Command::new("dev")
                    .arg(
                        Arg::new("heartbeat_ms")
                            .long("heartbeat-ms")
                            .value_parser(clap::value_parser!(u64))
                            .default_value("25000"),
                    )
                    .arg(Arg::new("redis").long("redis").required(true))
                    .arg(
                        Arg::new("origins")
                            .long("allowed-origins")
                            .action(ArgAction::Append),
                    )
                    .arg(Arg::new("demo").long("demo").action(ArgAction::SetTrue)),
            )
    }

    fn matches(text: &str, args: &[&str]) -> Result<ArgMatches, ConfigFileError> {
        let file = ConfigFile::parse(Path::new("test.toml"), text)?;
        let command = file.apply(command(), &["dev".to_owned()])?;
        let argv = ["pushgate", "dev"].iter().chain(args);
        Ok(command.try_get_matches_from(argv).expect("parses"))
    }

    #[test]
    fn file_values_become_defaults_that_flags_override() {
        let text = "heartbeat-ms = 1000\nredis = \"redis://h\"\nallowed-origins = [\"a\", \"b\"]\n\
                    demo = true\nlog = \"debug\"\n";
        let all = matches(text, &[]).expect("valid");
        let dev = all.subcommand_matches("dev").expect("dev");
        assert_eq!(dev.get_one::<u64>("heartbeat_ms"), Some(&1000));
        // A required flag set in the file needs no flag.
        assert_eq!(
            dev.get_one::<String>("redis").map(String::as_str),
            Some("redis://h")
        );
        let origins: Vec<_> = dev.get_many::<String>("origins").expect("list").collect();
        assert_eq!(origins, ["a", "b"]);
        assert!(dev.get_flag("demo"));
        assert_eq!(
            dev.get_one::<String>("log").map(String::as_str),
            Some("debug")
        );

        let all = matches(text, &["--heartbeat-ms", "7"]).expect("valid");
        let dev = all.subcommand_matches("dev").expect("dev");
        assert_eq!(dev.get_one::<u64>("heartbeat_ms"), Some(&7));
    }

    #[test]
    fn unknown_keys_are_listed_together() {
        let error = matches("hartbeat-ms = 1\nconfig = \"x\"\nredis = \"r\"\n", &[]).unwrap_err();
        assert!(
            matches!(&error, ConfigFileError::UnknownKeys { role, keys, .. }
                if role == "dev" && keys == &["config", "hartbeat-ms"]),
            "{error}"
        );
    }

    #[test]
    fn values_of_the_wrong_shape_name_their_key() {
        for (text, reason) in [
            ("heartbeat-ms = \"soon\"", "invalid value 'soon'"),
            ("heartbeat-ms = [1, 2]", "takes one value, not a list"),
            ("demo = \"yes\"", "is a switch: true or false"),
            (
                "redis = { host = \"h\" }",
                "must be a string, number or boolean",
            ),
        ] {
            let error = matches(text, &[]).unwrap_err();
            assert!(
                matches!(&error, ConfigFileError::BadValue { reason: r, .. } if r.contains(reason)),
                "{text}: {error}"
            );
        }
        assert!(matches!(
            matches("heartbeat-ms = ", &[]),
            Err(ConfigFileError::Syntax { .. })
        ));
    }
}
