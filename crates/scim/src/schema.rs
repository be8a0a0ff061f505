//! The schemas this service speaks (RFC 7643 §4, §8.7), as one table of attribute definitions.
//!
//! The table serves everything that depends on an attribute's definition: canonical spelling of
//! attribute names (they are case-insensitive on the wire), which attributes are booleans (Entra
//! sends `"True"`/`"False"` strings), which are multi-valued (PATCH `add` appends to them), which
//! compare case-exactly in filters, which are never returned, and the `/Schemas` documents.

use serde_json::{Value, json};

/// The core User schema.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The enterprise User extension.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The core Group schema.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// `ListResponse` messages.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `PatchOp` messages.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `SearchRequest` messages (`POST /.search`).
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// Error messages.
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The service provider configuration schema.
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// The resource type schema.
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// The schema schema.
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// An attribute's data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    DateTime,
    Reference,
    Complex,
    Integer,
}

/// When an attribute is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Default,
    Never,
}

/// Whether a client may write an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadWrite,
    ReadOnly,
    Immutable,
    WriteOnly,
}

/// One attribute definition.
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Type,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub unique: bool,
    pub sub: &'static [Attr],
    /// What a `reference` points to (`User`, `Group`, `external`, `uri`).
    pub refs: &'static [&'static str],
    pub description: &'static str,
}

const fn a(name: &'static str, kind: Type, description: &'static str) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        unique: false,
        sub: &[],
        refs: &[],
        description,
    }
}

const fn s(name: &'static str, description: &'static str) -> Attr {
    a(name, Type::String, description)
}

const fn complex(name: &'static str, sub: &'static [Attr], description: &'static str) -> Attr {
    let mut at = a(name, Type::Complex, description);
    at.sub = sub;
    at
}

const fn multi(mut at: Attr) -> Attr {
    at.multi = true;
    at
}

const fn required(mut at: Attr) -> Attr {
    at.required = true;
    at
}

const fn exact(mut at: Attr) -> Attr {
    at.case_exact = true;
    at
}

const fn read_only(mut at: Attr) -> Attr {
    at.mutability = Mutability::ReadOnly;
    at
}

const fn immutable(mut at: Attr) -> Attr {
    at.mutability = Mutability::Immutable;
    at
}

const fn write_only(mut at: Attr) -> Attr {
    at.mutability = Mutability::WriteOnly;
    at.returned = Returned::Never;
    at
}

const fn refs(mut at: Attr, to: &'static [&'static str]) -> Attr {
    at.refs = to;
    at
}

const fn unique(mut at: Attr) -> Attr {
    at.unique = true;
    at
}

/// `value`, `display`, `type`, `primary`: the sub-attributes of most multi-valued attributes.
const VALUED: &[Attr] = &[
    s("value", "The attribute's significant value."),
    s("display", "A human-readable name."),
    s("type", "A label indicating the attribute's function."),
    a("primary", Type::Boolean, "The primary or preferred value."),
];

const NAME: &[Attr] = &[
    s("formatted", "The full name, formatted for display."),
    s("familyName", "The family name."),
    s("givenName", "The given name."),
    s("middleName", "The middle name(s)."),
    s("honorificPrefix", "The honorific prefix(es)."),
    s("honorificSuffix", "The honorific suffix(es)."),
];

const ADDRESS: &[Attr] = &[
    s("formatted", "The full mailing address."),
    s("streetAddress", "The street address."),
    s("locality", "The city or locality."),
    s("region", "The state or region."),
    s("postalCode", "The zip or postal code."),
    s("country", "The country."),
    s("type", "work, home or other."),
    a("primary", Type::Boolean, "The primary address."),
];

const GROUP_REF: &[Attr] = &[
    read_only(s("value", "The identifier of the group.")),
    read_only(refs(
        a("$ref", Type::Reference, "The URI of the group."),
        &["Group"],
    )),
    read_only(s("display", "The group's display name.")),
    read_only(s("type", "direct or indirect.")),
];

/// The core User schema's attributes (RFC 7643 §4.1).
pub const USER_ATTRS: &[Attr] = &[
    required(unique(s("userName", "Unique identifier for the user."))),
    complex("name", NAME, "The components of the user's name."),
    s("displayName", "The name displayed to end users."),
    s("nickName", "The casual name."),
    refs(
        a("profileUrl", Type::Reference, "The user's online profile."),
        &["external"],
    ),
    s("title", "The user's title."),
    s("userType", "The relationship to the organization."),
    s(
        "preferredLanguage",
        "The preferred written or spoken language.",
    ),
    s("locale", "The default location."),
    s("timezone", "The time zone, in IANA format."),
    a("active", Type::Boolean, "Whether the user may sign in."),
    write_only(s("password", "Never stored by this service.")),
    multi(complex("emails", VALUED, "E-mail addresses.")),
    multi(complex("phoneNumbers", VALUED, "Phone numbers.")),
    multi(complex("ims", VALUED, "Instant messaging addresses.")),
    multi(complex("photos", VALUED, "Photos of the user.")),
    multi(complex("addresses", ADDRESS, "Physical mailing addresses.")),
    read_only(multi(complex(
        "groups",
        GROUP_REF,
        "The groups the user belongs to.",
    ))),
    multi(complex("entitlements", VALUED, "Entitlements.")),
    multi(complex(
        "roles",
        VALUED,
        "Roles (informational; PlanPush roles come from group mappings).",
    )),
    multi(complex("x509Certificates", VALUED, "Certificates.")),
];

const MANAGER: &[Attr] = &[
    s("value", "The id of the manager."),
    read_only(refs(
        a("$ref", Type::Reference, "The URI of the manager."),
        &["User"],
    )),
    read_only(s("displayName", "The manager's display name.")),
];

/// The enterprise extension's attributes (RFC 7643 §4.3).
pub const ENTERPRISE_ATTRS: &[Attr] = &[
    s("employeeNumber", "The employee number."),
    s("costCenter", "The cost center."),
    s("organization", "The organization."),
    s("division", "The division."),
    s("department", "The department."),
    complex("manager", MANAGER, "The user's manager."),
];

const MEMBER: &[Attr] = &[
    immutable(s("value", "The id of the member.")),
    immutable(refs(
        a("$ref", Type::Reference, "The URI of the member."),
        &["User", "Group"],
    )),
    read_only(s("display", "The member's display name.")),
    immutable(s("type", "User or Group.")),
];

/// The core Group schema's attributes (RFC 7643 §4.2).
pub const GROUP_ATTRS: &[Attr] = &[
    required(unique(s("displayName", "The group's name."))),
    multi(complex("members", MEMBER, "The members of the group.")),
];

/// Attributes every resource has (RFC 7643 §3.1), outside any schema.
pub const COMMON_ATTRS: &[Attr] = &[
    exact(read_only(s("id", "The service provider's identifier."))),
    exact(s("externalId", "The provisioning client's identifier.")),
];

/// The attribute definitions of a schema URN, compared case-insensitively.
pub fn attrs_of(urn: &str) -> Option<&'static [Attr]> {
    [
        (USER, USER_ATTRS),
        (ENTERPRISE_USER, ENTERPRISE_ATTRS),
        (GROUP, GROUP_ATTRS),
    ]
    .into_iter()
    .find(|(u, _)| u.eq_ignore_ascii_case(urn))
    .map(|(_, at)| at)
}

/// The canonical spelling of a known schema URN.
pub fn canonical_urn(urn: &str) -> Option<&'static str> {
    [USER, ENTERPRISE_USER, GROUP]
        .into_iter()
        .find(|u| u.eq_ignore_ascii_case(urn))
}

/// The definition named `name` (case-insensitively) among `attrs`.
pub fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|at| at.name.eq_ignore_ascii_case(name))
}

/// A resource type: its core schema and extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "/Users",
            ResourceKind::Group => "/Groups",
        }
    }
    pub fn core(self) -> &'static str {
        match self {
            ResourceKind::User => USER,
            ResourceKind::Group => GROUP,
        }
    }
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            ResourceKind::User => &[ENTERPRISE_USER],
            ResourceKind::Group => &[],
        }
    }
    /// The definitions of the core schema's attributes.
    pub fn core_attrs(self) -> &'static [Attr] {
        match self {
            ResourceKind::User => USER_ATTRS,
            ResourceKind::Group => GROUP_ATTRS,
        }
    }
    /// The definition of a top-level attribute of the core schema (or a common one).
    pub fn attr(self, name: &str) -> Option<&'static Attr> {
        find(self.core_attrs(), name).or_else(|| find(COMMON_ATTRS, name))
    }
    /// Whether `urn` is one of this kind's extension schemas.
    pub fn extension(self, urn: &str) -> Option<&'static str> {
        self.extensions()
            .iter()
            .copied()
            .find(|u| u.eq_ignore_ascii_case(urn))
    }
}

fn attr_json(at: &Attr) -> Value {
    let kind = match at.kind {
        Type::String => "string",
        Type::Boolean => "boolean",
        Type::DateTime => "dateTime",
        Type::Reference => "reference",
        Type::Complex => "complex",
        Type::Integer => "integer",
    };
    let mut v = json!({
        "name": at.name,
        "type": kind,
        "multiValued": at.multi,
        "description": at.description,
        "required": at.required,
        "mutability": match at.mutability {
            Mutability::ReadWrite => "readWrite",
            Mutability::ReadOnly => "readOnly",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        },
        "returned": match at.returned {
            Returned::Always => "always",
            Returned::Default => "default",
            Returned::Never => "never",
        },
        "uniqueness": if at.unique { "server" } else { "none" },
    });
    if let Some(o) = v.as_object_mut() {
        if matches!(at.kind, Type::String | Type::Reference) {
            o.insert("caseExact".into(), Value::Bool(at.case_exact));
        }
        if at.kind == Type::Reference {
            let to: &[&str] = if at.refs.is_empty() {
                &["external", "uri"]
            } else {
                at.refs
            };
            o.insert("referenceTypes".into(), json!(to));
        }
        if !at.sub.is_empty() {
            o.insert(
                "subAttributes".into(),
                Value::Array(at.sub.iter().map(attr_json).collect()),
            );
        }
    }
    v
}

fn schema_json(id: &str, name: &str, description: &str, attrs: &[Attr], base: &str) -> Value {
    json!({
        "schemas": [SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
    })
}

/// Every schema document (`GET /Schemas`), `base` being the SCIM base URL.
pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        schema_json(USER, "User", "User Account", USER_ATTRS, base),
        schema_json(
            ENTERPRISE_USER,
            "EnterpriseUser",
            "Enterprise User",
            ENTERPRISE_ATTRS,
            base,
        ),
        schema_json(GROUP, "Group", "Group", GROUP_ATTRS, base),
    ]
}

/// Every resource type document (`GET /ResourceTypes`).
pub fn resource_types(base: &str) -> Vec<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(|k| {
            json!({
                "schemas": [RESOURCE_TYPE],
                "id": k.name(),
                "name": k.name(),
                "endpoint": k.endpoint(),
                "description": match k { ResourceKind::User => "User Account", ResourceKind::Group => "Group" },
                "schema": k.core(),
                "schemaExtensions": k.extensions().iter().map(|e| json!({"schema": e, "required": false})).collect::<Vec<_>>(),
                "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", k.name())},
            })
        })
        .collect()
}

/// The most resources one list page returns.
pub const MAX_RESULTS: usize = 200;

/// The service provider configuration (`GET /ServiceProviderConfig`).
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "The SCIM_AUTH_TOKEN configured on the server, as an Authorization: Bearer header.",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}
