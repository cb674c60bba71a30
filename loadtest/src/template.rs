//! `{name}` placeholders in the generic mode's URL, body and subscribe-message templates.
//!
//! Variables:
//! - `{channel}`: the channel name, `<channel prefix><n>` with `n` in `0..channels`.
//! - `{client}`: the subscribing client's index (subscribe templates).
//! - `{seq}`: the publish sequence number, from 0 (publish templates).
//! - `{ts_us}`: publish time, microseconds since the Unix epoch; unique per publish, so it
//!   doubles as the message id that loss and duplicates are counted by.
//! - `{ts_ms}`: the same time in milliseconds, for servers that want it (not used for latency).
//!
//! Any other brace stays literal, so JSON bodies need no escaping.

use crate::LoadtestError;

/// The values one rendering fills in; unused ones may be left at zero.
#[derive(Clone, Copy, Debug, Default)]
pub struct TemplateValues<'a> {
    pub channel: &'a str,
    pub client: u32,
    pub seq: u64,
    pub ts_us: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    Channel,
    Client,
    Seq,
    TsUs,
    TsMs,
}

impl Var {
    const ALL: [(&'static str, Var); 5] = [
        ("channel", Var::Channel),
        ("client", Var::Client),
        ("seq", Var::Seq),
        ("ts_us", Var::TsUs),
        ("ts_ms", Var::TsMs),
    ];
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Literal(String),
    Var(Var),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parse `source`; only the documented names inside braces are variables.
    pub fn parse(source: &str) -> Self {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        while let Some(open) = rest.find('{') {
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let var = Var::ALL.iter().find_map(|(name, var)| {
                after
                    .strip_prefix(name)?
                    .strip_prefix('}')
                    .map(|tail| (*var, tail))
            });
            match var {
                Some((var, tail)) => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var(var));
                    rest = tail;
                }
                None => {
                    literal.push('{');
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Self {
            source: source.to_owned(),
            parts,
        }
    }

    /// The text the template was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template embeds the publish time, which latency and loss depend on.
    pub fn embeds_timestamp(&self) -> bool {
        self.parts.contains(&Part::Var(Var::TsUs))
    }

    /// Fill in the variables.
    pub fn render(&self, values: &TemplateValues<'_>) -> String {
        let mut out = String::with_capacity(self.source.len() + 16);
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(Var::Channel) => out.push_str(values.channel),
                Part::Var(Var::Client) => out.push_str(&values.client.to_string()),
                Part::Var(Var::Seq) => out.push_str(&values.seq.to_string()),
                Part::Var(Var::TsUs) => out.push_str(&values.ts_us.to_string()),
                Part::Var(Var::TsMs) => out.push_str(&(values.ts_us / 1000).to_string()),
            }
        }
        out
    }

    /// Reject a publish body that cannot be measured.
    pub fn require_timestamp(self, what: &str) -> Result<Self, LoadtestError> {
        if self.embeds_timestamp() {
            Ok(self)
        } else {
            Err(LoadtestError::InvalidArgument(format!(
                "{what} must contain {{ts_us}}: latency and loss are measured by it"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_variables_and_keeps_json_braces() {
        let body = Template::parse(r#"{"data":{"ts":{ts_us},"ms":{ts_ms},"n":{seq}}}"#);
        let values = TemplateValues {
            ts_us: 1_700_000_000_123_456,
            seq: 9,
            ..Default::default()
        };
        assert_eq!(
            body.render(&values),
            r#"{"data":{"ts":1700000000123456,"ms":1700000000123,"n":9}}"#
        );
        assert!(body.embeds_timestamp());
    }

    #[test]
    fn url_template_with_channel_and_client() {
        let url = Template::parse("ws://127.0.0.1:9/sub?channel={channel}&id={client}&x={nope}");
        let values = TemplateValues {
            channel: "ch3",
            client: 42,
            ..Default::default()
        };
        assert_eq!(
            url.render(&values),
            "ws://127.0.0.1:9/sub?channel=ch3&id=42&x={nope}"
        );
        assert!(!url.embeds_timestamp());
        assert!(url.require_timestamp("--publish-body").is_err());
    }

    #[test]
    fn unterminated_brace_is_literal() {
        let template = Template::parse("a{ts_us");
        assert_eq!(template.render(&TemplateValues::default()), "a{ts_us");
    }
}
