//! The engine's regex search (screens in the keyword pass, screen DFAs, per-rule DFAs, anchored
//! searches at candidates) gives the verdicts the regex crate gives, on the large policy's 50
//! regexes and texts built to hit them: prefixes of secrets, digit runs, look-alike fragments,
//! digits of other scripts, and invisible characters that normalisation removes (where the
//! rules' DFAs read a removed run as nothing or as a space, and screens are not trusted).

use guard_bench::spec::{self, Rng};
use guard_engine::ir::{HostPattern, Patterns, Policy, Program, Rule, RuleAction};
use guard_engine::{compile, CompileOptions, Decision, Ruleset};

/// Pieces the texts are made of: what the patterns begin or end with, and separators.
const PIECES: &[&str] = &[
    "AKIA",
    "ASIA",
    "AIza",
    "ya29.",
    "GOCSPX-",
    "AccountKey=",
    "&sig=",
    "?sig=",
    "LTAI",
    "AKID",
    "-----BEGIN ",
    "RSA ",
    "PRIVATE KEY-----",
    "ghp_",
    "gho_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "https://hooks.slack.com/services/T",
    "/B",
    "eyJ",
    ".eyJ",
    "sk_live_",
    "rk_live_",
    "sk-",
    "sk-proj-",
    "sk-ant-api03-",
    "npm_",
    "pypi-AgEIcHlwaS5vcmc",
    "SG.",
    "key-",
    "https://oapi.dingtalk.com/robot/send?access_token=",
    "https://open.feishu.cn/open-apis/bot/v2/hook/",
    "\"type\": \"service_account\"",
    "aws_secret_access_key = ",
    "AWS_SECRET_ACCESS_KEY:",
    "SWIFT: ",
    "BIC ",
    "https://",
    "http://",
    "user:",
    "pass@",
    "@",
    ".com",
    "+1 ",
    "(212) ",
    "+44 7",
    "-",
    ".",
    ":",
    " ",
    "(",
    ")",
    "京",
    "沪",
    "粤",
    "62",
    "13",
    "4",
    "5",
    "3",
    "6011",
    "110105",
    "19",
    "GB",
    "DE",
    "E",
    "G",
    "0",
    "01",
    "010-",
    "ab:",
    "fe80:",
    "你好，",
    "ＡＫＩＡ",
    "１３",
    "(A)",
    "(7)",
    "AB",
    "192.168.",
    "10.0.0.",
    "fe80:0:0:0:",
    "ab:cd:ef:",
    "https://u:p@",
    "555-",
    " 555 ",
    "https://hooks.slack.com/services/T12345678/B12345678/",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.",
    "SG.abcdefghijklmnopqrstuv.",
    "123-45-",
];

/// Pieces normalisation changes beyond NFKC: removed invisible characters (a keycap's
/// variation selector and enclosing mark too), a blank, digits of other scripts.
const UNUSUAL: &[&str] = &[
    "\u{200b}",
    "\u{2060}",
    "\u{ad}",
    "\u{fe0f}\u{20e3}",
    "\u{3164}",
    "٣",
    "١٣٩",
    "۱۲۳۴",
    "१२३",
    "❶",
    "❿",
    // Literal screens that hold a space, which a removed run can stand for.
    "-----BEGIN",
    "PRIVATE",
    "KEY-----",
    "SWIFT",
    "DEUTDEFF",
    "+44",
];

/// Removed by normalisation: a run of these is one mark.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200b}' | '\u{2060}' | '\u{ad}' | '\u{fe0f}' | '\u{20e3}'
    )
}

/// The texts the rules' DFAs read the text as: each run of invisible characters either removed
/// or a space, every combination (texts have few runs).
fn readings(text: &str) -> Vec<String> {
    let mut parts: Vec<String> = vec![String::new()];
    let mut in_run = false;
    for c in text.chars() {
        if invisible(c) {
            if !in_run {
                parts.push(String::new());
                in_run = true;
            }
        } else {
            in_run = false;
            parts.last_mut().unwrap().push(c);
        }
    }
    let runs = parts.len() - 1;
    (0..1u32 << runs)
        .map(|choice| {
            let mut reading = parts[0].clone();
            for (i, part) in parts.iter().enumerate().skip(1) {
                if choice >> (i - 1) & 1 == 1 {
                    reading.push(' ');
                }
                reading.push_str(part);
            }
            guard_engine::normalize(&reading).into_owned()
        })
        .collect()
}

fn piece(rng: &mut Rng, unusual: bool) -> String {
    if unusual && rng.below(4) == 0 {
        return (*rng.pick(UNUSUAL)).to_string();
    }
    match rng.below(3) {
        0 => (*rng.pick(PIECES)).to_string(),
        1 => {
            let len = 1 + rng.below(20);
            run(rng, "0123456789", len)
        }
        _ => {
            let alphabet = match rng.below(4) {
                0 => "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                1 => "abcdef0123456789",
                2 => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
                _ => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
            };
            let len = 1 + rng.below(100);
            run(rng, alphabet, len)
        }
    }
}

fn run(rng: &mut Rng, alphabet: &str, len: usize) -> String {
    let chars: Vec<char> = alphabet.chars().collect();
    (0..len).map(|_| *rng.pick(&chars)).collect()
}

/// The large policy's regexes, one rule each (so a pattern a screen missed cannot hide behind
/// another pattern of its rule), in file order.
fn regex_rules() -> Vec<(String, Vec<String>)> {
    spec::large_regexes()
        .into_iter()
        .flat_map(|(id, _, regexes)| {
            regexes
                .into_iter()
                .enumerate()
                .map(move |(i, regex)| (format!("{id}-{i}"), vec![regex.to_string()]))
        })
        .collect()
}

#[test]
fn screened_regex_search_agrees_with_the_regex_crate() {
    let rules = regex_rules();
    let program = Program {
        policies: vec![Policy {
            name: "regexes".into(),
            hosts: vec![HostPattern::Exact("h".into())],
            path_prefix: None,
            headers: vec![],
            rules: rules
                .iter()
                .map(|(id, regexes)| Rule {
                    id: id.clone(),
                    reason: None,
                    mode: Default::default(),
                    action: RuleAction::Deny(Patterns {
                        regexes: regexes.clone(),
                        ..Patterns::default()
                    }),
                })
                .collect(),
        }],
        judges: vec![],
    };
    let compiled = compile(&program, &CompileOptions::default()).unwrap();
    assert!(
        !compiled.screens.is_empty(),
        "the policy is screened, or this test checks nothing about screens"
    );
    let ruleset = Ruleset::from_bytes(&compiled.bytes).unwrap();
    let policy = ruleset.select("h", "/").unwrap();
    let oracle: Vec<(String, Vec<regex::Regex>)> = rules
        .iter()
        .map(|(id, regexes)| {
            let compiled = regexes.iter().map(|r| regex::Regex::new(r).unwrap());
            (id.clone(), compiled.collect())
        })
        .collect();

    let verdict = |text: &str| -> (Option<String>, Option<String>) {
        // The engine searches the normalised text (full-width forms become ASCII, digits of
        // other scripts ASCII digits), reading a removed run as nothing or a space.
        let readings = readings(text);
        let expected = oracle
            .iter()
            .find(|(_, regexes)| {
                regexes
                    .iter()
                    .any(|r| readings.iter().any(|reading| r.is_match(reading)))
            })
            .map(|(id, _)| id.clone());
        let got = match ruleset
            .inspect(&policy, Some("text/plain"), text.as_bytes())
            .decision
        {
            Decision::Deny(d) => d.rule,
            _ => None,
        };
        (got, expected)
    };

    let mut rng = Rng::new(0x5c7e_e115);
    let mut denied = std::collections::BTreeMap::<String, usize>::new();
    for case in 0..50_000 {
        let text: String = (0..1 + rng.below(8))
            .map(|_| piece(&mut rng, false))
            .collect();
        let (got, expected) = verdict(&text);
        assert_eq!(got, expected, "case {case}: {text:?}");
        if let Some(id) = got {
            *denied.entry(id).or_default() += 1;
        }
    }
    // Every pattern is the earliest one hit by some texts, so every kind of search ran.
    let missed: Vec<&String> = rules
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !denied.contains_key(*id))
        .collect();
    assert!(missed.is_empty(), "patterns no text hit first: {missed:?}");

    // The same with removed invisible characters, blanks and other scripts' digits mixed in.
    let mut rng = Rng::new(0x1d1_6175);
    let mut denied_with_marks = 0;
    for case in 0..20_000 {
        let text: String = (0..1 + rng.below(8))
            .map(|_| piece(&mut rng, true))
            .collect();
        let (got, expected) = verdict(&text);
        assert_eq!(got, expected, "unusual case {case}: {text:?}");
        if got.is_some() && text.chars().any(invisible) {
            denied_with_marks += 1;
        }
    }
    assert!(
        denied_with_marks > 1_000,
        "only {denied_with_marks} texts with removed runs were denied"
    );
}
