//! PATCH (RFC 7644 §3.5.2): `add`, `replace`, `remove`, with and without `path`, value-path
//! filters (`members[value eq "…"]`, `emails[type eq "work"].value`), extension attribute paths,
//! and the quirks of Microsoft Entra ID: capitalised op names (`"Replace"`), booleans as strings
//! (`"False"`), path-less operations whose value holds paths as keys (`"name.givenName"`), and
//! `remove` on `members` with the members to remove in `value`.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::{CompareOp, Filter};
use crate::path::{self, AttrPath};
use crate::resource;
use crate::schema::{self, Mutability, ResourceKind, Type};

/// Most operations accepted in one request.
pub const MAX_OPERATIONS: usize = 1000;

/// An operation's verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

/// A PATCH target: an attribute path, optionally narrowed by a value filter and followed by a
/// sub-attribute (`emails[type eq "work"].value`).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter (`value` in `emails[type eq "work"].value`).
    pub sub: Option<String>,
}

impl PatchPath {
    pub fn parse(s: &str, kind: ResourceKind) -> Result<Self, ScimError> {
        let s = s.trim();
        let Some(open) = s.find('[') else {
            return Ok(Self {
                attr: AttrPath::parse(s, kind)?,
                filter: None,
                sub: None,
            });
        };
        let bad = || ScimError::bad(ScimType::InvalidPath, format!("invalid path {s:?}"));
        let close = s.rfind(']').filter(|c| *c > open).ok_or_else(bad)?;
        let attr = AttrPath::parse(&s[..open], kind)?;
        if attr.sub.is_some() {
            return Err(bad());
        }
        let filter = Filter::parse(&s[open + 1..close], kind)
            .map_err(|e| ScimError::bad(ScimType::InvalidPath, e.detail))?;
        let sub = match &s[close + 1..] {
            "" => None,
            rest => {
                let sub = rest.strip_prefix('.').ok_or_else(bad)?;
                // Validate the name the same way an attribute path's is.
                AttrPath::parse(sub, kind).map_err(|_| bad())?;
                if sub.contains('.') {
                    return Err(bad());
                }
                Some(sub.to_owned())
            }
        };
        Ok(Self {
            attr,
            filter: Some(filter),
            sub,
        })
    }
}

/// One operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: Op,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Parses a `PatchOp` message.
pub fn parse(body: &Value, kind: ResourceKind) -> Result<Vec<PatchOperation>, ScimError> {
    let syntax = |d: &str| ScimError::bad(ScimType::InvalidSyntax, d.to_owned());
    let obj = body
        .as_object()
        .ok_or_else(|| syntax("the body must be a PatchOp JSON object"))?;
    let schemas = path::get_ci(obj, "schemas")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("schemas must list urn:ietf:params:scim:api:messages:2.0:PatchOp"))?;
    if !schemas.iter().any(|s| {
        s.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(schema::PATCH_OP))
    }) {
        return Err(syntax(
            "schemas must list urn:ietf:params:scim:api:messages:2.0:PatchOp",
        ));
    }
    let ops = path::get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("Operations must be an array"))?;
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            413,
            Some(ScimType::TooMany),
            "too many operations",
        ));
    }
    ops.iter()
        .map(|o| {
            let o = o
                .as_object()
                .ok_or_else(|| syntax("each operation must be an object"))?;
            let op = match path::get_ci(o, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
            {
                Some(op) if op == "add" => Op::Add,
                Some(op) if op == "replace" => Op::Replace,
                Some(op) if op == "remove" => Op::Remove,
                _ => return Err(syntax("op must be add, replace or remove")),
            };
            let path = match path::get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(PatchPath::parse(p, kind)?),
                Some(_) => {
                    return Err(ScimError::bad(
                        ScimType::InvalidPath,
                        "path must be a string",
                    ));
                }
            };
            let value = path::get_ci(o, "value").cloned();
            if op != Op::Remove && value.is_none() {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    "add and replace need a value",
                ));
            }
            if op == Op::Remove && path.is_none() {
                return Err(ScimError::bad(ScimType::NoTarget, "remove needs a path"));
            }
            Ok(PatchOperation { op, path, value })
        })
        .collect()
}

/// Applies `ops` in order to `resource` (a stored resource without `id` and `meta`). On error the
/// caller must discard `resource`: nothing is written unless every operation succeeds.
pub fn apply(
    resource: &mut Map<String, Value>,
    ops: &[PatchOperation],
    kind: ResourceKind,
) -> Result<(), ScimError> {
    for o in ops {
        match (&o.path, &o.value) {
            (Some(p), value) => apply_at(resource, o.op, p, value.clone(), kind)?,
            (None, Some(Value::Object(fields))) => {
                for (key, v) in fields {
                    // Okta repeats the resource's `id` in path-less replaces; read-only keys in a
                    // path-less value are ignored (a path naming them is refused).
                    if ["schemas", "id", "meta"]
                        .iter()
                        .any(|k| key.eq_ignore_ascii_case(k))
                    {
                        continue;
                    }
                    if let Some(ext) = kind.extension(key) {
                        // `{"urn:…:enterprise:2.0:User": {"department": "…"}}`: each attribute in turn.
                        let Value::Object(inner) = v else {
                            return Err(ScimError::bad(
                                ScimType::InvalidValue,
                                format!("{ext} must be an object"),
                            ));
                        };
                        for (k, iv) in inner {
                            let p = PatchPath::parse(&format!("{ext}:{k}"), kind)?;
                            apply_at(resource, o.op, &p, Some(iv.clone()), kind)?;
                        }
                        continue;
                    }
                    let p = PatchPath::parse(key, kind)?;
                    apply_at(resource, o.op, &p, Some(v.clone()), kind)?;
                }
            }
            (None, _) => {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    "an operation without a path needs an object value",
                ));
            }
        }
    }
    resource::normalize(resource, kind);
    Ok(())
}

fn check_mutable(p: &PatchPath, kind: ResourceKind) -> Result<(), ScimError> {
    let read_only = p.attr.urn.is_none()
        && (p.attr.attr.eq_ignore_ascii_case("id") || p.attr.attr.eq_ignore_ascii_case("meta"))
        || p.attr
            .def(kind)
            .is_some_and(|d| d.mutability == Mutability::ReadOnly);
    if read_only {
        return Err(ScimError::bad(
            ScimType::Mutability,
            format!("{} is read-only", p.attr.attr),
        ));
    }
    Ok(())
}

fn as_items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Null => vec![],
        v => vec![v],
    }
}

/// Two elements of a multi-valued attribute are the same when their `value`s are equal (or, with
/// no `value`, when they are equal).
fn same_element(a: &Value, b: &Value) -> bool {
    match (
        a.as_object().and_then(|o| path::get_ci(o, "value")),
        b.as_object().and_then(|o| path::get_ci(o, "value")),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn merge_into(target: &mut Value, value: Value, canonical: &dyn Fn(&str) -> String) {
    match (target, value) {
        (Value::Object(t), Value::Object(v)) => {
            for (k, x) in v {
                let key = path::key_of(t, &k)
                    .cloned()
                    .unwrap_or_else(|| canonical(&k));
                t.insert(key, x);
            }
        }
        (t, v) => *t = v,
    }
}

fn apply_at(
    resource: &mut Map<String, Value>,
    op: Op,
    p: &PatchPath,
    value: Option<Value>,
    kind: ResourceKind,
) -> Result<(), ScimError> {
    check_mutable(p, kind)?;
    if p.attr.is_extension() && p.filter.is_none() {
        return apply_extension(resource, op, p, value, kind);
    }
    let def = p.attr.def(kind);
    let attr_name = p.attr.attr_name(kind);
    let multi = def.is_some_and(|d| d.multi);
    let sub_canonical = |k: &str| {
        def.and_then(|d| schema::find(d.sub, k))
            .map_or_else(|| k.to_owned(), |s| s.name.to_owned())
    };
    let container = path::container_mut(resource, &p.attr)?;

    let Some(filter) = &p.filter else {
        let complex = def.is_some_and(|d| d.kind == Type::Complex);
        return apply_plain(
            container,
            op,
            p,
            value,
            &attr_name,
            multi,
            complex,
            &sub_canonical,
        );
    };

    // A value filter selects elements of a multi-valued attribute.
    let existing = path::key_of(container, &p.attr.attr).cloned();
    let items: &mut Vec<Value> = match existing.as_ref().and_then(|k| container.get_mut(k)) {
        Some(Value::Array(a)) => a,
        _ => {
            if op == Op::Remove {
                return Ok(());
            }
            let slot = path::entry_ci(container, &p.attr.attr, &attr_name, Value::Array(vec![]));
            if !slot.is_array() {
                *slot = Value::Array(vec![]);
            }
            let Value::Array(a) = slot else {
                return Err(ScimError::bad(
                    ScimType::InvalidPath,
                    "not a multi-valued attribute",
                ));
            };
            a
        }
    };
    let matching: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.as_object()
                .is_some_and(|o| filter.matches_element(o, &p.attr, kind))
        })
        .map(|(i, _)| i)
        .collect();
    let sub = p.sub.as_deref().map(&sub_canonical);
    match op {
        Op::Remove => {
            match &sub {
                None => {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !matching.contains(&i);
                        i += 1;
                        keep
                    });
                }
                Some(sub) => {
                    for i in matching {
                        if let Some(Value::Object(o)) = items.get_mut(i) {
                            path::remove_ci(o, sub);
                        }
                    }
                }
            }
            if items.is_empty()
                && let Some(k) = existing
            {
                container.remove(&k);
            }
        }
        Op::Add | Op::Replace => {
            let value = value.unwrap_or(Value::Null);
            if matching.is_empty() {
                // Entra adds `emails[type eq "work"].value` to a user without a work address: a
                // filter `attr eq "x"` describes the element to create.
                let Filter::Compare(fp, CompareOp::Eq, fv) = filter else {
                    return Err(ScimError::bad(
                        ScimType::NoTarget,
                        "the filter matches no value",
                    ));
                };
                let mut element = Map::new();
                element.insert(sub_canonical(&fp.attr), fv.clone());
                match (&sub, value) {
                    (Some(sub), v) => {
                        element.insert(sub.clone(), v);
                    }
                    (None, Value::Object(o)) => {
                        for (k, v) in o {
                            element.insert(sub_canonical(&k), v);
                        }
                    }
                    (None, _) => {
                        return Err(ScimError::bad(
                            ScimType::InvalidValue,
                            "the value must be an object",
                        ));
                    }
                }
                items.push(Value::Object(element));
                return Ok(());
            }
            for i in matching {
                let Some(el) = items.get_mut(i) else { continue };
                match &sub {
                    Some(sub) => {
                        if let Value::Object(o) = el {
                            let key = path::key_of(o, sub).cloned().unwrap_or_else(|| sub.clone());
                            o.insert(key, value.clone());
                        }
                    }
                    None if op == Op::Replace && !value.is_object() => *el = value.clone(),
                    None => merge_into(el, value.clone(), &sub_canonical),
                }
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn apply_plain(
    container: &mut Map<String, Value>,
    op: Op,
    p: &PatchPath,
    value: Option<Value>,
    attr_name: &str,
    multi: bool,
    complex: bool,
    sub_canonical: &dyn Fn(&str) -> String,
) -> Result<(), ScimError> {
    if let Some(sub) = p.attr.sub.as_deref() {
        let sub = sub_canonical(sub);
        match op {
            Op::Remove => {
                if let Some(k) = path::key_of(container, &p.attr.attr).cloned() {
                    match container.get_mut(&k) {
                        Some(Value::Object(o)) => {
                            path::remove_ci(o, &sub);
                            if o.is_empty() {
                                container.remove(&k);
                            }
                        }
                        Some(Value::Array(items)) => {
                            for el in items.iter_mut() {
                                if let Value::Object(o) = el {
                                    path::remove_ci(o, &sub);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            Op::Add | Op::Replace => {
                let slot = path::entry_ci(
                    container,
                    &p.attr.attr,
                    attr_name,
                    Value::Object(Map::new()),
                );
                let value = value.unwrap_or(Value::Null);
                match slot {
                    Value::Array(items) => {
                        for el in items.iter_mut() {
                            if let Value::Object(o) = el {
                                let key = path::key_of(o, &sub)
                                    .cloned()
                                    .unwrap_or_else(|| sub.clone());
                                o.insert(key, value.clone());
                            }
                        }
                    }
                    Value::Object(o) => {
                        let key = path::key_of(o, &sub)
                            .cloned()
                            .unwrap_or_else(|| sub.clone());
                        o.insert(key, value);
                    }
                    other => {
                        let mut o = Map::new();
                        o.insert(sub, value);
                        *other = Value::Object(o);
                    }
                }
            }
        }
        return Ok(());
    }

    match op {
        Op::Remove => {
            // Entra: `{"op":"Remove","path":"members","value":[{"value":"<id>"}]}` removes those.
            if let (true, Some(v)) = (multi, value.filter(|v| !v.is_null())) {
                let gone = as_items(v);
                if let Some(k) = path::key_of(container, &p.attr.attr).cloned()
                    && let Some(Value::Array(items)) = container.get_mut(&k)
                {
                    items.retain(|e| !gone.iter().any(|g| same_element(e, g)));
                    if items.is_empty() {
                        container.remove(&k);
                    }
                }
            } else {
                path::remove_ci(container, &p.attr.attr);
            }
        }
        Op::Add | Op::Replace => {
            let value = value.unwrap_or(Value::Null);
            let existing_array = path::get_ci(container, &p.attr.attr).is_some_and(Value::is_array);
            if multi || existing_array {
                let new = as_items(value);
                let slot = path::entry_ci(container, &p.attr.attr, attr_name, Value::Array(vec![]));
                if op == Op::Replace || !slot.is_array() {
                    *slot = Value::Array(vec![]);
                }
                if let Value::Array(items) = slot {
                    for n in new {
                        let n = canonical_keys(n, sub_canonical);
                        if let Some(i) = items.iter().position(|e| same_element(e, &n)) {
                            items[i] = n;
                        } else {
                            items.push(n);
                        }
                    }
                    // A multi-valued attribute has at most one primary value: the last one set wins.
                    keep_one_primary(items);
                }
            } else if value.is_null() {
                path::remove_ci(container, &p.attr.attr);
            } else if complex && !value.is_object() {
                // Entra sets `…:enterprise:2.0:User:manager` to the manager's id itself.
                let slot = path::entry_ci(
                    container,
                    &p.attr.attr,
                    attr_name,
                    Value::Object(Map::new()),
                );
                let mut o = Map::new();
                o.insert("value".into(), value);
                merge_into(slot, Value::Object(o), sub_canonical);
            } else if complex || value.is_object() {
                let slot = path::entry_ci(
                    container,
                    &p.attr.attr,
                    attr_name,
                    Value::Object(Map::new()),
                );
                merge_into(slot, value, sub_canonical);
            } else {
                let key = path::key_of(container, &p.attr.attr)
                    .cloned()
                    .unwrap_or_else(|| attr_name.to_owned());
                container.insert(key, value);
            }
        }
    }
    Ok(())
}

/// An operation on a whole extension object (`path` is its URN): `remove` drops it, `add` and
/// `replace` apply each attribute of the value in turn.
fn apply_extension(
    resource: &mut Map<String, Value>,
    op: Op,
    p: &PatchPath,
    value: Option<Value>,
    kind: ResourceKind,
) -> Result<(), ScimError> {
    let ext = p.attr.urn.clone().unwrap_or_default();
    match (op, value) {
        (Op::Remove, _) => {
            path::remove_ci(resource, &ext);
            Ok(())
        }
        (_, Some(Value::Object(fields))) => {
            for (k, v) in fields {
                if k.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                let inner = PatchPath::parse(&format!("{ext}:{k}"), kind)?;
                apply_at(resource, op, &inner, Some(v), kind)?;
            }
            Ok(())
        }
        _ => Err(ScimError::bad(
            ScimType::InvalidValue,
            format!("{ext} must be given an object"),
        )),
    }
}

fn canonical_keys(v: Value, canonical: &dyn Fn(&str) -> String) -> Value {
    match v {
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, x)| (canonical(&k), x)).collect()),
        v => v,
    }
}

fn keep_one_primary(items: &mut [Value]) {
    let is_primary = |e: &Value| {
        e.as_object()
            .and_then(|o| path::get_ci(o, "primary"))
            .is_some_and(|p| {
                p == &Value::Bool(true)
                    || p.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
            })
    };
    if let Some(last) = items.iter().rposition(is_primary) {
        for (i, e) in items.iter_mut().enumerate() {
            if i != last
                && is_primary(e)
                && let Value::Object(o) = e
            {
                let key = path::key_of(o, "primary")
                    .cloned()
                    .unwrap_or_else(|| "primary".into());
                o.insert(key, Value::Bool(false));
            }
        }
    }
}
