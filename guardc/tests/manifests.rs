//! The Kubernetes manifests of `guardc build`: a snapshot for the reference policy, and the
//! properties every rendering must keep (quoting, secrets never inlined, hosts handled).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking, and index what they just built"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use guard_engine::ir::{
    Endpoint, HeaderOp, HostPattern, Judge, OnError, Patterns, Policy, Program, Rule, RuleAction,
    Template, TemplatePart,
};
use guardc::manifests::{self, DeployArgs, DeployError, ManifestOptions, Variant};
use guardc::oci;

const MIN_WASM: &[u8] = b"\0asm\x01\0\0\0";

fn template(parts: Vec<TemplatePart>) -> Template {
    Template { parts }
}

fn judge(name: &str, url: &str, host: &str, port: u16, api_key_secret: &str) -> Judge {
    let endpoint = Endpoint {
        url: url.to_owned(),
        authority: if port == 80 || port == 443 {
            host.to_owned()
        } else {
            format!("{host}:{port}")
        },
        host: host.to_owned(),
        port,
        path: "/v1/chat/completions".to_owned(),
    };
    Judge {
        name: name.to_owned(),
        cluster: endpoint.istio_cluster(),
        endpoint,
        model: "qwen-turbo".to_owned(),
        api_key: template(vec![TemplatePart::Secret(api_key_secret.to_owned())]),
        timeout_ms: 3000,
        on_error: OnError::Deny,
        prompt: template(vec![
            TemplatePart::Text("Review: ".to_owned()),
            TemplatePart::Content,
        ]),
    }
}

/// policies/dashscope.guard, built by hand so this test does not depend on the DSL; the test
/// `the_compiled_reference_policy_renders_like_the_hand_built_one` checks the two agree.
fn reference_program() -> Program {
    Program {
        policies: vec![Policy {
            name: "dashscope-egress".to_owned(),
            hosts: vec![HostPattern::Exact("dashscope.aliyuncs.com".to_owned())],
            path_prefix: None,
            headers: vec![HeaderOp::Set {
                name: "Authorization".to_owned(),
                value: template(vec![
                    TemplatePart::Text("Bearer ".to_owned()),
                    TemplatePart::Secret("dashscope_api_key".to_owned()),
                ]),
            }],
            rules: vec![
                Rule {
                    id: "account-keyword".to_owned(),
                    reason: Some("account identifiers must not leave the mesh".to_owned()),
                    mode: Default::default(),
                    // The rules do not show in the manifests; one of each kind is enough.
                    action: RuleAction::Deny(Patterns {
                        keywords: vec!["账号".to_owned(), "account number".to_owned()],
                        ..Patterns::default()
                    }),
                },
                Rule {
                    id: "confidential".to_owned(),
                    reason: None,
                    mode: Default::default(),
                    action: RuleAction::Escalate {
                        judge: 0,
                        when: None,
                    },
                },
            ],
        }],
        judges: vec![judge(
            "privacy",
            "http://guard-llm.internal:80/v1/chat/completions",
            "guard-llm.internal",
            80,
            "judge_api_key",
        )],
    }
}

fn options(program: &Program, args: &DeployArgs) -> (ManifestOptions, oci::OciImage) {
    let dir = tempfile::tempdir().unwrap();
    let deployment = manifests::write_deployment(dir.path(), MIN_WASM, program, args).unwrap();
    (deployment.options, deployment.image)
}

fn reference_args() -> DeployArgs {
    DeployArgs {
        image: Some("registry.example.com/guard/dashscope-egress:v1".to_owned()),
        selector: vec![("app".to_owned(), "sleep".to_owned())],
        ..DeployArgs::default()
    }
}

fn render(program: &Program, args: &DeployArgs) -> String {
    let (opts, image) = options(program, args);
    manifests::render_variant(program, &opts, &image, Variant::WasmPlugin)
}

#[test]
fn reference_policy_manifests() {
    let yaml = render(&reference_program(), &reference_args());
    insta::assert_snapshot!("reference", yaml);
}

#[test]
fn reference_policy_hold_manifests() {
    let (opts, image) = options(&reference_program(), &reference_args());
    let yaml = manifests::render_variant(&reference_program(), &opts, &image, Variant::Hold);
    insta::assert_snapshot!("reference_hold", yaml);
}

// The listener limit must hold a whole body at guard's limit.
const _: () = assert!(manifests::BUFFER_LIMIT > guard_engine::DEFAULT_MAX_BODY_BYTES);

/// The two variants set the Envoy flag and the plugin's mode together, and state the limit.
#[test]
fn each_variant_sets_the_hold_mode_with_what_it_needs() {
    let (opts, image) = options(&reference_program(), &reference_args());
    let hold = manifests::render_variant(&reference_program(), &opts, &image, Variant::Hold);
    assert!(hold.contains("allow_on_headers_stop_iteration: true"));
    assert!(hold.contains(r#"\"hold_request_headers\":true"#), "{hold}");
    assert!(!hold.contains("kind: \"WasmPlugin\""));
    let plugin =
        manifests::render_variant(&reference_program(), &opts, &image, Variant::WasmPlugin);
    assert!(plugin.contains("hold_request_headers: false"));
    assert!(!plugin.contains("allow_on_headers_stop_iteration: true"));
    for yaml in [&hold, &plugin] {
        assert!(yaml.contains(&format!(
            "per_connection_buffer_limit_bytes: {}",
            manifests::BUFFER_LIMIT
        )));
        assert!(yaml.contains(&format!(
            "# Body limit: {} bytes",
            guard_engine::DEFAULT_MAX_BODY_BYTES
        )));
    }
}

#[test]
fn reference_policy_manifests_with_defaults() {
    let yaml = render(&reference_program(), &DeployArgs::default());
    insta::assert_snapshot!("reference_defaults", yaml);
}

/// The DSL's lowering of the real policy file gives the same manifests as the hand-built
/// program, so the snapshot above is the reference scenario's.
#[test]
fn the_compiled_reference_policy_renders_like_the_hand_built_one() {
    let policy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/dashscope.guard");
    let compiled = guard_dsl::compile_paths(&[policy], &guard_engine::CompileOptions::default())
        .unwrap_or_else(|d| {
            panic!(
                "policies/dashscope.guard does not compile:\n{}",
                d.render(guard_dsl::ErrorFormat::Human)
            )
        });
    assert_eq!(
        render(&compiled.program, &reference_args()),
        render(&reference_program(), &reference_args())
    );
}

#[test]
fn secrets_are_placeholders_never_values() {
    let yaml = render(&reference_program(), &reference_args());
    assert!(
        yaml.contains(r#""dashscope_api_key": "${GUARD_DASHSCOPE_API_KEY}""#),
        "{yaml}"
    );
    assert!(
        yaml.contains(r#""judge_api_key": "${GUARD_JUDGE_API_KEY}""#),
        "{yaml}"
    );
    // The header's literal text is not a secret and has no business in the manifests either.
    assert!(!yaml.contains("Bearer"), "{yaml}");
    assert_eq!(
        manifests::secret_placeholders(&reference_program()),
        vec![
            (
                "dashscope_api_key".to_owned(),
                "GUARD_DASHSCOPE_API_KEY".to_owned()
            ),
            ("judge_api_key".to_owned(), "GUARD_JUDGE_API_KEY".to_owned()),
        ]
    );
}

#[test]
fn secret_names_that_collide_get_distinct_variables() {
    let mut program = reference_program();
    program.judges.push(judge(
        "b",
        "http://judge-b.internal/",
        "judge-b.internal",
        80,
        "dashscope-api-key",
    ));
    let vars: Vec<String> = manifests::secret_placeholders(&program)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let distinct: std::collections::BTreeSet<&String> = vars.iter().collect();
    assert_eq!(distinct.len(), vars.len(), "{vars:?}");
}

#[test]
fn the_sha256_is_the_manifest_digest_istio_compares() {
    let (opts, image) = options(&reference_program(), &reference_args());
    let hold = manifests::render_variant(&reference_program(), &opts, &image, Variant::Hold);
    assert!(
        hold.contains(&format!("  sha256: \"{}\"\n", image.manifest_hex())),
        "{hold}"
    );
    assert!(hold.contains("  uri: \"oci://registry.example.com/guard/dashscope-egress:v1\"\n"));
    let yaml = manifests::render_variant(&reference_program(), &opts, &image, Variant::WasmPlugin);
    assert!(
        yaml.contains(&format!("  sha256: \"{}\"\n", image.manifest_hex())),
        "{yaml}"
    );
    assert_ne!(image.manifest_hex(), image.wasm_sha256);
    assert!(
        yaml.contains("  url: \"oci://registry.example.com/guard/dashscope-egress:v1\"\n"),
        "{yaml}"
    );
}

#[test]
fn default_image_tag_and_selector() {
    let (opts, image) = options(&reference_program(), &DeployArgs::default());
    assert!(opts.image_is_placeholder);
    assert_eq!(
        opts.image.repository,
        "registry.example.com/guard/dashscope-egress"
    );
    assert_eq!(opts.image.tag.as_deref(), Some(image.tag.as_str()));
    assert_eq!(image.tag, oci::default_tag(MIN_WASM));
    assert_eq!(
        opts.selector,
        BTreeMap::from([("llm-guard".to_owned(), "dashscope-egress".to_owned())])
    );
    // A tagless --image gets the default tag too.
    let args = DeployArgs {
        image: Some("ghcr.io/acme/guard".to_owned()),
        ..DeployArgs::default()
    };
    let (opts, image) = options(&reference_program(), &args);
    assert!(!opts.image_is_placeholder);
    assert_eq!(
        opts.image.to_string(),
        format!("ghcr.io/acme/guard:{}", image.tag)
    );
}

#[test]
fn wildcard_and_duplicate_hosts() {
    let mut program = reference_program();
    program.policies[0]
        .hosts
        .push(HostPattern::Subdomains(".openai.azure.com".to_owned()));
    program.policies.push(Policy {
        name: "second".to_owned(),
        hosts: vec![
            HostPattern::Exact("dashscope.aliyuncs.com".to_owned()),
            HostPattern::Exact("api.openai.com".to_owned()),
        ],
        path_prefix: None,
        headers: vec![],
        rules: vec![],
    });
    let yaml = render(&program, &reference_args());
    assert_eq!(
        yaml.matches("kind: \"ServiceEntry\"").count(),
        3,
        "two LLM hosts and the judge:\n{yaml}"
    );
    assert_eq!(
        yaml.matches("kind: \"DestinationRule\"").count(),
        2,
        "{yaml}"
    );
    assert!(
        yaml.contains("# No ServiceEntry for wildcard host \"*.openai.azure.com\""),
        "{yaml}"
    );
    assert!(!yaml.contains("- \"*.openai.azure.com\""), "{yaml}");
    assert_eq!(manifests::default_name(&program), "guard");
}

#[test]
fn judge_endpoints() {
    let cases: &[(&str, &str, u16, &str, usize, usize)] = &[
        // url, host, port, expected text, ServiceEntries, DestinationRules (the LLM host has one of each)
        (
            "http://guard-llm.internal:80/v1",
            "guard-llm.internal",
            80,
            "- \"guard-llm.internal\"",
            2,
            1,
        ),
        (
            "https://judge.example.net/v1",
            "judge.example.net",
            443,
            "host: \"judge.example.net\"",
            2,
            2,
        ),
        (
            "http://llm.ai.svc.cluster.local:8000/v1",
            "llm.ai.svc.cluster.local",
            8000,
            "is the Kubernetes Service",
            1,
            1,
        ),
        (
            "http://guard-llm/v1",
            "guard-llm",
            80,
            "# WARNING: judge \"privacy\"",
            1,
            1,
        ),
        (
            "http://dashscope.aliyuncs.com/v1",
            "dashscope.aliyuncs.com",
            80,
            "calls the policy host",
            1,
            1,
        ),
    ];
    for (url, host, port, expected, entries, rules) in cases {
        let mut program = reference_program();
        program.judges[0] = judge("privacy", url, host, *port, "judge_api_key");
        let yaml = render(&program, &reference_args());
        assert!(yaml.contains(expected), "{url}: no {expected:?} in\n{yaml}");
        assert_eq!(
            yaml.matches("kind: \"ServiceEntry\"").count(),
            *entries,
            "{url}:\n{yaml}"
        );
        assert_eq!(
            yaml.matches("kind: \"DestinationRule\"").count(),
            *rules,
            "{url}:\n{yaml}"
        );
        if *entries == 2 {
            assert!(
                yaml.contains(&format!("number: {port}\n")),
                "{url}:\n{yaml}"
            );
        }
    }
    let mut program = reference_program();
    program.judges[0].cluster = "my-judge-cluster".to_owned();
    let yaml = render(&program, &reference_args());
    assert!(
        yaml.contains("uses the explicit cluster \"my-judge-cluster\""),
        "{yaml}"
    );
    assert_eq!(yaml.matches("kind: \"ServiceEntry\"").count(), 1, "{yaml}");
}

#[test]
fn user_text_cannot_break_out_of_its_scalar_or_comment() {
    let mut program = reference_program();
    program.policies[0].name = "evil\"\n---\nkind: Secret\n\u{85}\u{2028}kind: Secret#".to_owned();
    program.policies[0].headers = vec![HeaderOp::Set {
        name: "x".to_owned(),
        value: template(vec![TemplatePart::Secret("on".to_owned())]),
    }];
    let args = DeployArgs {
        selector: vec![("yes".to_owned(), "no".to_owned())],
        ..reference_args()
    };
    let yaml = render(&program, &args);
    assert!(!yaml.contains("\nkind: Secret"), "{yaml}");
    assert!(
        yaml.contains(r#"evil\"\n---\nkind: Secret\n\u0085\u2028kind: Secret#"#),
        "{yaml}"
    );
    // YAML 1.1 readers (Kubernetes' included) take plain `on`/`yes` keys as booleans.
    assert!(yaml.contains(r#""on": "${GUARD_ON}""#), "{yaml}");
    assert!(yaml.contains(r#""yes": "no""#), "{yaml}");
    assert_eq!(
        yaml.matches("\n---\n").count(),
        5,
        "exactly the documents we wrote:\n{yaml}"
    );
    let (opts, image) = options(&program, &args);
    let hold = manifests::render_variant(&program, &opts, &image, Variant::Hold);
    assert!(!hold.contains("\nkind: Secret"), "{hold}");
    assert_eq!(hold.matches("\n---\n").count(), 4, "{hold}");
}

#[test]
fn options_kubernetes_would_refuse_are_refused() {
    let bad: Vec<DeployArgs> = vec![
        DeployArgs {
            name: Some("Guard".to_owned()),
            ..reference_args()
        },
        DeployArgs {
            name: Some("a".repeat(64)),
            ..reference_args()
        },
        DeployArgs {
            namespace: Some("my_ns".to_owned()),
            ..reference_args()
        },
        DeployArgs {
            selector: vec![("app".to_owned(), "*".to_owned())],
            ..reference_args()
        },
        DeployArgs {
            selector: vec![("".to_owned(), "x".to_owned())],
            ..reference_args()
        },
        DeployArgs {
            image_pull_secret: Some("Pull".to_owned()),
            ..reference_args()
        },
    ];
    for args in bad {
        let dir = tempfile::tempdir().unwrap();
        let result = manifests::write_deployment(dir.path(), MIN_WASM, &reference_program(), &args);
        assert!(
            matches!(result, Err(DeployError::InvalidOption { .. })),
            "{args:?} was accepted"
        );
    }
    assert_eq!(
        manifests::parse_selector("app=sleep"),
        Ok(("app".to_owned(), "sleep".to_owned()))
    );
    assert_eq!(
        manifests::parse_selector("example.com/tier=").map(|(k, _)| k),
        Ok("example.com/tier".to_owned())
    );
    assert!(manifests::parse_selector("app").is_err());
    assert!(manifests::parse_selector("app=a b").is_err());
}

#[test]
fn long_names_become_valid_distinct_labels() {
    let mut program = reference_program();
    let long_host = format!("{}.example.com", "a".repeat(70));
    let long_host_2 = format!("{}.example.org", "a".repeat(70));
    program.policies[0].hosts = vec![
        HostPattern::Exact(long_host),
        HostPattern::Exact(long_host_2),
    ];
    let yaml = render(&program, &reference_args());
    let names: Vec<&str> = yaml
        .lines()
        .filter_map(|l| l.strip_prefix("  name: "))
        .map(|n| n.trim_matches('"'))
        .collect();
    for name in &names {
        assert!(name.len() <= 63 && !name.ends_with('-'), "{name}");
    }
    let service_entries: Vec<&&str> = names.iter().filter(|n| n.contains("aaaa")).collect();
    assert_eq!(service_entries.len(), 4, "{names:?}");
    assert_ne!(
        service_entries[0], service_entries[2],
        "two hosts got the same name"
    );
}

#[test]
fn deployment_summary_tells_what_to_do_next() {
    let dir = tempfile::tempdir().unwrap();
    let deployment = manifests::write_deployment(
        dir.path(),
        MIN_WASM,
        &reference_program(),
        &DeployArgs::default(),
    )
    .unwrap();
    let text = deployment.to_string();
    assert!(
        text.contains("skopeo copy --preserve-digests oci:"),
        "{text}"
    );
    assert!(text.contains("GUARD_DASHSCOPE_API_KEY"), "{text}");
    assert!(text.contains("warning: no --image"), "{text}");
    assert!(dir.path().join("manifests.yaml").is_file());
    assert!(dir.path().join("oci/index.json").is_file());
}

/// The labels' configuration: the Istio ConfigMap and the plain Envoy fragment, as written.
#[test]
fn telemetry_configuration() {
    let (opts, _) = options(&reference_program(), &reference_args());
    insta::assert_snapshot!(
        "telemetry",
        guardc::manifests::telemetry::istio_telemetry_yaml(&opts)
    );
    insta::assert_snapshot!(
        "envoy_stats",
        guardc::manifests::telemetry::envoy_stats_yaml()
    );
    // The ConfigMap's bootstrap is JSON Envoy reads: every label has its specifier.
    let yaml: serde_json::Value = {
        let text = guardc::manifests::telemetry::istio_telemetry_yaml(&opts);
        let start = text.find("custom_bootstrap.json: ").unwrap() + "custom_bootstrap.json: ".len();
        let quoted = text[start..].lines().next().unwrap();
        let json: String = serde_json::from_str(quoted).unwrap();
        serde_json::from_str(&json).unwrap()
    };
    let tags = yaml["stats_config"]["stats_tags"].as_array().unwrap();
    let names: Vec<&str> = tags
        .iter()
        .map(|t| t["tag_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, guardc::manifests::telemetry::LABELS);
}
