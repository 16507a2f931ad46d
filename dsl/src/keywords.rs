//! The language's words, written once: every keyword with its rule in `grammar.pest`, and every
//! statement with the block it is written in and the keywords of each of its forms.
//!
//! The grammar has to spell its keywords itself; everything else reads these tables: the tree
//! builder (which pairs are keywords, statements and forms), the syntax errors ("expected ...",
//! "not allowed here", what a block holds), the did-you-mean suggestions and the checks (the
//! fields a judge needs). A new statement is added to the grammar and here, and the tests below
//! check that the two agree.

use crate::parse::Rule;

/// Every keyword: its `kw_...` rule and its text.
const KEYWORDS: &[(Rule, &str)] = &[
    (Rule::kw_policy, "policy"),
    (Rule::kw_match, "match"),
    (Rule::kw_host, "host"),
    (Rule::kw_path, "path"),
    (Rule::kw_prefix, "prefix"),
    (Rule::kw_inject, "inject"),
    (Rule::kw_remove, "remove"),
    (Rule::kw_header, "header"),
    (Rule::kw_rule, "rule"),
    (Rule::kw_deny, "deny"),
    (Rule::kw_keyword, "keyword"),
    (Rule::kw_file, "file"),
    (Rule::kw_regex, "regex"),
    (Rule::kw_ignore, "ignore"),
    (Rule::kw_case, "case"),
    (Rule::kw_normalize, "normalize"),
    (Rule::kw_off, "off"),
    (Rule::kw_reason, "reason"),
    (Rule::kw_escalate, "escalate"),
    (Rule::kw_judge, "judge"),
    (Rule::kw_endpoint, "endpoint"),
    (Rule::kw_cluster, "cluster"),
    (Rule::kw_model, "model"),
    (Rule::kw_api_key, "api_key"),
    (Rule::kw_timeout, "timeout"),
    (Rule::kw_on_error, "on_error"),
    (Rule::kw_prompt, "prompt"),
    (Rule::kw_when, "when"),
    (Rule::kw_except, "except"),
    (Rule::kw_validate, "validate"),
    (Rule::kw_whole, "whole"),
    (Rule::kw_words, "words"),
    (Rule::kw_mode, "mode"),
    (Rule::kw_mask, "mask"),
    (Rule::kw_with, "with"),
    (Rule::kw_restore, "restore"),
    (Rule::kw_on, "on"),
    (Rule::kw_response, "response"),
];

/// Every statement, block by block, in the order messages list them. A form is the keywords it
/// starts with and, when the grammar gives it a rule of its own, that rule.
// One line per statement reads as a table; rustfmt would break most of them up.
#[rustfmt::skip]
const STATEMENTS: &[Statement] = &[
    Statement::new(Block::Top, Rule::policy, &[(&[Rule::kw_policy], None)]),
    Statement::new(Block::Top, Rule::judge, &[(&[Rule::kw_judge], None)]),

    Statement::new(Block::Policy, Rule::match_stmt, &[
        (&[Rule::kw_match, Rule::kw_host], Some(Rule::match_host)),
        (&[Rule::kw_match, Rule::kw_path, Rule::kw_prefix], Some(Rule::match_path)),
    ]),
    Statement::new(Block::Policy, Rule::inject, &[(&[Rule::kw_inject, Rule::kw_header], None)]),
    Statement::new(Block::Policy, Rule::remove, &[(&[Rule::kw_remove, Rule::kw_header], None)]),
    Statement::new(Block::Policy, Rule::mode, &[(&[Rule::kw_mode], None)]),
    Statement::new(Block::Policy, Rule::rule_block, &[(&[Rule::kw_rule], None)]),

    Statement::new(Block::Rule, Rule::deny, &[
        (&[Rule::kw_deny, Rule::kw_keyword], Some(Rule::deny_keyword)),
        (&[Rule::kw_deny, Rule::kw_keyword, Rule::kw_file], Some(Rule::deny_keyword_file)),
        (&[Rule::kw_deny, Rule::kw_regex], Some(Rule::deny_regex)),
    ]),
    Statement::new(Block::Rule, Rule::mask, &[
        (&[Rule::kw_mask, Rule::kw_keyword], Some(Rule::mask_keyword)),
        (&[Rule::kw_mask, Rule::kw_keyword, Rule::kw_file], Some(Rule::mask_keyword_file)),
        (&[Rule::kw_mask, Rule::kw_regex], Some(Rule::mask_regex)),
    ]),
    Statement::new(Block::Rule, Rule::with, &[(&[Rule::kw_with], None)]),
    Statement::new(Block::Rule, Rule::restore, &[(&[Rule::kw_restore], None)]).bare(),
    Statement::new(Block::Rule, Rule::on_response, &[(&[Rule::kw_on, Rule::kw_response], None)])
        .bare(),
    Statement::new(Block::Rule, Rule::ignore_case, &[(&[Rule::kw_ignore, Rule::kw_case], None)])
        .bare(),
    Statement::new(Block::Rule, Rule::normalize_off, &[(&[Rule::kw_normalize, Rule::kw_off], None)])
        .bare(),
    Statement::new(Block::Rule, Rule::reason, &[(&[Rule::kw_reason], None)]),
    Statement::new(Block::Rule, Rule::escalate, &[(&[Rule::kw_escalate, Rule::kw_judge], None)]),
    Statement::new(Block::Rule, Rule::when, &[
        (&[Rule::kw_when, Rule::kw_keyword], Some(Rule::when_keyword)),
        (&[Rule::kw_when, Rule::kw_regex], Some(Rule::when_regex)),
    ]),
    Statement::new(Block::Rule, Rule::except, &[
        (&[Rule::kw_except, Rule::kw_keyword], Some(Rule::except_keyword)),
        (&[Rule::kw_except, Rule::kw_regex], Some(Rule::except_regex)),
    ]),
    Statement::new(Block::Rule, Rule::validate, &[(&[Rule::kw_validate], None)]),
    Statement::new(Block::Rule, Rule::whole_words, &[(&[Rule::kw_whole, Rule::kw_words], None)])
        .bare(),
    Statement::new(Block::Rule, Rule::mode, &[(&[Rule::kw_mode], None)]),

    Statement::new(Block::Judge, Rule::endpoint, &[(&[Rule::kw_endpoint], None)]).required(),
    Statement::new(Block::Judge, Rule::cluster, &[(&[Rule::kw_cluster], None)]),
    Statement::new(Block::Judge, Rule::model, &[(&[Rule::kw_model], None)]).required(),
    Statement::new(Block::Judge, Rule::api_key, &[(&[Rule::kw_api_key], None)]).required(),
    Statement::new(Block::Judge, Rule::timeout, &[(&[Rule::kw_timeout], None)]).required(),
    Statement::new(Block::Judge, Rule::on_error, &[(&[Rule::kw_on_error], None)]).required(),
    Statement::new(Block::Judge, Rule::prompt, &[(&[Rule::kw_prompt], None)]).required(),
];

/// Where a statement is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    Top,
    Policy,
    Rule,
    Judge,
}

impl Block {
    pub const ALL: [Block; 4] = [Block::Top, Block::Policy, Block::Rule, Block::Judge];

    /// The rule that chooses among the block's statements.
    fn choice(self) -> Rule {
        match self {
            Block::Top => Rule::item,
            Block::Policy => Rule::policy_stmt,
            Block::Rule => Rule::rule_stmt,
            Block::Judge => Rule::judge_stmt,
        }
    }

    /// The block whose statement pest expected when it names `r`.
    pub fn of(r: Rule) -> Option<Block> {
        // `file` is named for a failure at its very start, where only an item could begin.
        if r == Rule::file {
            return Some(Block::Top);
        }
        Block::ALL.into_iter().find(|b| b.choice() == r)
    }

    pub fn statements(self) -> impl Iterator<Item = &'static Statement> {
        STATEMENTS.iter().filter(move |s| s.block == self)
    }

    /// The first keyword of each statement: the words a line of this block starts with.
    pub fn words(self) -> Vec<&'static str> {
        self.statements().map(Statement::keyword).collect()
    }
}

/// Whether `r` chooses among a block's statements (`policy_stmt`...).
pub(crate) fn is_choice(r: Rule) -> bool {
    Block::ALL.into_iter().any(|b| b.choice() == r)
}

/// One statement of the language.
#[derive(Debug)]
pub(crate) struct Statement {
    pub block: Block,
    /// Its rule in the grammar.
    pub rule: Rule,
    /// The ways it is written (`match host`, `match path prefix`).
    forms: &'static [(&'static [Rule], Option<Rule>)],
    /// Keywords and nothing else (`ignore case`): "expected ..." shows such a statement whole and
    /// the others by their first keyword.
    pub bare: bool,
    /// A judge field every judge needs.
    pub required: bool,
}

impl Statement {
    const fn new(
        block: Block,
        rule: Rule,
        forms: &'static [(&'static [Rule], Option<Rule>)],
    ) -> Statement {
        Statement {
            block,
            rule,
            forms,
            bare: false,
            required: false,
        }
    }

    const fn bare(self) -> Statement {
        Statement { bare: true, ..self }
    }

    const fn required(self) -> Statement {
        Statement {
            required: true,
            ..self
        }
    }

    /// The keyword the statement starts with.
    pub fn keyword(&self) -> &'static str {
        self.forms
            .first()
            .and_then(|(kws, _)| kws.first())
            .and_then(|kw| text(*kw))
            .unwrap_or("")
    }

    /// Each form's keywords as written: `match host`, `match path prefix`.
    pub fn forms(&self) -> impl Iterator<Item = String> + '_ {
        self.forms.iter().map(|(kws, _)| words(kws))
    }

    /// The statement as "expected ..." lists show it: `ignore case`, `match`.
    pub fn hint(&self) -> String {
        match self.forms.first() {
            Some((kws, _)) if self.bare => words(kws),
            _ => self.keyword().to_string(),
        }
    }
}

fn words(keywords: &[Rule]) -> String {
    let words: Vec<&str> = keywords.iter().filter_map(|kw| text(*kw)).collect();
    words.join(" ")
}

/// The text of a keyword rule.
pub(crate) fn text(r: Rule) -> Option<&'static str> {
    KEYWORDS
        .iter()
        .find(|(kw, _)| *kw == r)
        .map(|(_, text)| *text)
}

/// The statement whose rule is `r`.
pub(crate) fn statement(r: Rule) -> Option<&'static Statement> {
    STATEMENTS.iter().find(|s| s.rule == r)
}

/// The keywords of the form whose rule is `r` (`match_host` → `match host`).
pub(crate) fn form(r: Rule) -> Option<&'static [Rule]> {
    STATEMENTS
        .iter()
        .flat_map(|s| s.forms)
        .find(|(_, rule)| *rule == Some(r))
        .map(|(kws, _)| *kws)
}

/// The word pest's `r` starts with where it expects it, if `r` is a keyword, a statement or a
/// form: a form's rule begins after its statement's first keyword (`match_host` at `host`).
pub(crate) fn expected_word(r: Rule) -> Option<&'static str> {
    if let Some(text) = text(r) {
        return Some(text);
    }
    if let Some(statement) = statement(r) {
        return Some(statement.keyword());
    }
    form(r).and_then(|kws| kws.get(1)).and_then(|kw| text(*kw))
}

#[cfg(test)]
mod tests {
    use pest::Parser as _;

    use super::*;
    use crate::parse::GuardParser;

    /// Each keyword's text is what its grammar rule accepts, and every `kw_` rule is listed.
    #[test]
    fn the_keywords_are_the_grammars() {
        for (rule, text) in KEYWORDS {
            let parsed = GuardParser::parse(*rule, text).map(|p| p.as_str().len());
            assert_eq!(
                parsed.ok(),
                Some(text.len()),
                "{rule:?} does not accept `{text}`"
            );
        }
        for rule in Rule::all_rules() {
            if format!("{rule:?}").starts_with("kw_") {
                assert!(super::text(*rule).is_some(), "{rule:?} is not in KEYWORDS");
            }
        }
    }

    /// Each form, written out with a string after it where one goes, parses as its statement, so
    /// the forms are the grammar's.
    #[test]
    fn each_form_parses_as_its_statement() {
        for statement in STATEMENTS {
            for form in statement.forms() {
                let text = match statement.rule {
                    _ if statement.bare => form,
                    Rule::policy | Rule::judge | Rule::rule_block => format!("{form} \"x\" {{}}"),
                    Rule::inject => format!("{form} \"x\" = \"y\""),
                    Rule::timeout => format!("{form} 3s"),
                    Rule::on_error => format!("{form} deny"),
                    Rule::validate => format!("{form} luhn"),
                    Rule::mode => format!("{form} monitor"),
                    _ => format!("{form} \"x\""),
                };
                let parsed = GuardParser::parse(statement.rule, &text).map(|p| p.as_str().len());
                assert_eq!(
                    parsed.ok(),
                    Some(text.len()),
                    "`{text}` is not {:?}",
                    statement.rule
                );
            }
        }
    }

    #[test]
    fn a_form_is_shown_by_its_own_first_keyword() {
        assert_eq!(expected_word(Rule::match_host), Some("host"));
        assert_eq!(expected_word(Rule::deny_keyword_file), Some("keyword"));
        assert_eq!(expected_word(Rule::rule_block), Some("rule"));
        assert_eq!(expected_word(Rule::kw_prefix), Some("prefix"));
        assert_eq!(expected_word(Rule::string), None);
    }
}
