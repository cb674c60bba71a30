//! A setting that validation refused, named as the flag and config-file key that sets it.

use std::fmt;

/// A setting outside what it may be. `setting` is the flag's long name, which is also its
/// config-file key and (upper-cased, `PUSHGATE_`-prefixed) its env var, so every surface that
/// shows the error tells the operator exactly what to change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("--{setting} ({}) {rule}", env_var(setting))]
pub struct InvalidSetting {
    /// The flag (and config-file key) that sets the value, without `--`: what to change.
    pub setting: &'static str,
    /// What the value must satisfy: how to change it.
    pub rule: Rule,
}

/// What a setting's value must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Zero is meaningless (an empty feed, a worker that never tries, a timer that spins).
    Positive,
    /// At least this many of the setting's unit.
    AtLeast(u64),
    /// At most this many of the setting's unit.
    AtMost(u64),
    /// A secret at least this many bytes long, so it cannot be guessed.
    MinBytes(usize),
    /// Between `min` and `max` characters.
    Length { min: usize, max: usize },
    /// Longer than the named setting (whose own rule depends on it).
    LongerThan(&'static str),
    /// An `http://` or `https://` URL.
    HttpUrl,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Positive => write!(f, "must be positive"),
            Rule::AtLeast(min) => write!(f, "must be at least {min}"),
            Rule::AtMost(max) => write!(f, "must be at most {max}"),
            Rule::MinBytes(min) => write!(f, "must be at least {min} bytes"),
            Rule::Length { min, max } => write!(f, "must be {min} to {max} characters"),
            Rule::LongerThan(other) => write!(f, "must be longer than --{other}"),
            Rule::HttpUrl => write!(f, "must be an http:// or https:// URL"),
        }
    }
}

impl InvalidSetting {
    /// `Ok` when `holds`, else `setting` breaking `rule`.
    pub fn unless(holds: bool, setting: &'static str, rule: Rule) -> Result<(), Self> {
        if holds {
            Ok(())
        } else {
            Err(Self { setting, rule })
        }
    }
}

/// The env var of a flag: `PUSHGATE_` and the long name upper-cased, dashes as underscores.
fn env_var(setting: &str) -> String {
    format!("PUSHGATE_{}", setting.to_uppercase().replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_flag_env_var_and_rule() {
        let error = InvalidSetting::unless(false, "feed-cap", Rule::Positive).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--feed-cap (PUSHGATE_FEED_CAP) must be positive"
        );
        assert!(InvalidSetting::unless(true, "feed-cap", Rule::Positive).is_ok());
    }
}
