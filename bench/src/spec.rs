//! The benchmark policies, generated deterministically as [`Program`]s.
//!
//! Three policies: `dashscope` (policies/dashscope.guard, written out by hand here and checked
//! against the DSL's output by `bench/tests/policies.rs`), `large` (1,000 keywords, Chinese and
//! English, and 50 PII/secret regexes over 10 rules) and `dictionary` (20,000 keywords). The same
//! programs are rendered as `.guard` text by [`render`], for `guardc compile|build` and the Envoy
//! load benchmark; `bench/tests/policies.rs` checks that the DSL lowers that text back into the
//! same program.
//!
//! The scaling policies ([`scaling`]) take the first N of those keywords and the first M of
//! `large`'s regexes, for the grid of sizes in BENCHMARKS.md (`scaling-bundles`,
//! `bench/wasm/scaling.mjs`).
//!
//! This file depends only on `guard_engine::ir` and std: `engine/benches` includes it by path.

#![allow(
    dead_code,
    reason = "engine/benches includes this file by path and uses part of it"
)]

use guard_engine::ir::{
    Endpoint, HeaderOp, HostPattern, Judge, OnError, Patterns, Policy, Program, Rule, RuleAction,
    Template, TemplatePart,
};

/// The host every benchmark policy guards.
pub const HOST: &str = "dashscope.aliyuncs.com";

/// A small deterministic PRNG (splitmix64), so the generated policies and bodies never change.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// Panics on an empty slice: the generator's word lists never are.
    #[allow(
        clippy::indexing_slicing,
        reason = "the generator's word lists are never empty"
    )]
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn deny_rule(
    id: &str,
    reason: &str,
    keywords: Vec<String>,
    regexes: Vec<String>,
    ignore_case: bool,
) -> Rule {
    Rule {
        id: id.to_string(),
        reason: Some(reason.to_string()),
        mode: Default::default(),
        action: RuleAction::Deny(Patterns {
            keywords,
            regexes,
            ignore_case,
            skip_normalization: false,
            ..Default::default()
        }),
    }
}

fn policy(name: &str, secret: &str, rules: Vec<Rule>) -> Policy {
    Policy {
        name: name.to_string(),
        hosts: vec![HostPattern::Exact(HOST.to_string())],
        path_prefix: None,
        headers: vec![HeaderOp::Set {
            name: "Authorization".to_string(),
            value: Template {
                parts: vec![
                    TemplatePart::Text("Bearer ".to_string()),
                    TemplatePart::Secret(secret.to_string()),
                ],
            },
        }],
        rules,
    }
}

/// policies/dashscope.guard, the reference policy (its judge prompt abbreviated: the body phase
/// never renders it).
pub fn dashscope() -> Program {
    let mut p = policy(
        "dashscope-egress",
        "dashscope_api_key",
        vec![
            deny_rule(
                "account-keyword",
                "account identifiers must not leave the mesh",
                vec!["账号".into(), "account number".into()],
                vec![],
                false,
            ),
            deny_rule(
                "cn-mobile",
                "mobile phone number",
                vec![],
                vec!["1[3-9][0-9]{9}".into()],
                false,
            ),
        ],
    );
    p.rules.push(Rule {
        id: "confidential".into(),
        reason: None,
        mode: Default::default(),
        action: RuleAction::Escalate {
            judge: 0,
            when: None,
        },
    });
    let judge = Judge {
        name: "privacy".into(),
        endpoint: Endpoint {
            url: "http://guard-llm.internal:80/v1/chat/completions".into(),
            authority: "guard-llm.internal:80".into(),
            host: "guard-llm.internal".into(),
            port: 80,
            path: "/v1/chat/completions".into(),
        },
        cluster: "outbound|80||guard-llm.internal".into(),
        model: "qwen-turbo".into(),
        api_key: Template {
            parts: vec![TemplatePart::Secret("judge_api_key".into())],
        },
        timeout_ms: 3000,
        on_error: OnError::Deny,
        prompt: Template {
            parts: vec![
                TemplatePart::Text("Review this text:\n".into()),
                TemplatePart::Fence,
                TemplatePart::Text("\n".into()),
                TemplatePart::Content,
                TemplatePart::Text("\n".into()),
                TemplatePart::Fence,
            ],
        },
    };
    Program {
        policies: vec![p],
        judges: vec![judge],
    }
}

const EN_ADJ: &[&str] = &[
    "confidential",
    "internal only",
    "restricted",
    "proprietary",
    "classified",
    "top secret",
    "do not distribute",
    "privileged",
];
const EN_NOUN: &[&str] = &[
    "roadmap",
    "memo",
    "budget",
    "forecast",
    "merger plan",
    "acquisition target",
    "salary table",
    "payroll",
    "contract draft",
    "price list",
    "source code",
    "customer list",
    "board minutes",
    "audit report",
    "design document",
    "earnings",
    "headcount plan",
    "layoff list",
    "bid document",
    "security review",
    "incident report",
    "vendor quote",
    "litigation",
    "patent draft",
    "launch date",
];
const ZH_ADJ: &[&str] = &["内部", "机密", "绝密", "秘密", "保密", "敏感", "未公开"];
const ZH_NOUN: &[&str] = &[
    "文件",
    "资料",
    "报告",
    "合同",
    "财报",
    "预算",
    "薪资表",
    "名单",
    "源代码",
    "方案",
    "会议纪要",
    "客户数据",
    "战略规划",
    "并购计划",
    "招标文件",
    "审计报告",
    "裁员名单",
    "股权结构",
    "报价单",
    "研发路线图",
];
const SYLLABLES: &[&str] = &[
    "vor", "tal", "quen", "dri", "mox", "zel", "bran", "thu", "kai", "lum", "ser", "ondo", "pyx",
    "rav", "gil", "fen", "orv", "wyn", "cas", "dro", "xel", "jor", "nim", "ust",
];
const ZH_NAME: &[&str] = &[
    "青龙", "白虎", "朱雀", "玄武", "麒麟", "凤凰", "鲲鹏", "北斗", "天枢", "摇光", "昆仑", "泰山",
    "长城", "黄河", "珠峰", "星河", "银河", "雷霆", "闪电", "飓风", "极光", "曙光", "磐石", "破晓",
];
const ZH_SUFFIX: &[&str] = &["计划", "项目", "工程", "行动", "专案", "方案"];
const ZH_PII: &[&str] = &[
    "账号",
    "身份证号",
    "身份证号码",
    "银行卡号",
    "信用卡号",
    "密码",
    "支付密码",
    "验证码",
    "手机号码",
    "家庭住址",
    "护照号码",
    "社保卡号",
    "医保卡号",
    "驾驶证号",
    "车牌号",
    "病历号",
    "公积金账号",
    "工资卡",
    "开户行",
    "户口本",
    "出生日期",
    "婚姻状况",
    "宗教信仰",
    "政治面貌",
    "犯罪记录",
    "征信报告",
    "纳税记录",
    "指纹",
    "人脸数据",
    "虹膜",
    "基因数据",
    "行踪轨迹",
    "通话记录",
    "短信内容",
    "聊天记录",
    "位置信息",
    "设备号",
    "IMEI",
    "MAC地址",
    "登录凭证",
    "私钥",
    "助记词",
    "钱包地址",
    "交易流水",
    "存款余额",
    "贷款记录",
    "理财账户",
    "证券账户",
    "期货账户",
    "保单号",
];
const EN_CRED: &[&str] = &[
    "password",
    "passwd",
    "api_key",
    "apikey",
    "api-key",
    "secret_key",
    "secret key",
    "access_token",
    "access token",
    "refresh_token",
    "client_secret",
    "private key",
    "private_key",
    "ssh-rsa",
    "BEGIN PGP PRIVATE KEY",
    "aws_secret_access_key",
    "aws_access_key_id",
    "x-api-key",
    "authorization: bearer",
    "db_password",
    "database_url",
    "connection string",
    "jdbc:mysql://",
    "mongodb+srv://",
    "postgres://",
    "redis://:",
    "smtp password",
    "root password",
    "admin password",
    "keystore password",
    "account number",
    "routing number",
    "sort code",
    "swift code",
    "cvv",
    "security code",
    "pin code",
    "social security number",
    "passport number",
    "driver license",
    "date of birth",
    "mother's maiden name",
    "tax id",
    "employee id",
    "medical record",
    "health insurance",
    "credit score",
    "bank statement",
    "wire transfer",
    "seed phrase",
    "recovery phrase",
    "mnemonic",
    "wallet address",
    "session cookie",
    "set-cookie",
    "jsessionid",
    "csrf token",
    "otp code",
    "2fa code",
    "backup codes",
];

fn pseudo_word(rng: &mut Rng) -> String {
    let n = 2 + rng.below(2);
    let mut word = String::new();
    for _ in 0..n {
        word.push_str(rng.pick::<&str>(SYLLABLES));
    }
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => word,
    }
}

/// Unique, in first-seen order.
fn dedup(words: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    words
        .into_iter()
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

fn product(a: &[&str], b: &[&str], sep: &str) -> Vec<String> {
    a.iter()
        .flat_map(|x| b.iter().map(move |y| format!("{x}{sep}{y}")))
        .collect()
}

/// The 50 PII and secret regexes of the large policy, by rule.
pub fn large_regexes() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    vec![
        (
            "cn-identity",
            "Chinese personal identifiers",
            vec![
                r"1[3-9][0-9]{9}",
                r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]",
                r"[EeGg][0-9]{8}",
                r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}",
                r"[A-Z]{1,2}[0-9]{6}\([0-9A]\)",
                r"[A-Z][12][0-9]{8}",
                r"0[1-9][0-9]{1,2}-[0-9]{7,8}",
                r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z][A-HJ-NP-Z0-9]{5,6}",
                r"62[0-9]{14,17}",
            ],
        ),
        (
            "contact-network",
            "contact details and network addresses",
            vec![
                r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
                r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
                r"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}",
                r"(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}",
                r"https?://[^/\s:@]{1,64}:[^/\s:@]{1,64}@",
                r"\+?1[ .-]?\(?[2-9][0-9]{2}\)?[ .-][0-9]{3}[ .-][0-9]{4}",
                r"\+44 ?7[0-9]{3} ?[0-9]{6}",
            ],
        ),
        (
            "cloud-credentials",
            "cloud provider credentials",
            vec![
                r"(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}",
                r"(?i:aws_secret_access_key)\s*[=:]\s*[0-9A-Za-z/+]{40}",
                r"AIza[0-9A-Za-z_-]{35}",
                r#""type"\s*:\s*"service_account""#,
                r"ya29\.[0-9A-Za-z_-]{20,}",
                r"GOCSPX-[0-9A-Za-z_-]{28}",
                r"AccountKey=[A-Za-z0-9+/=]{88}",
                r"[?&]sig=[A-Za-z0-9%]{43,}",
                r"LTAI[0-9A-Za-z]{12,20}",
                r"AKID[0-9A-Za-z]{32}",
                r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----",
            ],
        ),
        (
            "api-tokens",
            "API tokens",
            vec![
                r"gh[pousr]_[0-9A-Za-z]{36}",
                r"github_pat_[0-9A-Za-z_]{82}",
                r"glpat-[0-9A-Za-z_-]{20}",
                r"xox[baprs]-[0-9A-Za-z-]{10,48}",
                r"https://hooks\.slack\.com/services/T[0-9A-Z]{8,10}/B[0-9A-Z]{8,10}/[0-9A-Za-z]{24}",
                r"eyJ[0-9A-Za-z_-]{10,}\.eyJ[0-9A-Za-z_-]{10,}\.[0-9A-Za-z_-]{10,}",
                r"(?:sk|rk)_live_[0-9A-Za-z]{24}",
                r"sk-[A-Za-z0-9]{48}",
                r"sk-proj-[A-Za-z0-9_-]{40}",
                r"sk-ant-api03-[A-Za-z0-9_-]{90}",
                r"npm_[A-Za-z0-9]{36}",
                r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50}",
                r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
                r"key-[0-9a-zA-Z]{32}",
                r"https://oapi\.dingtalk\.com/robot/send\?access_token=[0-9a-f]{64}",
                r"https://open\.feishu\.cn/open-apis/bot/v2/hook/[0-9a-f-]{36}",
            ],
        ),
        (
            "financial",
            "card, bank and tax numbers",
            vec![
                r"4[0-9]{12}(?:[0-9]{3})?",
                r"5[1-5][0-9]{14}",
                r"3[47][0-9]{13}",
                r"6(?:011|5[0-9]{2})[0-9]{12}",
                r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}",
                r"[0-9]{3}-[0-9]{2}-[0-9]{4}",
                r"(?:SWIFT|BIC)[: ]+[A-Z]{6}[A-Z0-9]{2}",
            ],
        ),
    ]
}

/// 1,000 keywords in six rules and 50 regexes in five rules: what a security team's policy
/// grows into. Keywords first (file order is verdict order).
pub fn large() -> Program {
    let mut rng = Rng::new(0x6c_6172_6765);
    let confidential_en = product(EN_ADJ, EN_NOUN, " "); // 200
    let confidential_zh = product(ZH_ADJ, ZH_NOUN, ""); // 140
    let codenames_en = {
        let mut words = Vec::new();
        while words.len() < 300 {
            let kind = if rng.below(3) == 0 {
                "Operation"
            } else {
                "Project"
            };
            words.push(format!("{kind} {}", pseudo_word(&mut rng)));
            words = dedup(words);
        }
        words
    };
    let codenames_zh = {
        let mut words = product(ZH_NAME, ZH_SUFFIX, ""); // 144
        words.extend(ZH_NAME.iter().take(6).map(|n| format!("代号{n}")));
        words
    };
    let pii_zh: Vec<String> = ZH_PII.iter().map(|s| s.to_string()).collect(); // 50
    let mut creds: Vec<String> = EN_CRED.iter().map(|s| s.to_string()).collect();
    let mut i = 0;
    while creds.len()
        + pii_zh.len()
        + codenames_zh.len()
        + codenames_en.len()
        + confidential_zh.len()
        + confidential_en.len()
        < 1000
    {
        let service = pseudo_word(&mut rng).to_lowercase();
        creds.push(format!(
            "{}_{service}_{}",
            *rng.pick(&["internal", "prod", "corp"]),
            ["token", "secret", "key"]
                .get(i % 3)
                .copied()
                .unwrap_or("key")
        ));
        creds = dedup(creds);
        i += 1;
    }
    let mut rules = vec![
        deny_rule("pii-keywords", "personal data", pii_zh, vec![], false),
        deny_rule("credential-keywords", "credentials", creds, vec![], true),
        deny_rule(
            "confidential-en",
            "confidential material",
            confidential_en,
            vec![],
            true,
        ),
        deny_rule(
            "confidential-zh",
            "confidential material",
            confidential_zh,
            vec![],
            false,
        ),
        deny_rule(
            "codenames-en",
            "unreleased projects",
            codenames_en,
            vec![],
            true,
        ),
        deny_rule(
            "codenames-zh",
            "unreleased projects",
            codenames_zh,
            vec![],
            false,
        ),
    ];
    for (id, reason, regexes) in large_regexes() {
        rules.push(deny_rule(
            id,
            reason,
            vec![],
            regexes.into_iter().map(str::to_string).collect(),
            false,
        ));
    }
    Program {
        policies: vec![policy("large", "api_key", rules)],
        judges: vec![],
    }
}

/// Every keyword of a program's deny rules, in file order (for the keyword-automaton examples).
pub fn keywords(program: &Program) -> Vec<String> {
    program
        .policies
        .iter()
        .flat_map(|p| &p.rules)
        .filter_map(|r| match &r.action {
            RuleAction::Deny(p) => Some(p.keywords.clone()),
            RuleAction::Escalate { .. } | RuleAction::Mask(_) => None,
        })
        .flatten()
        .collect()
}

/// The dictionary policy's keywords: 20,000 distinct words and phrases, English and Chinese.
pub fn dictionary_keywords() -> Vec<String> {
    let mut rng = Rng::new(0x6469_6374);
    let mut words = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(20_000);
    // Characters the benchmark bodies never use, so the bodies stay benign.
    let zh_chars: Vec<char> = "鑫淼焱垚犇骉磊晶森鱻赑灥龘麤羴猋毳舙靐飝馫驫鲰鳏鹦鹉麒麟貔貅饕餮魑魅魍魉蝴蝶蜻蜓螳螂蟋蟀蚯蚓蜈蚣蝙蝠鹌鹑鸳鸯琵琶琥珀玛瑙翡翠"
        .chars()
        .collect();
    while out.len() < 20_000 {
        let word = match rng.below(4) {
            0 => {
                let n = 2 + rng.below(3);
                (0..n).map(|_| *rng.pick(&zh_chars)).collect::<String>()
            }
            1 => format!(
                "{} {}",
                pseudo_word(&mut rng).to_lowercase(),
                pseudo_word(&mut rng).to_lowercase()
            ),
            2 => format!(
                "{}-{}",
                pseudo_word(&mut rng).to_uppercase(),
                100 + rng.below(900)
            ),
            _ => pseudo_word(&mut rng).to_lowercase() + &pseudo_word(&mut rng).to_lowercase(),
        };
        if words.insert(word.clone()) {
            out.push(word);
        }
    }
    out
}

/// 20,000 keywords in two rules (a keyword file each, in `.guard` form).
pub fn dictionary() -> Program {
    let words = dictionary_keywords();
    let (first, second) = words.split_at(10_000);
    let rules = vec![
        deny_rule("dictionary-a", "listed term", first.to_vec(), vec![], true),
        deny_rule(
            "dictionary-b",
            "listed term",
            second.to_vec(),
            vec![],
            false,
        ),
    ];
    Program {
        policies: vec![policy("dictionary", "api_key", rules)],
        judges: vec![],
    }
}

/// The program with normalisation turned off in every rule (`normalize off`): not a policy to
/// deploy, a diagnostic that measures the matchers without the cost of normalising the text.
pub fn without_normalization(mut program: Program) -> Program {
    for policy in &mut program.policies {
        for rule in &mut policy.rules {
            if let RuleAction::Deny(patterns) = &mut rule.action {
                patterns.skip_normalization = true;
            }
        }
    }
    program
}

/// The keyword counts of the scaling grid ([`scaling`]).
pub const SCALING_KEYWORDS: [usize; 4] = [10, 100, 1_000, 20_000];
/// The regex counts of the scaling grid ([`scaling`]).
pub const SCALING_REGEXES: [usize; 3] = [1, 10, 50];

/// A deny rule's keywords with the settings they are matched with.
struct KeywordSource {
    id: String,
    reason: Option<String>,
    ignore_case: bool,
    keywords: Vec<String>,
}

/// The keyword rules of a program, in file order.
fn keyword_sources(program: Program) -> Vec<KeywordSource> {
    program
        .policies
        .into_iter()
        .flat_map(|p| p.rules)
        .filter_map(|r| match r.action {
            RuleAction::Deny(p) if !p.keywords.is_empty() => Some(KeywordSource {
                id: r.id,
                reason: r.reason,
                ignore_case: p.ignore_case,
                keywords: p.keywords,
            }),
            _ => None,
        })
        .collect()
}

/// Each source's keywords in turn, one from each (skipping the exhausted ones), tagged with the
/// index of its source plus `offset`: every prefix of the result then draws on every source, so
/// even 10 keywords mix Chinese and English, case-sensitive and `ignore case`.
fn interleave(sources: &[KeywordSource], offset: usize) -> Vec<(usize, String)> {
    let longest = sources.iter().map(|s| s.keywords.len()).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| {
            sources
                .iter()
                .enumerate()
                .filter_map(move |(n, s)| s.keywords.get(i).map(|k| (n + offset, k.clone())))
        })
        .collect()
}

/// The scaling policies' keyword rules and their stable keyword list: `large`'s 1,000 keywords
/// (interleaved over its six rules), then the dictionary's 20,000 (interleaved over its two),
/// the first occurrence of each kept. A scaling policy takes a prefix of the list, so the
/// smaller policies' keywords are the larger ones' too, and each keyword keeps the rule (and so
/// the case folding) it has in `large` or `dictionary`: both are benign against the corpus
/// (`bench/tests/policies.rs`), so every prefix is. No keyword has had to be dropped.
fn scaling_keywords() -> (Vec<KeywordSource>, Vec<(usize, String)>) {
    let mut sources = keyword_sources(large());
    let mut list = interleave(&sources, 0);
    let dictionary = keyword_sources(dictionary());
    list.extend(interleave(&dictionary, sources.len()));
    sources.extend(dictionary);
    let mut seen = std::collections::BTreeSet::new();
    list.retain(|(_, k)| seen.insert(k.clone()));
    (sources, list)
}

/// One policy on [`HOST`] with the first `keywords` keywords of the stable list above (in
/// `large`'s and `dictionary`'s rules, so some `ignore case`; at most 21,000, the whole list)
/// and the first `regexes` regexes of [`large_regexes`] (in their rules; past the 50, the list
/// again, in rules with a `-2`, `-3`… suffix). Keyword rules first, as in `large`.
pub fn scaling(keywords: usize, regexes: usize) -> Program {
    let (sources, list) = scaling_keywords();
    let mut chosen: Vec<Vec<String>> = vec![Vec::new(); sources.len()];
    for (source, keyword) in list.into_iter().take(keywords) {
        if let Some(words) = chosen.get_mut(source) {
            words.push(keyword);
        }
    }
    let mut rules: Vec<Rule> = sources
        .into_iter()
        .zip(chosen)
        .filter(|(_, words)| !words.is_empty())
        .map(|(s, words)| Rule {
            id: s.id,
            reason: s.reason,
            mode: Default::default(),
            action: RuleAction::Deny(Patterns {
                keywords: words,
                ignore_case: s.ignore_case,
                ..Default::default()
            }),
        })
        .collect();
    let groups = large_regexes();
    let per_round: usize = groups.iter().map(|(_, _, r)| r.len()).sum();
    let mut left = regexes;
    let mut round = 0;
    while left > 0 && per_round > 0 {
        for (id, reason, patterns) in &groups {
            let take = left.min(patterns.len());
            if take == 0 {
                break;
            }
            let id = if round == 0 {
                id.to_string()
            } else {
                format!("{id}-{}", round + 1)
            };
            rules.push(deny_rule(
                &id,
                reason,
                vec![],
                patterns.iter().take(take).map(|r| r.to_string()).collect(),
                false,
            ));
            left -= take;
        }
        round += 1;
    }
    Program {
        policies: vec![policy(&scaling_name(keywords, regexes), "api_key", rules)],
        judges: vec![],
    }
}

/// A scaling policy's name, what [`by_name`] reads: `scaling-1000k-50r` is 1,000 keywords and 50
/// regexes.
pub fn scaling_name(keywords: usize, regexes: usize) -> String {
    format!("scaling-{keywords}k-{regexes}r")
}

/// The keyword and regex counts of a [`scaling_name`].
fn parse_scaling_name(name: &str) -> Option<(usize, usize)> {
    let (keywords, regexes) = name.strip_prefix("scaling-")?.split_once("k-")?;
    Some((
        keywords.parse().ok()?,
        regexes.strip_suffix('r')?.parse().ok()?,
    ))
}

/// The benchmark policies by name: those of [`NAMES`] and any [`scaling_name`].
pub fn by_name(name: &str) -> Option<Program> {
    match name {
        "dashscope" => Some(dashscope()),
        "large" => Some(large()),
        "dictionary" => Some(dictionary()),
        _ => parse_scaling_name(name).map(|(k, r)| scaling(k, r)),
    }
}

pub const NAMES: [&str; 3] = ["dashscope", "large", "dictionary"];

/// A `.guard` string literal (JSON escapes are the language's).
fn lit(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `.guard` text of a generated program (no judges), formatted as `guardc fmt` does, with
/// rules of more than 1,000 keywords written to keyword files: returns (text, [(file name,
/// contents)]).
pub fn render(program: &Program, stem: &str) -> (String, Vec<(String, String)>) {
    let mut out = String::new();
    let mut files = Vec::new();
    out.push_str(
        "# Generated by `cargo run -p guard-bench --bin gen-policies`; do not edit.\n# See bench/src/spec.rs.\n\n",
    );
    for policy in &program.policies {
        out.push_str(&format!("policy {} {{\n", lit(&policy.name)));
        for host in &policy.hosts {
            if let HostPattern::Exact(h) = host {
                out.push_str(&format!("    match host {}\n", lit(h)));
            }
        }
        for op in &policy.headers {
            if let HeaderOp::Set { name, value } = op {
                let mut v = String::new();
                for part in &value.parts {
                    match part {
                        TemplatePart::Text(t) => v.push_str(t),
                        TemplatePart::Secret(s) => v.push_str(&format!("{{{{ secret.{s} }}}}")),
                        _ => {}
                    }
                }
                out.push_str(&format!("    inject header {} = {}\n", lit(name), lit(&v)));
            }
        }
        for rule in &policy.rules {
            let RuleAction::Deny(p) = &rule.action else {
                continue;
            };
            out.push_str(&format!("\n    rule {} {{\n", lit(&rule.id)));
            if p.keywords.len() > 1000 {
                let file = format!("{stem}-{}.txt", rule.id);
                files.push((
                    file.clone(),
                    p.keywords.iter().map(|k| format!("{k}\n")).collect(),
                ));
                out.push_str(&format!("        deny keyword file {}\n", lit(&file)));
            } else {
                for chunk in p.keywords.chunks(8) {
                    let list: Vec<String> = chunk.iter().map(|k| lit(k)).collect();
                    out.push_str(&format!("        deny keyword {}\n", list.join(", ")));
                }
            }
            for r in &p.regexes {
                out.push_str(&format!("        deny regex {}\n", lit(r)));
            }
            if p.ignore_case {
                out.push_str("        ignore case\n");
            }
            if let Some(reason) = &rule.reason {
                out.push_str(&format!("        reason {}\n", lit(reason)));
            }
            out.push_str("    }\n");
        }
        out.push_str("}\n");
    }
    (out, files)
}
