//! `pushgate config check`: a role's effective settings with secrets redacted, then validation.

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{ArgMatches, Command, CommandFactory};

use crate::cli::{Cli, Role};
use crate::config_file::ConfigFile;
use crate::plan::Plan;

/// What stands in for a secret's value.
const REDACTED: &str = "<redacted>";

/// Print every setting of `role` as a config-file line (`key = value  # source`), then
/// validate them as the role would at start; the error names the first invalid setting.
pub fn check(role: &Role, matches: &ArgMatches, file: Option<&ConfigFile>) -> anyhow::Result<()> {
    let (name, leaf) = leaf(matches);
    let root = Cli::command();
    let command = root
        .find_subcommand("config")
        .and_then(|config| config.find_subcommand("check"))
        .and_then(|check| check.find_subcommand(name))
        .context("no such role")?;
    println!("# pushgate {name}: effective settings (flag > env > config file > default)");
    for line in lines(&root, command, leaf, file) {
        println!("{line}");
    }
    Plan::of(role).context("invalid settings")?;
    println!("# valid");
    Ok(())
}

/// The role's name and its matches: the deepest subcommand of `matches`.
fn leaf(matches: &ArgMatches) -> (&str, &ArgMatches) {
    let mut found = ("", matches);
    while let Some(next) = found.1.subcommand() {
        found = next;
    }
    found
}

/// One line per flag of `command` and the root's global flags, in the order `--help` lists them.
fn lines(
    root: &Command,
    command: &Command,
    matches: &ArgMatches,
    file: Option<&ConfigFile>,
) -> Vec<String> {
    let globals = root
        .get_arguments()
        .filter(|arg| arg.is_global_set() && arg.get_id() != "config");
    command
        .get_arguments()
        .chain(globals)
        .filter_map(|arg| {
            let key = arg.get_long()?;
            let values: Vec<String> = matches
                .get_raw(arg.get_id().as_str())
                .into_iter()
                .flatten()
                .map(|value| {
                    let value = value.to_string_lossy();
                    if arg.is_hide_env_values_set() {
                        REDACTED.to_owned()
                    } else {
                        redact_password(&value)
                    }
                })
                .collect();
            let source = match matches.value_source(arg.get_id().as_str()) {
                Some(ValueSource::CommandLine) => "flag",
                Some(ValueSource::EnvVariable) => "env",
                _ if file.is_some_and(|file| file.sets(key)) => "config file",
                Some(_) => "default",
                None => return Some(format!("# {key} is not set")),
            };
            Some(format!("{key} = {}  # {source}", toml_value(&values)))
        })
        .collect()
}

/// `values` as TOML: numbers and booleans bare, the rest quoted, several as an array.
fn toml_value(values: &[String]) -> String {
    let one = |value: &String| match value.parse::<i64>() {
        Ok(n) => n.to_string(),
        Err(_) if value == "true" || value == "false" => value.clone(),
        Err(_) => toml::Value::String(value.clone()).to_string(),
    };
    match values {
        [value] => one(value),
        _ => format!(
            "[{}]",
            values.iter().map(one).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// `value` with the password of every URL in it replaced (`redis://user:<redacted>@host`).
/// By hand: a Cluster seed list (`redis+cluster://u:p@h1:1,h2:2`) is no URL a parser accepts.
fn redact_password(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let secret = if userinfo.contains(':') {
                format!(":{REDACTED}")
            } else {
                String::new()
            };
            format!("{scheme}://{user}{secret}@{hosts}{path}")
        }
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted_and_the_rest_kept() {
        let cases = [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            (
                "rediss://app:s3cr3t@redis.example:6380/0",
                "rediss://app:<redacted>@redis.example:6380/0",
            ),
            (
                "redis://:s3cr3t@redis.example",
                "redis://:<redacted>@redis.example",
            ),
            (
                "redis+cluster://app:p@ss@h1:7000,h2:7001",
                "redis+cluster://app:<redacted>@h1:7000,h2:7001",
            ),
            ("redis://app@h1", "redis://app@h1"),
            ("plain text", "plain text"),
        ];
        for (value, shown) in cases {
            assert_eq!(redact_password(value), shown, "{value}");
        }
    }

    #[test]
    fn values_print_as_toml() {
        assert_eq!(toml_value(&["25000".into()]), "25000");
        assert_eq!(toml_value(&["true".into()]), "true");
        assert_eq!(toml_value(&["a\"b".into()]), r#"'a"b'"#);
        assert_eq!(
            toml_value(&["10.0.0.0/8".into(), "::1".into()]),
            r#"["10.0.0.0/8", "::1"]"#
        );
    }
}
