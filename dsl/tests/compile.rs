//! Valid policies: the contract's example, the `testdata/dsl/ok/` fixtures (snapshots of the
//! lowered program), multi-file programs, and a parser that never panics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking, and index what they just built"
)]

use std::path::{Path, PathBuf};
use std::sync::Once;

use guard_dsl::{compile_paths, compile_sources, Compilation, ErrorFormat, RuleSource};
use guard_engine::ir::{HostPattern, RuleAction, TemplatePart};
use guard_engine::{CompileOptions, Decision, Ruleset};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("dsl/ has a parent")
        .to_path_buf()
}

fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_current_dir(workspace_root()).expect("chdir to the workspace root");
    });
}

fn ok(paths: &[PathBuf]) -> Compilation {
    match compile_paths(paths, &CompileOptions::default()) {
        Ok(c) => c,
        Err(d) => panic!(
            "{paths:?} does not compile:\n{}",
            d.render(ErrorFormat::Human)
        ),
    }
}

/// The program and where each rule came from, as a snapshot shows them.
fn rendering(c: &Compilation) -> String {
    let rules: Vec<String> = c
        .rules
        .iter()
        .map(|r| {
            format!(
                "{}:{}:{} {} / {}",
                r.file.display(),
                r.line,
                r.column,
                r.policy,
                r.rule
            )
        })
        .collect();
    // Each prompt also as one text, so a snapshot shows what dedent made of it.
    let prompts: Vec<String> = c
        .program
        .judges
        .iter()
        .map(|j| format!("--- {} ---\n{}\n---", j.name, template_text(&j.prompt)))
        .collect();
    format!(
        "{:#?}\n\nrules:\n{}\n\nprompts:\n{}\n",
        c.program,
        rules.join("\n"),
        prompts.join("\n")
    )
}

fn template_text(t: &guard_engine::ir::Template) -> String {
    t.parts
        .iter()
        .map(|p| match p {
            TemplatePart::Text(s) => s.clone(),
            TemplatePart::Secret(n) => format!("{{{{ secret.{n} }}}}"),
            TemplatePart::Content => "{{ content }}".into(),
            TemplatePart::Fence => "{{ fence }}".into(),
            TemplatePart::Policy => "{{ policy }}".into(),
            TemplatePart::Rule => "{{ rule }}".into(),
        })
        .collect()
}

#[test]
fn the_contract_example_compiles_as_described() {
    setup();
    let c = ok(&[PathBuf::from("policies/dashscope.guard")]);
    let policy = &c.program.policies[0];
    assert_eq!(policy.name, "dashscope-egress");
    assert_eq!(
        policy.hosts,
        [HostPattern::Exact("dashscope.aliyuncs.com".into())]
    );
    assert_eq!(
        c.program.judges[0].cluster,
        "outbound|80||guard-llm.internal"
    );
    assert_eq!(
        c.program.judges[0].endpoint.authority,
        "guard-llm.internal:80"
    );
    assert_eq!(c.program.judges[0].timeout_ms, 3000);
    assert!(matches!(
        policy.rules[2].action,
        RuleAction::Escalate {
            judge: 0,
            when: None
        }
    ));
    let prompt = &c.program.judges[0].prompt.parts;
    assert_eq!(
        prompt.iter().filter(|p| **p == TemplatePart::Fence).count(),
        3
    );
    assert!(matches!(&prompt[0], TemplatePart::Text(t) if t.starts_with("You review text")));
    assert_eq!(
        c.rules[0],
        RuleSource {
            policy: "dashscope-egress".into(),
            rule: "account-keyword".into(),
            file: PathBuf::from("policies/dashscope.guard"),
            line: 10,
            column: 5,
        }
    );
    assert_eq!(c.files, [PathBuf::from("policies/dashscope.guard")]);
    // The bundle loads in the engine and needs exactly the two secrets the policy names.
    let ruleset = Ruleset::from_bytes(&c.compiled.bytes).expect("bundle loads");
    let secrets: Vec<&str> = ruleset.required_secrets().into_iter().collect();
    assert_eq!(secrets, ["dashscope_api_key", "judge_api_key"]);
    insta::assert_snapshot!(rendering(&c));
}

#[test]
fn the_compiled_example_behaves_as_the_contract_says() {
    setup();
    let c = ok(&[PathBuf::from("policies/dashscope.guard")]);
    let ruleset = Ruleset::from_bytes(&c.compiled.bytes).expect("bundle loads");
    // Hosts compare case-insensitively, ignoring a port and a trailing dot.
    let policy = ruleset.select(
        "DashScope.aliyuncs.com.:80",
        "/compatible-mode/v1/chat/completions",
    );
    let policy = policy.expect("the policy selects its host");
    assert!(ruleset.select("example.com", "/").is_none());
    let inspect = |text: &str| {
        let body = format!(
            r#"{{"model":"qwen-turbo","messages":[{{"role":"user","content":"{text}"}}]}}"#
        );
        ruleset
            .inspect(&policy, Some("application/json"), body.as_bytes())
            .decision
    };
    match inspect("my QQ \\u8d26\\u53f7 is 1111111") {
        Decision::Deny(denial) => assert_eq!(denial.rule.as_deref(), Some("account-keyword")),
        other => panic!("expected the keyword rule to deny, got {other:?}"),
    }
    match inspect("call me on 13812345678") {
        Decision::Deny(denial) => assert_eq!(denial.rule.as_deref(), Some("cn-mobile")),
        other => panic!("expected the regex rule to deny, got {other:?}"),
    }
    assert!(matches!(
        inspect("write an opening speech"),
        Decision::Escalate(_)
    ));
}

#[test]
fn the_judge_is_shown_the_prompt_then_every_other_field_never_the_envelope() {
    setup();
    let c = ok(&[PathBuf::from("policies/dashscope.guard")]);
    let ruleset = Ruleset::from_bytes(&c.compiled.bytes).expect("bundle loads");
    let policy = ruleset
        .select(
            "dashscope.aliyuncs.com",
            "/compatible-mode/v1/chat/completions",
        )
        .expect("the policy selects its host");
    let body = r#"{"model": "qwen-mt-plus", "temperature": 0.3,
        "translation_options": {"target_lang": "English", "domains": "internal board memo"},
        "messages": [{"role": "user", "content": "Translate the attached notes."}],
        "user": "team-7", "stop": ["END"], "metadata": {"note": "team-7"}}"#;
    let Decision::Escalate(escalation) = ruleset
        .inspect(&policy, Some("application/json"), body.as_bytes())
        .decision
    else {
        panic!("a benign body goes to the judge");
    };
    // Prompt first; then fields in document order, each distinct text once; no keys, no
    // model name, no parameters.
    assert_eq!(
        escalation.content(),
        "Translate the attached notes.\ntarget_lang\nEnglish\ndomains\ninternal board memo\nteam-7\nEND\nnote"
    );
}

#[test]
fn valid_fixtures() {
    setup();
    insta::glob!("../../testdata/dsl/ok", "*.guard", |path| {
        let relative = path.strip_prefix(workspace_root()).unwrap_or(path);
        let c = ok(&[relative.to_path_buf()]);
        Ruleset::from_bytes(&c.compiled.bytes).expect("bundle loads");
        insta::assert_snapshot!(rendering(&c));
    });
}

#[test]
fn a_directory_compiles_its_guard_files_in_name_order() {
    setup();
    let c = ok(&[PathBuf::from("testdata/dsl/ok")]);
    let names: Vec<String> = c.files.iter().map(|f| f.display().to_string()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.iter().all(|n| n.ends_with(".guard")), "{names:?}");
    assert!(names.len() >= 3);
}

#[test]
fn judges_are_indexed_in_file_order_across_files() {
    let judge = |name: &str| {
        format!(
            "judge \"{name}\" {{\n endpoint \"http://{name}.internal/v1\"\n model \"m\"\n \
             api_key \"{{{{ secret.k }}}}\"\n timeout 1s\n on_error deny\n prompt \"{{{{ content }}}}\"\n}}\n"
        )
    };
    let a = format!(
        "policy \"a\" {{\n match host \"a.example\"\n rule \"to-second\" {{ escalate judge \"second\" }}\n}}\n{}",
        judge("first")
    );
    let b = format!(
        "{}policy \"b\" {{\n match host \"b.example\"\n rule \"to-first\" {{ escalate judge \"first\" }}\n}}\n",
        judge("second")
    );
    let sources = [
        ("dir/a.guard".to_string(), a),
        ("dir/b.guard".to_string(), b),
    ];
    let c = match compile_sources(&sources, &CompileOptions::default()) {
        Ok(c) => c,
        Err(d) => panic!("{}", d.render(ErrorFormat::Human)),
    };
    let names: Vec<&str> = c.program.judges.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["first", "second"]);
    assert!(matches!(
        c.program.policies[0].rules[0].action,
        RuleAction::Escalate {
            judge: 1,
            when: None
        }
    ));
    assert!(matches!(
        c.program.policies[1].rules[0].action,
        RuleAction::Escalate {
            judge: 0,
            when: None
        }
    ));
    assert_eq!(c.rules[1].file, PathBuf::from("dir/b.guard"));
    assert_eq!((c.rules[1].line, c.rules[1].column), (11, 2));
    assert_eq!(c.program.judges[1].cluster, "outbound|80||second.internal");
    assert_eq!(c.program.judges[1].endpoint.authority, "second.internal");
}

#[test]
fn keyword_files_resolve_relative_to_the_source_name() {
    setup();
    let text = "policy \"p\" {\n match host \"h.example\"\n rule \"r\" { deny keyword file \"keywords/accounts.txt\" }\n}\n";
    let sources = [("testdata/dsl/ok/inline.guard".to_string(), text.to_string())];
    let c = match compile_sources(&sources, &CompileOptions::default()) {
        Ok(c) => c,
        Err(d) => panic!("{}", d.render(ErrorFormat::Human)),
    };
    let RuleAction::Deny(patterns) = &c.program.policies[0].rules[0].action else {
        panic!("a deny rule");
    };
    assert_eq!(
        patterns.keywords,
        ["bank card", "  leading spaces kept", "КАРТА"]
    );
}

#[test]
fn the_parser_never_panics_on_a_truncated_policy() {
    let text = std::fs::read_to_string(workspace_root().join("policies/dashscope.guard"))
        .expect("read example");
    let options = CompileOptions::default();
    let mut failures = 0;
    for (end, _) in text.char_indices().chain([(text.len(), ' ')]) {
        let source = [("cut.guard".to_string(), text[..end].to_string())];
        match compile_sources(&source, &options) {
            Ok(_) => {}
            Err(d) => {
                assert!(!d.is_empty());
                // Rendering walks every span through miette: it must not panic either.
                let human = d.render(ErrorFormat::Human);
                let json = d.render(ErrorFormat::Json);
                assert!(human.contains("guard::dsl::"), "{human}");
                assert!(json.starts_with('['), "{json}");
                assert!(
                    !human.contains("guard::dsl::internal"),
                    "prefix {end}: {human}"
                );
                failures += 1;
            }
        }
    }
    assert!(failures > 100);
}

#[test]
fn odd_inputs_are_diagnosed_not_panicked_on() {
    let inputs = [
        "",
        "\u{feff}",
        "\"",
        "\"\"\"",
        "policy",
        "policy \"",
        "policy \"\\u",
        "policy \"\\ud83d\\u",
        "policy \"x\" { match host \"\\",
        "}}}}",
        "{{{{",
        "policy \"p\" { match host \"a\" rule \"r\" { deny regex \"\\\\\" } }",
        "policy \"p\" { match host \"a\" rule \"r\" { deny regex \"(\" } }",
        "policy \"p\" { match host \"a\" inject header \"x\" = \"{{\" }",
        "policy \"p\" { match host \"a\" inject header \"x\" = \"{{ secret.\" }",
        "judge \"j\" { endpoint \"http://\" timeout 99999999999999999999999s }",
        "judge \"j\" { endpoint \"http://[::1\" prompt \"\"\"\n\t \n\"\"\" }",
        "judge \"j\" { endpoint \"https://h:/x\" timeout 18446744073709551615m }",
        "policy \"p\" { match host \"*.\", \"*\", \".\", \"a..b\", \"[]\", \"[::1]:80\" }",
        "policy \"p\" { match path prefix \"\" }",
        "# only a comment",
        "policy \"p\" { match host \"a\" } # trailing comment without newline",
        "\r\r\npolicy \"p\"\r{\rmatch host \"a\"\r}",
    ];
    for input in inputs {
        let source = [("odd.guard".to_string(), input.to_string())];
        if let Err(d) = compile_sources(&source, &CompileOptions::default()) {
            let human = d.render(ErrorFormat::Human);
            assert!(
                !human.contains("guard::dsl::internal"),
                "{input:?}: {human}"
            );
            d.render(ErrorFormat::Json);
        }
    }
}

#[test]
fn the_contract_v1_example_behaves_as_the_contract_says() {
    setup();
    let c = ok(&[PathBuf::from("testdata/dsl/v1/contract.guard")]);
    let ruleset = Ruleset::from_bytes(&c.compiled.bytes).expect("bundle loads");
    // Every policy whose match lines hold applies: the shared PII policy and the key policy.
    let openai = ruleset
        .select("api.openai.com", "/v1/chat/completions")
        .expect("both policies select OpenAI");
    assert_eq!(ruleset.selection_name(&openai), "pii, openai-key");
    let secrets = guard_engine::Secrets::from([
        ("openai_key".to_owned(), "sk-1".to_owned()),
        ("judge_api_key".to_owned(), "jk-1".to_owned()),
    ]);
    let plan = ruleset.headers(&openai, &secrets).expect("secrets given");
    assert_eq!(
        plan.set,
        [("authorization".to_owned(), "Bearer sk-1".to_owned())]
    );
    let anthropic = ruleset
        .select("api.anthropic.com", "/v1/messages")
        .expect("the PII policy selects Anthropic");
    assert_eq!(ruleset.selection_name(&anthropic), "pii");

    let inspect = |text: &str| {
        let body = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{text}"}}]}}"#);
        ruleset.inspect(&openai, Some("application/json"), body.as_bytes())
    };
    let denied_by = |text: &str| match inspect(text).decision {
        Decision::Deny(denial) => denial.rule,
        _ => None,
    };
    // validate luhn: one invalid number does not hide a valid one; an order number passes.
    assert_eq!(
        denied_by("4111111111111112 then 4111111111111111").as_deref(),
        Some("card-number")
    );
    assert_eq!(denied_by("order 1234567812345678"), None);
    // except: a match inside the exception's match is no match; one elsewhere still counts.
    assert_eq!(denied_by("write to SUPPORT@acme.com"), None);
    assert_eq!(
        denied_by("support@acme.com and bob@acme.com").as_deref(),
        Some("company-email")
    );
    // mode monitor + whole words: recorded, never denied; `atlases` is not `Atlas`.
    let monitored = inspect("the Atlas plan");
    assert_eq!(monitored.decision, Decision::Allow);
    let rules: Vec<&str> = monitored
        .monitored
        .iter()
        .map(|f| f.rule.as_str())
        .collect();
    assert_eq!(rules, ["new-codenames"]);
    assert!(inspect("old atlases").monitored.is_empty());
    // when: the judge is asked only about text that matches.
    assert!(matches!(
        inspect("an internal memo").decision,
        Decision::Escalate(_)
    ));
    assert_eq!(inspect("a haiku about rain").decision, Decision::Allow);
    // mask: the number is replaced in the forwarded body, the same value by the same
    // placeholder, and the request goes on; the judge sees the masked text.
    let masked = inspect("call 13812345678, not 13912345678, or 13812345678");
    assert_eq!(masked.decision, Decision::Allow);
    let body = String::from_utf8(masked.masked.expect("masked").body).expect("utf-8");
    assert_eq!(
        body,
        r#"{"model":"m","messages":[{"role":"user","content":"call [PHONE_1], not [PHONE_2], or [PHONE_1]"}]}"#
    );
    let Decision::Escalate(escalation) = inspect("internal: call 13812345678").decision else {
        panic!("not escalated");
    };
    assert!(escalation.content().contains("[PHONE_1]"));
    assert!(!escalation.content().contains("13812345678"));
    // on response: the key is denied in the answer, and a request may carry it.
    assert_eq!(denied_by("AKIAIOSFODNN7EXAMPLE"), None);
    let answer = br#"{"choices":[{"message":{"content":"use AKIAIOSFODNN7EXAMPLE"}}]}"#;
    let Decision::Deny(denial) = ruleset
        .inspect_answer(&openai, Some("application/json"), None, answer)
        .decision
    else {
        panic!("the answer was not denied");
    };
    assert_eq!(denial.rule.as_deref(), Some("keys-in-answers"));
    assert_eq!(denial.code, "guard.answer_denied");
    assert_eq!(ruleset.response_reach(&openai), 20);
}
