//! Resources as JSON objects: validation of what clients send, the fields PlanPush keeps in its own
//! columns, `attributes`/`excludedAttributes` projection, paging and `ListResponse`.

use serde_json::{Map, Value, json};

use crate::error::{ScimError, ScimType};
use crate::filter::Filter;
use crate::path::{self, AttrPath};
use crate::schema::{self, Attr, ResourceKind, Returned, Type};

fn syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidSyntax, detail)
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad(ScimType::InvalidValue, detail)
}

fn to_bool(v: &mut Value) {
    if let Value::String(s) = v {
        match s.trim().to_ascii_lowercase().as_str() {
            "true" => *v = Value::Bool(true),
            "false" => *v = Value::Bool(false),
            _ => {}
        }
    }
}

fn normalize_attrs(obj: &mut Map<String, Value>, attrs: &[Attr]) {
    let keys: Vec<String> = obj.keys().cloned().collect();
    for key in keys {
        let Some(def) = schema::find(attrs, &key) else {
            continue;
        };
        // Canonical spelling of known attribute names (they are case-insensitive on the wire).
        if key != def.name
            && !obj.contains_key(def.name)
            && let Some(v) = obj.remove(&key)
        {
            obj.insert(def.name.to_owned(), v);
        }
        let Some(v) = obj.get_mut(def.name) else {
            continue;
        };
        if def.kind == Type::Boolean {
            to_bool(v);
        }
        if !def.sub.is_empty() {
            match v {
                Value::Object(o) => normalize_attrs(o, def.sub),
                Value::Array(items) => {
                    for el in items {
                        if let Value::Object(o) = el {
                            normalize_attrs(o, def.sub);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Canonical attribute names and real booleans where the schema says boolean (Entra sends
/// `"True"`/`"False"`), in the core schema and the extensions.
pub fn normalize(resource: &mut Map<String, Value>, kind: ResourceKind) {
    normalize_attrs(resource, kind.core_attrs());
    normalize_attrs(resource, schema::COMMON_ATTRS);
    for ext in kind.extensions() {
        let key = path::key_of(resource, ext).cloned();
        if let Some(k) = key {
            if let Some(Value::Object(o)) = resource.get_mut(&k) {
                normalize_attrs(o, schema::attrs_of(ext).unwrap_or(&[]));
            }
            if k != *ext
                && let Some(v) = resource.remove(&k)
            {
                resource.insert((*ext).to_owned(), v);
            }
        }
    }
}

/// A resource as a client wrote it (POST or PUT body), ready to store: an object whose `schemas`
/// list the core schema, without `id`, `meta`, read-only and write-only attributes (`password` is
/// never stored), with canonical names and real booleans.
pub fn prepare(body: Value, kind: ResourceKind) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(mut obj) = body else {
        return Err(syntax("the body must be a JSON object"));
    };
    let schemas = path::get_ci(&obj, "schemas")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax(format!("schemas must list {}", kind.core())))?;
    if !schemas.iter().any(|s| {
        s.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(kind.core()))
    }) {
        return Err(syntax(format!("schemas must list {}", kind.core())));
    }
    strip_unstored(&mut obj, kind);
    normalize(&mut obj, kind);
    Ok(obj)
}

/// Removes what is never stored from a resource: `id`, `meta`, `schemas`, read-only attributes the
/// service computes (`groups`) and write-only ones (`password`, which PlanPush never keeps).
pub fn strip_unstored(obj: &mut Map<String, Value>, kind: ResourceKind) {
    for gone in ["id", "meta", "schemas"] {
        path::remove_ci(obj, gone);
    }
    for def in kind.core_attrs() {
        if matches!(
            def.mutability,
            schema::Mutability::ReadOnly | schema::Mutability::WriteOnly
        ) {
            path::remove_ci(obj, def.name);
        }
    }
}

/// The single-valued string attribute `name` (core schema), trimmed; `None` when absent or empty.
fn string_attr(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, ScimError> {
    match path::get_ci(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(invalid_value(format!("{name} must be a string"))),
    }
}

/// The fields PlanPush keeps in its own columns for a User.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFields {
    pub user_name: String,
    pub external_id: Option<String>,
    /// `displayName`, else `name.formatted`, else given and family name.
    pub display_name: Option<String>,
    /// The primary e-mail's value, else the first one's.
    pub email: Option<String>,
    pub active: bool,
}

/// Checks a stored User and extracts [`UserFields`].
pub fn user_fields(obj: &Map<String, Value>) -> Result<UserFields, ScimError> {
    let user_name =
        string_attr(obj, "userName")?.ok_or_else(|| invalid_value("userName is required"))?;
    if user_name.chars().count() > 256 || user_name.chars().any(char::is_control) {
        return Err(invalid_value(
            "userName must be 1 to 256 printable characters",
        ));
    }
    let external_id = string_attr(obj, "externalId")?;
    let name = path::get_ci(obj, "name").and_then(Value::as_object);
    let from_name = name.and_then(|n| {
        let part = |k| {
            path::get_ci(n, k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        part("formatted").map(str::to_owned).or_else(|| {
            let parts: Vec<&str> = [part("givenName"), part("familyName")]
                .into_iter()
                .flatten()
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
    });
    let display_name = string_attr(obj, "displayName")?.or(from_name);
    let email = match path::get_ci(obj, "emails") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let value = |e: &Value| {
                e.as_object()
                    .and_then(|o| path::get_ci(o, "value"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let primary = items.iter().find(|e| {
                e.as_object().and_then(|o| path::get_ci(o, "primary")) == Some(&Value::Bool(true))
            });
            primary
                .and_then(value)
                .or_else(|| items.iter().find_map(value))
        }
        Some(_) => return Err(invalid_value("emails must be an array")),
    };
    let active = match path::get_ci(obj, "active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid_value("active must be a boolean")),
    };
    Ok(UserFields {
        user_name,
        external_id,
        display_name,
        email,
        active,
    })
}

/// The fields PlanPush keeps in its own columns for a Group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFields {
    pub display_name: String,
    pub external_id: Option<String>,
}

/// Checks a stored Group and extracts [`GroupFields`].
pub fn group_fields(obj: &Map<String, Value>) -> Result<GroupFields, ScimError> {
    let display_name =
        string_attr(obj, "displayName")?.ok_or_else(|| invalid_value("displayName is required"))?;
    if display_name.chars().count() > 256 || display_name.chars().any(char::is_control) {
        return Err(invalid_value(
            "displayName must be 1 to 256 printable characters",
        ));
    }
    Ok(GroupFields {
        display_name,
        external_id: string_attr(obj, "externalId")?,
    })
}

/// The `value`s of a Group's `members` (user ids as the client sent them), de-duplicated in order.
pub fn member_ids(obj: &Map<String, Value>) -> Result<Vec<String>, ScimError> {
    let mut out: Vec<String> = vec![];
    match path::get_ci(obj, "members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for m in items {
                let v = m
                    .as_object()
                    .and_then(|o| path::get_ci(o, "value"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid_value("each member needs a string value"))?;
                if !out.iter().any(|x| x == v) {
                    out.push(v.to_owned());
                }
            }
        }
        Some(_) => return Err(invalid_value("members must be an array")),
    }
    Ok(out)
}

/// Parses `attributes` / `excludedAttributes` (comma-separated paths).
pub fn attr_list(s: Option<&str>, kind: ResourceKind) -> Result<Vec<AttrPath>, ScimError> {
    s.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| AttrPath::parse(p, kind))
            .collect()
    })
    .unwrap_or_else(|| Ok(vec![]))
}

fn always_returned(key: &str) -> bool {
    ["id", "schemas"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(key))
}

fn path_matches_key(p: &AttrPath, key: &str) -> bool {
    match &p.urn {
        None => p.attr.eq_ignore_ascii_case(key),
        Some(u) => u.eq_ignore_ascii_case(key),
    }
}

/// Applies `attributes` (only these, plus `id` and `schemas`) or `excludedAttributes` (all but
/// these; `id` and `schemas` always stay) to a full resource.
pub fn project(
    resource: Map<String, Value>,
    attributes: &[AttrPath],
    excluded: &[AttrPath],
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in resource {
        if always_returned(&key) {
            out.insert(key, value);
            continue;
        }
        if !attributes.is_empty() {
            let wanted: Vec<&AttrPath> = attributes
                .iter()
                .filter(|p| path_matches_key(p, &key))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let whole = wanted.iter().any(|p| match &p.urn {
                None => p.sub.is_none(),
                Some(_) => false,
            });
            if whole {
                out.insert(key, value);
                continue;
            }
            let kept = keep_parts(value, &wanted, &key);
            if let Some(v) = kept {
                out.insert(key, v);
            }
            continue;
        }
        let dropped: Vec<&AttrPath> = excluded
            .iter()
            .filter(|p| path_matches_key(p, &key))
            .collect();
        if dropped.iter().any(|p| p.urn.is_none() && p.sub.is_none()) {
            continue;
        }
        if dropped.is_empty() {
            out.insert(key, value);
        } else {
            out.insert(key, drop_parts(value, &dropped));
        }
    }
    out
}

/// The parts of `value` (the attribute or extension `key`) that `paths` ask for.
fn keep_parts(value: Value, paths: &[&AttrPath], key: &str) -> Option<Value> {
    let _ = key;
    let names: Vec<(&str, Option<&str>)> = paths
        .iter()
        .map(|p| match &p.urn {
            None => (p.sub.as_deref().unwrap_or(""), None),
            Some(_) => (p.attr.as_str(), p.sub.as_deref()),
        })
        .collect();
    let keep_obj = |o: Map<String, Value>| -> Map<String, Value> {
        o.into_iter()
            .filter_map(|(k, v)| {
                let hits: Vec<Option<&str>> = names
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(&k))
                    .map(|(_, s)| *s)
                    .collect();
                if hits.is_empty() {
                    return None;
                }
                if hits.iter().any(Option::is_none) {
                    return Some((k, v));
                }
                let subs: Vec<&str> = hits.into_iter().flatten().collect();
                match v {
                    Value::Object(inner) => Some((
                        k,
                        Value::Object(
                            inner
                                .into_iter()
                                .filter(|(ik, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(ik)))
                                .collect(),
                        ),
                    )),
                    v => Some((k, v)),
                }
            })
            .collect()
    };
    match value {
        Value::Object(o) => Some(Value::Object(keep_obj(o))),
        Value::Array(items) => Some(Value::Array(
            items
                .into_iter()
                .map(|e| match e {
                    Value::Object(o) => Value::Object(keep_obj(o)),
                    e => e,
                })
                .collect(),
        )),
        _ => None,
    }
}

fn drop_parts(value: Value, paths: &[&AttrPath]) -> Value {
    let gone = |k: &str| {
        paths.iter().any(|p| match &p.urn {
            None => p.sub.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(k)),
            Some(_) => p.sub.is_none() && p.attr.eq_ignore_ascii_case(k),
        })
    };
    let drop_obj = |o: Map<String, Value>| -> Map<String, Value> {
        o.into_iter().filter(|(k, _)| !gone(k)).collect()
    };
    match value {
        Value::Object(o) => Value::Object(drop_obj(o)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|e| match e {
                    Value::Object(o) => Value::Object(drop_obj(o)),
                    e => e,
                })
                .collect(),
        ),
        v => v,
    }
}

/// A list request: filter, 1-based `startIndex`, `count`, projection.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based; values below 1 are read as 1 (RFC 7644 §3.4.2.4).
    pub start_index: usize,
    /// Page size; negative is read as 0, above [`schema::MAX_RESULTS`] as that maximum.
    pub count: usize,
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

fn number(name: &str, v: Option<&Value>) -> Result<Option<i64>, ScimError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid_value(format!("{name} must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| invalid_value(format!("{name} must be an integer"))),
        Some(_) => Err(invalid_value(format!("{name} must be an integer"))),
    }
}

fn attr_value(v: Option<&Value>) -> Result<Option<String>, ScimError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid_value("attribute names must be strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| Some(v.join(","))),
        Some(_) => Err(invalid_value("attributes must be a list of strings")),
    }
}

impl ListQuery {
    /// From query parameters (`filter`, `startIndex`, `count`, `attributes`, `excludedAttributes`;
    /// names case-insensitive).
    pub fn from_params(params: &[(String, String)], kind: ResourceKind) -> Result<Self, ScimError> {
        let mut obj = Map::new();
        for (k, v) in params {
            obj.insert(k.clone(), Value::String(v.clone()));
        }
        Self::from_object(&obj, kind)
    }

    /// From a `SearchRequest` body (`POST /.search`).
    pub fn from_search(body: &Value, kind: ResourceKind) -> Result<Self, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| syntax("the body must be a SearchRequest object"))?;
        if let Some(schemas) = path::get_ci(obj, "schemas")
            && !schemas.as_array().is_some_and(|a| {
                a.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(schema::SEARCH_REQUEST))
                })
            })
        {
            return Err(syntax(format!(
                "schemas must list {}",
                schema::SEARCH_REQUEST
            )));
        }
        Self::from_object(obj, kind)
    }

    fn from_object(obj: &Map<String, Value>, kind: ResourceKind) -> Result<Self, ScimError> {
        let filter = match path::get_ci(obj, "filter") {
            None | Some(Value::Null) => None,
            Some(Value::String(f)) if f.trim().is_empty() => None,
            Some(Value::String(f)) => Some(Filter::parse(f, kind)?),
            Some(_) => {
                return Err(ScimError::bad(
                    ScimType::InvalidFilter,
                    "filter must be a string",
                ));
            }
        };
        let start_index = number("startIndex", path::get_ci(obj, "startIndex"))?
            .unwrap_or(1)
            .max(1);
        let count = number("count", path::get_ci(obj, "count"))?
            .unwrap_or(schema::MAX_RESULTS as i64)
            .clamp(0, schema::MAX_RESULTS as i64);
        let attributes = attr_list(
            attr_value(path::get_ci(obj, "attributes"))?.as_deref(),
            kind,
        )?;
        let excluded = attr_list(
            attr_value(path::get_ci(obj, "excludedAttributes"))?.as_deref(),
            kind,
        )?;
        Ok(Self {
            filter,
            start_index: usize::try_from(start_index).unwrap_or(1),
            count: usize::try_from(count).unwrap_or(0),
            attributes,
            excluded,
        })
    }

    /// Filters, pages and projects `resources` (full representations, in a stable order) into a
    /// `ListResponse`.
    pub fn respond(&self, resources: Vec<Map<String, Value>>, kind: ResourceKind) -> Value {
        let matching: Vec<Map<String, Value>> = resources
            .into_iter()
            .filter(|r| self.filter.as_ref().is_none_or(|f| f.matches(r, kind)))
            .collect();
        let total = matching.len();
        let page: Vec<Value> = matching
            .into_iter()
            .skip(self.start_index - 1)
            .take(self.count)
            .map(|r| Value::Object(project(r, &self.attributes, &self.excluded)))
            .collect();
        list_response(page, total, self.start_index)
    }
}

/// A `ListResponse` message.
pub fn list_response(resources: Vec<Value>, total: usize, start_index: usize) -> Value {
    json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Whether an attribute is never returned (`password`).
pub fn never_returned(kind: ResourceKind, name: &str) -> bool {
    kind.attr(name)
        .is_some_and(|d| d.returned == Returned::Never)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn user() -> Map<String, Value> {
        obj(json!({
            "schemas": [schema::USER, schema::ENTERPRISE_USER],
            "id": "1",
            "userName": "ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "a@x.com", "type": "work"}],
            "meta": {"resourceType": "User"},
            schema::ENTERPRISE_USER: {"department": "R&D", "costCenter": "7"},
        }))
    }

    #[test]
    fn projection_keeps_id_and_schemas_and_honours_sub_attributes() {
        let k = ResourceKind::User;
        let attrs = |s: &str| attr_list(Some(s), k).unwrap();
        // (attributes, excludedAttributes, expected)
        let cases = [
            (
                "userName",
                "",
                json!({"schemas": [schema::USER, schema::ENTERPRISE_USER], "id": "1", "userName": "ada"}),
            ),
            (
                "name.givenName,EMAILS.value",
                "",
                json!({"schemas": [schema::USER, schema::ENTERPRISE_USER], "id": "1", "name": {"givenName": "Ada"}, "emails": [{"value": "a@x.com"}]}),
            ),
            (
                &format!("{}:department", schema::ENTERPRISE_USER),
                "",
                json!({"schemas": [schema::USER, schema::ENTERPRISE_USER], "id": "1", schema::ENTERPRISE_USER: {"department": "R&D"}}),
            ),
            (
                "",
                "emails,meta,id,schemas,name.familyName",
                json!({"schemas": [schema::USER, schema::ENTERPRISE_USER], "id": "1", "userName": "ada", "name": {"givenName": "Ada"}, schema::ENTERPRISE_USER: {"department": "R&D", "costCenter": "7"}}),
            ),
            (
                "",
                &format!("{}:costCenter,userName", schema::ENTERPRISE_USER),
                json!({"schemas": [schema::USER, schema::ENTERPRISE_USER], "id": "1", "name": {"givenName": "Ada", "familyName": "Lovelace"}, "emails": [{"value": "a@x.com", "type": "work"}], "meta": {"resourceType": "User"}, schema::ENTERPRISE_USER: {"department": "R&D"}}),
            ),
        ];
        for (a, e, want) in cases {
            let got = project(user(), &attrs(a), &attrs(e));
            assert_eq!(
                Value::Object(got),
                want,
                "attributes={a} excludedAttributes={e}"
            );
        }
    }

    #[test]
    fn paging_parameters_follow_rfc_7644() {
        let q = |pairs: &[(&str, &str)]| {
            let params: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            ListQuery::from_params(&params, ResourceKind::User)
        };
        // (params, startIndex, count)
        type Case<'a> = (&'a [(&'a str, &'a str)], usize, usize);
        let cases: &[Case] = &[
            (&[], 1, schema::MAX_RESULTS),
            (&[("startIndex", "3"), ("count", "2")], 3, 2),
            (&[("STARTINDEX", "0"), ("Count", "-5")], 1, 0),
            (&[("count", "100000")], 1, schema::MAX_RESULTS),
        ];
        for (params, start, count) in cases {
            let got = q(params).unwrap();
            assert_eq!((got.start_index, got.count), (*start, *count), "{params:?}");
        }
        for bad in [
            ("count", "ten"),
            ("startIndex", "1.5"),
            ("filter", "userName"),
        ] {
            assert_eq!(q(&[bad]).unwrap_err().status, 400, "{bad:?}");
        }
        let users: Vec<Map<String, Value>> = (1..=5)
            .map(|i| obj(json!({"id": i.to_string(), "userName": format!("u{i}")})))
            .collect();
        let page = q(&[("startIndex", "4"), ("count", "5")])
            .unwrap()
            .respond(users, ResourceKind::User);
        assert_eq!(
            (
                page["totalResults"].as_u64(),
                page["itemsPerPage"].as_u64(),
                page["startIndex"].as_u64()
            ),
            (Some(5), Some(2), Some(4))
        );
        assert_eq!(page["Resources"][0]["userName"], "u4");
    }

    #[test]
    fn user_fields_and_prepare() {
        let stored = prepare(
            json!({"schemas": [schema::USER], "id": "x", "meta": {}, "USERNAME": " Ada ", "password": "p", "groups": [], "Active": "False",
                   "name": {"givenName": "Ada", "familyName": "L"}, "emails": [{"value": "b@x.com"}, {"value": "a@x.com", "primary": "True"}]}),
            ResourceKind::User,
        )
        .unwrap();
        let keys: Vec<&str> = stored.keys().map(String::as_str).collect();
        assert_eq!(
            keys.len(),
            4,
            "{keys:?}: no id, meta, schemas, password or groups"
        );
        let f = user_fields(&stored).unwrap();
        assert_eq!(
            (
                f.user_name.as_str(),
                f.display_name.as_deref(),
                f.email.as_deref(),
                f.active
            ),
            ("Ada", Some("Ada L"), Some("a@x.com"), false)
        );
        assert!(
            prepare(json!({"userName": "a"}), ResourceKind::User).is_err(),
            "schemas required"
        );
        assert!(
            prepare(
                json!({"schemas": [schema::GROUP], "userName": "a"}),
                ResourceKind::User
            )
            .is_err()
        );
        assert_eq!(
            user_fields(&obj(json!({"userName": "  "})))
                .unwrap_err()
                .scim_type,
            Some(ScimType::InvalidValue)
        );
    }
}
