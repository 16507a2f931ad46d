//! The generated benchmark policies are what the DSL makes of their `.guard` text, the committed
//! files are up to date, and the benchmark bodies are benign under every policy.

mod common;

use std::path::PathBuf;

use common::dsl_program;
use guard_bench::{corpus, spec};
use guard_engine::{CompileOptions, Decision, Ruleset};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
}

#[test]
fn committed_policies_are_up_to_date() {
    for name in ["large", "dictionary"] {
        let program = spec::by_name(name).unwrap();
        let (text, files) = guard_bench::policy_files(&program, name);
        let committed = std::fs::read_to_string(dir().join(format!("{name}.guard"))).unwrap();
        assert!(
            committed == text,
            "bench/policies/{name}.guard is stale: cargo run -p guard-bench --bin gen-policies"
        );
        for (file, contents) in files {
            let committed = std::fs::read_to_string(dir().join(&file)).unwrap();
            assert!(committed == contents, "bench/policies/{file} is stale");
        }
    }
}

#[test]
fn generated_programs_are_what_the_dsl_reads() {
    for name in ["large", "dictionary"] {
        let program = spec::by_name(name).unwrap();
        assert_eq!(
            dsl_program(&dir().join(format!("{name}.guard"))),
            program,
            "{name}"
        );
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let reference = dsl_program(&root.join("policies/dashscope.guard"));
    let ours = spec::dashscope();
    // The judge prompt is abbreviated in spec.rs; the body phase never renders it.
    assert_eq!(reference.policies, ours.policies);
    assert_eq!(reference.judges.len(), ours.judges.len());
}

#[test]
fn bodies_are_benign_and_fully_scanned() {
    for name in spec::NAMES {
        let program = spec::by_name(name).unwrap();
        let compiled = guard_engine::compile(&program, &CompileOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let ruleset = Ruleset::from_bytes(&compiled.bytes).unwrap();
        let policy = ruleset.select(spec::HOST, "/v1/chat/completions").unwrap();
        for size in [1 << 10, 3000, 64 << 10] {
            for (kind, body) in [
                ("", corpus::chat_body(size)),
                (" numbered", corpus::numbered_chat_body(size)),
            ] {
                assert!(
                    body.len() + 64 >= size && body.len() < size + 64,
                    "{size}{kind}: {}",
                    body.len()
                );
                match ruleset
                    .inspect(&policy, Some("application/json"), &body)
                    .decision
                {
                    Decision::Allow | Decision::Escalate(_) => {}
                    Decision::Deny(d) => panic!("{name} denies the {size}-byte{kind} body: {d:?}"),
                }
            }
            let numbered = corpus::numbered_chat_body(size);
            assert!(
                numbered.iter().filter(|b| b.is_ascii_digit()).count() * 400 > numbered.len(),
                "{size}: the numbered body has numbers"
            );
            let text = corpus::plain_text(size);
            match ruleset.inspect(&policy, Some("text/plain"), &text).decision {
                Decision::Allow | Decision::Escalate(_) => {}
                Decision::Deny(d) => panic!("{name} denies the {size}-byte text: {d:?}"),
            }
        }
    }
}
