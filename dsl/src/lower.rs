//! Lowering: AST → [`guard_engine::ir::Program`], validating every value on the way, then
//! compiling the program's patterns with [`guard_engine::compile`].
//!
//! Lowering never stops early: a bad value is reported and replaced by a placeholder so the rest
//! of the program is still checked. The program is only compiled when nothing was reported, so a
//! placeholder never reaches a bundle.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use guard_engine::ir::{
    Endpoint, HeaderOp, HostPattern, Judge, OnError, Patterns, Policy, Program, Rule, RuleAction,
    Template, TemplatePart,
};
use guard_engine::{check_regex, CompileOptions, Compiled, RegexError, RegexErrorKind};

use crate::ast::{self, JudgeValue, PolicyStmt, RuleStmt, Span, Str, Word};
use crate::diagnostic::{lowercase_first, Code, Diag};
use crate::suggest::closest;

/// A parsed file and where its keyword files are looked up.
pub(crate) struct Unit<'a> {
    /// The directory `deny keyword file` paths are relative to.
    pub dir: PathBuf,
    pub ast: &'a ast::File,
}

/// A program and what lowering remembers about its source.
pub(crate) struct Lowered<'a> {
    pub program: Program,
    /// For each rule in program order: its policy, its id and its `rule` keyword.
    pub rules: Vec<(String, String, Span)>,
    /// `regexes[p][r][x]`: the literal of `program.policies[p].rules[r]`'s regex `x`.
    regexes: Vec<Vec<Vec<&'a Str>>>,
}

pub(crate) fn lower<'a>(units: &[Unit<'a>], diags: &mut Vec<Diag>) -> Lowered<'a> {
    let mut lowerer = Lowerer { diags };
    let mut judges = Vec::new();
    let mut judge_index: HashMap<&str, u32> = HashMap::new();
    for unit in units {
        for item in &unit.ast.items {
            if let ast::Item::Judge(judge) = item {
                let index = u32::try_from(judges.len()).unwrap_or(u32::MAX);
                judge_index
                    .entry(judge.name.value.as_str())
                    .or_insert(index);
                judges.push(lowerer.judge(judge));
            }
        }
    }
    let mut lowered = Lowered {
        program: Program {
            policies: Vec::new(),
            judges,
        },
        rules: Vec::new(),
        regexes: Vec::new(),
    };
    for unit in units {
        for item in &unit.ast.items {
            if let ast::Item::Policy(policy) = item {
                let (ir, regexes) = lowerer.policy(policy, &unit.dir, &judge_index);
                let spans = policy.stmts.iter().filter_map(|s| match s {
                    PolicyStmt::Rule(r) => Some(r.keyword),
                    _ => None,
                });
                for (rule, span) in ir.rules.iter().zip(spans) {
                    lowered.rules.push((ir.name.clone(), rule.id.clone(), span));
                }
                lowered.program.policies.push(ir);
                lowered.regexes.push(regexes);
            }
        }
    }
    lowered
}

/// Builds the bundle; regex errors the engine finds (a DFA over its budget) point at the regex.
pub(crate) fn compile(
    lowered: &Lowered<'_>,
    options: &CompileOptions,
) -> Result<Compiled, Vec<Diag>> {
    guard_engine::compile(&lowered.program, options).map_err(|errors| {
        errors
            .iter()
            .map(|e| {
                let literal = lowered
                    .regexes
                    .get(e.policy)
                    .and_then(|rules| rules.get(e.rule))
                    .and_then(|regexes| regexes.get(e.regex));
                match literal {
                    Some(literal) => regex_diag(literal, &e.error),
                    None => Diag::new(
                        Code::Internal,
                        format!("internal error: {}", e.error.message),
                    ),
                }
            })
            .collect()
    })
}

struct Lowerer<'d> {
    diags: &'d mut Vec<Diag>,
}

/// Where a template is used, which decides the placeholders it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    HeaderValue,
    ApiKey,
    Prompt,
    /// Plain text that is never expanded (`reason`, `model`): a placeholder in it is a mistake.
    Plain(&'static str),
}

impl Lowerer<'_> {
    fn report(&mut self, diag: Diag) {
        self.diags.push(diag);
    }

    fn policy<'a>(
        &mut self,
        policy: &'a ast::Policy,
        dir: &Path,
        judges: &HashMap<&str, u32>,
    ) -> (Policy, Vec<Vec<&'a Str>>) {
        let mut ir = Policy {
            name: policy.name.value.clone(),
            hosts: Vec::new(),
            path_prefix: None,
            headers: Vec::new(),
            rules: Vec::new(),
        };
        let mut regexes = Vec::new();
        let mut header_names: HashMap<String, Span> = HashMap::new();
        for stmt in &policy.stmts {
            match stmt {
                PolicyStmt::MatchHost { hosts, .. } => {
                    for host in hosts {
                        match lower_host(host) {
                            Ok(h) => ir.hosts.push(h),
                            Err(d) => self.report(*d),
                        }
                    }
                }
                PolicyStmt::MatchPath { prefix, .. } => {
                    if let Err(d) = check_path_prefix(prefix) {
                        self.report(*d);
                    }
                    ir.path_prefix.get_or_insert_with(|| prefix.value.clone());
                }
                PolicyStmt::Inject { name, value, .. } => {
                    self.header_name(name, &policy.name.value, &mut header_names);
                    let template = self.template(value, Context::HeaderValue);
                    self.header_value(value, &template);
                    ir.headers.push(HeaderOp::Set {
                        name: name.value.clone(),
                        value: template,
                    });
                }
                PolicyStmt::Remove { name, .. } => {
                    self.header_name(name, &policy.name.value, &mut header_names);
                    ir.headers.push(HeaderOp::Remove {
                        name: name.value.clone(),
                    });
                }
                PolicyStmt::Rule(rule) => {
                    let (r, literals) = self.rule(rule, dir, judges);
                    ir.rules.push(r);
                    regexes.push(literals);
                }
            }
        }
        (ir, regexes)
    }

    fn header_name(&mut self, name: &Str, policy: &str, seen: &mut HashMap<String, Span>) {
        if let Err(d) = check_header_name(name) {
            self.report(*d);
            return;
        }
        let key = name.value.to_ascii_lowercase();
        match seen.get(&key) {
            Some(first) => self.report(
                Diag::new(
                    Code::DuplicateHeader,
                    format!("header `{}` is set or removed twice in policy `{policy}`", name.value),
                )
                .at(name.span, "again here")
                .also(*first, "first here")
                .help("header names are case-insensitive; keep one `inject header` or `remove header` per header"),
            ),
            None => {
                seen.insert(key, name.span);
            }
        }
    }

    /// A header value must be one line of visible text: a line break would let a policy (or a
    /// typo in it) inject further headers.
    fn header_value(&mut self, value: &Str, template: &Template) {
        if template
            .parts
            .iter()
            .all(|p| !matches!(p, TemplatePart::Text(_)))
        {
            return;
        }
        if let Some((i, c)) = value
            .value
            .char_indices()
            .find(|(_, c)| (c.is_control() && *c != '\t') || *c == '\u{7f}')
        {
            self.report(
                Diag::new(
                    Code::InvalidHeaderValue,
                    format!("header value contains {}", describe(c)),
                )
                .at(value.span_of(i..i + c.len_utf8()), "not allowed in a header value")
                .help("a header value is one line of text; line breaks and control characters are not allowed"),
            );
        }
    }

    fn rule<'a>(
        &mut self,
        rule: &'a ast::Rule,
        dir: &Path,
        judges: &HashMap<&str, u32>,
    ) -> (Rule, Vec<&'a Str>) {
        let ignore_case = rule
            .stmts
            .iter()
            .any(|s| matches!(s, RuleStmt::IgnoreCase { .. }));
        let mut patterns = Patterns {
            ignore_case,
            skip_normalization: rule
                .stmts
                .iter()
                .any(|s| matches!(s, RuleStmt::NormalizeOff { .. })),
            ..Patterns::default()
        };
        let mut literals = Vec::new();
        let mut reason = None;
        let mut escalate = None;
        let mut denies = false;
        for stmt in &rule.stmts {
            match stmt {
                RuleStmt::DenyKeyword { keywords, .. } => {
                    denies = true;
                    for keyword in keywords {
                        if blank_keyword(&keyword.value, !patterns.skip_normalization) {
                            self.report(
                                Diag::new(
                                    Code::EmptyKeyword,
                                    if keyword.value.is_empty() {
                                        "empty keyword".to_string()
                                    } else if keyword.value.trim().is_empty() {
                                        "keyword is only whitespace".to_string()
                                    } else {
                                        "keyword is only whitespace and invisible characters"
                                            .to_string()
                                    },
                                )
                                .at(keyword.span, "this would match (almost) every request")
                                .help("remove it, or write the word to deny"),
                            );
                        }
                        patterns.keywords.push(keyword.value.clone());
                    }
                }
                RuleStmt::DenyKeywordFile { path, .. } => {
                    denies = true;
                    let keywords = self.keyword_file(path, dir, !patterns.skip_normalization);
                    patterns.keywords.extend(keywords);
                }
                RuleStmt::DenyRegex { regexes, .. } => {
                    denies = true;
                    for regex in regexes {
                        self.regex(regex, ignore_case);
                        patterns.regexes.push(regex.value.clone());
                        literals.push(regex);
                    }
                }
                RuleStmt::Reason { text, .. } => {
                    if reason.is_none() {
                        self.template(text, Context::Plain("a `reason`"));
                        reason = Some(text.value.clone());
                    }
                }
                RuleStmt::Escalate { judge, .. } => {
                    // An unknown judge is reported by check.rs; the placeholder index never
                    // reaches a bundle because nothing is compiled after an error.
                    escalate.get_or_insert(
                        judges
                            .get(judge.value.as_str())
                            .copied()
                            .unwrap_or(u32::MAX),
                    );
                }
                RuleStmt::IgnoreCase { .. } | RuleStmt::NormalizeOff { .. } => {}
            }
        }
        let action = match (denies, escalate) {
            (false, Some(judge)) => RuleAction::Escalate { judge },
            _ => RuleAction::Deny(patterns),
        };
        let ir = Rule {
            id: rule.name.value.clone(),
            reason,
            action,
        };
        (ir, literals)
    }

    /// Reads a keyword file: one keyword per line, UTF-8; blank lines and lines starting with `#`
    /// are skipped and a trailing `\r` is trimmed, so files edited on Windows work.
    /// A line that normalisation empties (with `normalized`) is as blank as an empty one.
    fn keyword_file(&mut self, path: &Str, dir: &Path, normalized: bool) -> Vec<String> {
        let resolved = dir.join(&path.value);
        let shown = resolved.display().to_string();
        let bytes = match std::fs::read(&resolved) {
            Ok(bytes) => bytes,
            Err(err) => {
                let diag = if err.kind() == std::io::ErrorKind::NotFound {
                    Diag::new(
                        Code::MissingKeywordFile,
                        format!("keyword file `{}` does not exist", path.value),
                    )
                    .at(path.span, format!("looked for `{shown}`"))
                    .help("the path is relative to the directory of the .guard file")
                } else if resolved.is_dir() {
                    Diag::new(
                        Code::UnreadableKeywordFile,
                        format!("keyword file `{}` is a directory", path.value),
                    )
                    .at(path.span, format!("`{shown}` is a directory"))
                    .help("name a text file with one keyword per line")
                } else {
                    Diag::new(
                        Code::UnreadableKeywordFile,
                        format!(
                            "cannot read keyword file `{}`: {}",
                            path.value,
                            lowercase_first(&err.to_string())
                        ),
                    )
                    .at(path.span, format!("reading `{shown}`"))
                };
                self.report(diag);
                return Vec::new();
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                let valid = err.utf8_error().valid_up_to();
                let line = err
                    .as_bytes()
                    .get(..valid)
                    .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
                    + 1;
                self.report(
                    Diag::new(
                        Code::KeywordFileNotUtf8,
                        format!(
                            "keyword file `{}` is not valid UTF-8 (line {line})",
                            path.value
                        ),
                    )
                    .at(path.span, format!("reading `{shown}`"))
                    .help("save the file as UTF-8"),
                );
                return Vec::new();
            }
        };
        let keywords: Vec<String> = text
            .split('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line))
            .filter(|line| !blank_keyword(line, normalized) && !line.starts_with('#'))
            .map(str::to_string)
            .collect();
        if keywords.is_empty() {
            self.report(
                Diag::new(Code::EmptyKeywordFile, format!("keyword file `{}` has no keywords", path.value))
                    .at(path.span, format!("read `{shown}`"))
                    .help("write one keyword per line; blank lines and lines starting with `#` are skipped"),
            );
        }
        keywords
    }

    fn regex(&mut self, regex: &Str, ignore_case: bool) {
        if let Err(err) = check_regex(&regex.value, ignore_case) {
            self.report(regex_diag(regex, &err));
            return;
        }
        // An empty match would deny every request: almost certainly a typo (`a*`, `x?`, `""`).
        let matches_empty = regex_syntax::ParserBuilder::new()
            .case_insensitive(ignore_case)
            .build()
            .parse(&regex.value)
            .is_ok_and(|hir| hir.properties().minimum_len() == Some(0));
        if matches_empty {
            self.report(
                Diag::new(Code::RegexMatchesEmpty, format!("regex `{}` matches the empty string", regex.value))
                    .at(regex.span, "matches everywhere")
                    .help("a deny regex that matches the empty string denies every request; make it match at least one character"),
            );
        }
    }

    fn judge(&mut self, judge: &ast::Judge) -> Judge {
        let mut ir = Judge {
            name: judge.name.value.clone(),
            endpoint: Endpoint {
                url: String::new(),
                authority: String::new(),
                host: String::new(),
                port: 0,
                path: "/".into(),
            },
            cluster: String::new(),
            model: String::new(),
            api_key: Template::default(),
            timeout_ms: 0,
            on_error: OnError::Deny,
            prompt: Template::default(),
        };
        let mut cluster = None;
        let mut seen: Vec<&'static str> = Vec::new();
        for field in &judge.fields {
            // A repeated field is reported by check.rs; the first one counts.
            if seen.contains(&field.value.keyword()) {
                continue;
            }
            seen.push(field.value.keyword());
            match &field.value {
                JudgeValue::Endpoint(url) => match lower_endpoint(url) {
                    Ok(endpoint) => ir.endpoint = endpoint,
                    Err(d) => self.report(*d),
                },
                JudgeValue::Cluster(c) => {
                    if c.value.trim().is_empty() {
                        self.report(
                            Diag::new(Code::InvalidEndpoint, "empty cluster name")
                                .at(c.span, "empty")
                                .help("name an Envoy cluster, or remove `cluster` to use Istio's `outbound|PORT||HOST`"),
                        );
                    }
                    cluster = Some(c.value.clone());
                }
                JudgeValue::Model(m) => {
                    self.template(m, Context::Plain("a `model`"));
                    ir.model = m.value.clone();
                }
                JudgeValue::ApiKey(key) => ir.api_key = self.template(key, Context::ApiKey),
                JudgeValue::Timeout(word) => match lower_duration(word) {
                    Ok(ms) => ir.timeout_ms = ms,
                    Err(d) => self.report(*d),
                },
                JudgeValue::OnError(word) => match word.text.as_str() {
                    "deny" => ir.on_error = OnError::Deny,
                    "allow" => ir.on_error = OnError::Allow,
                    other => {
                        let help = match closest(other, &["deny", "allow"]) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "`on_error deny` fails closed (the safe choice); `on_error allow` lets \
                                     the request through when the judge cannot answer"
                                .into(),
                        };
                        self.report(
                            Diag::new(
                                Code::BadOnError,
                                format!("`on_error` must be `deny` or `allow`, not `{other}`"),
                            )
                            .at(word.span, "expected `deny` or `allow`")
                            .help(help),
                        );
                    }
                },
                JudgeValue::Prompt(p) => {
                    let before = self.diags.len();
                    ir.prompt = self.template(p, Context::Prompt);
                    let has_content = ir.prompt.parts.contains(&TemplatePart::Content);
                    // A prompt whose placeholders are already reported may have meant `content`.
                    if !has_content && self.diags.len() == before {
                        self.report(
                            Diag::new(
                                Code::PromptWithoutContent,
                                format!("the prompt of judge `{}` never uses `{{{{ content }}}}`", judge.name.value),
                            )
                            .at(field.head, "the judge would never see the text")
                            .help("put `{{ content }}` where the scanned text goes, between two `{{ fence }}` lines"),
                        );
                    }
                }
            }
        }
        ir.cluster = cluster.unwrap_or_else(|| ir.endpoint.istio_cluster());
        ir
    }

    /// Parses `{{ ... }}` placeholders. Whitespace inside the braces is optional; `{{` always
    /// starts a placeholder, a single `{` is text.
    fn template(&mut self, s: &Str, context: Context) -> Template {
        let value = s.value.as_str();
        let mut parts: Vec<TemplatePart> = Vec::new();
        let mut text = String::new();
        let mut at = 0;
        while let Some(found) = value.get(at..).and_then(|rest| rest.find("{{")) {
            let open = at + found;
            text.push_str(value.get(at..open).unwrap_or(""));
            let Some(close) = value
                .get(open + 2..)
                .and_then(|rest| rest.find("}}"))
                .map(|n| open + 2 + n)
            else {
                if !matches!(context, Context::Plain(_)) {
                    self.report(
                        Diag::new(Code::UnclosedTemplate, "`{{` is never closed")
                            .at(s.span_of(open..value.len()), "placeholder starts here")
                            .help("close the placeholder with `}}`, as in `{{ secret.NAME }}`"),
                    );
                }
                at = open;
                break;
            };
            let end = close + 2;
            let span = s.span_of(open..end);
            let inner = value
                .get(open + 2..close)
                .unwrap_or("")
                .trim_matches([' ', '\t']);
            at = end;
            let part = match inner {
                "content" => Some(TemplatePart::Content),
                "fence" => Some(TemplatePart::Fence),
                "policy" => Some(TemplatePart::Policy),
                "rule" => Some(TemplatePart::Rule),
                _ => match inner.strip_prefix("secret.").or(if inner == "secret" {
                    Some("")
                } else {
                    None
                }) {
                    Some(name) => {
                        if name.is_empty()
                            || !name
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                        {
                            self.report(
                                Diag::new(
                                    Code::InvalidSecretName,
                                    if name.is_empty() {
                                        "missing secret name".to_string()
                                    } else {
                                        format!("invalid secret name `{name}`")
                                    },
                                )
                                .at(span, "expected `{{ secret.NAME }}`")
                                .help("secret names are letters, digits, `_` and `-`, e.g. `{{ secret.judge_api_key }}`"),
                            );
                            None
                        } else {
                            Some(TemplatePart::Secret(name.to_string()))
                        }
                    }
                    None => {
                        if !matches!(context, Context::Plain(_)) {
                            let candidates = ["content", "fence", "policy", "rule", "secret"];
                            let help = match closest(inner, &candidates) {
                                Some("secret") => "did you mean `{{ secret.NAME }}`?".to_string(),
                                Some(s) => format!("did you mean `{{{{ {s} }}}}`?"),
                                None => "the placeholders are `{{ secret.NAME }}` (header values and `api_key`) \
                                         and `{{ content }}`, `{{ fence }}`, `{{ policy }}`, `{{ rule }}` \
                                         (judge prompts)"
                                    .to_string(),
                            };
                            self.report(
                                Diag::new(
                                    Code::UnknownTemplateVariable,
                                    format!("unknown template variable `{inner}`"),
                                )
                                .at(span, "not a template variable")
                                .help(help),
                            );
                        } else {
                            text.push_str(value.get(open..end).unwrap_or(""));
                        }
                        None
                    }
                },
            };
            let Some(part) = part else { continue };
            if !self.allowed(&part, context, span) {
                continue;
            }
            if !text.is_empty() {
                parts.push(TemplatePart::Text(std::mem::take(&mut text)));
            }
            parts.push(part);
        }
        text.push_str(value.get(at..).unwrap_or(""));
        if !text.is_empty() {
            parts.push(TemplatePart::Text(text));
        }
        Template { parts }
    }

    /// Whether a placeholder may appear in this context; reports it if not.
    fn allowed(&mut self, part: &TemplatePart, context: Context, span: Span) -> bool {
        let secret = matches!(part, TemplatePart::Secret(_));
        let ok = match context {
            Context::HeaderValue | Context::ApiKey => secret,
            Context::Prompt => !secret,
            Context::Plain(_) => false,
        };
        if ok {
            return true;
        }
        let place = match context {
            Context::HeaderValue => "a header value",
            Context::ApiKey => "an `api_key`",
            Context::Prompt => "a judge prompt",
            Context::Plain(what) => what,
        };
        let diag = if secret {
            let why = match context {
                Context::Prompt => {
                    "a prompt is sent to the judge's model, so a secret in it would leak"
                }
                _ => "this text is not expanded and may be shown to clients",
            };
            Diag::new(Code::SecretNotAllowed, format!("a secret cannot be used in {place}"))
                .at(span, "secret used here")
                .help(format!(
                    "secrets are only expanded in `inject header` values and a judge's `api_key`; {why}"
                ))
        } else {
            let name = match part {
                TemplatePart::Content => "content",
                TemplatePart::Fence => "fence",
                TemplatePart::Policy => "policy",
                _ => "rule",
            };
            Diag::new(
                Code::VariableNotAllowed,
                format!("`{{{{ {name} }}}}` cannot be used in {place}"),
            )
            .at(span, "only available in a judge prompt")
            .help("`{{ content }}`, `{{ fence }}`, `{{ policy }}` and `{{ rule }}` are expanded in judge prompts only")
        };
        self.report(diag);
        false
    }
}

// ---- values -------------------------------------------------------------------------------------

/// A value's problem. Boxed: value checks return `Result<_, Box<Diag>>` to keep `Ok` small.
fn invalid(
    code: Code,
    s: &Str,
    range: Range<usize>,
    message: String,
    label: &str,
    help: String,
) -> Box<Diag> {
    let span = if range.is_empty() {
        s.span
    } else {
        s.span_of(range)
    };
    Box::new(Diag::new(code, message).at(span, label).help(help))
}

/// The first character of `text` (at `offset` in the value) that `ok` rejects.
fn first_bad(text: &str, offset: usize, ok: impl Fn(char) -> bool) -> Option<(Range<usize>, char)> {
    text.char_indices()
        .find(|(_, c)| !ok(*c))
        .map(|(i, c)| (offset + i..offset + i + c.len_utf8(), c))
}

/// `match host` values: lowercase, no trailing dot, `*.` for subdomains; no scheme, port or path.
fn lower_host(s: &Str) -> Result<HostPattern, Box<Diag>> {
    let v = s.value.as_str();
    let bad = |range: Range<usize>, message: String, label: &str, help: String| {
        Err(invalid(Code::InvalidHost, s, range, message, label, help))
    };
    if v.is_empty() {
        return bad(
            0..0,
            "empty host".into(),
            "empty",
            "write a host name such as `api.example.com`".into(),
        );
    }
    if let Some(i) = v.find("://") {
        let rest = v.get(i + 3..).unwrap_or("");
        let bare = rest.split(['/', ':']).next().unwrap_or(rest);
        return bad(
            0..i + 3,
            format!("host `{v}` includes a scheme"),
            "remove the scheme",
            format!("write just the host: `{bare}`"),
        );
    }
    if let Some(i) = v.find('/') {
        return bad(
            i..v.len(),
            format!("host `{v}` includes a path"),
            "remove the path",
            format!(
                "select the path with `match path prefix \"{}\"`",
                v.get(i..).unwrap_or("/")
            ),
        );
    }
    if v.starts_with('[') {
        // An IPv6 literal, as it appears in `:authority`.
        let inner_ok = v.len() > 2
            && v.ends_with(']')
            && v.get(1..v.len() - 1).is_some_and(|inner| {
                inner
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            });
        if inner_ok {
            return Ok(HostPattern::Exact(v.to_ascii_lowercase()));
        }
        return bad(
            0..v.len(),
            format!("invalid IPv6 host `{v}`"),
            "expected `[` hex digits and `:` `]`",
            "write an IPv6 address in brackets without a port, e.g. `[2001:db8::1]`".into(),
        );
    }
    if let Some(i) = v.rfind(':') {
        return bad(
            i..v.len(),
            format!("host `{v}` includes a port"),
            "remove the port",
            format!(
                "hosts match whatever port the request uses; write `{}`",
                v.get(..i).unwrap_or(v)
            ),
        );
    }
    let (wild, offset) = if v.starts_with("*.") {
        (true, 2)
    } else {
        (false, 0)
    };
    let name = v.get(offset..).unwrap_or("");
    let name = name.strip_suffix('.').unwrap_or(name);
    if let Some(i) = name.find('*') {
        return bad(
            offset + i..offset + i + 1,
            format!("host `{v}` has a wildcard that is not the first label"),
            "wildcard here",
            "a wildcard is only allowed as a whole first label: `*.example.com` matches every subdomain".into(),
        );
    }
    if name.is_empty() {
        return bad(
            0..v.len(),
            format!("host `{v}` has no domain"),
            "no domain",
            "write e.g. `*.example.com`".into(),
        );
    }
    if let Some((range, c)) = first_bad(name, offset, |c| {
        c.is_ascii_alphanumeric() || "-_.".contains(c)
    }) {
        let help = if c.is_ascii() {
            "host names are letters, digits, `-`, `_` and `.`".to_string()
        } else {
            "write an internationalized domain name in its ASCII (punycode) form, `xn--...`"
                .to_string()
        };
        return bad(
            range,
            format!("host `{v}` contains {}", describe(c)),
            "not allowed in a host name",
            help,
        );
    }
    let mut at = offset;
    for label in name.split('.') {
        if label.is_empty() {
            return bad(
                at..at + 1,
                format!("host `{v}` has an empty label"),
                "empty label",
                "remove the extra `.`".into(),
            );
        }
        if label.len() > 63 {
            return bad(
                at..at + label.len(),
                format!("host `{v}` has a label longer than 63 characters"),
                "too long",
                "DNS labels are at most 63 characters".into(),
            );
        }
        at += label.len() + 1;
    }
    if name.len() > 253 {
        return bad(
            0..v.len(),
            "host is longer than 253 characters".into(),
            "too long",
            "DNS names are at most 253 characters".into(),
        );
    }
    let lower = name.to_ascii_lowercase();
    Ok(if wild {
        HostPattern::Subdomains(format!(".{lower}"))
    } else {
        HostPattern::Exact(lower)
    })
}

fn check_path_prefix(s: &Str) -> Result<(), Box<Diag>> {
    let v = s.value.as_str();
    if !v.starts_with('/') {
        return Err(invalid(
            Code::InvalidPathPrefix,
            s,
            0..v.len().min(v.chars().next().map_or(0, char::len_utf8)),
            format!("path prefix `{v}` does not start with `/`"),
            "expected `/`",
            format!("write `/{v}`"),
        ));
    }
    if let Some((range, c)) = first_bad(v, 0, |c| {
        !(c == '?' || c == '#' || c.is_whitespace() || c.is_control())
    }) {
        let help = if c == '?' || c == '#' {
            "the prefix is compared with the path before `?`; leave out the query and fragment"
        } else {
            "percent-encode it as the request would, e.g. `%20` for a space"
        };
        return Err(invalid(
            Code::InvalidPathPrefix,
            s,
            range,
            format!("path prefix `{v}` contains {}", describe(c)),
            "not allowed in a path prefix",
            help.into(),
        ));
    }
    Ok(())
}

/// Header names are HTTP tokens (RFC 9110); pseudo-headers (`:authority`...) are Envoy's routing
/// state, not headers a policy may set.
fn check_header_name(s: &Str) -> Result<(), Box<Diag>> {
    let v = s.value.as_str();
    if v.is_empty() {
        return Err(invalid(
            Code::InvalidHeaderName,
            s,
            0..0,
            "empty header name".into(),
            "empty",
            "name the header, e.g. `Authorization`".into(),
        ));
    }
    if v.starts_with(':') {
        return Err(invalid(
            Code::InvalidHeaderName,
            s,
            0..v.len(),
            format!("`{v}` is a pseudo-header"),
            "pseudo-header",
            "`:authority`, `:path`, `:method` and `:scheme` decide routing and cannot be injected or removed".into(),
        ));
    }
    if let Some((range, c)) = first_bad(v, 0, |c| {
        c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
    }) {
        return Err(invalid(
            Code::InvalidHeaderName,
            s,
            range,
            format!(
                "header name `{}` contains {}",
                v.escape_debug(),
                describe(c)
            ),
            "not allowed in a header name",
            "header names are letters, digits and any of !#$%&'*+-.^_`|~".into(),
        ));
    }
    Ok(())
}

/// `250ms`, `3s`, `1m` → milliseconds.
fn lower_duration(word: &Word) -> Result<u64, Box<Diag>> {
    let t = word.text.as_str();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = t.split_at(digits);
    let bad = |help: String| {
        Box::new(
            Diag::new(Code::BadDuration, format!("bad duration `{t}`"))
                .at(word.span, "expected a whole number and `ms`, `s` or `m`")
                .help(help),
        )
    };
    let factor: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        _ if unit.starts_with('.') => {
            return Err(bad(
                "durations are whole numbers; write `1500ms` for 1.5 seconds".into(),
            ))
        }
        "" => {
            return Err(bad(format!(
                "add a unit: `{number}ms`, `{number}s` or `{number}m`"
            )))
        }
        "h" => {
            return Err(bad(format!(
                "write hours in minutes: `{}m`",
                number.parse::<u64>().unwrap_or(1).saturating_mul(60)
            )))
        }
        _ => {
            return Err(bad(
                "the units are `ms`, `s` and `m`, e.g. `250ms`, `3s`, `1m`".into(),
            ))
        }
    };
    let ms = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor));
    match ms {
        Some(0) => Err(Box::new(
            Diag::new(Code::BadDuration, "a timeout must be longer than zero")
                .at(word.span, "zero")
                .help("give the judge time to answer, e.g. `3s`"),
        )),
        Some(ms) if ms <= MAX_TIMEOUT_MS => Ok(ms),
        _ => Err(Box::new(
            Diag::new(
                Code::BadDuration,
                "a judge timeout can be at most 10 minutes",
            )
            .at(word.span, "too long")
            .help(
                "the request waits for the judge, and Envoy's route timeout (15s by default) \
                     bounds the whole request: a few seconds, e.g. `3s`, is what a judge gets",
            ),
        )),
    }
}

/// The longest judge timeout: far past any route timeout, and well inside the proxy-wasm SDK's
/// `u32` milliseconds, which a longer one would wrap.
const MAX_TIMEOUT_MS: u64 = 10 * 60 * 1000;

/// `http(s)://host[:port][/path][?query]` → [`Endpoint`]; the port defaults to the scheme's and is
/// part of the authority only when written.
fn lower_endpoint(s: &Str) -> Result<Endpoint, Box<Diag>> {
    let v = s.value.as_str();
    let bad = |range: Range<usize>, message: String, label: &str, help: &str| {
        Err(invalid(
            Code::InvalidEndpoint,
            s,
            range,
            message,
            label,
            help.into(),
        ))
    };
    let Some(sep) = v.find("://") else {
        return bad(
            0..v.len(),
            format!("endpoint `{v}` is not a URL"),
            "expected `http://` or `https://`",
            "write the judge's URL, e.g. `http://judge.internal/v1/chat/completions`",
        );
    };
    let scheme = v.get(..sep).unwrap_or("").to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => {
            return bad(
                0..sep,
                format!(
                    "endpoint scheme `{}` is not supported",
                    v.get(..sep).unwrap_or("")
                ),
                "expected `http` or `https`",
                "judges are called over `http://` or `https://`",
            )
        }
    };
    let start = sep + 3;
    let rest = v.get(start..).unwrap_or("");
    let auth_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..auth_len).unwrap_or("");
    let tail = rest.get(auth_len..).unwrap_or("");
    if let Some(i) = authority.find('@') {
        return bad(
            start..start + i + 1,
            format!("endpoint `{v}` contains credentials"),
            "credentials",
            "put the key in `api_key` (it can use `{{ secret.NAME }}`), not in the URL",
        );
    }
    let (host, port_text) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(close) => {
                let after = authority.get(close + 1..).unwrap_or("");
                (
                    authority.get(..=close).unwrap_or(""),
                    after.strip_prefix(':'),
                )
            }
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return bad(
            start..start + auth_len,
            format!("endpoint `{v}` has no host"),
            "no host",
            "write e.g. `http://judge.internal/v1/chat/completions`",
        );
    }
    let host_ok = if host.starts_with('[') {
        host.len() > 2 && host.ends_with(']')
    } else {
        host.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && !host.split('.').any(str::is_empty)
    };
    if !host_ok {
        return bad(
            start..start + host.len(),
            format!("endpoint host `{host}` is not a valid host name"),
            "invalid host",
            "host names are letters, digits, `-`, `_` and `.`",
        );
    }
    let port = match port_text {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port > 0 && p.bytes().all(|b| b.is_ascii_digit()) => port,
            _ => {
                let at = start + host.len() + 1;
                return bad(
                    at..at + p.len(),
                    format!("invalid port `{p}` in endpoint"),
                    "invalid port",
                    "a port is a number from 1 to 65535",
                );
            }
        },
    };
    let tail_at = start + auth_len;
    if let Some(i) = tail.find('#') {
        return bad(
            tail_at + i..v.len(),
            format!("endpoint `{v}` has a fragment"),
            "fragment",
            "a fragment is never sent to a server; remove it",
        );
    }
    if let Some((range, c)) = first_bad(tail, tail_at, |c| !(c.is_whitespace() || c.is_control())) {
        return bad(
            range,
            format!("endpoint path contains {}", describe(c)),
            "not allowed in a URL",
            "percent-encode it, e.g. `%20` for a space",
        );
    }
    let host = host.to_ascii_lowercase();
    let path = if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    };
    Ok(Endpoint {
        url: v.to_string(),
        authority: if port_text.is_some() {
            format!("{host}:{port}")
        } else {
            host.clone()
        },
        host,
        port,
        path,
    })
}

/// The diagnostic for a regex the engine rejects, pointing inside the literal when the engine
/// says where.
fn regex_diag(literal: &Str, err: &RegexError) -> Diag {
    let span = err
        .span
        .clone()
        .map_or(literal.content, |r| literal.span_of(r));
    let at = |r: &Range<usize>| literal.value.get(r.clone()).unwrap_or("").to_string();
    match &err.kind {
        RegexErrorKind::Unsupported => {
            let help = if err.message.contains("backreference") {
                "guard runs regexes as DFAs, which scan in linear time and cannot remember earlier \
                 text; write the repeated text out, or use separate patterns"
            } else {
                "guard runs regexes as DFAs, which scan in linear time and cannot look ahead or \
                 behind; match the surrounding text as part of the pattern (`foo(?=bar)` → \
                 `foobar`), use `(?-u:\\b)` for a word boundary, or split the check into rules"
            };
            Diag::new(Code::UnsupportedRegex, format!("unsupported regex: {}", err.message))
                .at(span, "a DFA cannot do this")
                .help(help)
        }
        RegexErrorKind::UnicodeWordBoundary => {
            let written = err.span.as_ref().map(at).unwrap_or_else(|| "\\b".into());
            let ascii = if written.contains('B') { "(?-u:\\B)" } else { "(?-u:\\b)" };
            Diag::new(Code::UnicodeWordBoundary, "a DFA cannot match a Unicode word boundary")
                .at(span, "Unicode word boundary")
                .help(format!(
                    "use the ASCII word boundary `{ascii}`, which a DFA can match (letters outside \
                     ASCII then count as non-word characters)"
                ))
        }
        RegexErrorKind::TooLarge { limit } => Diag::new(
            Code::RegexTooLarge,
            "regex is too large to compile into a DFA",
        )
        .at(span, format!("its DFA needs more than the budget of {}", bytes(*limit)))
        .help(
            "a DFA has a state for every combination of partial matches it can be in, and a repeated \
             broad class after something that can repeat multiplies them; shorten or narrow the \
             repetition, prefer ASCII classes (`(?-u:\\w)` to `\\w`), split the pattern, or raise \
             the budget (`guardc --dfa-size-limit`)",
        ),
        _ => Diag::new(Code::InvalidRegex, format!("invalid regex: {}", err.message))
            .at(span, "here")
            .help("guard uses Rust regex syntax (the `regex` crate); in a plain string a backslash is written `\\\\`"),
    }
}

/// A character for a message: `x` in backticks, or in words when backticks would not show it.
fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\t' => "a tab".into(),
        '\n' => "a line break (`\\n`)".into(),
        '\r' => "a carriage return (`\\r`)".into(),
        c if c.is_control() || c.is_whitespace() => {
            format!("the control character `{}`", c.escape_unicode())
        }
        c => format!("`{c}`"),
    }
}

/// `16 MiB`, `4 KiB`, `1000 bytes`.
fn bytes(n: usize) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// A keyword that would match (almost) every request: empty or whitespace, also once normalised
/// (when the rule matches normalised text), since normalisation removes zero-width and other
/// default-ignorable characters and an empty keyword matches at every position.
fn blank_keyword(keyword: &str, normalized: bool) -> bool {
    keyword.trim().is_empty() || (normalized && guard_engine::normalize(keyword).trim().is_empty())
}
