//! Tree building: pest's pairs → [`ast::File`]. Each statement is flattened into its keywords,
//! strings and bare word, then read into its AST node; strings are decoded on the way (`strings`).

use pest::iterators::Pair;

use super::strings::{decode_plain, decode_triple};
use super::Rule;
use crate::ast::{self, FileId, Span, Str, Word};
use crate::diagnostic::{Code, Diag};
use crate::keywords;

/// Builds the tree of one file from pest's `file` pair; string problems come with it.
pub(crate) fn file(file: FileId, root: Option<Pair<'_, Rule>>) -> (ast::File, Vec<Diag>) {
    let mut builder = Builder {
        file,
        diags: Vec::new(),
    };
    let items = root.map(|root| builder.items(root)).unwrap_or_default();
    (ast::File { items }, builder.diags)
}

struct Builder {
    file: FileId,
    diags: Vec<Diag>,
}

/// Rules whose children are spliced into their parent's, so each statement is a flat list of
/// keywords, strings and values: the choice among a block's statements, a statement's forms
/// (`match host`, `deny regex`) and string lists.
fn is_structural(r: Rule) -> bool {
    keywords::is_choice(r) || keywords::form(r).is_some() || r == Rule::string_list
}

fn flatten<'i>(pair: Pair<'i, Rule>, out: &mut Vec<Pair<'i, Rule>>) {
    for child in pair.into_inner() {
        if is_structural(child.as_rule()) {
            flatten(child, out);
        } else {
            out.push(child);
        }
    }
}

/// One statement's parts: its leading keywords, its strings, its bare word, its nested blocks.
struct Parts<'i> {
    head: Span,
    keywords: Vec<Rule>,
    strings: Vec<Str>,
    word: Option<Word>,
    blocks: Vec<Pair<'i, Rule>>,
}

impl Builder {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start()..s.end())
    }

    fn parts<'i>(&mut self, pair: Pair<'i, Rule>) -> Parts<'i> {
        let start = self.span(&pair);
        let mut flat = Vec::new();
        flatten(pair, &mut flat);
        let mut parts = Parts {
            head: Span::new(self.file, start.start..start.start),
            keywords: Vec::new(),
            strings: Vec::new(),
            word: None,
            blocks: Vec::new(),
        };
        let mut in_head = true;
        for p in flat {
            let r = p.as_rule();
            if keywords::text(r).is_some() {
                if in_head {
                    parts.head = parts.head.to(self.span(&p));
                }
                parts.keywords.push(r);
                continue;
            }
            in_head = false;
            match r {
                Rule::string => {
                    if let Some(s) = self.string(p) {
                        parts.strings.push(s);
                    }
                }
                Rule::duration | Rule::on_error_value | Rule::name_value => {
                    parts.word = Some(Word {
                        text: p.as_str().to_string(),
                        span: self.span(&p),
                    });
                }
                _ if keywords::statement(r).is_some() => parts.blocks.push(p),
                _ => {}
            }
        }
        parts
    }

    fn internal(&mut self, span: Span, what: &str) {
        self.diags.push(
            Diag::new(
                Code::Internal,
                format!("internal error: unexpected parse tree for {what}"),
            )
            .at(span, "here")
            .help("this is a bug in guard; please report it with this file"),
        );
    }

    fn items(&mut self, root: Pair<'_, Rule>) -> Vec<ast::Item> {
        let parts = self.parts(root);
        let mut items = Vec::new();
        for block in parts.blocks {
            match block.as_rule() {
                Rule::policy => {
                    if let Some(p) = self.policy(block) {
                        items.push(ast::Item::Policy(p));
                    }
                }
                Rule::judge => {
                    if let Some(j) = self.judge(block) {
                        items.push(ast::Item::Judge(j));
                    }
                }
                _ => {}
            }
        }
        items
    }

    fn policy(&mut self, pair: Pair<'_, Rule>) -> Option<ast::Policy> {
        let span = self.span(&pair);
        let parts = self.parts(pair);
        let Some(name) = parts.strings.into_iter().next() else {
            self.internal(span, "a policy");
            return None;
        };
        let mut stmts = Vec::new();
        for block in parts.blocks {
            let span = self.span(&block);
            let r = block.as_rule();
            if r == Rule::rule_block {
                if let Some(r) = self.rule(block) {
                    stmts.push(ast::PolicyStmt::Rule(r));
                }
                continue;
            }
            let Parts {
                head,
                keywords,
                strings,
                word,
                ..
            } = self.parts(block);
            let mut strings = strings.into_iter();
            let stmt = match r {
                Rule::match_stmt if keywords.contains(&Rule::kw_host) => {
                    Some(ast::PolicyStmt::MatchHost {
                        head,
                        hosts: strings.collect(),
                    })
                }
                Rule::match_stmt => strings
                    .next()
                    .map(|prefix| ast::PolicyStmt::MatchPath { head, prefix }),
                Rule::inject => match (strings.next(), strings.next()) {
                    (Some(name), Some(value)) => Some(ast::PolicyStmt::Inject { name, value }),
                    _ => None,
                },
                Rule::remove => strings.next().map(|name| ast::PolicyStmt::Remove { name }),
                Rule::mode => word.map(|value| ast::PolicyStmt::Mode { head, value }),
                _ => None,
            };
            match stmt {
                Some(stmt) => stmts.push(stmt),
                None => self.internal(span, "a policy statement"),
            }
        }
        Some(ast::Policy { name, stmts })
    }

    fn rule(&mut self, pair: Pair<'_, Rule>) -> Option<ast::Rule> {
        let span = self.span(&pair);
        let parts = self.parts(pair);
        let Some(name) = parts.strings.into_iter().next() else {
            self.internal(span, "a rule");
            return None;
        };
        let mut stmts = Vec::new();
        for block in parts.blocks {
            let span = self.span(&block);
            let r = block.as_rule();
            let Parts {
                head,
                keywords,
                strings,
                word,
                ..
            } = self.parts(block);
            let list = |strings: Vec<Str>| {
                if keywords.contains(&Rule::kw_keyword) {
                    ast::PatternList::Keywords(strings)
                } else {
                    ast::PatternList::Regexes(strings)
                }
            };
            let verb = if r == Rule::mask {
                ast::Verb::Mask
            } else {
                ast::Verb::Deny
            };
            let stmt = match r {
                Rule::deny | Rule::mask if keywords.contains(&Rule::kw_file) => strings
                    .into_iter()
                    .next()
                    .map(|path| ast::RuleStmt::DenyKeywordFile { head, verb, path }),
                Rule::deny | Rule::mask if keywords.contains(&Rule::kw_keyword) => {
                    Some(ast::RuleStmt::DenyKeyword {
                        head,
                        verb,
                        keywords: strings,
                    })
                }
                Rule::deny | Rule::mask => Some(ast::RuleStmt::DenyRegex {
                    head,
                    verb,
                    regexes: strings,
                }),
                Rule::with => strings
                    .into_iter()
                    .next()
                    .map(|text| ast::RuleStmt::With { head, text }),
                Rule::restore => Some(ast::RuleStmt::Restore { head }),
                Rule::on_response => Some(ast::RuleStmt::OnResponse { head }),
                Rule::ignore_case => Some(ast::RuleStmt::IgnoreCase { head }),
                Rule::normalize_off => Some(ast::RuleStmt::NormalizeOff { head }),
                Rule::reason => strings
                    .into_iter()
                    .next()
                    .map(|text| ast::RuleStmt::Reason { head, text }),
                Rule::escalate => strings
                    .into_iter()
                    .next()
                    .map(|judge| ast::RuleStmt::Escalate { head, judge }),
                Rule::when => Some(ast::RuleStmt::When {
                    head,
                    patterns: list(strings),
                }),
                Rule::except => Some(ast::RuleStmt::Except {
                    head,
                    patterns: list(strings),
                }),
                Rule::validate => word.map(|name| ast::RuleStmt::Validate { head, name }),
                Rule::whole_words => Some(ast::RuleStmt::WholeWords { head }),
                Rule::mode => word.map(|value| ast::RuleStmt::Mode { head, value }),
                _ => None,
            };
            match stmt {
                Some(stmt) => stmts.push(stmt),
                None => self.internal(span, "a rule statement"),
            }
        }
        Some(ast::Rule {
            keyword: parts.head,
            name,
            stmts,
        })
    }

    fn judge(&mut self, pair: Pair<'_, Rule>) -> Option<ast::Judge> {
        let span = self.span(&pair);
        let parts = self.parts(pair);
        let Some(name) = parts.strings.into_iter().next() else {
            self.internal(span, "a judge");
            return None;
        };
        let mut fields = Vec::new();
        for block in parts.blocks {
            let span = self.span(&block);
            let r = block.as_rule();
            let Parts {
                head,
                strings,
                word,
                ..
            } = self.parts(block);
            let string = strings.into_iter().next();
            let value = match (r, string, word) {
                (Rule::endpoint, Some(s), _) => Some(ast::JudgeValue::Endpoint(s)),
                (Rule::cluster, Some(s), _) => Some(ast::JudgeValue::Cluster(s)),
                (Rule::model, Some(s), _) => Some(ast::JudgeValue::Model(s)),
                (Rule::api_key, Some(s), _) => Some(ast::JudgeValue::ApiKey(s)),
                (Rule::prompt, Some(s), _) => Some(ast::JudgeValue::Prompt(s)),
                (Rule::timeout, _, Some(w)) => Some(ast::JudgeValue::Timeout(w)),
                (Rule::on_error, _, Some(w)) => Some(ast::JudgeValue::OnError(w)),
                _ => None,
            };
            match value {
                Some(value) => fields.push(ast::JudgeField { head, value }),
                None => self.internal(span, "a judge field"),
            }
        }
        Some(ast::Judge { name, fields })
    }

    fn string(&mut self, pair: Pair<'_, Rule>) -> Option<Str> {
        let inner = pair.into_inner().next()?;
        let start = inner.as_span().start();
        let raw = inner.as_str();
        Some(match inner.as_rule() {
            Rule::triple_string => decode_triple(self.file, raw, start),
            _ => {
                let (s, diags) = decode_plain(self.file, raw, start);
                self.diags.extend(diags);
                s
            }
        })
    }
}
