//! The filter grammar of RFC 7644 §3.4.2.2: `eq ne co sw ew gt ge lt le pr`, `and`, `or`, `not`,
//! parentheses and value paths (`emails[type eq "work"]`, also followed by `.value eq "…"` as
//! Entra sends it). Operators and attribute names are case-insensitive; string comparisons are
//! case-insensitive unless the attribute is `caseExact` (`id`, `externalId`).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::path::{self, AttrPath};
use crate::schema::ResourceKind;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and value paths accepted.
const MAX_DEPTH: usize = 32;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Present(AttrPath),
    Compare(AttrPath, CompareOp, Value),
    /// `attr[filter]`: some element of the multi-valued `attr` matches `filter`.
    ValuePath(AttrPath, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
    LBracket,
    RBracket,
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidFilter, detail)
}

fn lex(s: &str) -> Result<Vec<Tok>, ScimError> {
    let mut out = vec![];
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                out.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    '[' => Tok::LBracket,
                    _ => Tok::RBracket,
                });
            }
            '"' => {
                // A JSON string: find its end, honouring backslash escapes, and let serde decode it.
                chars.next();
                let mut escaped = false;
                let mut end = None;
                for (j, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        end = Some(j);
                        break;
                    }
                }
                let end = end.ok_or_else(|| invalid("unterminated string in filter"))?;
                let text: String = serde_json::from_str(&s[i..=end])
                    .map_err(|_| invalid("invalid string in filter"))?;
                out.push(Tok::Str(text));
            }
            _ => {
                let mut end = s.len();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_whitespace() || matches!(d, '(' | ')' | '[' | ']' | '"') {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                out.push(Tok::Word(s[i..end].to_owned()));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    kind: ResourceKind,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn deeper(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(invalid("filter is nested too deeply"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn parens(&mut self) -> Result<Filter, ScimError> {
        self.deeper()?;
        let f = self.or()?;
        self.depth -= 1;
        match self.next() {
            Some(Tok::Close) => Ok(f),
            _ => Err(invalid("missing ')' in filter")),
        }
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        if self.keyword("not") && matches!(self.toks.get(self.pos + 1), Some(Tok::Open)) {
            self.pos += 2;
            return Ok(Filter::Not(Box::new(self.parens()?)));
        }
        match self.next() {
            Some(Tok::Open) => self.parens(),
            Some(Tok::Word(w)) => self.attr_expr(&w),
            Some(t) => Err(invalid(format!("unexpected {t:?} in filter"))),
            None => Err(invalid("filter ends too early")),
        }
    }

    fn attr_expr(&mut self, word: &str) -> Result<Filter, ScimError> {
        let attr = AttrPath::parse(word, self.kind).map_err(|e| invalid(e.detail))?;
        if matches!(self.peek(), Some(Tok::LBracket)) {
            if attr.sub.is_some() {
                return Err(invalid(
                    "a value path filter applies to an attribute, not a sub-attribute",
                ));
            }
            self.pos += 1;
            self.deeper()?;
            let inner = self.or()?;
            self.depth -= 1;
            if self.next() != Some(Tok::RBracket) {
                return Err(invalid("missing ']' in filter"));
            }
            // `emails[type eq "work"].value eq "x"` (Entra): the comparison joins the element filter.
            if let Some(Tok::Word(w)) = self.peek()
                && let Some(sub) = w.strip_prefix('.')
            {
                let sub = sub.to_owned();
                self.pos += 1;
                let tail = self.attr_expr(&sub)?;
                return Ok(Filter::ValuePath(
                    attr,
                    Box::new(Filter::And(Box::new(inner), Box::new(tail))),
                ));
            }
            return Ok(Filter::ValuePath(attr, Box::new(inner)));
        }
        let op = match self.next() {
            Some(Tok::Word(w)) => w,
            _ => return Err(invalid(format!("missing operator after {word:?}"))),
        };
        if op.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(attr));
        }
        let op =
            CompareOp::parse(&op).ok_or_else(|| invalid(format!("unknown operator {op:?}")))?;
        let value = match self.next() {
            Some(Tok::Str(s)) => Value::String(s),
            Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| invalid(format!("invalid value {w:?} in filter")))?,
            },
            _ => return Err(invalid("missing value in filter")),
        };
        Ok(Filter::Compare(attr, op, value))
    }
}

impl Filter {
    /// Parses a filter for resources of `kind`.
    pub fn parse(s: &str, kind: ResourceKind) -> Result<Self, ScimError> {
        if s.len() > MAX_FILTER_LEN {
            return Err(invalid("filter is too long"));
        }
        let toks = lex(s)?;
        let mut p = Parser {
            toks: &toks,
            pos: 0,
            kind,
            depth: 0,
        };
        let f = p.or()?;
        if p.pos != toks.len() {
            return Err(invalid("unexpected text after the filter"));
        }
        Ok(f)
    }

    /// Whether `resource` matches.
    pub fn matches(&self, resource: &Map<String, Value>, kind: ResourceKind) -> bool {
        match self {
            Filter::Present(p) => path::values(resource, p).into_iter().any(present),
            Filter::Compare(p, op, want) => {
                let got = path::values(resource, p);
                let exact = p.case_exact(kind);
                if *op == CompareOp::Ne {
                    return !got.iter().any(|v| compare(v, CompareOp::Eq, want, exact));
                }
                if want.is_null() && *op == CompareOp::Eq {
                    return !got.into_iter().any(present);
                }
                got.iter().any(|v| compare(v, *op, want, exact))
            }
            Filter::ValuePath(p, inner) => {
                let Some(top) = path::container(resource, p).and_then(|c| path::get_ci(c, &p.attr))
                else {
                    return false;
                };
                let elements: Vec<&Value> = match top {
                    Value::Array(a) => a.iter().collect(),
                    v => vec![v],
                };
                elements.into_iter().any(|e| match e {
                    Value::Object(o) => inner.matches_element(o, p, kind),
                    _ => false,
                })
            }
            Filter::And(a, b) => a.matches(resource, kind) && b.matches(resource, kind),
            Filter::Or(a, b) => a.matches(resource, kind) || b.matches(resource, kind),
            Filter::Not(f) => !f.matches(resource, kind),
        }
    }

    /// Whether one element of the multi-valued attribute `parent` matches (inner filters name the
    /// element's sub-attributes).
    pub fn matches_element(
        &self,
        element: &Map<String, Value>,
        parent: &AttrPath,
        kind: ResourceKind,
    ) -> bool {
        let sub_path = |p: &AttrPath| AttrPath {
            urn: parent.urn.clone(),
            attr: parent.attr.clone(),
            sub: Some(p.attr.clone()),
        };
        match self {
            Filter::Present(p) => path::get_ci(element, &p.attr).is_some_and(present),
            Filter::Compare(p, op, want) => {
                let got = path::get_ci(element, &p.attr);
                let exact = sub_path(p).case_exact(kind);
                match (op, got) {
                    (CompareOp::Ne, None) => true,
                    (CompareOp::Ne, Some(v)) => !compare(v, CompareOp::Eq, want, exact),
                    (CompareOp::Eq, None) => want.is_null(),
                    (_, None) => false,
                    (op, Some(v)) => compare(v, *op, want, exact),
                }
            }
            Filter::ValuePath(..) => false,
            Filter::And(a, b) => {
                a.matches_element(element, parent, kind) && b.matches_element(element, parent, kind)
            }
            Filter::Or(a, b) => {
                a.matches_element(element, parent, kind) || b.matches_element(element, parent, kind)
            }
            Filter::Not(f) => !f.matches_element(element, parent, kind),
        }
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(got: &Value, op: CompareOp, want: &Value, exact: bool) -> bool {
    match (got, want) {
        (Value::String(g), Value::String(w)) => {
            let (g, w) = if exact {
                (g.clone(), w.clone())
            } else {
                (g.to_lowercase(), w.to_lowercase())
            };
            match op {
                CompareOp::Eq => g == w,
                CompareOp::Ne => g != w,
                CompareOp::Co => g.contains(&w),
                CompareOp::Sw => g.starts_with(&w),
                CompareOp::Ew => g.ends_with(&w),
                CompareOp::Gt => g > w,
                CompareOp::Ge => g >= w,
                CompareOp::Lt => g < w,
                CompareOp::Le => g <= w,
            }
        }
        (Value::Bool(g), Value::Bool(w)) => match op {
            CompareOp::Eq => g == w,
            CompareOp::Ne => g != w,
            _ => false,
        },
        // Entra and others may hold booleans as strings; compare them as booleans.
        (Value::String(g), Value::Bool(w)) => match g.to_ascii_lowercase().as_str() {
            "true" => compare(&Value::Bool(true), op, &Value::Bool(*w), exact),
            "false" => compare(&Value::Bool(false), op, &Value::Bool(*w), exact),
            _ => false,
        },
        (Value::Number(g), Value::Number(w)) => {
            let (Some(g), Some(w)) = (g.as_f64(), w.as_f64()) else {
                return false;
            };
            let ord = g.partial_cmp(&w);
            match op {
                CompareOp::Eq => ord == Some(Ordering::Equal),
                CompareOp::Ne => ord != Some(Ordering::Equal),
                CompareOp::Gt => ord == Some(Ordering::Greater),
                CompareOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                CompareOp::Lt => ord == Some(Ordering::Less),
                CompareOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Map<String, Value> {
        json!({
            "userName": "Ada.Lovelace@Example.com",
            "externalId": "00uABC",
            "active": true,
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [
                {"value": "ada@work.example.com", "type": "work", "primary": true},
                {"value": "ada@home.example.com", "type": "home"}
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Analytics", "employeeNumber": "42"},
            "meta": {"lastModified": "2026-12-02T10:00:00Z"}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn filters_match_as_the_rfc_says() {
        let u = user();
        // (filter, matches)
        let cases = [
            (r#"userName eq "ada.lovelace@example.com""#, true),
            (r#"USERNAME EQ "ADA.LOVELACE@EXAMPLE.COM""#, true),
            (r#"userName eq "someone@example.com""#, false),
            (r#"externalId eq "00uABC""#, true),
            (r#"externalId eq "00uabc""#, false),
            (r#"name.givenName sw "ad""#, true),
            (r#"name.familyName co "love""#, true),
            (r#"name.familyName ew "ACE""#, true),
            (r#"title pr"#, false),
            (r#"name pr and active eq true"#, true),
            (r#"active eq false or userName sw "ada""#, true),
            (r#"not (active eq true)"#, false),
            (r#"(active eq false) or (emails co "home")"#, true),
            (r#"emails[type eq "work"]"#, true),
            (r#"emails[type eq "work" and value co "@work."]"#, true),
            (r#"emails[type eq "other"]"#, false),
            (
                r#"emails[type eq "work"].value eq "ada@work.example.com""#,
                true,
            ),
            (
                r#"emails[type eq "work"].value eq "ada@home.example.com""#,
                false,
            ),
            (r#"emails.value eq "ada@home.example.com""#, true),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "analytics""#,
                true,
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "43""#,
                false,
            ),
            (r#"meta.lastModified gt "2026-01-01T00:00:00Z""#, true),
            (r#"meta.lastModified lt "2026-01-01T00:00:00Z""#, false),
            (r#"title ne "CEO""#, true),
            (r#"userName ne "ada.lovelace@example.com""#, false),
            (r#"title eq null"#, true),
        ];
        for (f, want) in cases {
            let parsed =
                Filter::parse(f, ResourceKind::User).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(parsed.matches(&u, ResourceKind::User), want, "{f}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let f = Filter::parse(r#"a pr or b pr and c pr"#, ResourceKind::User).unwrap();
        assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
    }

    #[test]
    fn bad_filters_are_invalid_filter_errors() {
        for f in [
            "",
            "userName",
            "userName eq",
            "userName zz \"x\"",
            "userName eq \"x",
            "(userName eq \"x\"",
            "userName eq \"x\")",
            "emails[type eq \"work\"",
            "userName eq bareword",
            "and userName pr",
            "1bad eq \"x\"",
        ] {
            let e = Filter::parse(f, ResourceKind::User).unwrap_err();
            assert_eq!(
                (e.status, e.scim_type),
                (400, Some(ScimType::InvalidFilter)),
                "{f:?}"
            );
        }
        let deep = format!("{}userName pr{}", "(".repeat(100), ")".repeat(100));
        assert!(Filter::parse(&deep, ResourceKind::User).is_err());
    }
}
