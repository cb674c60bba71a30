//! `pushgate config check`: a role's effective settings with secrets redacted, then validation.

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{ArgMatches, Command, CommandFactory};
use pushgate_fanout::redis::redact_url;

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
                    // A hidden URL (`--redis`) still shows where it points, only not its password.
                    if arg.is_hide_env_values_set() && !value.contains("://") {
                        REDACTED.to_owned()
                    } else {
                        redact_url(&value)
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

#[cfg(test)]
mod tests {
    use super::*;

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
