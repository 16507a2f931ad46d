//! The engine's one pass for benign bodies (`engine/src/one_pass.rs`) against the full path:
//! every request body the repository holds (the example policies' and the evasion corpus's
//! fixtures, the CLI's fixtures, the extraction corpus, the fuzz seeds, a few bodies written
//! here) under every policy set it holds (the example policies, the evasion policy, the
//! benchmark policies, each `testdata/dsl/ok/` file), selected as their hosts and paths are.
//! Wherever the one pass calls a body benign, the full path must allow it with nothing
//! recorded; and the one pass must decide a good share of the bodies, or it saves nothing.

use std::path::{Path, PathBuf};

use guard_engine::ir::HostPattern;
use guard_engine::{CompileOptions, Decision, Ruleset, Selection};

use crate::{fixture, suite};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Every policy set: (what it is, the ruleset).
fn rulesets() -> Vec<(String, Ruleset)> {
    let root = root();
    let mut sets: Vec<PathBuf> = [
        "policies",
        "testdata/evasion",
        "bench/policies/large.guard",
        "bench/policies/inject-only.guard",
        "bench/policies/dictionary.guard",
    ]
    .iter()
    .map(|p| root.join(p))
    .collect();
    let ok = root.join("testdata/dsl/ok");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&ok)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "guard"))
        .collect();
    files.sort();
    sets.extend(files);
    sets.into_iter()
        .filter_map(|path| {
            // A `testdata/dsl/ok/` file that needs files beside it may not compile alone.
            let compiled =
                guard_dsl::compile_paths(std::slice::from_ref(&path), &CompileOptions::default())
                    .ok()?;
            let ruleset = Ruleset::from_bytes(&compiled.compiled.bytes).ok()?;
            Some((path.display().to_string(), ruleset))
        })
        .collect()
}

/// Every body: (what it is, content type, body, authority and path if it names them).
type Body = (String, Option<String>, Vec<u8>, Option<(String, String)>);

fn bodies() -> Vec<Body> {
    let root = root();
    let mut out: Vec<Body> = Vec::new();
    let dirs = [
        root.join("policies"),
        root.join("testdata/evasion"),
        root.join("testdata/guardc"),
    ];
    for path in suite::find_fixtures(&dirs) {
        let Ok(f) = fixture::load(&path) else {
            continue;
        };
        let content_type = f.header("content-type").map(str::to_string);
        let name = path.display().to_string();
        out.push((
            name,
            content_type,
            f.body.clone(),
            Some((f.authority.clone(), f.path_and_query.clone())),
        ));
    }
    let raw = |dir: &str, skip: usize, out: &mut Vec<Body>| {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let body = bytes.get(skip..).unwrap_or_default().to_vec();
            for content_type in [Some("application/json"), None] {
                out.push((
                    path.display().to_string(),
                    content_type.map(str::to_string),
                    body.clone(),
                    None,
                ));
            }
        }
    };
    raw("testdata/extract", 0, &mut out);
    raw("fuzz/corpus/extract_body", 0, &mut out);
    // request_eval's seeds start with a byte that selects how the target reads them.
    raw("fuzz/corpus/request_eval", 1, &mut out);
    for (name, body) in [
        (
            "benign chat",
            r#"{"model":"qwen-plus","messages":[{"role":"user","content":"你好，世界。Plan the trip: day 1, 2 and 3."}]}"#,
        ),
        (
            "number split from a keyword",
            r#"{"a":"account","b":12345,"c":"number"}"#,
        ),
        ("keyword across a key and value", r#"{"private":"key"}"#),
        (
            "pretty",
            "{\n  \"messages\": [\n    {\"role\": \"user\", \"content\": \"hello  there\"}\n  ]\n}",
        ),
        ("empty", "{}"),
    ] {
        out.push((
            name.to_string(),
            Some("application/json".into()),
            body.as_bytes().to_vec(),
            None,
        ));
    }
    out
}

/// The selections a body is tried under: its own authority and path when it names them, and
/// each policy's host (a wildcard's with a name in front) with each path worth trying.
fn selections(ruleset: &Ruleset, own: Option<&(String, String)>) -> Vec<Selection> {
    let mut out = Vec::new();
    if let Some((authority, path)) = own {
        out.extend(ruleset.select(authority, path));
    }
    for policy in &ruleset.program().policies {
        for host in &policy.hosts {
            let host = match host {
                HostPattern::Exact(host) => host.clone(),
                HostPattern::Subdomains(suffix) => format!("x{suffix}"),
            };
            let path = policy
                .path_prefix
                .clone()
                .unwrap_or_else(|| "/v1/chat/completions".into());
            out.extend(ruleset.select(&host, &path));
        }
    }
    out.dedup();
    out
}

#[test]
fn the_one_pass_calls_benign_only_what_the_full_path_allows() {
    let rulesets = rulesets();
    let bodies = bodies();
    assert!(rulesets.len() >= 10, "{} policy sets", rulesets.len());
    assert!(bodies.len() >= 300, "{} bodies", bodies.len());
    let (mut tried, mut decided) = (0usize, 0usize);
    for (set, ruleset) in &rulesets {
        for (name, content_type, body, own) in &bodies {
            for selection in selections(ruleset, own.as_ref()) {
                tried += 1;
                if !ruleset.benign_in_one_pass(&selection, content_type.as_deref(), body) {
                    continue;
                }
                decided += 1;
                let full = ruleset.inspect_segments(&selection, content_type.as_deref(), body);
                assert!(
                    full.decision == Decision::Allow
                        && full.monitored.is_empty()
                        && full.masked.is_none(),
                    "{name} under {set}: the one pass called it benign, the full path says {:?} (monitored {:?})",
                    full.decision,
                    full.monitored
                );
                // And what users get is the one pass's verdict, for a body within the limit
                // (a larger one is refused before either path runs).
                if body.len() <= guard_engine::DEFAULT_MAX_BODY_BYTES {
                    let used = ruleset.inspect(&selection, content_type.as_deref(), body);
                    assert_eq!(used.decision, Decision::Allow, "{name} under {set}");
                }
            }
        }
    }
    // The one pass must carry real weight (7,314 of 322,454 when this was written: most policy
    // sets here have judges, masks or filters, and most corpus bodies escape something) ...
    assert!(
        decided >= 2_000,
        "the one pass decided {decided} of {tried}"
    );
    assert!(
        decided < tried,
        "the one pass decided everything: {decided} of {tried}"
    );
    // ... and decide the benchmark's chat body under the benchmark policies.
    for (set, ruleset) in &rulesets {
        if !set.ends_with("large.guard") && !set.ends_with("inject-only.guard") {
            continue;
        }
        let (_, content_type, body, _) = bodies
            .iter()
            .find(|(name, ..)| name == "benign chat")
            .cloned()
            .unwrap_or_default();
        let selection = selections(ruleset, None).into_iter().next();
        assert!(
            selection.is_some_and(|s| ruleset.benign_in_one_pass(
                &s,
                content_type.as_deref(),
                &body
            )),
            "{set}: the benign chat body takes the full path"
        );
    }
}
