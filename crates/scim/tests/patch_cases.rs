//! PATCH semantics, data-driven from `tests/cases/patch.json`: each case is a stored resource, a
//! PatchOp message and either the resource after it or the `scimType` of the error.

use planpush_scim::{ResourceKind, patch};
use serde_json::Value;

#[test]
fn patch_cases() {
    let cases: Vec<Value> =
        serde_json::from_str(include_str!("cases/patch.json")).expect("valid cases file");
    assert!(cases.len() > 20);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let kind = match case["kind"].as_str() {
            Some("Group") => ResourceKind::Group,
            _ => ResourceKind::User,
        };
        let mut resource = case["before"].as_object().expect("before").clone();
        let result = patch::parse(&case["patch"], kind)
            .and_then(|ops| patch::apply(&mut resource, &ops, kind));
        match (result, case.get("error")) {
            (Ok(()), None) => assert_eq!(Value::Object(resource), case["after"], "{name}"),
            (Err(e), Some(want)) => {
                assert_eq!(
                    e.scim_type.map(|t| t.as_str()),
                    want.as_str(),
                    "{name}: {e}"
                );
                assert_eq!(e.status, 400, "{name}");
            }
            (Ok(()), Some(want)) => panic!("{name}: expected {want}, got {resource:?}"),
            (Err(e), None) => panic!("{name}: unexpected error {e}"),
        }
    }
}
