//! Attribute paths (`userName`, `name.givenName`, `urn:…:enterprise:2.0:User:manager.value`) and
//! case-insensitive access to them in a resource held as JSON.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::schema::{self, Attr, ResourceKind};

/// `[urn:]attr[.sub]`. `urn` is `None` for the core schema (or a common attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// An extension schema URN (canonical spelling when known); `None` for core attributes.
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

impl AttrPath {
    /// Parses an attribute path. A URN prefix naming the resource's own core schema is dropped.
    pub fn parse(s: &str, kind: ResourceKind) -> Result<Self, ScimError> {
        let bad = || {
            ScimError::bad(
                ScimType::InvalidPath,
                format!("invalid attribute path {s:?}"),
            )
        };
        let s = s.trim();
        let (urn, rest) = split_urn(s).ok_or_else(bad)?;
        let urn = match urn {
            None => None,
            Some(u) if u.eq_ignore_ascii_case(kind.core()) => None,
            Some(u) => Some(
                schema::canonical_urn(u)
                    .map(str::to_owned)
                    .unwrap_or_else(|| u.to_owned()),
            ),
        };
        // A bare extension URN designates the whole extension object.
        if rest.is_empty()
            && let Some(ext) = urn.as_deref().and_then(|u| kind.extension(u))
        {
            return Ok(Self {
                urn: Some(ext.to_owned()),
                attr: String::new(),
                sub: None,
            });
        }
        let (attr, sub) = match rest.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        if !valid_name(attr) || sub.is_some_and(|b| !valid_name(b)) {
            return Err(bad());
        }
        Ok(Self {
            urn,
            attr: attr.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }

    /// Whether the path is a bare extension URN (the whole extension object).
    pub fn is_extension(&self) -> bool {
        self.urn.is_some() && self.attr.is_empty()
    }

    /// The attribute's definition, when the schema knows it.
    pub fn def(&self, kind: ResourceKind) -> Option<&'static Attr> {
        match &self.urn {
            None => kind.attr(&self.attr),
            Some(u) => schema::attrs_of(u).and_then(|at| schema::find(at, &self.attr)),
        }
    }

    /// The sub-attribute's definition, when known.
    pub fn sub_def(&self, kind: ResourceKind) -> Option<&'static Attr> {
        let sub = self.sub.as_deref()?;
        self.def(kind).and_then(|d| schema::find(d.sub, sub))
    }

    /// The canonical spelling of the attribute name.
    pub fn attr_name(&self, kind: ResourceKind) -> String {
        self.def(kind)
            .map_or_else(|| self.attr.clone(), |d| d.name.to_owned())
    }

    /// The canonical spelling of the sub-attribute name.
    pub fn sub_name(&self, kind: ResourceKind) -> Option<String> {
        let sub = self.sub.as_deref()?;
        Some(
            self.sub_def(kind)
                .map_or_else(|| sub.to_owned(), |d| d.name.to_owned()),
        )
    }

    /// Whether string comparisons on this attribute are case-sensitive.
    pub fn case_exact(&self, kind: ResourceKind) -> bool {
        match self.sub.as_deref() {
            Some(_) => self.sub_def(kind).is_some_and(|d| d.case_exact),
            None => self.def(kind).is_some_and(|d| d.case_exact),
        }
    }

    /// Whether the attribute is multi-valued.
    pub fn multi(&self, kind: ResourceKind) -> bool {
        self.def(kind).is_some_and(|d| d.multi)
    }
}

/// Splits `urn:a:b:Schema:attr.sub` into the URN and `attr.sub`. A path that is exactly a known
/// schema URN yields that URN and an empty rest. `None` when the URN has no attribute part.
pub(crate) fn split_urn(s: &str) -> Option<(Option<&str>, &str)> {
    if !s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        return Some((None, s));
    }
    for known in [schema::USER, schema::ENTERPRISE_USER, schema::GROUP] {
        if let Some(head) = s.get(..known.len())
            && head.eq_ignore_ascii_case(known)
        {
            let rest = &s[known.len()..];
            if rest.is_empty() {
                return Some((Some(head), ""));
            }
            if let Some(attr) = rest.strip_prefix(':') {
                return Some((Some(head), attr));
            }
        }
    }
    let (urn, attr) = s.rsplit_once(':')?;
    // An unknown schema URN still needs `urn:<namespace>:…` before the attribute.
    if urn.len() <= 4 {
        return None;
    }
    Some((Some(urn), attr))
}

/// The key of `obj` equal to `name` ignoring ASCII case.
pub fn key_of<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name))
}

/// `obj[name]`, ignoring case.
pub fn get_ci<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    key_of(obj, name).and_then(|k| obj.get(k))
}

/// `obj[name]` for writing, ignoring case; inserts `default` under `canonical` when absent.
pub fn entry_ci<'a>(
    obj: &'a mut Map<String, Value>,
    name: &str,
    canonical: &str,
    default: Value,
) -> &'a mut Value {
    let key = key_of(obj, name)
        .cloned()
        .unwrap_or_else(|| canonical.to_owned());
    obj.entry(key).or_insert(default)
}

/// Removes `obj[name]` ignoring case; returns whether anything was removed.
pub fn remove_ci(obj: &mut Map<String, Value>, name: &str) -> bool {
    match key_of(obj, name).cloned() {
        Some(k) => obj.remove(&k).is_some(),
        None => false,
    }
}

/// The object holding the path's attribute: the resource itself for core attributes, the
/// extension object for extension attributes (`None` if the extension is absent).
pub fn container<'a>(
    resource: &'a Map<String, Value>,
    path: &AttrPath,
) -> Option<&'a Map<String, Value>> {
    match &path.urn {
        None => Some(resource),
        Some(u) => get_ci(resource, u).and_then(Value::as_object),
    }
}

/// Like [`container`], creating the extension object when absent.
pub fn container_mut<'a>(
    resource: &'a mut Map<String, Value>,
    path: &AttrPath,
) -> Result<&'a mut Map<String, Value>, ScimError> {
    match &path.urn {
        None => Ok(resource),
        Some(u) => entry_ci(resource, u, u, Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| {
                ScimError::bad(ScimType::InvalidValue, format!("{u} must be an object"))
            }),
    }
}

/// Every value the path reaches: multi-valued attributes are flattened, and a complex
/// multi-valued attribute without a sub-attribute yields its elements' `value`s.
pub fn values<'a>(resource: &'a Map<String, Value>, path: &AttrPath) -> Vec<&'a Value> {
    let Some(top) = container(resource, path).and_then(|c| get_ci(c, &path.attr)) else {
        return vec![];
    };
    let mut out = vec![];
    let mut push = |v: &'a Value| match (v, path.sub.as_deref()) {
        (Value::Object(o), Some(sub)) => {
            if let Some(x) = get_ci(o, sub) {
                out.push(x);
            }
        }
        (Value::Object(o), None) => match get_ci(o, "value") {
            Some(x) if top.is_array() => out.push(x),
            _ => out.push(v),
        },
        (v, None) => out.push(v),
        (_, Some(_)) => {}
    };
    match top {
        Value::Array(items) => items.iter().for_each(&mut push),
        v => push(v),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_paths_with_and_without_urns() {
        let p = AttrPath::parse("name.givenName", ResourceKind::User).unwrap();
        assert_eq!(
            (p.urn, p.attr.as_str(), p.sub.as_deref()),
            (None, "name", Some("givenName"))
        );
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            ResourceKind::User,
        )
        .unwrap();
        assert_eq!(p.urn.as_deref(), Some(schema::ENTERPRISE_USER));
        assert_eq!(
            (p.attr.as_str(), p.sub.as_deref()),
            ("manager", Some("value"))
        );
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
            ResourceKind::User,
        )
        .unwrap();
        assert_eq!((p.urn, p.attr.as_str()), (None, "userName"));
        for bad in ["", "1abc", "a b", "name.", "a.b.c", "urn:x"] {
            assert!(AttrPath::parse(bad, ResourceKind::User).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_flatten_multi_valued_attributes() {
        let r = json!({"emails": [{"value": "a@x.com", "type": "work"}, {"value": "b@x.com"}], "userName": "Ada"});
        let r = r.as_object().unwrap();
        let p = AttrPath::parse("EMAILS", ResourceKind::User).unwrap();
        assert_eq!(values(r, &p), vec!["a@x.com", "b@x.com"]);
        let p = AttrPath::parse("emails.type", ResourceKind::User).unwrap();
        assert_eq!(values(r, &p), vec!["work"]);
        let p = AttrPath::parse("username", ResourceKind::User).unwrap();
        assert_eq!(values(r, &p), vec!["Ada"]);
    }
}
