//! CQL (Confluence Query Language) for the queries the connector sends
//! (PROTOCOL §5.2): label discovery, descendants of ingest-all roots and the
//! batched body fetch.
//!
//! Values are never interpolated raw. Strings go through [`quote`], which
//! escapes `\` and `"` inside a double-quoted literal, so a label or space
//! key can neither end the literal early nor add clauses; ids must pass
//! [`ContentId::parse`] before they reach a query. With labels that contain
//! neither character (what config validation guarantees, §3.4) the output is
//! byte-for-byte the reference templates Q1c/Q1d/Q2.

use std::fmt;

use super::model::InstanceType;

/// At most this many ids go into one `ancestor IN (…)` clause (§5.2 Q2).
pub const MAX_ANCESTORS_PER_QUERY: usize = 100;

/// A Confluence content id that is safe to place unquoted in CQL: one or
/// more of `[0-9A-Za-z_-]` (§5.2: "ids are validated").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentId(String);

/// An id that cannot be used in CQL; the caller skips the content it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content id {0:?} is not of the form [0-9A-Za-z_-]+")]
pub struct InvalidContentId(pub String);

impl ContentId {
    pub fn parse(value: &str) -> Result<ContentId, InvalidContentId> {
        let valid = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(ContentId(value.to_owned()))
        } else {
            Err(InvalidContentId(value.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `value` as a double-quoted CQL string literal: `\` becomes `\\` and `"`
/// becomes `\"`, so the only unescaped quotes are the two delimiters.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Q1c (Cloud) / Q1d (Data Center): content carrying either sync label in
/// the space types the flavour indexes. Personal spaces are never included;
/// Data Center rejects `collaboration`, hence two filters.
pub fn labeled_content(flavor: InstanceType, single_label: &str, all_label: &str) -> String {
    let space_filter = match flavor {
        InstanceType::Cloud => "(space.type=global OR space.type=collaboration)",
        InstanceType::DataCenter => "space.type=global",
    };
    format!(
        "((label={}) OR (label={})) AND {space_filter} AND type != attachment",
        quote(single_label),
        quote(all_label)
    )
}

/// Q2 for each batch of at most [`MAX_ANCESTORS_PER_QUERY`] roots, in the
/// order given: `ancestor IN (1,2,…) AND type != attachment`.
pub fn descendants(roots: &[ContentId]) -> impl Iterator<Item = String> + '_ {
    roots
        .chunks(MAX_ANCESTORS_PER_QUERY)
        .map(|batch| format!("ancestor IN ({}) AND type != attachment", join_ids(batch)))
}

/// The batched body fetch (ours, §13 #26): `id IN (1,2,…)`.
pub fn ids_in(ids: &[ContentId]) -> String {
    format!("id IN ({})", join_ids(ids))
}

/// Cloud C3: `id={pageId}`.
pub fn id_equals(id: &ContentId) -> String {
    format!("id={id}")
}

fn join_ids(ids: &[ContentId]) -> String {
    let mut out = String::new();
    for (n, id) in ids.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(id.as_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What the test parser sees: string literals with their decoded value,
    /// and every other character as structure.
    #[derive(Debug, PartialEq, Eq)]
    enum Token {
        Literal(String),
        Structure(char),
    }

    /// A deliberately small CQL tokenizer: a literal starts at an unescaped
    /// `"` and ends at the next unescaped `"`; `\x` inside a literal is `x`.
    /// Returns `None` for an unterminated literal or a dangling escape.
    fn tokenize(query: &str) -> Option<Vec<Token>> {
        let mut tokens = Vec::new();
        let mut chars = query.chars();
        while let Some(c) = chars.next() {
            if c != '"' {
                tokens.push(Token::Structure(c));
                continue;
            }
            let mut value = String::new();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    other => value.push(other),
                }
            }
            tokens.push(Token::Literal(value));
        }
        Some(tokens)
    }

    fn literals(tokens: &[Token]) -> Vec<&str> {
        tokens
            .iter()
            .filter_map(|t| match t {
                Token::Literal(v) => Some(v.as_str()),
                Token::Structure(_) => None,
            })
            .collect()
    }

    fn structure(tokens: &[Token]) -> Vec<char> {
        tokens
            .iter()
            .map(|t| match t {
                Token::Literal(_) => '$',
                Token::Structure(c) => *c,
            })
            .collect()
    }

    fn ids(values: &[&str]) -> Vec<ContentId> {
        values
            .iter()
            .map(|v| ContentId::parse(v).unwrap())
            .collect()
    }

    #[test]
    fn label_queries_are_the_reference_templates() {
        assert_eq!(
            labeled_content(InstanceType::Cloud, "ai-ingest", "ai-ingest-all"),
            r#"((label="ai-ingest") OR (label="ai-ingest-all")) AND (space.type=global OR space.type=collaboration) AND type != attachment"#
        );
        assert_eq!(
            labeled_content(InstanceType::DataCenter, "ai-ingest", "ai-ingest-all"),
            r#"((label="ai-ingest") OR (label="ai-ingest-all")) AND space.type=global AND type != attachment"#
        );
    }

    #[test]
    fn ancestor_queries_batch_by_one_hundred_in_order() {
        let roots: Vec<ContentId> = (1..=201)
            .map(|n| ContentId::parse(&n.to_string()).unwrap())
            .collect();
        let queries: Vec<String> = descendants(&roots).collect();
        assert_eq!(queries.len(), 3);
        assert!(queries[0].starts_with("ancestor IN (1,2,3,"));
        assert!(queries[0].ends_with(",100) AND type != attachment"));
        assert!(queries[1].starts_with("ancestor IN (101,"));
        assert_eq!(queries[2], "ancestor IN (201) AND type != attachment");
        assert_eq!(descendants(&[]).count(), 0);
    }

    #[test]
    fn id_queries() {
        assert_eq!(ids_in(&ids(&["1", "22", "x_3"])), "id IN (1,22,x_3)");
        assert_eq!(id_equals(&ids(&["42"])[0]), "id=42");
    }

    #[test]
    fn ids_outside_the_safe_alphabet_are_rejected() {
        for bad in ["", "1 OR 2", "1)", "\"1\"", "1,2", "é", "1\\"] {
            assert_eq!(
                ContentId::parse(bad),
                Err(InvalidContentId(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert!(ContentId::parse("att-12_AB").is_ok());
    }

    #[test]
    fn quoting_escapes_backslash_and_quote() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote(""), r#""""#);
    }

    proptest! {
        #[test]
        fn labels_round_trip_and_never_change_the_query_structure(
            single in any::<String>(),
            all in any::<String>(),
            cloud in any::<bool>(),
        ) {
            let flavor = if cloud { InstanceType::Cloud } else { InstanceType::DataCenter };
            let query = labeled_content(flavor, &single, &all);
            let tokens = tokenize(&query).expect("every literal is terminated");
            prop_assert_eq!(literals(&tokens), vec![single.as_str(), all.as_str()]);
            // Same structure as with harmless labels: nothing was widened.
            let reference = tokenize(&labeled_content(flavor, "a", "b")).unwrap();
            prop_assert_eq!(structure(&tokens), structure(&reference));
        }

        #[test]
        fn a_quoted_value_has_no_unescaped_quote_inside(value in "[\"\\\\a-z ()=]{0,24}") {
            let quoted = quote(&value);
            let inner = &quoted[1..quoted.len() - 1];
            let mut escaped = false;
            for c in inner.chars() {
                prop_assert!(escaped || c != '"', "unescaped quote in {}", quoted);
                escaped = !escaped && c == '\\';
            }
            prop_assert!(!escaped, "dangling escape swallows the closing quote in {}", quoted);
            prop_assert_eq!(tokenize(&quoted), Some(vec![Token::Literal(value)]));
        }

        #[test]
        fn valid_ids_always_parse_and_join_without_spaces(
            raw in proptest::collection::vec("[0-9A-Za-z_-]{1,12}", 1..150),
        ) {
            let parsed: Vec<ContentId> = raw.iter().map(|v| ContentId::parse(v).unwrap()).collect();
            let queries: Vec<String> = descendants(&parsed).collect();
            prop_assert_eq!(queries.len(), raw.len().div_ceil(MAX_ANCESTORS_PER_QUERY));
            let listed: Vec<String> = queries
                .iter()
                .flat_map(|q| {
                    let inner = q.trim_start_matches("ancestor IN (");
                    let inner = &inner[..inner.find(')').unwrap()];
                    inner.split(',').map(str::to_owned).collect::<Vec<_>>()
                })
                .collect();
            prop_assert_eq!(listed, raw);
        }
    }
}
