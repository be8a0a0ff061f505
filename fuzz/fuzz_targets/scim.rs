//! Arbitrary bytes as SCIM filters and PATCH requests, applied to a realistic user and group.
//!
//! Properties: nothing panics (no input crashes the parser or the PATCH engine); every refusal is
//! a 4xx SCIM error; a filter that parses can be evaluated; a PATCH that applies to a User leaves
//! `active` a real boolean whatever string form ("True", "false") it was written in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use planpush_scim::{Filter, ResourceKind, patch};
use serde_json::{Value, json};

fn user() -> serde_json::Map<String, Value> {
    json!({
        "userName": "ada@example.com",
        "externalId": "00u1",
        "active": true,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}, {"value": "a@home.example", "type": "home"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "manager": {"value": "m1"}},
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

fn group() -> serde_json::Map<String, Value> {
    json!({"displayName": "Eng", "members": [{"value": "u1"}, {"value": "u2"}]})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn refused(e: &planpush_scim::ScimError) {
    assert!((400..500).contains(&e.status), "not a client error: {e:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for kind in [ResourceKind::User, ResourceKind::Group] {
        let resource = if kind == ResourceKind::User { user() } else { group() };
        match Filter::parse(text, kind) {
            Ok(f) => {
                let _ = f.matches(&resource, kind);
            }
            Err(e) => {
                refused(&e);
                assert!(e.scim_type.is_some());
            }
        }
        // The text as a PATCH path, then as a whole PatchOp body.
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": text, "value": "True"}, {"op": "remove", "path": text}]
        });
        let bodies = [Some(body), serde_json::from_str::<Value>(text).ok()];
        for b in bodies.into_iter().flatten() {
            let mut r = resource.clone();
            match patch::parse(&b, kind).and_then(|ops| patch::apply(&mut r, &ops, kind)) {
                Ok(()) => {
                    // `active` is a User attribute; on a Group it is an unknown one, kept as written.
                    if let (ResourceKind::User, Some(active)) = (kind, r.get("active")) {
                        assert!(active.is_boolean() || !active.is_string() || !["true", "false"].contains(&active.as_str().unwrap_or("").to_ascii_lowercase().as_str()), "string boolean left: {active}");
                    }
                }
                Err(e) => refused(&e),
            }
        }
    }
});
