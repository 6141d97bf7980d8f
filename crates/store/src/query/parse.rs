//! Readers that turn what a caller typed into the one query tree ([`Expr`]).
//!
//! Two front ends share this module so that they cannot drift apart:
//!
//! * [`parse_text`] reads the jIO-style text language people type into a
//!   search box (`city:"New York" AND amount:>=100`).
//! * [`parse_json`] reads Frappe-style JSON filters that programs send
//!   (`[["city", "=", "New York"], ["amount", ">=", 100]]`).
//!
//! Both only build the tree. They never look at a doctype and never produce
//! SQL: field checks and type conversion belong to the compiler, which can
//! explain those problems in terms of the doctype. What the readers do own is
//! the syntax, so every error they return says where the problem is and what
//! was expected there, in words a user can act on.

use super::ast::{CmpOp, Expr, Literal, SyntaxError};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// Longest `found` text we quote back before shortening it, so an error about
/// a pasted paragraph stays readable.
const MAX_FOUND_CHARS: usize = 40;

/// One character of a value as the user meant it.
///
/// Values are kept as pieces rather than a string because the same written
/// value becomes either plain text (for `=`, `<`, ...) or a LIKE pattern (when
/// it holds a wildcard), and the two need different escaping. Deciding the
/// escaping only once the operator is known keeps both correct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// A character that stands for itself, even `%`, `_` or `\`.
    Lit(char),
    /// An unescaped `%`: any run of characters.
    Wild,
}

/// Whether any piece is a wildcard, which turns `=`/`!=` into LIKE.
fn has_wildcard(pieces: &[Piece]) -> bool {
    pieces.contains(&Piece::Wild)
}

/// The value as plain text: used where `%` has no special meaning.
fn render_plain(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Lit(c) => *c,
            Piece::Wild => '%',
        })
        .collect()
}

/// The value as a LIKE pattern in the form [`CmpOp::Like`] promises: `%` is
/// the wildcard and a literal `%`, `_` or `\` is escaped with `\`. The `_`
/// matters: SQL LIKE treats it as a one-character wildcard, but neither of
/// our languages does, so a user's `_` must reach SQL escaped.
fn render_pattern(pieces: &[Piece]) -> String {
    let mut out = String::with_capacity(pieces.len());
    for piece in pieces {
        match piece {
            Piece::Wild => out.push('%'),
            Piece::Lit(c) => {
                if matches!(c, '%' | '_' | '\\') {
                    out.push('\\');
                }
                out.push(*c);
            }
        }
    }
    out
}

/// Reads a pattern where `%` is the wildcard and `\` makes the next character
/// literal. Used for JSON `like` values; a trailing lone `\` is taken as a
/// literal backslash rather than leaving a broken escape for SQL.
fn pieces_from_pattern(pattern: &str) -> Vec<Piece> {
    let mut pieces = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => pieces.push(Piece::Lit(chars.next().unwrap_or('\\'))),
            '%' => pieces.push(Piece::Wild),
            other => pieces.push(Piece::Lit(other)),
        }
    }
    pieces
}

/// Field names are `[A-Za-z_][A-Za-z0-9_]*`: the shape of a doctype field and
/// of a safe SQL identifier, so anything else is a typo worth reporting early.
fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Combines conditions that must all hold. Nested `And`s are spliced in so
/// the tree has one shape however the user grouped things, and a single
/// condition is returned bare rather than wrapped.
fn and_of(parts: Vec<Expr>) -> Expr {
    let mut flat = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Expr::And(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    if flat.len() == 1 {
        if let Some(only) = flat.pop() {
            return only;
        }
    }
    Expr::And(flat)
}

/// Combines alternatives, flattening nested `Or`s like [`and_of`] does.
fn or_of(parts: Vec<Expr>) -> Expr {
    let mut flat = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Expr::Or(inner) => flat.extend(inner),
            other => flat.push(other),
        }
    }
    if flat.len() == 1 {
        if let Some(only) = flat.pop() {
            return only;
        }
    }
    Expr::Or(flat)
}

/// Cuts long quoted-back text so error messages stay one readable line.
fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_FOUND_CHARS {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_FOUND_CHARS - 3).collect();
    format!("{head}...")
}

// ---------------------------------------------------------------------------
// Text language
// ---------------------------------------------------------------------------

/// What a term token in the text language says when no term is where one is
/// needed and nothing more specific applies.
const EXPECTED_TERM: &str = "a search term or 'key:value'";

/// Parses the jIO-style text query language into an [`Expr`].
///
/// Grammar (keywords are `AND`, `OR`, `NOT`, or lowercase when written as a
/// whole word; precedence `NOT` > `AND` > `OR`):
///
/// ```text
/// query   := or?                      (empty matches everything)
/// or      := and ("OR" and)*
/// and     := not (("AND")? not)*      (two terms side by side mean AND)
/// not     := "NOT" not | primary
/// primary := "(" or ")" | term
/// term    := field ":" op? value      (a comparison)
///          | word | "quoted"          (a bare search term)
/// op      := ">=" | "<=" | "!=" | ">" | "<" | "="
/// ```
///
/// Values are unquoted runs (ending at whitespace, `(` or `)`) or
/// double-quoted strings. A backslash makes the next character literal, which
/// is how `\"`, `\\` and `\%` are written. An unescaped `%` in a value is a
/// wildcard for `:`, `:=` and `:!=` (giving `Like`/`NotLike`) and a plain
/// character for `<`, `<=`, `>` and `>=`. Bare search terms carry plain text;
/// a `%` in them is literal and the compiler escapes it when matching.
///
/// Errors carry the 1-based character position of the problem (the length
/// plus one for the end of the query).
pub fn parse_text(q: &str) -> Result<Expr, SyntaxError> {
    if q.len() > MAX_QUERY_BYTES {
        return Err(text_error(
            1,
            &format!("a query of at most {MAX_QUERY_BYTES} bytes"),
            format!("{} bytes", q.len()),
        ));
    }
    let (tokens, lex_error) = Lexer::new(q).run();
    let end = q.chars().count() + 1;
    let mut parser = TextParser {
        tokens,
        lex_error,
        next: 0,
        end,
        depth: 0,
    };
    if parser.peek()?.is_none() {
        return Ok(Expr::And(Vec::new()));
    }
    let expr = parser.parse_or(None)?;
    if let Some(tok) = parser.peek()? {
        // Only a `)` can be left over: every other token starts or joins a
        // term and was consumed above.
        return Err(text_error(tok.position, EXPECTED_TERM, tok.describe()));
    }
    Ok(expr)
}

/// Builds a text-language error; `path` is always empty for text.
fn text_error(position: usize, expected: &str, found: String) -> SyntaxError {
    SyntaxError {
        position,
        path: String::new(),
        expected: expected.to_string(),
        found,
    }
}

/// The kinds of token the text language has.
#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    LParen,
    RParen,
    And,
    Or,
    Not,
    /// A comparison or bare search term, already turned into its tree.
    Term(Expr),
}

/// A token with where it started and how it was written, both for errors.
#[derive(Debug, Clone, PartialEq)]
struct Token {
    kind: TokenKind,
    /// 1-based character position of the first character.
    position: usize,
    /// The source text, as written.
    text: String,
}

impl Token {
    /// How an error message names this token.
    fn describe(&self) -> String {
        match self.kind {
            TokenKind::Term(_) if self.text.starts_with('"') => shorten(&self.text),
            TokenKind::Term(_) => format!("\"{}\"", shorten(&self.text)),
            _ => format!("'{}'", self.text),
        }
    }

    /// Whether this token can begin a term, so that a term right after
    /// another one is read as an implicit AND.
    fn starts_term(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::Term(_) | TokenKind::LParen | TokenKind::Not
        )
    }
}

/// The comparison written right after `field:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextOp {
    /// Nothing written: equality (or LIKE with a wildcard).
    Implicit,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl TextOp {
    /// Spellings, longest first so `>=` is not read as `>` then `=`.
    const SPELLINGS: [(&'static str, TextOp); 6] = [
        (">=", TextOp::Ge),
        ("<=", TextOp::Le),
        ("!=", TextOp::Ne),
        (">", TextOp::Gt),
        ("<", TextOp::Lt),
        ("=", TextOp::Eq),
    ];

    /// Turns a written value into the comparison's operator and literal.
    fn compare(self, field: String, pieces: &[Piece]) -> Expr {
        let wild = has_wildcard(pieces);
        let (op, text) = match self {
            TextOp::Implicit | TextOp::Eq if wild => (CmpOp::Like, render_pattern(pieces)),
            TextOp::Ne if wild => (CmpOp::NotLike, render_pattern(pieces)),
            TextOp::Implicit | TextOp::Eq => (CmpOp::Eq, render_plain(pieces)),
            TextOp::Ne => (CmpOp::Ne, render_plain(pieces)),
            TextOp::Lt => (CmpOp::Lt, render_plain(pieces)),
            TextOp::Le => (CmpOp::Le, render_plain(pieces)),
            TextOp::Gt => (CmpOp::Gt, render_plain(pieces)),
            TextOp::Ge => (CmpOp::Ge, render_plain(pieces)),
        };
        Expr::Cmp {
            field,
            op,
            value: Literal::Text(text),
        }
    }
}

/// Splits a text query into tokens.
///
/// Lexing stops at the first lexical error, which is kept aside and only
/// reported when the parser reaches it. That way the error users see is always
/// the leftmost problem in the query, whether lexical or grammatical.
struct Lexer {
    chars: Vec<char>,
    /// 0-based index of the next unread character.
    at: usize,
}

impl Lexer {
    fn new(q: &str) -> Self {
        Lexer {
            chars: q.chars().collect(),
            at: 0,
        }
    }

    /// Reads every token up to the end or the first lexical error.
    fn run(mut self) -> (Vec<Token>, Option<SyntaxError>) {
        let mut tokens = Vec::new();
        loop {
            match self.next_token() {
                Ok(Some(tok)) => tokens.push(tok),
                Ok(None) => return (tokens, None),
                Err(e) => return (tokens, Some(e)),
            }
        }
    }

    fn peek_char(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    /// 1-based position of the next unread character.
    fn position(&self) -> usize {
        self.at + 1
    }

    /// How an error names the character about to be read.
    fn describe_next(&self) -> String {
        match self.peek_char() {
            None => "end of query".to_string(),
            Some(c) if c.is_whitespace() => "a space".to_string(),
            Some(c) => format!("'{c}'"),
        }
    }

    fn next_token(&mut self) -> Result<Option<Token>, SyntaxError> {
        while self.peek_char().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
        let start = self.at;
        let Some(first) = self.peek_char() else {
            return Ok(None);
        };
        let kind = match first {
            '(' => {
                self.at += 1;
                TokenKind::LParen
            }
            ')' => {
                self.at += 1;
                TokenKind::RParen
            }
            '"' => TokenKind::Term(Expr::Search(render_plain(&self.read_quoted()?))),
            _ => match self.read_field_prefix() {
                Some(field) => TokenKind::Term(self.read_comparison(field, start)?),
                None => self.read_word(),
            },
        };
        Ok(Some(Token {
            kind,
            position: start + 1,
            text: self.chars[start..self.at].iter().collect(),
        }))
    }

    /// Reads `field:` if that is what comes next, leaving the position alone
    /// otherwise so the same characters can be read as a bare word.
    fn read_field_prefix(&mut self) -> Option<String> {
        let rest = &self.chars[self.at..];
        let len = rest
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .count();
        let name: String = rest[..len].iter().collect();
        if rest.get(len) == Some(&':') && is_field_name(&name) {
            self.at += len + 1;
            Some(name)
        } else {
            None
        }
    }

    /// Reads the operator and value after `field:`; `start` is where the
    /// term began, so a missing value can quote what was written.
    fn read_comparison(&mut self, field: String, start: usize) -> Result<Expr, SyntaxError> {
        let op = self.read_op();
        let pieces = match self.peek_char() {
            Some('"') => self.read_quoted()?,
            Some(c) if !c.is_whitespace() && c != '(' && c != ')' => self.read_unquoted(),
            _ => {
                let written: String = self.chars[start..self.at].iter().collect();
                let expected = format!("a value after '{written}'");
                return Err(text_error(self.position(), &expected, self.describe_next()));
            }
        };
        Ok(op.compare(field, &pieces))
    }

    fn read_op(&mut self) -> TextOp {
        for (spelling, op) in TextOp::SPELLINGS {
            let len = spelling.chars().count();
            let matches = self
                .chars
                .get(self.at..self.at + len)
                .is_some_and(|s| s.iter().copied().eq(spelling.chars()));
            if matches {
                self.at += len;
                return op;
            }
        }
        TextOp::Implicit
    }

    /// Reads a word that is not `field:`: a keyword or a bare search term.
    /// Keywords are recognised on the raw text, so `\AND` or `"AND"` search
    /// for the word instead.
    fn read_word(&mut self) -> TokenKind {
        let start = self.at;
        let pieces = self.read_unquoted();
        let raw: String = self.chars[start..self.at].iter().collect();
        match raw.as_str() {
            "AND" | "and" => TokenKind::And,
            "OR" | "or" => TokenKind::Or,
            "NOT" | "not" => TokenKind::Not,
            _ => TokenKind::Term(Expr::Search(render_plain(&pieces))),
        }
    }

    /// Reads an unquoted run up to whitespace, `(` or `)`. A backslash makes
    /// the next character literal, even a space or parenthesis.
    fn read_unquoted(&mut self) -> Vec<Piece> {
        let mut pieces = Vec::new();
        while let Some(c) = self.peek_char() {
            if c.is_whitespace() || c == '(' || c == ')' {
                break;
            }
            self.at += 1;
            pieces.push(match c {
                '\\' => self.read_escaped(),
                '%' => Piece::Wild,
                other => Piece::Lit(other),
            });
        }
        pieces
    }

    /// The character after a backslash (already consumed), taken literally;
    /// a backslash at the very end stands for itself.
    fn read_escaped(&mut self) -> Piece {
        match self.peek_char() {
            Some(c) => {
                self.at += 1;
                Piece::Lit(c)
            }
            None => Piece::Lit('\\'),
        }
    }

    /// Reads a double-quoted string, starting at its opening quote.
    fn read_quoted(&mut self) -> Result<Vec<Piece>, SyntaxError> {
        self.at += 1;
        let mut pieces = Vec::new();
        loop {
            let Some(c) = self.peek_char() else {
                return Err(self.unclosed_quote());
            };
            self.at += 1;
            match c {
                '"' => return Ok(pieces),
                '\\' if self.peek_char().is_none() => return Err(self.unclosed_quote()),
                '\\' => pieces.push(self.read_escaped()),
                '%' => pieces.push(Piece::Wild),
                other => pieces.push(Piece::Lit(other)),
            }
        }
    }

    fn unclosed_quote(&self) -> SyntaxError {
        text_error(
            self.chars.len() + 1,
            "closing '\"'",
            "end of query".to_string(),
        )
    }
}

/// Recursive-descent parser over the lexer's tokens.
struct TextParser {
    tokens: Vec<Token>,
    /// The lexical error after the last token, if lexing stopped early.
    lex_error: Option<SyntaxError>,
    /// Index of the next unread token.
    next: usize,
    /// Position reported for the end of the query (length + 1).
    end: usize,
    /// Parentheses and NOTs open around the current point.
    depth: usize,
}

/// Longest text query accepted.
const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Deepest nesting of parentheses and NOTs: the parser recurses on them,
/// and a hostile query must not exhaust the stack.
const MAX_DEPTH: usize = 64;

impl TextParser {
    /// The next token, `None` at the end, or the lexical error that stopped
    /// the lexer once the parser gets that far.
    fn peek(&self) -> Result<Option<&Token>, SyntaxError> {
        match (self.tokens.get(self.next), &self.lex_error) {
            (Some(tok), _) => Ok(Some(tok)),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Ok(None),
        }
    }

    /// Consumes and returns the next token if it is of the given kind.
    fn eat(&mut self, want: fn(&TokenKind) -> bool) -> Result<Option<Token>, SyntaxError> {
        match self.peek()? {
            Some(tok) if want(&tok.kind) => {
                let tok = tok.clone();
                self.next += 1;
                Ok(Some(tok))
            }
            _ => Ok(None),
        }
    }

    /// `or := and ("OR" and)*`. `after` names the token before this
    /// expression (`'('`, `'NOT'`, ...) so a missing term can say so.
    fn parse_or(&mut self, after: Option<&str>) -> Result<Expr, SyntaxError> {
        let mut parts = vec![self.parse_and(after)?];
        while let Some(or) = self.eat(|k| *k == TokenKind::Or)? {
            parts.push(self.parse_and(Some(&or.text))?);
        }
        Ok(or_of(parts))
    }

    /// `and := not (("AND")? not)*`: a term straight after another is an
    /// implicit AND, as in most search boxes.
    fn parse_and(&mut self, after: Option<&str>) -> Result<Expr, SyntaxError> {
        let mut parts = vec![self.parse_not(after)?];
        loop {
            if let Some(and) = self.eat(|k| *k == TokenKind::And)? {
                parts.push(self.parse_not(Some(&and.text))?);
            } else if self.peek()?.is_some_and(Token::starts_term) {
                parts.push(self.parse_not(None)?);
            } else {
                return Ok(and_of(parts));
            }
        }
    }

    /// `not := "NOT" not | primary`.
    fn parse_not(&mut self, after: Option<&str>) -> Result<Expr, SyntaxError> {
        match self.eat(|k| *k == TokenKind::Not)? {
            Some(not) => {
                self.enter(not.position)?;
                let inner = self.parse_not(Some(&not.text));
                self.depth -= 1;
                Ok(Expr::Not(Box::new(inner?)))
            }
            None => self.parse_primary(after),
        }
    }

    /// One level deeper; refused past `MAX_DEPTH`.
    fn enter(&mut self, position: usize) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(text_error(
                position,
                &format!("at most {MAX_DEPTH} nested parentheses and NOTs"),
                "deeper nesting".to_string(),
            ));
        }
        Ok(())
    }

    /// `primary := "(" or ")" | term`.
    fn parse_primary(&mut self, after: Option<&str>) -> Result<Expr, SyntaxError> {
        let Some(tok) = self.peek()?.cloned() else {
            return Err(self.missing_term(after, self.end, "end of query".to_string()));
        };
        match tok.kind {
            TokenKind::Term(expr) => {
                self.next += 1;
                Ok(expr)
            }
            TokenKind::LParen => {
                self.next += 1;
                self.enter(tok.position)?;
                let inner = self.parse_or(Some("("));
                self.depth -= 1;
                let inner = inner?;
                self.expect_close()?;
                Ok(inner)
            }
            TokenKind::And | TokenKind::Or if after.is_none() => {
                // A keyword with nothing before it: say what is missing
                // where the user will look for it.
                let expected = format!("a search term before '{}'", tok.text);
                Err(text_error(tok.position, &expected, tok.describe()))
            }
            _ => Err(self.missing_term(after, tok.position, tok.describe())),
        }
    }

    /// The error for a term that should be at `position` but is not.
    fn missing_term(&self, after: Option<&str>, position: usize, found: String) -> SyntaxError {
        match after {
            Some(prev) => text_error(position, &format!("a search term after '{prev}'"), found),
            None => text_error(position, EXPECTED_TERM, found),
        }
    }

    fn expect_close(&mut self) -> Result<(), SyntaxError> {
        if self.eat(|k| *k == TokenKind::RParen)?.is_some() {
            return Ok(());
        }
        match self.peek()? {
            Some(tok) => Err(text_error(tok.position, "')'", tok.describe())),
            None => Err(text_error(self.end, "')'", "end of query".to_string())),
        }
    }
}

// ---------------------------------------------------------------------------
// JSON filters
// ---------------------------------------------------------------------------

/// The operator list quoted in errors, so users see every choice at once.
const EXPECTED_OP: &str = "an operator (=, !=, <, <=, >, >=, like, not like, in, not in)";

/// Parses Frappe-style JSON filters into an [`Expr`].
///
/// Accepted shapes (`cond` is any condition):
///
/// * `[cond, cond, ...]` - all must hold (an empty array matches everything);
/// * `[field, op, value]` and `[doctype, field, op, value]` (the doctype is
///   ignored: the caller already chose it);
/// * `{"and": [cond, ...]}`, `{"or": [cond, ...]}`, `{"not": cond}`;
/// * `{"field": value, "other": [op, value]}` - each key compares that field,
///   a bare value meaning `=`.
///
/// An array whose first item is a string is one condition; any other array is
/// a list of conditions. That lets the root, `and`, `or` and `not` all take
/// either a single `[field, op, value]` or a list.
///
/// Operators are `=`, `!=`, `<`, `<=`, `>`, `>=`, `like`, `not like`, `in`,
/// `not in`, case-insensitive. `like` takes a string pattern (`%` wildcard,
/// `\` escapes; a bare `_` is literal and is escaped for SQL). `in`/`not in`
/// take an array or, as in Frappe, a comma-separated string. `null` is only
/// allowed with `=` and `!=`.
///
/// Errors name the JSON path (`filters[1][2]`, `filters.status`) and give as
/// position the 1-based index of the top-level condition (0 when the root
/// itself has the wrong shape).
pub fn parse_json(v: &Value) -> Result<Expr, SyntaxError> {
    let root = Loc {
        position: 0,
        path: "filters".to_string(),
    };
    match v {
        Value::Array(items) if starts_with_string(items) => condition(v, &root.at_position(1)),
        Value::Array(items) => {
            let parts = items
                .iter()
                .enumerate()
                .map(|(i, item)| condition(item, &root.index(i).at_position(i + 1)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(and_of(parts))
        }
        Value::Object(map) => object_condition(map, &root, true),
        other => Err(root.error("an array or object of filters", describe_json(other))),
    }
}

/// Where in the JSON a value sits, for error messages.
#[derive(Debug, Clone)]
struct Loc {
    /// 1-based index of the top-level condition (0 for the root).
    position: usize,
    /// JSON path from the root, named `filters`.
    path: String,
}

impl Loc {
    fn at_position(&self, position: usize) -> Loc {
        Loc {
            position,
            path: self.path.clone(),
        }
    }

    /// The location of item `i` of the array here.
    fn index(&self, i: usize) -> Loc {
        Loc {
            position: self.position,
            path: format!("{}[{i}]", self.path),
        }
    }

    /// The location of `key` in the object here: `.key` when it reads as a
    /// name, otherwise `["key"]` so odd keys stay unambiguous.
    fn key(&self, key: &str) -> Loc {
        let path = if is_field_name(key) {
            format!("{}.{key}", self.path)
        } else {
            format!("{}[{}]", self.path, Value::from(key))
        };
        Loc {
            position: self.position,
            path,
        }
    }

    fn error(&self, expected: &str, found: String) -> SyntaxError {
        SyntaxError {
            position: self.position,
            path: self.path.clone(),
            expected: expected.to_string(),
            found,
        }
    }
}

/// How an error names a JSON value.
fn describe_json(v: &Value) -> String {
    match v {
        Value::String(s) => Value::from(shorten(s)).to_string(),
        Value::Array(items) => describe_array_len(items.len()),
        Value::Object(_) => "an object".to_string(),
        other => other.to_string(),
    }
}

/// How an error names an array of `n` items.
fn describe_array_len(n: usize) -> String {
    match n {
        1 => "an array of 1 item".to_string(),
        n => format!("an array of {n} items"),
    }
}

/// Whether an array is a single `[field, op, value]`-style condition rather
/// than a list of conditions.
fn starts_with_string(items: &[Value]) -> bool {
    matches!(items.first(), Some(Value::String(_)))
}

/// Reads any one condition.
fn condition(v: &Value, loc: &Loc) -> Result<Expr, SyntaxError> {
    match v {
        Value::Array(items) if starts_with_string(items) => comparison_array(items, loc),
        Value::Array(_) => Ok(and_of(conditions(v, loc)?)),
        Value::Object(map) => object_condition(map, loc, false),
        other => Err(loc.error(
            "a condition ([field, operator, value] or an object)",
            describe_json(other),
        )),
    }
}

/// Reads the operand of `and`/`or`: a list of conditions, or a single
/// `[field, op, value]`.
fn conditions(v: &Value, loc: &Loc) -> Result<Vec<Expr>, SyntaxError> {
    match v {
        Value::Array(items) if starts_with_string(items) => Ok(vec![condition(v, loc)?]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| condition(item, &loc.index(i)))
            .collect(),
        other => Err(loc.error("an array of conditions", describe_json(other))),
    }
}

/// Reads `[field, op, value]` or `[doctype, field, op, value]`.
fn comparison_array(items: &[Value], loc: &Loc) -> Result<Expr, SyntaxError> {
    let offset = match items.len() {
        3 => 0,
        4 => 1,
        n => {
            return Err(loc.error(
                "[field, operator, value] or [doctype, field, operator, value]",
                describe_array_len(n),
            ))
        }
    };
    let field = field_name(&items[offset], &loc.index(offset))?;
    let op = operator(&items[offset + 1], &loc.index(offset + 1))?;
    comparison(field, op, &items[offset + 2], &loc.index(offset + 2))
}

/// Reads an object: `and`/`or`/`not`, or a map of field to value. At the root
/// each key of a field map counts as its own top-level condition.
fn object_condition(map: &Map<String, Value>, loc: &Loc, root: bool) -> Result<Expr, SyntaxError> {
    let logical = map
        .iter()
        .find(|(k, _)| matches!(k.to_ascii_lowercase().as_str(), "and" | "or" | "not"));
    if let Some((key, value)) = logical {
        if map.len() != 1 {
            return Err(loc.error(
                &format!("'{key}' as the only key of its object"),
                format!("an object with {} keys", map.len()),
            ));
        }
        let loc = if root {
            loc.at_position(1)
        } else {
            loc.clone()
        };
        return logical_condition(key, value, &loc.key(key));
    }
    let parts = map
        .iter()
        .enumerate()
        .map(|(i, (key, value))| {
            let loc = if root {
                loc.at_position(i + 1)
            } else {
                loc.clone()
            };
            field_condition(key, value, &loc.key(key))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(and_of(parts))
}

/// Reads the operand of an `and`, `or` or `not` key.
fn logical_condition(key: &str, v: &Value, loc: &Loc) -> Result<Expr, SyntaxError> {
    match key.to_ascii_lowercase().as_str() {
        "and" => Ok(and_of(conditions(v, loc)?)),
        "or" => Ok(or_of(conditions(v, loc)?)),
        _ => Ok(Expr::Not(Box::new(condition(v, loc)?))),
    }
}

/// Reads one `"field": value` or `"field": [op, value]` entry.
fn field_condition(key: &str, v: &Value, loc: &Loc) -> Result<Expr, SyntaxError> {
    let field = checked_field(key, loc)?;
    match v {
        Value::Array(pair) if pair.len() == 2 => {
            let op = operator(&pair[0], &loc.index(0))?;
            comparison(field, op, &pair[1], &loc.index(1))
        }
        Value::Array(items) => Err(loc.error(
            "a value or [operator, value]",
            describe_array_len(items.len()),
        )),
        _ => comparison(field, CmpOp::Eq, v, loc),
    }
}

/// Reads a field name from a JSON value.
fn field_name(v: &Value, loc: &Loc) -> Result<String, SyntaxError> {
    match v {
        Value::String(s) => checked_field(s, loc),
        other => Err(loc.error("a field name", describe_json(other))),
    }
}

/// Checks a field name's shape; whether the doctype has it is the
/// compiler's job.
fn checked_field(name: &str, loc: &Loc) -> Result<String, SyntaxError> {
    if is_field_name(name) {
        Ok(name.to_string())
    } else {
        Err(loc.error(
            "a field name (letters, digits and '_', not starting with a digit)",
            Value::from(shorten(name)).to_string(),
        ))
    }
}

/// Reads an operator, forgiving case and extra spaces (`"NOT  LIKE"`).
fn operator(v: &Value, loc: &Loc) -> Result<CmpOp, SyntaxError> {
    let Value::String(s) = v else {
        return Err(loc.error(EXPECTED_OP, describe_json(v)));
    };
    let normal = s
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    match normal.as_str() {
        "=" => Ok(CmpOp::Eq),
        "!=" => Ok(CmpOp::Ne),
        "<" => Ok(CmpOp::Lt),
        "<=" => Ok(CmpOp::Le),
        ">" => Ok(CmpOp::Gt),
        ">=" => Ok(CmpOp::Ge),
        "like" => Ok(CmpOp::Like),
        "not like" => Ok(CmpOp::NotLike),
        "in" => Ok(CmpOp::In),
        "not in" => Ok(CmpOp::NotIn),
        _ => Err(loc.error(EXPECTED_OP, describe_json(v))),
    }
}

/// Builds `field op value`, checking the value suits the operator.
fn comparison(field: String, op: CmpOp, v: &Value, loc: &Loc) -> Result<Expr, SyntaxError> {
    let value = match op {
        CmpOp::Eq | CmpOp::Ne => single_value(v, true, loc)?,
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => single_value(v, false, loc)?,
        CmpOp::Like | CmpOp::NotLike => like_pattern(v, loc)?,
        CmpOp::In | CmpOp::NotIn => list_value(v, loc)?,
    };
    Ok(Expr::Cmp { field, op, value })
}

/// A scalar value; `null` only where it means "is (not) empty".
fn single_value(v: &Value, null_ok: bool, loc: &Loc) -> Result<Literal, SyntaxError> {
    match v {
        Value::Null if null_ok => Ok(Literal::Null),
        Value::Null => Err(loc.error(
            "a value to compare with (null only works with = and !=)",
            "null".to_string(),
        )),
        Value::Array(_) => Err(loc.error(
            "a single value (use 'in' or 'not in' for a list)",
            describe_json(v),
        )),
        _ => scalar(v, loc),
    }
}

/// A string, number or boolean.
fn scalar(v: &Value, loc: &Loc) -> Result<Literal, SyntaxError> {
    let wrong = || loc.error("a string, number or boolean", describe_json(v));
    match v {
        Value::String(s) => Ok(Literal::Text(s.clone())),
        Value::Number(n) => n.as_f64().map(Literal::Number).ok_or_else(wrong),
        Value::Bool(b) => Ok(Literal::Bool(*b)),
        _ => Err(wrong()),
    }
}

/// A `like` pattern, normalised to the escaping [`CmpOp::Like`] promises.
fn like_pattern(v: &Value, loc: &Loc) -> Result<Literal, SyntaxError> {
    match v {
        Value::String(s) => Ok(Literal::Text(render_pattern(&pieces_from_pattern(s)))),
        other => Err(loc.error("a text pattern", describe_json(other))),
    }
}

/// The list for `in`/`not in`: an array of scalars, or Frappe's
/// comma-separated string (items trimmed, empty items dropped).
fn list_value(v: &Value, loc: &Loc) -> Result<Literal, SyntaxError> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| scalar(item, &loc.index(i)))
            .collect::<Result<Vec<_>, _>>()
            .map(Literal::List),
        Value::String(s) => Ok(Literal::List(
            s.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Literal::Text(item.to_string()))
                .collect(),
        )),
        other => Err(loc.error(
            "a list (an array or comma-separated text)",
            describe_json(other),
        )),
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    #[test]
    fn deep_nesting_is_a_syntax_error_not_a_crash() {
        let q = format!("{}a:1{}", "(".repeat(5000), ")".repeat(5000));
        let e = parse_text(&q).unwrap_err();
        assert!(e.expected.contains("nested"), "{e}");
        let q = format!("{}a:1", "NOT ".repeat(4000));
        assert!(parse_text(&q).unwrap_err().expected.contains("nested"));
        let q = format!("{}a:1{}", "(".repeat(60), ")".repeat(60));
        assert!(parse_text(&q).is_ok());
        let long = "a:1 ".repeat(10_000);
        assert!(parse_text(&long).unwrap_err().expected.contains("bytes"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // -- helpers ------------------------------------------------------------

    fn cmp(field: &str, op: CmpOp, value: &str) -> Expr {
        Expr::Cmp {
            field: field.to_string(),
            op,
            value: Literal::Text(value.to_string()),
        }
    }

    fn jcmp(field: &str, op: CmpOp, value: Literal) -> Expr {
        Expr::Cmp {
            field: field.to_string(),
            op,
            value,
        }
    }

    fn text(s: &str) -> Literal {
        Literal::Text(s.to_string())
    }

    fn search(s: &str) -> Expr {
        Expr::Search(s.to_string())
    }

    fn not(e: Expr) -> Expr {
        Expr::Not(Box::new(e))
    }

    fn ok(q: &str) -> Expr {
        parse_text(q).unwrap_or_else(|e| panic!("{q:?} should parse: {e}"))
    }

    /// Asserts a text error's position, expected and found.
    fn text_err(q: &str, position: usize, expected: &str, found: &str) {
        let err = parse_text(q).expect_err(q);
        assert_eq!(
            (err.position, err.expected.as_str(), err.found.as_str()),
            (position, expected, found),
            "query {q:?}"
        );
        assert_eq!(err.path, "", "query {q:?}");
    }

    fn jok(v: Value) -> Expr {
        parse_json(&v).unwrap_or_else(|e| panic!("{v} should parse: {e}"))
    }

    /// Asserts a JSON error's position, path, expected and found.
    fn json_err(v: Value, position: usize, path: &str, expected: &str, found: &str) {
        let err = parse_json(&v).expect_err(&v.to_string());
        assert_eq!(
            (
                err.position,
                err.path.as_str(),
                err.expected.as_str(),
                err.found.as_str()
            ),
            (position, path, expected, found),
            "filters {v}"
        );
    }

    // -- text: comparisons ---------------------------------------------------

    #[test]
    fn text_plain_equality() {
        assert_eq!(ok("city:Paris"), cmp("city", CmpOp::Eq, "Paris"));
        assert_eq!(ok("city:=Paris"), cmp("city", CmpOp::Eq, "Paris"));
        assert_eq!(ok("_x9:1"), cmp("_x9", CmpOp::Eq, "1"));
    }

    #[test]
    fn text_every_operator() {
        assert_eq!(ok("n:>10"), cmp("n", CmpOp::Gt, "10"));
        assert_eq!(ok("n:>=10"), cmp("n", CmpOp::Ge, "10"));
        assert_eq!(ok("n:<10"), cmp("n", CmpOp::Lt, "10"));
        assert_eq!(ok("n:<=10"), cmp("n", CmpOp::Le, "10"));
        assert_eq!(ok("n:!=x"), cmp("n", CmpOp::Ne, "x"));
        assert_eq!(ok("n:=x"), cmp("n", CmpOp::Eq, "x"));
    }

    #[test]
    fn text_operator_chars_after_operator_belong_to_value() {
        assert_eq!(ok("n:=>5"), cmp("n", CmpOp::Eq, ">5"));
        assert_eq!(ok("n:!x"), cmp("n", CmpOp::Eq, "!x"));
        assert_eq!(ok("n:>=-1.5"), cmp("n", CmpOp::Ge, "-1.5"));
        assert_eq!(ok("url:http://x"), cmp("url", CmpOp::Eq, "http://x"));
    }

    #[test]
    fn text_quoted_values() {
        assert_eq!(ok(r#"city:"New York""#), cmp("city", CmpOp::Eq, "New York"));
        assert_eq!(
            ok(r#"city:!="New York""#),
            cmp("city", CmpOp::Ne, "New York")
        );
        assert_eq!(ok(r#"n:>="10""#), cmp("n", CmpOp::Ge, "10"));
        assert_eq!(ok(r#"city:"""#), cmp("city", CmpOp::Eq, ""));
        assert_eq!(ok(r#"t:"a (b) AND c""#), cmp("t", CmpOp::Eq, "a (b) AND c"));
    }

    #[test]
    fn text_quote_escapes() {
        assert_eq!(ok(r#"t:"say \"hi\"""#), cmp("t", CmpOp::Eq, r#"say "hi""#));
        assert_eq!(ok(r#"t:"a\\b""#), cmp("t", CmpOp::Eq, r"a\b"));
        assert_eq!(ok(r#"t:"100\%""#), cmp("t", CmpOp::Eq, "100%"));
    }

    #[test]
    fn text_unquoted_escapes() {
        assert_eq!(ok(r"t:100\%"), cmp("t", CmpOp::Eq, "100%"));
        assert_eq!(ok(r"t:a\ b"), cmp("t", CmpOp::Eq, "a b"));
        assert_eq!(ok(r"t:f\(x\)"), cmp("t", CmpOp::Eq, "f(x)"));
        assert_eq!(ok(r"t:a\\b"), cmp("t", CmpOp::Eq, r"a\b"));
        assert_eq!(ok(r"t:end\"), cmp("t", CmpOp::Eq, r"end\"));
        assert_eq!(ok(r#"t:a"b"#), cmp("t", CmpOp::Eq, r#"a"b"#));
    }

    #[test]
    fn text_wildcards_make_like() {
        assert_eq!(ok("name:Ac%"), cmp("name", CmpOp::Like, "Ac%"));
        assert_eq!(ok(r#"name:"Ac%""#), cmp("name", CmpOp::Like, "Ac%"));
        assert_eq!(ok("name:=%me%"), cmp("name", CmpOp::Like, "%me%"));
        assert_eq!(ok("name:!=Ac%"), cmp("name", CmpOp::NotLike, "Ac%"));
        assert_eq!(ok(r#"name:!="A c%""#), cmp("name", CmpOp::NotLike, "A c%"));
    }

    #[test]
    fn text_like_patterns_escape_literals() {
        assert_eq!(ok("code:a_b%"), cmp("code", CmpOp::Like, r"a\_b%"));
        assert_eq!(ok(r"code:50\%%"), cmp("code", CmpOp::Like, r"50\%%"));
        assert_eq!(ok(r#"code:"a\\b%""#), cmp("code", CmpOp::Like, r"a\\b%"));
        // Without a wildcard `_` stays plain text for equality.
        assert_eq!(ok("code:a_b"), cmp("code", CmpOp::Eq, "a_b"));
    }

    #[test]
    fn text_percent_is_literal_for_ordering() {
        assert_eq!(ok("p:>5%"), cmp("p", CmpOp::Gt, "5%"));
        assert_eq!(ok("p:>=5%"), cmp("p", CmpOp::Ge, "5%"));
        assert_eq!(ok("p:<5%"), cmp("p", CmpOp::Lt, "5%"));
        assert_eq!(ok(r#"p:<="5%""#), cmp("p", CmpOp::Le, "5%"));
        assert_eq!(ok(r"p:<5\%"), cmp("p", CmpOp::Lt, "5%"));
    }

    #[test]
    fn text_keyword_as_value_or_field() {
        assert_eq!(ok("word:AND"), cmp("word", CmpOp::Eq, "AND"));
        assert_eq!(ok("and:1"), cmp("and", CmpOp::Eq, "1"));
        assert_eq!(ok("OR:1"), cmp("OR", CmpOp::Eq, "1"));
    }

    // -- text: search terms --------------------------------------------------

    #[test]
    fn text_bare_words_are_searches() {
        assert_eq!(ok("acme"), search("acme"));
        assert_eq!(ok(r#""acme corp""#), search("acme corp"));
        assert_eq!(ok(r#""AND""#), search("AND"));
        assert_eq!(ok(r"\AND"), search("AND"));
        assert_eq!(ok("50%"), search("50%"));
        assert_eq!(ok("9lives:x"), search("9lives:x"));
        assert_eq!(ok("first-name:x"), search("first-name:x"));
        assert_eq!(ok("And"), search("And"));
        assert_eq!(ok("android"), search("android"));
    }

    #[test]
    fn text_empty_query_matches_everything() {
        assert_eq!(ok(""), Expr::And(vec![]));
        assert_eq!(ok("   \t\n "), Expr::And(vec![]));
    }

    // -- text: boolean structure ---------------------------------------------

    #[test]
    fn text_and_or_not() {
        let a = cmp("a", CmpOp::Eq, "1");
        let b = cmp("b", CmpOp::Eq, "2");
        assert_eq!(ok("a:1 AND b:2"), Expr::And(vec![a.clone(), b.clone()]));
        assert_eq!(ok("a:1 OR b:2"), Expr::Or(vec![a.clone(), b.clone()]));
        assert_eq!(ok("NOT a:1"), not(a.clone()));
        assert_eq!(ok("NOT NOT a:1"), not(not(a.clone())));
        assert_eq!(ok("a:1 and b:2"), Expr::And(vec![a.clone(), b.clone()]));
        assert_eq!(ok("a:1 or b:2"), Expr::Or(vec![a.clone(), b.clone()]));
        assert_eq!(ok("not a:1"), not(a));
    }

    #[test]
    fn text_juxtaposition_is_and() {
        let a = cmp("a", CmpOp::Eq, "1");
        let b = cmp("b", CmpOp::Eq, "2");
        assert_eq!(ok("a:1 b:2"), ok("a:1 AND b:2"));
        assert_eq!(
            ok("a:1 NOT b:2"),
            Expr::And(vec![a.clone(), not(b.clone())])
        );
        assert_eq!(ok("a:1(b:2)"), Expr::And(vec![a.clone(), b.clone()]));
        assert_eq!(
            ok(r#"acme "big co""#),
            Expr::And(vec![search("acme"), search("big co")])
        );
        assert_eq!(
            ok(r#"t:"x"y"#),
            Expr::And(vec![cmp("t", CmpOp::Eq, "x"), search("y")])
        );
    }

    #[test]
    fn text_precedence() {
        let a = cmp("a", CmpOp::Eq, "1");
        let b = cmp("b", CmpOp::Eq, "2");
        let c = cmp("c", CmpOp::Eq, "3");
        // AND binds tighter than OR, on either side.
        assert_eq!(
            ok("a:1 OR b:2 AND c:3"),
            Expr::Or(vec![a.clone(), Expr::And(vec![b.clone(), c.clone()])])
        );
        assert_eq!(
            ok("a:1 AND b:2 OR c:3"),
            Expr::Or(vec![Expr::And(vec![a.clone(), b.clone()]), c.clone()])
        );
        // Juxtaposition is AND, so it binds tighter than OR too.
        assert_eq!(
            ok("a:1 b:2 OR c:3"),
            Expr::Or(vec![Expr::And(vec![a.clone(), b.clone()]), c.clone()])
        );
        // NOT binds tighter than AND and OR.
        assert_eq!(
            ok("NOT a:1 AND b:2"),
            Expr::And(vec![not(a.clone()), b.clone()])
        );
        assert_eq!(
            ok("NOT a:1 OR b:2"),
            Expr::Or(vec![not(a.clone()), b.clone()])
        );
        // Parentheses override.
        assert_eq!(
            ok("(a:1 OR b:2) AND c:3"),
            Expr::And(vec![Expr::Or(vec![a.clone(), b.clone()]), c.clone()])
        );
        assert_eq!(ok("NOT (a:1 OR b:2)"), not(Expr::Or(vec![a, b])));
    }

    #[test]
    fn text_flattening() {
        let a = cmp("a", CmpOp::Eq, "1");
        let b = cmp("b", CmpOp::Eq, "2");
        let c = cmp("c", CmpOp::Eq, "3");
        let d = cmp("d", CmpOp::Eq, "4");
        let and3 = Expr::And(vec![a.clone(), b.clone(), c.clone()]);
        assert_eq!(ok("a:1 AND b:2 AND c:3"), and3);
        assert_eq!(ok("a:1 AND (b:2 AND c:3)"), and3);
        assert_eq!(ok("(a:1 b:2) c:3"), and3);
        let or3 = Expr::Or(vec![a.clone(), b.clone(), c.clone()]);
        assert_eq!(ok("a:1 OR b:2 OR c:3"), or3);
        assert_eq!(ok("(a:1 OR b:2) OR (c:3)"), or3);
        // Different kinds are not merged.
        assert_eq!(
            ok("(a:1 OR b:2) (c:3 OR d:4)"),
            Expr::And(vec![Expr::Or(vec![a, b]), Expr::Or(vec![c, d])])
        );
    }

    #[test]
    fn text_single_term_is_not_wrapped() {
        assert_eq!(ok("a:1"), cmp("a", CmpOp::Eq, "1"));
        assert_eq!(ok("((a:1))"), cmp("a", CmpOp::Eq, "1"));
        assert_eq!(ok("  acme  "), search("acme"));
    }

    // -- text: errors --------------------------------------------------------

    #[test]
    fn text_error_unclosed_quote() {
        text_err(r#""abc"#, 5, "closing '\"'", "end of query");
        text_err(r#"city:"New York"#, 15, "closing '\"'", "end of query");
        text_err(r#"t:"abc\""#, 9, "closing '\"'", "end of query");
        text_err(r#"t:"abc\"#, 8, "closing '\"'", "end of query");
    }

    #[test]
    fn text_error_missing_value() {
        text_err("city:", 6, "a value after 'city:'", "end of query");
        text_err("city: x", 6, "a value after 'city:'", "a space");
        text_err("n:>=", 5, "a value after 'n:>='", "end of query");
        text_err("(city:)", 7, "a value after 'city:'", "')'");
        text_err("a:1 city:(x)", 10, "a value after 'city:'", "'('");
    }

    #[test]
    fn text_error_unclosed_paren() {
        text_err("(a:1", 5, "')'", "end of query");
        text_err("(a:1 OR (b:2)", 14, "')'", "end of query");
    }

    #[test]
    fn text_error_stray_close_paren() {
        text_err(")", 1, "a search term or 'key:value'", "')'");
        text_err("a:1)", 4, "a search term or 'key:value'", "')'");
        text_err("(a:1))", 6, "a search term or 'key:value'", "')'");
        text_err("()", 2, "a search term after '('", "')'");
    }

    #[test]
    fn text_error_dangling_keywords() {
        text_err("AND a:1", 1, "a search term before 'AND'", "'AND'");
        text_err("or a:1", 1, "a search term before 'or'", "'or'");
        text_err("a:1 AND", 8, "a search term after 'AND'", "end of query");
        text_err("a:1 OR", 7, "a search term after 'OR'", "end of query");
        text_err("NOT", 4, "a search term after 'NOT'", "end of query");
        text_err("a:1 not", 8, "a search term after 'not'", "end of query");
        text_err("a:1 OR OR b:2", 8, "a search term after 'OR'", "'OR'");
        text_err("a:1 AND OR b:2", 9, "a search term after 'AND'", "'OR'");
        text_err("NOT AND a:1", 5, "a search term after 'NOT'", "'AND'");
        text_err("a:1 AND )", 9, "a search term after 'AND'", "')'");
        text_err("(OR a:1)", 2, "a search term after '('", "'OR'");
    }

    #[test]
    fn text_error_found_describes_terms() {
        text_err("(a:1 b:2", 9, "')'", "end of query");
        let err = parse_text("a:1 OR OR").expect_err("double OR");
        assert_eq!(err.found, "'OR'");
        // A term can never be the token where ')' or a term was missing
        // (terms juxtapose), so check how terms are named directly.
        let tok = Token {
            kind: TokenKind::Term(search("x")),
            position: 1,
            text: "city:x".to_string(),
        };
        assert_eq!(tok.describe(), "\"city:x\"");
        let quoted = Token {
            kind: TokenKind::Term(search("x")),
            position: 1,
            text: "\"x\"".to_string(),
        };
        assert_eq!(quoted.describe(), "\"x\"");
    }

    #[test]
    fn text_error_reports_leftmost_problem() {
        // The stray ')' comes before the unclosed quote.
        text_err(r#"a:1 ) "x"#, 5, "a search term or 'key:value'", "')'");
        // The unclosed quote is reached before the parser notices the '('.
        text_err(r#"(a:1 "x"#, 8, "closing '\"'", "end of query");
    }

    #[test]
    fn text_error_positions_count_chars_not_bytes() {
        text_err("é:x ü AND", 10, "a search term after 'AND'", "end of query");
    }

    #[test]
    fn text_error_display() {
        let err = parse_text("city:").expect_err("missing value");
        assert_eq!(
            err.to_string(),
            "query syntax error at position 6: expected a value after 'city:', found end of query"
        );
    }

    // -- JSON: shapes --------------------------------------------------------

    #[test]
    fn json_list_of_triples() {
        assert_eq!(
            jok(json!([["status", "=", "Open"], ["amount", ">", 100]])),
            Expr::And(vec![
                jcmp("status", CmpOp::Eq, text("Open")),
                jcmp("amount", CmpOp::Gt, Literal::Number(100.0)),
            ])
        );
    }

    #[test]
    fn json_single_condition_is_not_wrapped() {
        let open = jcmp("status", CmpOp::Eq, text("Open"));
        assert_eq!(jok(json!([["status", "=", "Open"]])), open);
        assert_eq!(jok(json!(["status", "=", "Open"])), open);
        assert_eq!(jok(json!({"status": "Open"})), open);
    }

    #[test]
    fn json_four_element_form_ignores_doctype() {
        assert_eq!(
            jok(json!([["ToDo", "status", "!=", "Closed"]])),
            jcmp("status", CmpOp::Ne, text("Closed"))
        );
    }

    #[test]
    fn json_empty_filters_match_everything() {
        assert_eq!(jok(json!([])), Expr::And(vec![]));
        assert_eq!(jok(json!({})), Expr::And(vec![]));
    }

    #[test]
    fn json_logical_objects() {
        let a = jcmp("a", CmpOp::Eq, Literal::Number(1.0));
        let b = jcmp("b", CmpOp::Eq, Literal::Number(2.0));
        assert_eq!(
            jok(json!({"or": [["a", "=", 1], ["b", "=", 2]]})),
            Expr::Or(vec![a.clone(), b.clone()])
        );
        assert_eq!(
            jok(json!({"and": [["a", "=", 1], ["b", "=", 2]]})),
            Expr::And(vec![a.clone(), b.clone()])
        );
        assert_eq!(jok(json!({"not": ["a", "=", 1]})), not(a.clone()));
        assert_eq!(
            jok(json!({"not": [["a", "=", 1], ["b", "=", 2]]})),
            not(Expr::And(vec![a.clone(), b.clone()]))
        );
        assert_eq!(jok(json!({"OR": [["a", "=", 1]]})), a.clone());
        assert_eq!(
            jok(json!([{"or": [{"a": 1}, {"b": 2}]}, {"not": {"a": 1}}])),
            Expr::And(vec![Expr::Or(vec![a.clone(), b.clone()]), not(a)])
        );
    }

    #[test]
    fn json_nested_lists_and_flattening() {
        let a = jcmp("a", CmpOp::Eq, Literal::Number(1.0));
        let b = jcmp("b", CmpOp::Eq, Literal::Number(2.0));
        let c = jcmp("c", CmpOp::Eq, Literal::Number(3.0));
        assert_eq!(
            jok(json!([["a", "=", 1], [["b", "=", 2], ["c", "=", 3]]])),
            Expr::And(vec![a.clone(), b.clone(), c.clone()])
        );
        assert_eq!(
            jok(json!({"or": [["a", "=", 1], {"or": [["b", "=", 2], ["c", "=", 3]]}]})),
            Expr::Or(vec![a, b, c])
        );
    }

    #[test]
    fn json_field_map() {
        // Key order depends on serde_json's `preserve_order` feature, so
        // compare as a set.
        let Expr::And(parts) = jok(json!({"status": "Open", "qty": [">=", 5], "owner": null}))
        else {
            panic!("a field map with several keys should be an And");
        };
        let expected = [
            jcmp("owner", CmpOp::Eq, Literal::Null),
            jcmp("qty", CmpOp::Ge, Literal::Number(5.0)),
            jcmp("status", CmpOp::Eq, text("Open")),
        ];
        assert_eq!(parts.len(), expected.len());
        for part in &expected {
            assert!(parts.contains(part), "missing {part:?}");
        }
    }

    // -- JSON: operators and values ------------------------------------------

    #[test]
    fn json_every_operator() {
        let cases = [
            ("=", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<", CmpOp::Lt),
            ("<=", CmpOp::Le),
            (">", CmpOp::Gt),
            (">=", CmpOp::Ge),
        ];
        for (spelling, op) in cases {
            assert_eq!(
                jok(json!([["n", spelling, 1.5]])),
                jcmp("n", op, Literal::Number(1.5)),
                "{spelling}"
            );
        }
        assert_eq!(
            jok(json!([["n", "like", "a%"]])),
            jcmp("n", CmpOp::Like, text("a%"))
        );
        assert_eq!(
            jok(json!([["n", "not like", "a%"]])),
            jcmp("n", CmpOp::NotLike, text("a%"))
        );
        assert_eq!(
            jok(json!([["n", "in", ["x", 2]]])),
            jcmp(
                "n",
                CmpOp::In,
                Literal::List(vec![text("x"), Literal::Number(2.0)])
            )
        );
        assert_eq!(
            jok(json!([["n", "not in", [true]]])),
            jcmp("n", CmpOp::NotIn, Literal::List(vec![Literal::Bool(true)]))
        );
    }

    #[test]
    fn json_operators_ignore_case_and_spacing() {
        assert_eq!(
            jok(json!([["n", "LIKE", "a%"]])),
            jcmp("n", CmpOp::Like, text("a%"))
        );
        assert_eq!(
            jok(json!([["n", " Not  Like ", "a%"]])),
            jcmp("n", CmpOp::NotLike, text("a%"))
        );
        assert_eq!(
            jok(json!([["n", "NOT IN", "a"]])),
            jcmp("n", CmpOp::NotIn, Literal::List(vec![text("a")]))
        );
    }

    #[test]
    fn json_scalar_values() {
        assert_eq!(
            jok(json!([["b", "=", false]])),
            jcmp("b", CmpOp::Eq, Literal::Bool(false))
        );
        assert_eq!(
            jok(json!([["b", "!=", null]])),
            jcmp("b", CmpOp::Ne, Literal::Null)
        );
        assert_eq!(
            jok(json!([["n", "<", -3]])),
            jcmp("n", CmpOp::Lt, Literal::Number(-3.0))
        );
        assert_eq!(
            jok(json!([["d", ">", "2024-01-01"]])),
            jcmp("d", CmpOp::Gt, text("2024-01-01"))
        );
    }

    #[test]
    fn json_like_patterns() {
        let like = |p: &str| jok(json!([["n", "like", p]]));
        assert_eq!(like("a_b%"), jcmp("n", CmpOp::Like, text(r"a\_b%")));
        assert_eq!(like(r"a\_b%"), jcmp("n", CmpOp::Like, text(r"a\_b%")));
        assert_eq!(like(r"50\%"), jcmp("n", CmpOp::Like, text(r"50\%")));
        assert_eq!(like(r"a\\b"), jcmp("n", CmpOp::Like, text(r"a\\b")));
        assert_eq!(like(r"a\b"), jcmp("n", CmpOp::Like, text("ab")));
        assert_eq!(like(r"end\"), jcmp("n", CmpOp::Like, text(r"end\\")));
    }

    #[test]
    fn json_in_with_comma_separated_text() {
        assert_eq!(
            jok(json!([["s", "in", "Open, Closed,,  Draft "]])),
            jcmp(
                "s",
                CmpOp::In,
                Literal::List(vec![text("Open"), text("Closed"), text("Draft")])
            )
        );
        assert_eq!(
            jok(json!([["s", "in", []]])),
            jcmp("s", CmpOp::In, Literal::List(vec![]))
        );
    }

    // -- JSON: errors --------------------------------------------------------

    #[test]
    fn json_error_bad_operator() {
        json_err(
            json!([["a", "=", 1], ["b", "~", 2]]),
            2,
            "filters[1][1]",
            EXPECTED_OP,
            "\"~\"",
        );
        json_err(json!([["a", 5, 1]]), 1, "filters[0][1]", EXPECTED_OP, "5");
        json_err(
            json!({"a": ["==", 1]}),
            1,
            "filters.a[0]",
            EXPECTED_OP,
            "\"==\"",
        );
    }

    #[test]
    fn json_error_root_shape() {
        json_err(
            json!("status"),
            0,
            "filters",
            "an array or object of filters",
            "\"status\"",
        );
        json_err(json!(3), 0, "filters", "an array or object of filters", "3");
        json_err(
            json!(null),
            0,
            "filters",
            "an array or object of filters",
            "null",
        );
    }

    #[test]
    fn json_error_condition_shape() {
        json_err(
            json!([["a", "=", 1], 7]),
            2,
            "filters[1]",
            "a condition ([field, operator, value] or an object)",
            "7",
        );
        json_err(
            json!([["a", "="]]),
            1,
            "filters[0]",
            "[field, operator, value] or [doctype, field, operator, value]",
            "an array of 2 items",
        );
        json_err(
            json!([["a", "=", 1, 2, 3]]),
            1,
            "filters[0]",
            "[field, operator, value] or [doctype, field, operator, value]",
            "an array of 5 items",
        );
        json_err(
            json!({"or": "x"}),
            1,
            "filters.or",
            "an array of conditions",
            "\"x\"",
        );
        json_err(
            json!({"or": [["a", "=", 1]], "b": 2}),
            0,
            "filters",
            "'or' as the only key of its object",
            "an object with 2 keys",
        );
    }

    #[test]
    fn json_error_field_names() {
        json_err(
            json!([["1abc", "=", 1]]),
            1,
            "filters[0][0]",
            "a field name (letters, digits and '_', not starting with a digit)",
            "\"1abc\"",
        );
        json_err(
            json!([["ToDo", 5, "=", 1]]),
            1,
            "filters[0][1]",
            "a field name",
            "5",
        );
        json_err(
            json!({"a b": 1}),
            1,
            "filters[\"a b\"]",
            "a field name (letters, digits and '_', not starting with a digit)",
            "\"a b\"",
        );
    }

    #[test]
    fn json_error_values() {
        json_err(
            json!([["a", ">", null]]),
            1,
            "filters[0][2]",
            "a value to compare with (null only works with = and !=)",
            "null",
        );
        json_err(
            json!([["a", "=", [1, 2]]]),
            1,
            "filters[0][2]",
            "a single value (use 'in' or 'not in' for a list)",
            "an array of 2 items",
        );
        json_err(
            json!([["a", "=", {"x": 1}]]),
            1,
            "filters[0][2]",
            "a string, number or boolean",
            "an object",
        );
        json_err(
            json!([["a", "like", 5]]),
            1,
            "filters[0][2]",
            "a text pattern",
            "5",
        );
        json_err(
            json!([["a", "in", 5]]),
            1,
            "filters[0][2]",
            "a list (an array or comma-separated text)",
            "5",
        );
        json_err(
            json!([["x", "=", 0], ["a", "in", ["ok", null]]]),
            2,
            "filters[1][2][1]",
            "a string, number or boolean",
            "null",
        );
        json_err(
            json!({"a": [1]}),
            1,
            "filters.a",
            "a value or [operator, value]",
            "an array of 1 item",
        );
    }

    #[test]
    fn json_error_positions_follow_top_level_condition() {
        // Deep inside the third top-level condition.
        json_err(
            json!([{}, {}, {"or": [{"not": ["a", "?", 1]}]}]),
            3,
            "filters[2].or[0].not[1]",
            EXPECTED_OP,
            "\"?\"",
        );
        // Field maps at the root count each key (in map order).
        json_err(
            json!({"a": 1, "b": [">", null]}),
            2,
            "filters.b[1]",
            "a value to compare with (null only works with = and !=)",
            "null",
        );
    }

    #[test]
    fn json_error_long_found_text_is_shortened() {
        let long = "x".repeat(100);
        let err = parse_json(&json!([["a", long, 1]])).expect_err("long op");
        assert_eq!(err.found, format!("\"{}...\"", "x".repeat(37)));
    }
}
