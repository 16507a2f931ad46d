//! `guardc scan`: the quickest way to ask "would this text be denied, by what, where" without
//! writing a fixture. The text goes into an OpenAI-style chat request to the host given and runs
//! through the engine as the filter runs a request (judges are not called: the answer says which
//! would be asked).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use guard_engine::{Decision, Ruleset};

use super::args::PolicyArgs;
use super::compilation::compile;
use crate::run::{describe_finding, describe_site, test_secrets};

/// `guardc scan POLICY... --host H (--text T | --file F)`.
#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// `.guard` files, or directories of them compiled together.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The host the request goes to (its `:authority`), which selects the policies.
    #[arg(long)]
    pub host: String,
    /// The request path.
    #[arg(long, default_value = "/v1/chat/completions")]
    pub path: String,
    /// The text to scan, as a user message.
    #[arg(long, conflicts_with = "file", required_unless_present = "file")]
    pub text: Option<String>,
    /// A file whose text is scanned, or `-` for standard input.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// 0 when the request would go on (judges may still be asked), 1 when an enforced rule would
/// deny it, 2 for a policy or input error.
pub fn run(args: &ScanArgs) -> ExitCode {
    let text = match read_text(args) {
        Ok(text) => text,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let compilation = match compile(&args.paths, &args.policy) {
        Ok(c) => c,
        Err(_) => return ExitCode::from(2),
    };
    let ruleset = match Ruleset::from_bytes(&compilation.compiled.bytes) {
        Ok(r) => r,
        Err(err) => {
            eprintln!("error: the compiled bundle does not load: {err}");
            return ExitCode::from(2);
        }
    };
    let Some(selection) = ruleset.select(&args.host, &args.path) else {
        return answer(
            args,
            &serde_json::json!({"policies": [], "verdict": "untouched"}),
            &format!(
                "no policy selects `{}`: the request would pass untouched, nothing is scanned\n",
                args.host
            ),
            ExitCode::SUCCESS,
        );
    };
    let body = serde_json::json!({"model": "guardc-scan", "messages": [{"role": "user", "content": text}]});
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let inspection = ruleset.inspect(&selection, Some("application/json"), &bytes);
    let mut human = format!("policies: {}\n", ruleset.selection_name(&selection));
    let mut json = serde_json::json!({"policies": ruleset.selection_name(&selection).split(", ").collect::<Vec<_>>()});
    let code = match &inspection.decision {
        Decision::Deny(denial) => {
            human.push_str(&format!(
                "verdict: deny ({} {}) by rule {} of policy {}: {}\n",
                denial.status,
                denial.code,
                denial.rule.as_deref().unwrap_or("-"),
                denial.policy,
                denial.reason
            ));
            if let Some(site) = &denial.matched {
                human.push_str(&format!("matched: {}\n", describe_site(site)));
            }
            json["verdict"] = "deny".into();
            json["status"] = denial.status.into();
            json["code"] = denial.code.into();
            json["rule"] = denial.rule.clone().into();
            json["policy"] = denial.policy.clone().into();
            json["reason"] = denial.reason.clone().into();
            json["matched"] = denial.matched.as_ref().map(describe_site).into();
            ExitCode::FAILURE
        }
        Decision::Escalate(escalation) => {
            let mut asked = Vec::new();
            if let Ok(Some(call)) = escalation.next_call(&ruleset, &test_secrets(&ruleset), 0) {
                asked.push(serde_json::json!({"rule": call.rule, "judge": call.judge}));
                human.push_str(&format!(
                    "verdict: no rule denies; rule {} would ask judge {} (later judges only if it allows)\n",
                    call.rule, call.judge
                ));
            }
            json["verdict"] = "escalate".into();
            json["judges"] = asked.into();
            ExitCode::SUCCESS
        }
        Decision::Allow => {
            human.push_str("verdict: allow (no rule matches, no judge is asked)\n");
            json["verdict"] = "allow".into();
            ExitCode::SUCCESS
        }
    };
    for finding in &inspection.monitored {
        human.push_str(&format!("monitored: {}\n", describe_finding(finding)));
    }
    json["monitored"] = inspection
        .monitored
        .iter()
        .map(|f| serde_json::json!({"policy": f.policy, "rule": f.rule, "matched": f.matched.as_ref().map(describe_site)}))
        .collect::<Vec<_>>()
        .into();
    answer(args, &json, &human, code)
}

fn answer(args: &ScanArgs, json: &serde_json::Value, human: &str, code: ExitCode) -> ExitCode {
    if args.json {
        println!("{json}");
    } else {
        print!("{human}");
    }
    code
}

fn read_text(args: &ScanArgs) -> Result<String, String> {
    match (&args.text, &args.file) {
        (Some(text), _) => Ok(text.clone()),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            Ok(text)
        }
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display())),
        (None, None) => Err("give the text with --text or --file".to_owned()),
    }
}
