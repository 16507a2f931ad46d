//! The scaling policies (`spec::scaling`) have the sizes they are named for, their `.guard` text
//! lowers back into the same programs, and the benchmark bodies are benign under them.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::dsl_program;
use guard_bench::{corpus, spec};
use guard_engine::ir::{Program, RuleAction};
use guard_engine::{CompileOptions, Decision, Ruleset};

/// Every regex of a program's deny rules, in file order.
fn regexes(program: &Program) -> Vec<String> {
    program
        .policies
        .iter()
        .flat_map(|p| &p.rules)
        .filter_map(|r| match &r.action {
            RuleAction::Deny(p) => Some(p.regexes.clone()),
            RuleAction::Escalate { .. } | RuleAction::Mask(_) => None,
        })
        .flatten()
        .collect()
}

/// The whole grid, and sizes off it: 0, more regexes than `large` has (the list again, in rules
/// of their own), and a count that splits `large`'s rules unevenly.
#[test]
fn sizes_are_exact() {
    let mut cases: Vec<(usize, usize)> = spec::SCALING_KEYWORDS
        .iter()
        .flat_map(|&k| spec::SCALING_REGEXES.iter().map(move |&r| (k, r)))
        .collect();
    cases.extend([(0, 0), (1, 0), (0, 1), (7, 51), (1_001, 120)]);
    let largest = spec::scaling(20_000, 0);
    for (k, r) in cases {
        let program = spec::scaling(k, r);
        let name = spec::scaling_name(k, r);
        let keywords = spec::keywords(&program);
        assert_eq!(keywords.len(), k, "{name}: keywords");
        assert_eq!(regexes(&program).len(), r, "{name}: regexes");
        let distinct: BTreeSet<&String> = keywords.iter().collect();
        assert_eq!(distinct.len(), k, "{name}: a keyword twice");
        // The smaller policies' keywords are the larger ones', rule by rule, so the policies
        // differ in size only.
        for rule in &program.policies[0].rules {
            let RuleAction::Deny(p) = &rule.action else {
                continue;
            };
            let same = largest.policies[0].rules.iter().find(|r| r.id == rule.id);
            if let Some(RuleAction::Deny(q)) = same.map(|r| &r.action) {
                assert!(q.keywords.starts_with(&p.keywords), "{name}: {}", rule.id);
                assert_eq!(q.ignore_case, p.ignore_case, "{name}: {}", rule.id);
            } else {
                assert!(p.keywords.is_empty(), "{name}: {} is new", rule.id);
            }
        }
        let ids: BTreeSet<&str> = program.policies[0]
            .rules
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(
            ids.len(),
            program.policies[0].rules.len(),
            "{name}: rule ids"
        );
        assert_eq!(spec::by_name(&name), Some(program), "{name}: by_name");
    }
    // Ten keywords already mix the scripts and the case folding.
    let ten = spec::scaling(10, 1);
    let words = spec::keywords(&ten);
    assert!(words.iter().any(|w| w.is_ascii()), "{words:?}");
    assert!(words.iter().any(|w| !w.is_ascii()), "{words:?}");
    let rules = &ten.policies[0].rules;
    let folded = |on: bool| {
        rules
            .iter()
            .any(|r| matches!(&r.action, RuleAction::Deny(p) if !p.keywords.is_empty() && p.ignore_case == on))
    };
    assert!(folded(true) && folded(false));
    assert_eq!(spec::by_name("scaling-10k"), None);
    assert_eq!(spec::by_name("scaling-xk-1r"), None);
}

/// The DSL reads each rendered policy back into the program, as `policies.rs` checks for the
/// committed ones. Not the whole grid: each case compiles its DFAs in a debug build, and the
/// sizes past these add nothing the text could get wrong (20,000 keywords is the only size with
/// keyword files, and is covered once).
#[test]
fn rendered_text_is_what_the_dsl_reads() {
    let dir = std::env::temp_dir().join(format!("guard-bench-scaling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (k, r) in [
        (10, 1),
        (10, 50),
        (100, 10),
        (1_000, 1),
        (20_000, 1),
        (7, 51),
    ] {
        let program = spec::scaling(k, r);
        let stem = format!("k{k}-r{r}");
        let (text, files) = guard_bench::policy_files(&program, &stem);
        let path: PathBuf = dir.join(format!("{stem}.guard"));
        std::fs::write(&path, text).unwrap();
        for (file, contents) in files {
            std::fs::write(dir.join(file), contents).unwrap();
        }
        assert_eq!(dsl_program(&path), program, "{stem}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The largest policy of the grid allows the bodies `scaling.mjs` times. Every other policy of
/// the grid has a subset of its patterns in the same rules, and a deny needs a pattern to match,
/// so they allow them too.
#[test]
fn bodies_are_benign() {
    let program = spec::scaling(20_000, 50);
    let compiled = guard_engine::compile(&program, &CompileOptions::default()).unwrap();
    let ruleset = Ruleset::from_bytes(&compiled.bytes).unwrap();
    let policy = ruleset.select(spec::HOST, "/v1/chat/completions").unwrap();
    for size in [3_000, 64 << 10] {
        for (content_type, body) in [
            ("application/json", corpus::chat_body(size)),
            ("text/plain", corpus::plain_text(size)),
        ] {
            match ruleset.inspect(&policy, Some(content_type), &body).decision {
                Decision::Allow | Decision::Escalate(_) => {}
                Decision::Deny(d) => panic!("{content_type} {size}: {d:?}"),
            }
        }
    }
}
