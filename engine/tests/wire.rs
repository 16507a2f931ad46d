//! The bundle format: a golden file pins the layout, and every kind of damage is refused
//! without a panic.
//!
//! `GUARD_BLESS=1 cargo test -p guard-engine --test wire` rewrites the golden bundle; do that
//! only together with a FORMAT_VERSION bump (or a regex-automata upgrade) and say so in review.

#![allow(clippy::unwrap_used, reason = "a test that cannot set up should fail")]

use std::path::PathBuf;

use guard_engine::ir::{
    Endpoint, HeaderOp, HostPattern, Judge, Mask, MaskPart, OnError, Patterns, Policy, Program,
    Rule, RuleAction, Template, TemplatePart,
};
use guard_engine::{compile, CompileOptions, Decision, LoadError, Ruleset, FORMAT_VERSION};

fn program() -> Program {
    Program {
        policies: vec![Policy {
            name: "golden".into(),
            hosts: vec![
                HostPattern::Exact("llm.example.com".into()),
                HostPattern::Subdomains(".example.net".into()),
            ],
            path_prefix: None,
            headers: vec![
                HeaderOp::Set {
                    name: "Authorization".into(),
                    value: Template {
                        parts: vec![
                            TemplatePart::Text("Bearer ".into()),
                            TemplatePart::Secret("key".into()),
                        ],
                    },
                },
                HeaderOp::Remove {
                    name: "x-debug".into(),
                },
            ],
            rules: vec![
                Rule {
                    id: "words".into(),
                    reason: Some("words".into()),
                    mode: Default::default(),
                    action: RuleAction::Deny(Patterns {
                        keywords: vec!["账号".into(), "Secret Plan".into(), "пароль".into()],
                        regexes: vec![],
                        ignore_case: true,
                        skip_normalization: false,
                        ..Default::default()
                    }),
                },
                Rule {
                    id: "digits".into(),
                    reason: None,
                    mode: Default::default(),
                    action: RuleAction::Deny(Patterns {
                        keywords: vec![],
                        regexes: vec!["1[3-9][0-9]{9}".into(), "[a-z]+@[a-z]+\\.com".into()],
                        ignore_case: false,
                        skip_normalization: true,
                        ..Default::default()
                    }),
                },
                Rule {
                    id: "keys".into(),
                    reason: None,
                    mode: Default::default(),
                    action: RuleAction::Deny(Patterns {
                        keywords: vec![],
                        // Its unanchored DFA passes the test budget: it runs anchored at candidates.
                        regexes: vec!["AIza[0-9A-Za-z_-]{35}".into()],
                        ignore_case: false,
                        skip_normalization: false,
                        ..Default::default()
                    }),
                },
                Rule {
                    id: "ids".into(),
                    reason: None,
                    mode: Default::default(),
                    action: RuleAction::Mask(Mask {
                        patterns: Patterns {
                            regexes: vec!["ID-[0-9]{4}".into()],
                            ..Default::default()
                        },
                        with: vec![
                            MaskPart::Text("[ID_".into()),
                            MaskPart::Number,
                            MaskPart::Text("]".into()),
                        ],
                        restore: true,
                    }),
                },
                Rule {
                    id: "answer-keys".into(),
                    reason: Some("a key in the answer".into()),
                    mode: Default::default(),
                    action: RuleAction::Deny(Patterns {
                        regexes: vec!["AKIA[0-9A-Z]{16}".into()],
                        on_response: true,
                        ..Default::default()
                    }),
                },
                Rule {
                    id: "ask".into(),
                    reason: None,
                    mode: Default::default(),
                    action: RuleAction::Escalate {
                        judge: 0,
                        when: None,
                    },
                },
            ],
        }],
        judges: vec![Judge {
            name: "j".into(),
            endpoint: Endpoint {
                url: "http://judge.internal/v1/chat/completions".into(),
                authority: "judge.internal".into(),
                host: "judge.internal".into(),
                port: 80,
                path: "/v1/chat/completions".into(),
            },
            cluster: "outbound|80||judge.internal".into(),
            model: "m".into(),
            api_key: Template::text("k"),
            timeout_ms: 1000,
            on_error: OnError::Deny,
            prompt: Template {
                parts: vec![
                    TemplatePart::Fence,
                    TemplatePart::Content,
                    TemplatePart::Fence,
                ],
            },
        }],
    }
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/wire/golden.bundle")
}

/// A small budget keeps the test fast and sends the `keys` rule down the anchored path.
fn options() -> CompileOptions {
    CompileOptions {
        dfa_size_limit: 256 << 10,
        ..CompileOptions::default()
    }
}

fn bundle() -> Vec<u8> {
    compile(&program(), &options()).unwrap().bytes
}

#[test]
fn an_oversized_bounded_pattern_falls_back_to_an_anchored_dfa() {
    let compiled = compile(&program(), &options()).unwrap();
    let anchored: Vec<_> = compiled
        .groups
        .iter()
        .filter(|g| g.anchored)
        .map(|g| g.rule)
        .collect();
    // `keys`, and `answer-keys` behind the policy's screen.
    assert_eq!(anchored, vec![2, 4], "{:?}", compiled.groups);
}

#[test]
fn compiled_bundle_matches_the_golden_file() {
    let bytes = bundle();
    if std::env::var_os("GUARD_BLESS").is_some() {
        std::fs::write(golden_path(), &bytes).unwrap();
    }
    let golden =
        std::fs::read(golden_path()).expect("golden bundle; run with GUARD_BLESS=1 to create it");
    assert_eq!(
        u32::from_le_bytes(golden[8..12].try_into().unwrap()),
        FORMAT_VERSION,
        "golden file is from another format version"
    );
    assert!(
        bytes == golden,
        "the bundle layout changed: bump FORMAT_VERSION and bless the golden file"
    );
}

/// The digest sits at bytes 64..96, is the one the compiler reports and the loader exposes, and a
/// bundle without one (all zero, CRC-32 made right) is refused.
#[test]
fn the_digest_is_in_the_header_and_required() {
    let compiled = compile(&program(), &options()).unwrap();
    let bytes = compiled.bytes.clone();
    assert_eq!(u32::from_le_bytes(bytes[12..16].try_into().unwrap()), 96);
    let digest = compiled.digest();
    assert_eq!(digest.len(), 64);
    assert!(digest
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    let hex: String = bytes[64..96].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, digest);
    let ruleset = Ruleset::from_bytes(&bytes).unwrap();
    assert_eq!(ruleset.digest(), digest);
    assert_eq!(ruleset.digest12(), &digest[..12]);
    // Another program, another digest.
    let mut other = program();
    other.policies[0].name = "other".into();
    assert_ne!(compile(&other, &options()).unwrap().digest(), digest);

    let mut zeroed = bytes.clone();
    zeroed[64..96].fill(0);
    let crc = crc32(&zeroed[64..]);
    zeroed[56..60].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(
        Ruleset::from_bytes(&zeroed),
        Err(LoadError::Invalid(_))
    ));
}

#[test]
fn golden_bundle_loads_and_evaluates() {
    let golden = std::fs::read(golden_path()).unwrap();
    let ruleset = Ruleset::from_bytes(&golden).unwrap();
    assert_eq!(ruleset.program(), &program());
    let policy = ruleset.select("LLM.example.com:443", "/v1/chat").unwrap();
    let deny = |text: &str| match ruleset
        .inspect(&policy, Some("text/plain"), text.as_bytes())
        .decision
    {
        Decision::Deny(d) => Some(d.rule.unwrap()),
        _ => None,
    };
    assert_eq!(deny("the SECRET PLAN"), Some("words".into()));
    assert_eq!(deny("ПАРОЛЬ"), Some("words".into()));
    assert_eq!(deny("call 13912345678"), Some("digits".into()));
    let Decision::Deny(denial) = ruleset
        .inspect(
            &policy,
            Some("text/plain"),
            "x ＳＥＣＲＥＴ ＰＬＡＮ y".as_bytes(),
        )
        .decision
    else {
        panic!("not denied");
    };
    let site = denial.matched.unwrap();
    assert_eq!(
        (site.start, site.end),
        (2, 13),
        "the span is reported in the original text"
    );
    assert_eq!(deny("mail bob@example.com"), Some("digits".into()));
    assert_eq!(
        deny("key=AIzaSyA1234567890abcdefghijklmnopqrstuv;"),
        Some("keys".into())
    );
    assert_eq!(
        deny("key=AIzaSyA1234567890abcdefghijklmnopqrstu;"),
        None,
        "one character short"
    );
    // Both rules match: the earlier rule in file order is reported.
    assert_eq!(deny("13912345678 账号"), Some("words".into()));
    // Normalised: full-width letters and a zero-width space do not hide the keyword.
    assert_eq!(
        deny("the ＳＥＣＲＥＴ\u{200b} ＰＬＡＮ"),
        Some("words".into())
    );
    assert_eq!(deny("账\u{200d}号"), Some("words".into()));
    // `digits` opts out of normalisation, so full-width digits are not ASCII digits to it.
    assert_eq!(deny("call １３９１２３４５６７８"), None);
    assert!(matches!(
        ruleset
            .inspect(&policy, Some("text/plain"), b"hello")
            .decision,
        Decision::Escalate(_)
    ));
    // The mask rule rewrites the string tokens that hold its matches, and only them; the same
    // value twice is one placeholder, and the judge is asked about the masked text.
    let body =
        br#"{"messages": [{"role": "user", "content": "ID-1234, ID-5678 and ID-1234"}], "n": 1}"#;
    let inspection = ruleset.inspect(&policy, Some("application/json"), body);
    let masked = inspection.masked.unwrap();
    assert_eq!(
        String::from_utf8(masked.body).unwrap(),
        r#"{"messages": [{"role": "user", "content": "[ID_1], [ID_2] and [ID_1]"}], "n": 1}"#
    );
    let Decision::Escalate(escalation) = inspection.decision else {
        panic!("not escalated");
    };
    assert!(escalation.content().contains("[ID_2]"));
    assert!(!escalation.content().contains("5678"));
    // The `on response` rule searches answers only, with its reach from the bundle.
    assert_eq!(deny("key AKIAIOSFODNN7EXAMPLE"), None);
    let answer = ruleset.inspect_answer(
        &policy,
        Some("text/plain"),
        None,
        b"key AKIAIOSFODNN7EXAMPLE",
    );
    let Decision::Deny(denial) = answer.decision else {
        panic!("the answer was not denied");
    };
    assert_eq!(denial.rule.as_deref(), Some("answer-keys"));
    assert_eq!(ruleset.response_reach(&policy), 20);
    assert!(ruleset.select("example.net", "/").is_none());
    assert!(ruleset.select("a.example.net.", "/").is_some());
}

#[test]
fn every_truncation_is_refused() {
    let bytes = bundle();
    for len in 0..bytes.len() {
        assert!(
            Ruleset::from_bytes(&bytes[..len]).is_err(),
            "truncated to {len} bytes was accepted"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        Ruleset::from_bytes(&longer).unwrap_err(),
        LoadError::TrailingBytes(1)
    );
}

#[test]
fn every_single_bit_flip_is_refused() {
    let bytes = bundle();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut damaged = bytes.clone();
            damaged[i] ^= 1 << bit;
            assert!(
                Ruleset::from_bytes(&damaged).is_err(),
                "flip of bit {bit} at byte {i} was accepted"
            );
        }
    }
}

#[test]
fn wrong_versions_are_refused_by_name() {
    let mut bytes = bundle();
    bytes[8] = bytes[8].wrapping_add(1);
    assert!(matches!(
        Ruleset::from_bytes(&bytes),
        Err(LoadError::UnsupportedVersion { .. })
    ));
    let mut bytes = bundle();
    bytes[16..48].copy_from_slice(&[b'x'; 32]);
    assert!(matches!(
        Ruleset::from_bytes(&bytes),
        Err(LoadError::AutomataVersion { .. })
    ));
}

/// Damage behind a recomputed checksum reaches the deep validation (meta decoding, references,
/// DFA transition tables); it must still be an error or a working ruleset, never a panic.
#[test]
fn damage_behind_a_valid_checksum_never_panics() {
    let bytes = bundle();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut refused = 0;
    for _ in 0..3000 {
        let mut damaged = bytes.clone();
        for _ in 0..(1 + next() % 4) {
            let at = 64 + (next() as usize) % (damaged.len() - 64);
            damaged[at] = next() as u8;
        }
        let crc = crc32(&damaged[64..]);
        damaged[56..60].copy_from_slice(&crc.to_le_bytes());
        match Ruleset::from_bytes(&damaged) {
            Err(_) => refused += 1,
            Ok(ruleset) => {
                // Whatever loaded must evaluate without panicking.
                if let Some(policy) = ruleset.select("llm.example.com", "/") {
                    let _ = ruleset
                        .inspect(&policy, None, "13912345678 账号 hello".as_bytes())
                        .decision;
                }
            }
        }
    }
    assert!(refused > 0);
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Inputs that once crashed the `bundle_load` fuzz target (docs/fuzzing.md), with their header
/// made valid as the target makes it: each must be refused, or load and evaluate every policy's
/// hosts without a panic (this test runs with debug assertions, as the fuzzer does).
#[test]
fn fuzz_regressions_are_refused_or_evaluate() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/wire/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("bin") {
            continue;
        }
        seen += 1;
        let bytes = std::fs::read(&path).unwrap();
        let Ok(ruleset) = Ruleset::from_bytes(&bytes) else {
            continue;
        };
        for policy in &ruleset.program().policies {
            for host in &policy.hosts {
                let name = match host {
                    HostPattern::Exact(h) => h.clone(),
                    HostPattern::Subdomains(s) => format!("x{s}"),
                };
                let path_prefix = policy.path_prefix.clone().unwrap_or_else(|| "/".into());
                if let Some(id) = ruleset.select(&name, &path_prefix) {
                    for body in ["13912345678 账号 x1y ab", "nothing to see"] {
                        let _ = ruleset.explain(&id, None, None, body.as_bytes());
                        let _ = ruleset.inspect(&id, None, body.as_bytes()).decision;
                    }
                }
            }
        }
    }
    assert!(seen > 0, "no regression inputs in {}", dir.display());
}

/// A compile tells its progress before each policy's screens and each rule with patterns, in
/// order, so `guardc` can name the rule a slow compile is on.
#[test]
fn compile_tells_each_stage_in_order() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let options = CompileOptions {
        progress: Some(guard_engine::Progress(Arc::new(move |stage| {
            if let Ok(mut seen) = sink.lock() {
                seen.push(format!(
                    "{}/{} {}/{}",
                    stage.policy,
                    stage.rule.unwrap_or("(screens)"),
                    stage.rules_done,
                    stage.rules_total
                ));
            }
        }))),
        ..options()
    };
    compile(&program(), &options).unwrap();
    let seen = seen.lock().unwrap().clone();
    let rules: Vec<String> = program().policies[0]
        .rules
        .iter()
        .filter(|r| r.action.patterns().is_some())
        .map(|r| r.id.clone())
        .collect();
    let mut expected = vec![format!("golden/(screens) 0/{}", rules.len())];
    for (i, rule) in rules.iter().enumerate() {
        expected.push(format!("golden/{rule} {i}/{}", rules.len()));
    }
    assert_eq!(seen, expected);
}
