//! Diagnostics: what every stage reports, and how they are rendered for people and for tools.
//!
//! Stages build [`Diag`]s (a stable [`Code`], a lowercase message with user input in backticks, a
//! primary span, more labels, help). [`Diagnostics`] holds all of them with the sources they point
//! into and renders them either with miette's graphical handler (no colours, so the output is the
//! same on a terminal, in CI logs and in snapshots) or as one JSON array.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, SourceCode,
    SourceSpan, SpanContents,
};

use crate::ast::{FileId, Span};

/// Defines [`Code`], its list and its names from one table, so a code is written once: its
/// variant, its stable name and what it means (`docs/codes.md` is generated from the table).
macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident => $name:literal $([$level:ident])?, $meaning:literal;)*) => {
        /// The stable identity of a diagnostic: tools and tests match on it, so a code never
        /// changes meaning; new situations get new codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub(crate) enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            #[cfg(test)]
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => concat!("guard::dsl::", $name),)*
                }
            }

            /// What the code means, in one line.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$variant => $meaning,)*
                }
            }

            /// How serious a diagnostic with this code is: `error` unless the table says
            /// `[warning]` or `[note]` (the lints of `guardc lint`).
            pub fn severity(self) -> Severity {
                match self {
                    $(Code::$variant => level!($($level)?),)*
                }
            }
        }
    };
}

macro_rules! level {
    () => {
        Severity::Error
    };
    (warning) => {
        Severity::Warning
    };
    (note) => {
        Severity::Note
    };
}

codes! {
    // Files and paths.
    NoInput => "no_input", "no policy file or directory was named";
    NoSuchFile => "no_such_file", "a named policy file or directory does not exist";
    NoGuardFiles => "no_guard_files", "a named directory holds no `.guard` file";
    UnreadableFile => "unreadable_file", "a policy file cannot be read or is not UTF-8";
    // Syntax.
    Syntax => "syntax", "the text does not follow the grammar";
    UnknownStatement => "unknown_statement", "a statement the language does not have";
    MisplacedStatement => "misplaced_statement", "a statement where it does not belong";
    UnterminatedString => "unterminated_string", "a string without its closing quote";
    UnknownEscape => "unknown_escape", "a backslash escape strings do not have";
    InvalidUnicodeEscape => "invalid_unicode_escape", "a `\\u` escape that is no character";
    // Names and structure.
    InvalidName => "invalid_name", "a policy, rule or judge name that is empty or cannot be reported";
    DuplicatePolicy => "duplicate_policy", "two policies with one name";
    DuplicateRule => "duplicate_rule", "two rules with one id";
    DuplicateJudge => "duplicate_judge", "two judges with one name";
    DuplicateStatement => "duplicate_statement", "a statement given twice where once is allowed";
    NoPolicy => "no_policy", "a `.guard` file with nothing in it, or files that define no policy";
    ReasonOnEscalate => "reason_on_escalate", "`reason` in a rule that escalates, where the judge's reason is what the client sees";
    ReasonOnMask => "reason_on_mask", "`reason` in a rule that only masks, which denies nothing and so shows no reason";
    MaskOptionWithoutMask => "mask_option_without_mask", "`with` or `restore` in a rule that does not mask";
    RestoreWithoutNumber => "restore_without_number", "`restore` with a `with` replacement that has no `{{ n }}`";
    EscalateOnResponse => "escalate_on_response", "`on response` in a rule that escalates to a judge";
    RestoreOnResponse => "restore_on_response", "`restore` in a mask rule on the answer";
    UnboundedResponsePattern => "unbounded_response_pattern", "an `on response` regex with no longest match, which could hold a stream back for ever";
    MissingMatchHost => "missing_match_host", "a policy without `match host`";
    RuleWithoutAction => "rule_without_action", "a rule with no `deny` or `escalate`";
    RuleWithTwoActions => "rule_with_two_actions", "a rule with more than one action";
    ModifierWithoutDeny => "modifier_without_deny", "`ignore case` or `normalize off` in a rule with no keywords or regexes";
    WhenWithoutEscalate => "when_without_escalate", "`when` in a rule that does not escalate";
    ExceptWithoutDeny => "except_without_deny", "`except` in a rule that does not deny";
    ValidatorWithoutRegex => "validator_without_regex", "`validate` in a rule with no `deny regex`";
    WholeWordsWithoutKeywords => "whole_words_without_keywords", "`whole words` in a rule with no keywords";
    ConflictingHeaders => "conflicting_headers", "two policies that can select one request set or remove the same header";
    UnknownJudge => "unknown_judge", "`escalate judge` names no judge";
    MissingJudgeField => "missing_judge_field", "a judge without a field it needs";
    // Values.
    InvalidHost => "invalid_host", "a `match host` value that is no host name or pattern";
    WildcardPublicSuffix => "wildcard_public_suffix", "a `*.` host over a public suffix (`*.com`, `*.co.uk`), whose subdomains have unrelated owners";
    InvalidPathPrefix => "invalid_path_prefix", "a `match path prefix` that does not start with `/`";
    InvalidHeaderName => "invalid_header_name", "a header name that is not an HTTP token";
    InvalidHeaderValue => "invalid_header_value", "a header value with characters a header cannot carry";
    LiteralCredential => "literal_credential", "a key written into an `Authorization`, `x-api-key` or `api-key` header or an `api_key`, instead of a secret";
    DuplicateHeader => "duplicate_header", "one header set or removed twice in a policy";
    EmptyKeyword => "empty_keyword", "a keyword of only white space or invisible characters";
    MissingKeywordFile => "missing_keyword_file", "a keyword file that does not exist";
    UnreadableKeywordFile => "unreadable_keyword_file", "a keyword file that cannot be read";
    KeywordFileNotUtf8 => "keyword_file_not_utf8", "a keyword file that is not UTF-8";
    EmptyKeywordFile => "empty_keyword_file", "a keyword file with no keyword";
    InvalidRegex => "invalid_regex", "a regex that is not valid syntax";
    UnsupportedRegex => "unsupported_regex", "a regex a DFA cannot run (look-around, backreferences)";
    UnicodeWordBoundary => "unicode_word_boundary", "a Unicode `\\b`, which a DFA cannot run";
    RegexMatchesEmpty => "regex_matches_empty", "a regex that matches empty text, so every request";
    RegexTooLarge => "regex_too_large", "a regex whose DFA passes the size budget";
    BadDuration => "bad_duration", "a timeout without a unit, zero, or over 10 minutes";
    BadOnError => "bad_on_error", "`on_error` other than `deny` or `allow`";
    BadMode => "bad_mode", "`mode` other than `monitor` or `enforce`";
    UnknownValidator => "unknown_validator", "`validate` names no validator";
    InvalidEndpoint => "invalid_endpoint", "a judge endpoint that is not an http(s) URL";
    // Templates.
    UnclosedTemplate => "unclosed_template", "`{{` without its `}}`";
    UnknownTemplateVariable => "unknown_template_variable", "a placeholder the template does not have";
    InvalidSecretName => "invalid_secret_name", "a `{{ secret.NAME }}` whose name is not usable";
    SecretNotAllowed => "secret_not_allowed", "a secret where secrets are not expanded";
    VariableNotAllowed => "variable_not_allowed", "a prompt placeholder outside a judge prompt";
    PromptWithoutContent => "prompt_without_content", "a judge prompt without `{{ content }}`";
    MissingSecret => "missing_secret", "a secret the policy uses that `guardc check --secrets` does not list";
    // Lints (`guardc lint`): the policy compiles, but likely does not do what was meant.
    ShadowedRule => "shadowed_rule" [warning], "a rule that never decides: an earlier enforced deny rule matches every request it matches";
    DuplicatePattern => "duplicate_pattern" [warning], "a keyword or regex written twice in rules that can check one request";
    UnusedJudge => "unused_judge" [warning], "a judge no `escalate judge` names";
    CaseSensitiveKeyword => "case_sensitive_keyword" [note], "keywords with Latin letters in a rule without `ignore case`, which miss other cases";
    OverlappingHosts => "overlapping_hosts" [note], "two policies that can select one request, so both apply to it";
    /// A bug in guard, never the author's fault; reported rather than panicking.
    Internal => "internal", "a bug in guard, reported rather than panicking";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious a diagnostic is. Errors stop compilation; warnings and notes come from
/// `guardc lint`, and only warnings fail `--deny-warnings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    /// A hint: worth knowing, often intended.
    Note,
}

impl Severity {
    /// `error`, `warning` or `note`: the JSON `severity` and SARIF's `level`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }

    fn miette(self) -> miette::Severity {
        match self {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Note => miette::Severity::Advice,
        }
    }
}

/// A span with the text shown under it.
#[derive(Debug, Clone)]
pub(crate) struct Label {
    pub span: Span,
    pub text: String,
}

/// One error, as a stage reports it.
#[derive(Debug, Clone)]
pub(crate) struct Diag {
    pub code: Code,
    pub message: String,
    pub help: Option<String>,
    /// Where the problem is; `None` only for problems with a path rather than a text.
    pub primary: Option<Label>,
    /// Related places ("first defined here"), in this file or another.
    pub secondary: Vec<Label>,
    /// For a problem with a path that has no source text (a missing file, an empty directory).
    pub path: Option<PathBuf>,
}

impl Diag {
    pub fn new(code: Code, message: impl Into<String>) -> Diag {
        Diag {
            code,
            message: message.into(),
            help: None,
            primary: None,
            secondary: Vec::new(),
            path: None,
        }
    }

    /// Sets the primary span and its label.
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Diag {
        self.primary = Some(Label {
            span,
            text: label.into(),
        });
        self
    }

    /// Adds a secondary label.
    pub fn also(mut self, span: Span, label: impl Into<String>) -> Diag {
        self.secondary.push(Label {
            span,
            text: label.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diag {
        self.help = Some(help.into());
        self
    }

    pub fn path(mut self, path: impl Into<PathBuf>) -> Diag {
        self.path = Some(path.into());
        self
    }

    /// Where the diagnostic sorts: its file, then its offset; path-level problems first.
    fn sort_key(&self) -> (Option<FileId>, usize) {
        match &self.primary {
            Some(label) => (Some(label.span.file), label.span.start),
            None => (None, 0),
        }
    }
}

/// A source file as diagnostics see it: display name, text and line starts.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
    /// Byte offset of each line's first byte.
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: String, text: Arc<str>) -> SourceFile {
        // A line ends at `\n`, at `\r\n`, or at a lone `\r`, the same line breaks as pest's
        // NEWLINE and miette's snippets, so line numbers agree everywhere.
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            let next = bytes.get(i + 1).copied();
            if b == b'\n' || (b == b'\r' && next != Some(b'\n')) {
                line_starts.push(i + 1);
            }
        }
        SourceFile {
            name,
            text,
            line_starts,
        }
    }

    /// 1-based line and column of a byte offset; the column counts characters, not bytes, so it
    /// is where an editor puts the cursor for `file:line:col`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |prefix| prefix.chars().count());
        (line, column + 1)
    }
}

/// How [`Diagnostics::render`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorFormat {
    /// miette's graphical report, without colours: `file:line:col`, the source line, an underline
    /// under the span, the code and the help.
    Human,
    /// One JSON array; each element has `code`, `severity`, `message`, `help`, `file`, `line`,
    /// `column` (1-based, in characters), `span` (`offset`, `length` in bytes) and `labels`.
    Json,
}

/// One diagnostic as data: what [`Diagnostics::entries`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stable code, `guard::dsl::NAME`.
    pub code: &'static str,
    /// What the code means, in one line (as `docs/codes.md` lists it).
    pub meaning: &'static str,
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
    /// The primary span; `None` for a problem with a path and no text.
    pub location: Option<Location>,
    /// The path of such a problem.
    pub path: Option<PathBuf>,
    /// The other labelled places ("first defined here").
    pub related: Vec<Location>,
}

/// A labelled range of a source file; lines and columns are 1-based, columns count characters,
/// and the end is exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file's name as it was given.
    pub file: String,
    pub start_line: usize,
    pub start_column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub label: String,
}

/// Every diagnostic of every file compiled together, sorted by file and position.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    sources: Vec<SourceFile>,
    items: Vec<Diag>,
}

impl Diagnostics {
    pub(crate) fn new(sources: Vec<SourceFile>, mut items: Vec<Diag>) -> Diagnostics {
        items.sort_by_key(Diag::sort_key);
        Diagnostics { sources, items }
    }

    /// How many diagnostics there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// All diagnostics as one text, in `format`.
    pub fn render(&self, format: ErrorFormat) -> String {
        match format {
            ErrorFormat::Human => self.render_human(),
            ErrorFormat::Json => self.render_json(),
        }
    }

    /// How many diagnostics have this severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.items
            .iter()
            .filter(|d| d.code.severity() == severity)
            .count()
    }

    /// "2 warnings, 1 note": how many of each severity there are, the counts that are not zero.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (severity, one, many) in [
            (Severity::Error, "error", "errors"),
            (Severity::Warning, "warning", "warnings"),
            (Severity::Note, "note", "notes"),
        ] {
            match self.count(severity) {
                0 => {}
                1 => parts.push(format!("1 {one}")),
                n => parts.push(format!("{n} {many}")),
            }
        }
        if parts.is_empty() {
            "no diagnostics".into()
        } else {
            parts.join(", ")
        }
    }

    /// Every diagnostic as data, in order, for renderings outside this crate (guardc's SARIF).
    pub fn entries(&self) -> Vec<Entry> {
        self.items
            .iter()
            .map(|diag| Entry {
                code: diag.code.as_str(),
                meaning: diag.code.meaning(),
                severity: diag.code.severity(),
                message: diag.message.clone(),
                help: diag.help.clone(),
                location: diag.primary.as_ref().and_then(|l| self.location(l)),
                path: diag.path.clone(),
                related: diag
                    .secondary
                    .iter()
                    .filter_map(|l| self.location(l))
                    .collect(),
            })
            .collect()
    }

    fn location(&self, label: &Label) -> Option<Location> {
        let source = self.source(label.span.file)?;
        let (start_line, start_column) = source.line_col(label.span.start);
        let (end_line, end_column) = source.line_col(label.span.end);
        Some(Location {
            file: source.name.clone(),
            start_line,
            start_column,
            end_line,
            end_column,
            label: label.text.clone(),
        })
    }

    #[cfg(test)]
    pub(crate) fn codes(&self) -> Vec<Code> {
        self.items.iter().map(|d| d.code).collect()
    }

    fn render_human(&self) -> String {
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(110)
            .with_links(false)
            .with_show_related_as_nested(true);
        let mut out = String::new();
        for (i, diag) in self.items.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let report = self.report(diag);
            let mut one = String::new();
            if handler.render_report(&mut one, &report).is_err() {
                // miette only fails on a span outside its source, which would be a bug here;
                // the message alone is still worth showing.
                one = format!("{}: {}\n", diag.code, diag.message);
            }
            out.push_str(&one);
            if !one.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }

    fn source(&self, file: FileId) -> Option<&SourceFile> {
        self.sources.get(file)
    }

    /// The miette form of one diagnostic. Labels in the primary's file are drawn in its snippet;
    /// labels in other files become related notes with their own snippet.
    fn report(&self, diag: &Diag) -> Report {
        let file = diag.primary.as_ref().map(|l| l.span.file);
        let mut labels = Vec::new();
        let mut related = Vec::new();
        if let Some(primary) = &diag.primary {
            labels.push(LabeledSpan::new_primary_with_span(
                Some(primary.text.clone()).filter(|t| !t.is_empty()),
                source_span(primary.span),
            ));
        }
        let primary_line = diag
            .primary
            .as_ref()
            .and_then(|l| self.source(l.span.file).map(|s| s.line_col(l.span.start).0));
        for label in &diag.secondary {
            // A label near the primary shares its snippet; a distant one (or one in another file)
            // gets a snippet of its own after it, so the first location shown is the problem's.
            let line = self
                .source(label.span.file)
                .map(|s| s.line_col(label.span.start).0);
            let near = matches!((primary_line, line), (Some(a), Some(b)) if a.abs_diff(b) <= 3);
            if Some(label.span.file) == file && near {
                labels.push(LabeledSpan::new_with_span(
                    Some(label.text.clone()).filter(|t| !t.is_empty()),
                    source_span(label.span),
                ));
            } else {
                related.push(Report {
                    message: label.text.clone(),
                    code: None,
                    help: None,
                    severity: miette::Severity::Advice,
                    source: self.source(label.span.file).map(GuardSource::new),
                    labels: vec![LabeledSpan::new_primary_with_span(
                        None,
                        source_span(label.span),
                    )],
                    related: Vec::new(),
                });
            }
        }
        Report {
            message: diag.message.clone(),
            code: Some(diag.code),
            help: diag.help.clone(),
            severity: diag.code.severity().miette(),
            source: file.and_then(|f| self.source(f)).map(GuardSource::new),
            labels,
            related,
        }
    }

    fn render_json(&self) -> String {
        let mut out = String::from("[");
        for (i, diag) in self.items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("\n  {");
            let mut fields: Vec<(&str, String)> = vec![
                ("code", json_str(diag.code.as_str())),
                ("severity", json_str(diag.code.severity().as_str())),
                ("message", json_str(&diag.message)),
                ("help", diag.help.as_deref().map_or("null".into(), json_str)),
            ];
            match &diag.primary {
                Some(label) => {
                    fields.extend(self.json_location(label.span));
                    fields.push(("label", json_str(&label.text)));
                }
                None => {
                    let file = diag.path.as_ref().map(|p| p.display().to_string());
                    fields.push(("file", file.as_deref().map_or("null".into(), json_str)));
                    fields.push(("line", "null".into()));
                    fields.push(("column", "null".into()));
                    fields.push(("span", "null".into()));
                    fields.push(("label", "null".into()));
                }
            }
            let labels: Vec<String> = diag
                .secondary
                .iter()
                .map(|label| {
                    let mut fields = self.json_location(label.span);
                    fields.push(("label", json_str(&label.text)));
                    json_object(&fields)
                })
                .collect();
            fields.push(("labels", format!("[{}]", labels.join(", "))));
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}: {v}", json_str(k)))
                .collect();
            out.push_str(&body.join(", "));
            out.push('}');
        }
        if !self.items.is_empty() {
            out.push('\n');
        }
        out.push_str("]\n");
        out
    }

    fn json_location(&self, span: Span) -> Vec<(&'static str, String)> {
        let source = self.source(span.file);
        let (line, column) = source.map_or((0, 0), |s| s.line_col(span.start));
        vec![
            ("file", source.map_or("null".into(), |s| json_str(&s.name))),
            ("line", line.to_string()),
            ("column", column.to_string()),
            (
                "span",
                format!(
                    "{{\"offset\": {}, \"length\": {}}}",
                    span.start,
                    span.end - span.start
                ),
            ),
        ]
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(ErrorFormat::Human))
    }
}

impl std::error::Error for Diagnostics {}

fn source_span(span: Span) -> SourceSpan {
    SourceSpan::new(span.start.into(), span.end - span.start)
}

fn json_object(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {v}", json_str(k)))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// A JSON string literal, escaped by serde_json.
pub(crate) fn json_str(s: &str) -> String {
    // Serialising a string cannot fail; the fallback keeps the document valid regardless.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// A source for miette whose snippet headers report the column in characters (miette counts
/// bytes), so the human and JSON renderings give the same `file:line:col`.
#[derive(Debug, Clone)]
struct GuardSource {
    file: SourceFile,
}

impl GuardSource {
    fn new(file: &SourceFile) -> GuardSource {
        GuardSource { file: file.clone() }
    }
}

impl SourceCode for GuardSource {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner =
            self.file
                .text
                .as_ref()
                .read_span(span, context_lines_before, context_lines_after)?;
        // With no context lines miette reports the span's own column (in bytes); with context
        // the snippet starts at a line start and the column is 0 either way.
        let column = if context_lines_before == 0 {
            self.file.line_col(span.offset()).1 - 1
        } else {
            inner.column()
        };
        Ok(Box::new(Contents {
            data: inner.data(),
            span: *inner.span(),
            name: &self.file.name,
            line: inner.line(),
            column,
            line_count: inner.line_count(),
        }))
    }
}

#[derive(Debug)]
struct Contents<'a> {
    data: &'a [u8],
    span: SourceSpan,
    name: &'a str,
    line: usize,
    column: usize,
    line_count: usize,
}

impl<'a> SpanContents<'a> for Contents<'a> {
    fn data(&self) -> &'a [u8] {
        self.data
    }
    fn span(&self) -> &SourceSpan {
        &self.span
    }
    fn name(&self) -> Option<&str> {
        Some(self.name)
    }
    fn line(&self) -> usize {
        self.line
    }
    fn column(&self) -> usize {
        self.column
    }
    fn line_count(&self) -> usize {
        self.line_count
    }
}

/// One diagnostic in the shape miette renders.
#[derive(Debug)]
struct Report {
    message: String,
    code: Option<Code>,
    help: Option<String>,
    severity: miette::Severity,
    source: Option<GuardSource>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code.map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
        }
    }
}

/// OS error texts start with a capital; diagnostics messages do not.
pub(crate) fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "a, b or c", for messages that list what may come.
pub(crate) fn one_of<S: AsRef<str>>(words: &[S]) -> String {
    match words {
        [] => "something else".into(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => format!("{} or {}", join(init), last.as_ref()),
    }
}

/// "a, b and c", for messages that list what belongs together.
pub(crate) fn all_of<S: AsRef<str>>(words: &[S]) -> String {
    match words {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => format!("{} and {}", join(init), last.as_ref()),
    }
}

fn join<S: AsRef<str>>(words: &[S]) -> String {
    let words: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
    words.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_and_lines_follow_every_line_break() {
        let file = SourceFile::new("f".into(), Arc::from("ab\r\n账号x\ry"));
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(4), (2, 1));
        assert_eq!(file.line_col(10), (2, 3));
        assert_eq!(file.line_col(12), (3, 1));
        assert_eq!(file.line_col(99), (3, 2));
    }

    #[test]
    fn json_strings_escape_control_characters() {
        assert_eq!(json_str("a\"b\\\n\u{1}é"), "\"a\\\"b\\\\\\n\\u0001é\"");
    }
}

#[cfg(test)]
mod codes_doc {
    use super::Code;

    /// `docs/codes.md` ends with the policy diagnostics this renders (the part before is
    /// guard-engine's); `GUARD_BLESS=1 cargo test -p guard-dsl --lib codes_doc` rewrites it.
    #[test]
    fn docs_list_every_diagnostic_code() {
        let mut section = String::from(
            "\n## Policy diagnostics\n\nThe codes of `guardc check` diagnostics, from \
             `dsl/src/diagnostic.rs`. Errors stop `guardc check`; warnings and notes are the \
             lints of `guardc lint` (only warnings fail `--deny-warnings`; silence one with \
             `# guardc: allow(NAME)`, see `docs/language.md`).\n\n| code | severity | when \
             |\n|---|---|---|\n",
        );
        for code in Code::ALL {
            section.push_str(&format!(
                "| `{}` | {} | {} |\n",
                code.as_str(),
                code.severity().as_str(),
                code.meaning()
            ));
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/codes.md");
        let written = std::fs::read_to_string(path).unwrap_or_default();
        let (before, ours) = written
            .find("\n## Policy diagnostics")
            .map_or((written.as_str(), ""), |at| written.split_at(at));
        if std::env::var_os("GUARD_BLESS").is_some() {
            std::fs::write(path, format!("{before}{section}")).unwrap();
        } else {
            assert_eq!(
                ours, section,
                "docs/codes.md is stale: GUARD_BLESS=1 regenerates it"
            );
        }
    }
}
