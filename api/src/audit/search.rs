//! The Retraced search language: one parser for `AuditEventFilter.query` and (later) the
//! Retraced search endpoint.
//!
//! `key:value`, `key:"quoted value"`, `key:a,b,"c d"` (comma = OR), bare words and `"quoted
//! phrases"` (free text). Repeating a key appends to its list. Keys: `action` (a trailing `*`
//! matches a prefix), `crud` (`c`, `r`, `u`, `d`), `received` and `created` (exactly two ISO
//! datetimes, a `[start, end)` range), `actor.id`, `actor.name`, `description`, `external_id`,
//! `target.id`, `target.name`, `target.type`, `location`. An unknown `key:value` is free text.
//! Unlike Retraced, `-key:value` (and `-word`) negates: it keeps every event the term does not
//! match, events without the field included.

use std::fmt;

use chrono::{DateTime, Utc};
use entity::audit_log::Column;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, LikeExpr, SimpleExpr};

use super::external_id;
pub use super::free_text::FREE_TEXT;
use super::free_text::{TextMatch, can_look_up, escape_like, text_expr, text_lookup};
pub use super::search_lex::SearchError;
use super::search_lex::{quote, split_key, split_values, tokenize, unquote};

/// A keyed term's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `action`, with `*` prefixes.
    Action,
    /// `crud`.
    Crud,
    /// `received` (when we stored the event).
    Received,
    /// `created` (when the event happened, per its publisher; ours: the same moment).
    Created,
    /// `actor.id`.
    ActorId,
    /// `actor.name`.
    ActorName,
    /// `description` (kept in `metadata.description`).
    Description,
    /// `external_id` (kept in `metadata.external_id`).
    ExternalId,
    /// `target.id`.
    TargetId,
    /// `target.name`.
    TargetName,
    /// `target.type`.
    TargetType,
    /// `location` (not recorded: matches everything, as Retraced without GeoIP).
    Location,
}

const KEYS: [(&str, Key); 12] = [
    ("action", Key::Action),
    ("crud", Key::Crud),
    ("received", Key::Received),
    ("created", Key::Created),
    ("actor.id", Key::ActorId),
    ("actor.name", Key::ActorName),
    ("description", Key::Description),
    ("external_id", Key::ExternalId),
    ("target.id", Key::TargetId),
    ("target.name", Key::TargetName),
    ("target.type", Key::TargetType),
    ("location", Key::Location),
];

impl Key {
    fn name(self) -> &'static str {
        KEYS.iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
}

/// One term of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// `key:v1,v2` (any of the values).
    Keyed {
        /// The key.
        key: Key,
        /// The values, as written (unquoted).
        values: Vec<String>,
        /// `-key:...`.
        negated: bool,
    },
    /// A `[start, end)` time range on `received` or `created`.
    Range {
        /// [`Key::Received`] or [`Key::Created`].
        key: Key,
        /// Inclusive start.
        start: DateTime<Utc>,
        /// Exclusive end.
        end: DateTime<Utc>,
        /// `-received:...`.
        negated: bool,
    },
    /// Free text: matches action, actor, target and description, case-insensitively.
    Text {
        /// The word or phrase.
        text: String,
        /// `-word`.
        negated: bool,
    },
}

/// A parsed query: all terms must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchQuery {
    /// The terms, keyed terms merged per key and sign.
    pub terms: Vec<Term>,
}

/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 2_000;

/// Most terms (words, phrases and `key:value` terms) in one query.
pub const MAX_TERMS: usize = 32;

/// Most values one key may list (`key:a,b,c`, repeated keys counted together).
pub const MAX_KEY_VALUES: usize = super::MAX_LIST_VALUES;

impl SearchQuery {
    /// Parses a query string. A query longer than [`MAX_QUERY_CHARS`], with more than
    /// [`MAX_TERMS`] terms or more than [`MAX_KEY_VALUES`] values for a key is refused: each
    /// term is a condition of the statement, and a thousand of them made a plan that ran
    /// minutes.
    pub fn parse(input: &str) -> Result<SearchQuery, SearchError> {
        let length = input.chars().count();
        if length > MAX_QUERY_CHARS {
            return Err(SearchError(format!(
                "the query has {length} characters; at most {MAX_QUERY_CHARS} are allowed"
            )));
        }
        let tokens = tokenize(input)?;
        if tokens.len() > MAX_TERMS {
            return Err(SearchError(format!(
                "the query has {} terms; at most {MAX_TERMS} are allowed",
                tokens.len()
            )));
        }
        let mut query = SearchQuery::default();
        for token in tokens {
            let (negated, body) = match token.strip_prefix('-') {
                Some(rest) if !rest.is_empty() => (true, rest),
                _ => (false, token.as_str()),
            };
            let keyed = split_key(body).and_then(|(k, v)| {
                KEYS.iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, key)| (*key, v))
            });
            match keyed {
                Some((key @ (Key::Received | Key::Created), value)) => {
                    let values = split_values(value)?;
                    let range = match values.as_slice() {
                        [start, end] => parse_time(start).zip(parse_time(end)),
                        _ => None,
                    };
                    let (start, end) = range.ok_or_else(|| {
                        SearchError(format!(
                            "The {} field requires a range of two datetimes.",
                            key.name()
                        ))
                    })?;
                    query.terms.push(Term::Range {
                        key,
                        start,
                        end,
                        negated,
                    });
                }
                Some((key, value)) => {
                    let values = split_values(value)?;
                    if values.is_empty() {
                        return Err(SearchError(format!("{}: needs a value", key.name())));
                    }
                    if key == Key::Crud
                        && let Some(bad) = values
                            .iter()
                            .find(|v| !matches!(v.as_str(), "c" | "r" | "u" | "d"))
                    {
                        return Err(SearchError(format!(
                            "crud: {bad:?} is not one of c, r, u, d"
                        )));
                    }
                    query.add_keyed(key, values, negated);
                }
                None => {
                    let text = unquote(body);
                    if text.chars().any(char::is_control) {
                        return Err(SearchError(
                            "a search word cannot contain control characters".to_owned(),
                        ));
                    }
                    if !text.is_empty() {
                        query.terms.push(Term::Text { text, negated });
                    }
                }
            }
        }
        if let Some((key, count)) = query.terms.iter().find_map(|t| match t {
            Term::Keyed { key, values, .. } if values.len() > MAX_KEY_VALUES => {
                Some((key.name(), values.len()))
            }
            _ => None,
        }) {
            return Err(SearchError(format!(
                "{key}: {count} values; a key takes at most {MAX_KEY_VALUES}"
            )));
        }
        Ok(query)
    }

    fn add_keyed(&mut self, key: Key, values: Vec<String>, negated: bool) {
        for term in &mut self.terms {
            if let Term::Keyed {
                key: k,
                values: existing,
                negated: n,
            } = term
                && *k == key
                && *n == negated
            {
                existing.extend(values);
                return;
            }
        }
        self.terms.push(Term::Keyed {
            key,
            values,
            negated,
        });
    }

    /// Whether a term of this query can be looked up in the trigram index: a free-text word,
    /// or an `actor.name:`, `target.name:` or `description:` term, to match (not to exclude),
    /// with three letters or digits in a row. Only then does the size of the tenant searched
    /// decide how they are matched ([`TextMatch`]).
    pub fn has_indexed_text(&self) -> bool {
        self.terms.iter().any(|term| match term {
            Term::Text {
                text,
                negated: false,
            } => can_look_up(std::slice::from_ref(text)),
            Term::Keyed {
                key: Key::ActorName | Key::TargetName | Key::Description,
                values,
                negated: false,
            } => can_look_up(values),
            _ => false,
        })
    }

    /// The SQL condition on `audit_log` that this query selects, its free-text words matched
    /// as `text` says (the rows are the same either way).
    pub fn condition(&self, text: TextMatch) -> Condition {
        self.terms.iter().fold(Condition::all(), |all, term| {
            let (expr, negated) = match term {
                Term::Keyed {
                    key,
                    values,
                    negated,
                } => {
                    let expr = keyed_expr(*key, values);
                    // Names and descriptions are part of the free text, which the trigram
                    // index can search: a rare value is then found there instead of by a
                    // scan (redundant, so it changes no result; useless under a negation).
                    let found_in_text =
                        matches!(key, Key::ActorName | Key::TargetName | Key::Description)
                            && !negated;
                    match found_in_text.then(|| text_lookup(values, text)).flatten() {
                        Some(lookup) => (expr.and(lookup), *negated),
                        // An external id is found through the metadata index the same way.
                        None if *key == Key::ExternalId && !negated => {
                            (external_id::condition(expr, values), false)
                        }
                        None => (expr, *negated),
                    }
                }
                Term::Range {
                    start,
                    end,
                    negated,
                    ..
                } => (
                    Expr::col(Column::CreatedAt)
                        .gte(*start)
                        .and(Expr::col(Column::CreatedAt).lt(*end)),
                    *negated,
                ),
                Term::Text {
                    text: word,
                    negated,
                } => (text_expr(word, text), *negated),
            };
            // `-term` keeps every event the term does not match, an event without the field
            // (NULL) included: `NOT` alone would turn a NULL into NULL and drop the event.
            all.add(if negated {
                Expr::cust_with_expr("($1) IS NOT TRUE", expr)
            } else {
                expr
            })
        })
    }
}

fn keyed_expr(key: Key, values: &[String]) -> SimpleExpr {
    let any_of = |column: Expr| column.is_in(values.iter().cloned());
    match key {
        Key::Action => values
            .iter()
            .map(|v| match v.strip_suffix('*') {
                Some(prefix) => action_prefix(prefix),
                None => Expr::col(Column::Action).eq(v.clone()),
            })
            .reduce(|a, b| a.or(b))
            .unwrap_or_else(|| Expr::value(false)),
        Key::Crud => any_of(Expr::cust("(metadata->>'crud')")),
        Key::Received | Key::Created => Expr::value(true),
        Key::ActorId => any_of(Expr::col(Column::ActorId)),
        Key::ActorName => any_of(Expr::col(Column::ActorName)),
        Key::Description => any_of(Expr::cust("(metadata->>'description')")),
        Key::ExternalId => any_of(Expr::cust("(metadata->>'external_id')")),
        Key::TargetId => any_of(Expr::col(Column::TargetId)),
        Key::TargetName => any_of(Expr::col(Column::TargetName)),
        Key::TargetType => any_of(Expr::col(Column::TargetType)),
        Key::Location => Expr::value(true),
    }
}

/// `action` starts with `prefix` (`%`, `_` and `\` in it matched literally). A prefix with a
/// dot fixes the first dot-separated segment of every action it matches (`crm.deal.` and
/// `crm.de` only match actions of `crm`), and that equality is added: it is what
/// `audit_log_tenant_namespace_idx` (migration `m20261122_141000_audit_action_namespace_index`)
/// holds in time order, so a tenant's page of a prefix is read in order, however rare the
/// prefix. The `LIKE` alone is served by a range of actions whose rows must all be fetched
/// and sorted.
pub fn action_prefix(prefix: &str) -> SimpleExpr {
    let like = Expr::col(Column::Action).like(prefix_pattern(prefix));
    match prefix.split_once('.') {
        Some((namespace, _)) => {
            Expr::cust_with_values("split_part(action, '.', 1) = $1", [namespace.to_owned()])
                .and(like)
        }
        None => like,
    }
}

/// `LIKE 'prefix%'` with `%`, `_` and `\` in the prefix matched literally.
fn prefix_pattern(prefix: &str) -> LikeExpr {
    LikeExpr::new(format!("{}%", escape_like(prefix))).escape('\\')
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

/// Prints the query back in the language; parsing the output gives the same query.
impl fmt::Display for SearchQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for term in &self.terms {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            match term {
                Term::Keyed {
                    key,
                    values,
                    negated,
                } => {
                    let values: Vec<String> = values.iter().map(|v| quote(v)).collect();
                    write!(
                        f,
                        "{}{}:{}",
                        if *negated { "-" } else { "" },
                        key.name(),
                        values.join(",")
                    )?;
                }
                Term::Range {
                    key,
                    start,
                    end,
                    negated,
                } => write!(
                    f,
                    "{}{}:{},{}",
                    if *negated { "-" } else { "" },
                    key.name(),
                    start.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                    end.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                )?,
                Term::Text { text, negated } => {
                    write!(f, "{}\"{text}\"", if *negated { "-" } else { "" })?
                }
            }
        }
        Ok(())
    }
}
