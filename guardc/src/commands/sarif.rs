//! `--error-format sarif` for `check` and `lint`: the diagnostics as one SARIF 2.1.0 log, so
//! code-scanning UIs show guard's findings inline. Written with typed serde structs (the few
//! properties guard fills in); `guardc/tests/cli.rs` validates the output against the official
//! schema (`testdata/schemas/sarif-schema-2.1.0.json`).
//!
//! One run; `tool.driver.rules` lists every code that appears, with its meaning and default
//! level; each result has the code, its level, the message and help, the primary location and
//! the other labelled places as `relatedLocations`. Columns count characters, as guard's do
//! (`columnKind` `unicodeCodePoints`); file paths are written relative, as given, against
//! `%SRCROOT%` (the directory guardc ran in).

use guard_dsl::{Diagnostics, Entry, Location};
use serde::Serialize;

/// The `id` of the official schema (testdata/schemas/sarif-schema-2.1.0.json).
const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Tool,
    results: Vec<SarifResult>,
    column_kind: &'static str,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: String,
    name: String,
    short_description: Message,
    help: Message,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: String,
    rule_index: usize,
    level: &'static str,
    message: Message,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<SarifLocation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<SarifLocation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<usize>,
    physical_location: PhysicalLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Message>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
}

/// The diagnostics as a SARIF 2.1.0 log, pretty-printed, with a final line break.
pub(crate) fn render(diagnostics: &Diagnostics) -> String {
    render_entries(&diagnostics.entries())
}

/// [`render`] of these entries (none: a log that reports nothing).
pub(crate) fn render_entries(entries: &[Entry]) -> String {
    let mut rules: Vec<Rule> = Vec::new();
    let mut results = Vec::new();
    for entry in entries {
        let rule_index = match rules.iter().position(|r| r.id == entry.code) {
            Some(i) => i,
            None => {
                rules.push(rule(entry));
                rules.len() - 1
            }
        };
        results.push(result(entry, rule_index));
    }
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "guardc",
                    version: env!("CARGO_PKG_VERSION"),
                    rules,
                },
            },
            results,
            column_kind: "unicodeCodePoints",
        }],
    };
    // Serialising these structs cannot fail; an empty log would still be valid JSON.
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_else(|_| "{}".into());
    out.push('\n');
    out
}

fn rule(entry: &Entry) -> Rule {
    let name = entry.code.rsplit("::").next().unwrap_or(entry.code);
    Rule {
        id: entry.code.to_string(),
        name: name.to_string(),
        short_description: Message {
            text: entry.meaning.to_string(),
        },
        help: Message {
            text: format!("`{}`: see docs/codes.md", entry.code),
        },
        default_configuration: Configuration {
            level: entry.severity.as_str(),
        },
    }
}

fn result(entry: &Entry, rule_index: usize) -> SarifResult {
    let text = match &entry.help {
        Some(help) => format!("{}\n\nhelp: {help}", entry.message),
        None => entry.message.clone(),
    };
    let mut locations = Vec::new();
    if let Some(location) = &entry.location {
        locations.push(physical(location, None));
    } else if let Some(path) = &entry.path {
        locations.push(SarifLocation {
            id: None,
            physical_location: PhysicalLocation {
                artifact_location: artifact(&path.display().to_string()),
                region: None,
            },
            message: None,
        });
    }
    SarifResult {
        rule_id: entry.code.to_string(),
        rule_index,
        level: entry.severity.as_str(),
        message: Message { text },
        locations,
        related_locations: entry
            .related
            .iter()
            .enumerate()
            .map(|(i, location)| physical(location, Some(i)))
            .collect(),
    }
}

fn physical(location: &Location, id: Option<usize>) -> SarifLocation {
    SarifLocation {
        id,
        physical_location: PhysicalLocation {
            artifact_location: artifact(&location.file),
            region: Some(Region {
                start_line: location.start_line,
                start_column: location.start_column,
                end_line: location.end_line,
                end_column: location.end_column,
            }),
        },
        message: Some(location.label.clone())
            .filter(|l| !l.is_empty())
            .map(|text| Message { text }),
    }
}

/// A path as a URI reference: `/` separators, the characters a URI cannot hold
/// percent-encoded; relative paths against `%SRCROOT%`, absolute ones as `file://` URIs.
fn artifact(path: &str) -> ArtifactLocation {
    let path = path.replace('\\', "/");
    let mut uri = String::new();
    for byte in path.bytes() {
        let c = char::from(byte);
        if c.is_ascii_alphanumeric() || "-._~/!$&'()*+,;=:@".contains(c) {
            uri.push(c);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    if path.starts_with('/') {
        ArtifactLocation {
            uri: format!("file://{uri}"),
            uri_base_id: None,
        }
    } else {
        ArtifactLocation {
            uri,
            uri_base_id: Some("%SRCROOT%"),
        }
    }
}
