//! The CQL subset the simulator understands: a real (small) recursive
//! descent parser and an evaluator over the dataset.
//!
//! ```text
//! query   := or
//! or      := and ("OR" and)*
//! and     := primary ("AND" primary)*
//! primary := "(" or ")" | clause
//! clause  := field ("=" | "!=") value
//!          | field ["NOT"] "IN" "(" value ("," value)* ")"
//! value   := "\"" (escaped char | char)* "\"" | bare word
//! ```
//!
//! Keywords are case-insensitive. Fields: `label`, `type`, `space`,
//! `space.key`, `space.type`, `id`, `ancestor`, `parent`, `title`.
//! Anything else is a parse error, answered with 400 as Confluence does.

use std::fmt;

use super::dataset::{Dataset, SimPage};

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Or(Vec<Query>),
    And(Vec<Query>),
    Compare {
        field: Field,
        negated: bool,
        value: String,
    },
    In {
        field: Field,
        negated: bool,
        values: Vec<String>,
    },
}

/// The fields the simulator can evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Label,
    Type,
    Space,
    SpaceType,
    Id,
    Ancestor,
    Parent,
    Title,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        Some(match name.to_ascii_lowercase().as_str() {
            "label" => Field::Label,
            "type" => Field::Type,
            "space" | "space.key" => Field::Space,
            "space.type" => Field::SpaceType,
            "id" | "content" => Field::Id,
            "ancestor" => Field::Ancestor,
            "parent" => Field::Parent,
            "title" => Field::Title,
            _ => return None,
        })
    }
}

/// Why a query was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CqlError(pub String);

impl fmt::Display for CqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Could not parse cql: {}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Eq,
    NotEq,
    Open,
    Close,
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<Token>, CqlError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' | '=' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    _ => Token::Eq,
                });
            }
            '!' => {
                chars.next();
                if chars.next() != Some('=') {
                    return Err(CqlError("`!` must be followed by `=`".into()));
                }
                tokens.push(Token::NotEq);
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => value.push(escaped),
                            None => return Err(CqlError("dangling `\\`".into())),
                        },
                        Some(other) => value.push(other),
                        None => return Err(CqlError("unterminated string".into())),
                    }
                }
                tokens.push(Token::Quoted(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '~') {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if word.is_empty() {
                    return Err(CqlError(format!("unexpected character `{c}`")));
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

/// Parses a CQL query of the supported subset.
pub fn parse(text: &str) -> Result<Query, CqlError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, pos: 0 };
    let query = parser.or()?;
    if parser.pos != parser.tokens.len() {
        return Err(CqlError(format!(
            "unexpected {:?}",
            parser.tokens[parser.pos]
        )));
    }
    Ok(query)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn keyword(&mut self, keyword: &str) -> bool {
        if matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: Token) -> Result<(), CqlError> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            other => Err(CqlError(format!("expected {token:?}, found {other:?}"))),
        }
    }

    fn or(&mut self) -> Result<Query, CqlError> {
        let mut terms = vec![self.and()?];
        while self.keyword("OR") {
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Query::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Query, CqlError> {
        let mut terms = vec![self.primary()?];
        while self.keyword("AND") {
            terms.push(self.primary()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Query::And(terms)
        })
    }

    fn primary(&mut self) -> Result<Query, CqlError> {
        if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::Close)?;
            return Ok(inner);
        }
        self.clause()
    }

    fn clause(&mut self) -> Result<Query, CqlError> {
        let field = match self.next() {
            Some(Token::Word(name)) => Field::parse(&name)
                .ok_or_else(|| CqlError(format!("unsupported field `{name}`")))?,
            other => return Err(CqlError(format!("expected a field, found {other:?}"))),
        };
        match self.next() {
            Some(Token::Eq) => Ok(Query::Compare {
                field,
                negated: false,
                value: self.value()?,
            }),
            Some(Token::NotEq) => Ok(Query::Compare {
                field,
                negated: true,
                value: self.value()?,
            }),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("IN") => self.list(field, false),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("NOT") && self.keyword("IN") => {
                self.list(field, true)
            }
            other => Err(CqlError(format!("expected an operator, found {other:?}"))),
        }
    }

    fn list(&mut self, field: Field, negated: bool) -> Result<Query, CqlError> {
        self.expect(Token::Open)?;
        let mut values = vec![self.value()?];
        while self.peek() == Some(&Token::Comma) {
            self.pos += 1;
            values.push(self.value()?);
        }
        self.expect(Token::Close)?;
        Ok(Query::In {
            field,
            negated,
            values,
        })
    }

    fn value(&mut self) -> Result<String, CqlError> {
        match self.next() {
            Some(Token::Word(w) | Token::Quoted(w)) => Ok(w),
            other => Err(CqlError(format!("expected a value, found {other:?}"))),
        }
    }
}

impl Query {
    /// Whether `page` matches. Content searches never return attachments,
    /// so `type != attachment` holds for every page.
    pub fn matches(&self, dataset: &Dataset, page: &SimPage) -> bool {
        match self {
            Query::Or(terms) => terms.iter().any(|t| t.matches(dataset, page)),
            Query::And(terms) => terms.iter().all(|t| t.matches(dataset, page)),
            Query::Compare {
                field,
                negated,
                value,
            } => field_matches(*field, dataset, page, std::slice::from_ref(value)) != *negated,
            Query::In {
                field,
                negated,
                values,
            } => field_matches(*field, dataset, page, values) != *negated,
        }
    }
}

fn field_matches(field: Field, dataset: &Dataset, page: &SimPage, values: &[String]) -> bool {
    let any = |candidate: &str| values.iter().any(|v| v == candidate);
    match field {
        Field::Label => page.labels.iter().any(|l| any(l)),
        Field::Type => any(&page.content_type),
        Field::Space => any(&page.space_key),
        Field::SpaceType => dataset
            .space_by_key(&page.space_key)
            .is_some_and(|s| any(s.space_type.as_str())),
        Field::Id => any(&page.id),
        Field::Ancestor => dataset.ancestors(page).iter().any(|a| any(a)),
        Field::Parent => page.parent.as_deref().is_some_and(any),
        Field::Title => any(&page.title),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::confluence::dataset::{SimSpace, SpaceType};

    fn dataset() -> Dataset {
        Dataset::new()
            .space(SimSpace::new("1", "SP", "Space"))
            .space(SimSpace::new("2", "ME", "Mine").with_type(SpaceType::Personal))
            .page(SimPage::new("1", "SP").labels(["ai-ingest"]))
            .page(
                SimPage::new("2", "SP")
                    .labels([r#"we"ird\label"#])
                    .parent("1"),
            )
            .page(SimPage::new("3", "ME").labels(["ai-ingest"]))
            .page(SimPage::new("4", "SP").content_type("blogpost").parent("2"))
    }

    fn ids(query: &str) -> Vec<String> {
        let dataset = dataset();
        let query = parse(query).unwrap();
        dataset
            .pages()
            .iter()
            .filter(|p| query.matches(&dataset, p))
            .map(|p| p.id.clone())
            .collect()
    }

    #[test]
    fn evaluates_the_connector_queries() {
        let q1 = r#"((label="ai-ingest") OR (label="none")) AND space.type=global AND type != attachment"#;
        assert_eq!(ids(q1), ["1"]);
        assert_eq!(ids("ancestor IN (1) AND type != attachment"), ["2", "4"]);
        assert_eq!(ids("id in (3,4)"), ["3", "4"]);
        assert_eq!(ids("id=2"), ["2"]);
        assert_eq!(ids(r#"label = "we\"ird\\label""#), ["2"]);
        assert_eq!(ids("type = blogpost or space.type = personal"), ["3", "4"]);
        assert_eq!(ids("id NOT IN (1,2)"), ["3", "4"]);
    }

    #[test]
    fn precedence_is_and_over_or() {
        assert_eq!(ids("id = 1 OR id = 2 AND type = blogpost"), ["1"]);
        assert_eq!(ids("(id = 1 OR id = 4) AND type = blogpost"), ["4"]);
    }

    #[test]
    fn malformed_queries_are_errors() {
        for bad in [
            r#"label = "open"#,
            "label = ",
            "(id = 1",
            "id = 1)",
            "creator = me",
            "id ! 1",
            "id IN 1",
            r#"label = "x\"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
