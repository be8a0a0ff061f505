//! SCIM 2.0 provisioning (`/scim/v2`): Users and Groups over [`ScimRepository`], the protocol
//! rules of the `planpush-scim` crate, deprovisioning through [`Admin`]'s one deactivation path,
//! and group membership feeding the group → role mapping ([`GroupAccess::reconcile_user`]).
//!
//! Every method is one SCIM operation; the caller (the web layer) has already checked the bearer
//! token. Errors are SCIM errors: the status and `scimType` the client must see.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use planpush_audit::{AuditAction, AuditEvent};
use planpush_identity::{Email, TokenHash, User, UserId};
use planpush_scim::resource::{self, ListQuery};
use planpush_scim::{AttrPath, ResourceKind, ScimError, ScimType, patch, schema};
use serde_json::{Map, Value, json};

use crate::{
    AccessCache, Admin, AdminError, Auditor, GroupAccess, Ports, ScimGroup, ScimGroupId,
    ScimRepoError, ScimUser,
};

/// How often a group change is tried again when another change to the same group landed first.
const GROUP_WRITE_ATTEMPTS: usize = 16;

/// `attributes` / `excludedAttributes` of a request that returns one resource.
#[derive(Debug, Clone, Default)]
pub struct ScimQuery {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

impl ScimQuery {
    /// From the query parameters (`attributes`, `excludedAttributes`, case-insensitive names).
    pub fn from_params(params: &[(String, String)], kind: ResourceKind) -> Result<Self, ScimError> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        Ok(Self {
            attributes: resource::attr_list(get("attributes"), kind)?,
            excluded: resource::attr_list(get("excludedAttributes"), kind)?,
        })
    }
}

/// The SCIM service.
#[derive(Clone)]
pub struct Scim {
    /// Digest of `SCIM_AUTH_TOKEN`; `None` turns SCIM off.
    token: Option<TokenHash>,
    ports: Ports,
    admin: Arc<Admin>,
    access: Arc<AccessCache>,
    audit: Auditor,
    /// `{BASE_URL}/scim/v2`.
    base: String,
    /// Group changes of this process queue here; across processes the version compare-and-set
    /// of [`ScimRepository::update_group`](crate::ScimRepository::update_group) keeps them whole.
    group_writes: Arc<futures::lock::Mutex<()>>,
}

/// Logs an unexpected failure with a reference and answers a generic 500.
fn internal(e: impl Into<anyhow::Error>) -> ScimError {
    let e = e.into();
    let reference = uuid::Uuid::new_v4().simple().to_string();
    tracing::error!(error = %format!("{e:#}"), %reference, "SCIM request failed");
    ScimError::new(500, None, format!("internal error (reference {reference})"))
}

fn repo_err(e: ScimRepoError) -> ScimError {
    match e {
        ScimRepoError::NotFound => ScimError::not_found("resource not found"),
        ScimRepoError::UserNameTaken => {
            ScimError::uniqueness("a user with this userName already exists")
        }
        ScimRepoError::DisplayNameTaken => {
            ScimError::uniqueness("a group with this displayName already exists")
        }
        ScimRepoError::UnknownMember(id) => ScimError::bad(
            ScimType::InvalidValue,
            format!("member {id} is not a user of this service"),
        ),
        ScimRepoError::AlreadyProvisioned => {
            ScimError::uniqueness("this user is already provisioned")
        }
        ScimRepoError::Conflict => {
            ScimError::new(409, None, "the group is changing too fast; try again")
        }
        ScimRepoError::Unknown(e) => internal(e),
    }
}

fn admin_err(e: AdminError) -> ScimError {
    match e {
        AdminError::LastAdmin(e) => ScimError::new(409, None, e.to_string()),
        AdminError::NotFound => ScimError::not_found("user not found"),
        e => internal(anyhow::anyhow!(e.to_string())),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn version(t: DateTime<Utc>) -> String {
    format!("W/\"{}\"", t.timestamp_micros())
}

fn user_id(id: &str) -> Result<UserId, ScimError> {
    UserId::parse(id).map_err(|_| ScimError::not_found(format!("no user {id}")))
}

fn group_id(id: &str) -> Result<ScimGroupId, ScimError> {
    ScimGroupId::parse(id).ok_or_else(|| ScimError::not_found(format!("no group {id}")))
}

/// The user profile PlanPush shows, from the SCIM fields.
fn apply_fields(user: &mut User, f: &resource::UserFields) {
    user.login = f.user_name.chars().take(100).collect();
    user.name = f.display_name.clone();
    if let Some(email) = f.email.as_deref().and_then(|e| Email::parse(e).ok()) {
        user.email = Some(email);
    } else if let Ok(email) = Email::parse(&f.user_name) {
        user.email = Some(email);
    }
}

/// `active` as written: a boolean (string forms are normalised by the protocol crate), or absent.
fn requested_active(obj: &Map<String, Value>) -> Result<Option<bool>, ScimError> {
    match planpush_scim::path::get_ci(obj, "active") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ScimError::bad(
            ScimType::InvalidValue,
            "active must be a boolean",
        )),
    }
}

impl Scim {
    pub fn new(ports: Ports, admin: Arc<Admin>, access: Arc<AccessCache>, base_url: &str) -> Self {
        let audit = Auditor::new(ports.clone());
        Self {
            token: None,
            ports,
            admin,
            access,
            audit,
            base: format!("{}/scim/v2", base_url.trim_end_matches('/')),
            group_writes: Arc::default(),
        }
    }

    /// Turns SCIM on with this bearer token (`SCIM_AUTH_TOKEN`).
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(TokenHash::of(token.as_bytes()));
        self
    }

    /// Whether SCIM is on.
    pub fn enabled(&self) -> bool {
        self.token.is_some()
    }

    /// Checks the `Authorization` header of a SCIM request: `404` when SCIM is off (it fails
    /// closed and does not reveal itself), `401` unless it is `Bearer <SCIM_AUTH_TOKEN>`. The
    /// comparison is of SHA-256 digests, in constant time.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<(), ScimError> {
        let Some(want) = &self.token else {
            return Err(ScimError::not_found("not found"));
        };
        let presented = authorization
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        match presented {
            Some(t) if TokenHash::of(t.as_bytes()) == *want => Ok(()),
            _ => Err(ScimError::new(
                401,
                None,
                "a valid SCIM bearer token is required",
            )),
        }
    }

    /// `POST /.search` at the root: Users and Groups together (RFC 7644 §3.4.3).
    pub async fn search_all(&self, q: &ListQuery) -> Result<Value, ScimError> {
        let mut all = vec![];
        let unpaged = ListQuery {
            start_index: 1,
            count: usize::MAX,
            attributes: vec![],
            excluded: vec![],
            ..q.clone()
        };
        for list in [
            self.list_users(&unpaged).await?,
            self.list_groups(&unpaged).await?,
        ] {
            if let Some(Value::Array(items)) = list.get("Resources") {
                all.extend(items.iter().filter_map(|v| v.as_object().cloned()));
            }
        }
        let total = all.len();
        let page: Vec<Value> = all
            .into_iter()
            .skip(q.start_index - 1)
            .take(q.count)
            .map(|r| Value::Object(resource::project(r, &q.attributes, &q.excluded)))
            .collect();
        Ok(resource::list_response(page, total, q.start_index))
    }

    /// `GET /ServiceProviderConfig`.
    pub fn service_provider_config(&self) -> Value {
        schema::service_provider_config(&self.base)
    }

    /// `GET /ResourceTypes` (or one by name).
    pub fn resource_types(&self, name: Option<&str>) -> Result<Value, ScimError> {
        let all = schema::resource_types(&self.base);
        one_or_list(all, name, "resource type")
    }

    /// `GET /Schemas` (or one by URN).
    pub fn schemas(&self, id: Option<&str>) -> Result<Value, ScimError> {
        one_or_list(schema::schemas(&self.base), id, "schema")
    }

    // ---------------------------------------------------------------- Users

    async fn user_groups(&self, id: UserId) -> Result<Vec<(ScimGroupId, String)>, ScimError> {
        self.ports.scim.groups_of(id).await.map_err(repo_err)
    }

    fn user_json(
        &self,
        rec: &ScimUser,
        user: &User,
        groups: &[(ScimGroupId, String)],
    ) -> Map<String, Value> {
        let mut m = rec.resource.clone();
        let mut schemas = vec![Value::String(schema::USER.into())];
        if m.contains_key(schema::ENTERPRISE_USER) {
            schemas.push(Value::String(schema::ENTERPRISE_USER.into()));
        }
        m.insert("schemas".into(), Value::Array(schemas));
        m.insert("id".into(), Value::String(user.id.to_string()));
        m.insert("active".into(), Value::Bool(user.is_active()));
        if !groups.is_empty() {
            m.insert(
                "groups".into(),
                groups
                    .iter()
                    .map(|(id, name)| {
                        json!({"value": id.to_string(), "display": name, "$ref": format!("{}/Groups/{id}", self.base), "type": "direct"})
                    })
                    .collect(),
            );
        }
        m.insert(
            "meta".into(),
            json!({
                "resourceType": "User",
                "created": time(rec.created_at),
                "lastModified": time(rec.updated_at),
                "location": format!("{}/Users/{}", self.base, user.id),
                "version": version(rec.updated_at),
            }),
        );
        m
    }

    async fn live_user(&self, id: UserId) -> Result<(ScimUser, User), ScimError> {
        let rec = self.ports.scim.get_user(id).await.map_err(repo_err)?;
        if rec.deleted_at.is_some() {
            return Err(ScimError::not_found(format!("no user {id}")));
        }
        let user = self.ports.users.get(id).await.map_err(internal)?;
        Ok((rec, user))
    }

    async fn render_user(
        &self,
        rec: &ScimUser,
        user: &User,
        q: &ScimQuery,
    ) -> Result<Value, ScimError> {
        let groups = self.user_groups(user.id).await?;
        Ok(Value::Object(resource::project(
            self.user_json(rec, user, &groups),
            &q.attributes,
            &q.excluded,
        )))
    }

    /// `POST /Users`: provisions a user, who then appears in Members (origin `scim`) before ever
    /// signing in. A user who signed in before and whose e-mail is this `userName` (or primary
    /// e-mail) is adopted instead of duplicated; a user deleted over SCIM earlier is revived.
    pub async fn create_user(
        &self,
        body: Value,
        q: &ScimQuery,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Value, ScimError> {
        let mut obj = resource::prepare(body, ResourceKind::User)?;
        let fields = resource::user_fields(&obj)?;
        let active = requested_active(&obj)?.unwrap_or(true);
        planpush_scim::path::remove_ci(&mut obj, "active");
        let mut record = ScimUser {
            user_id: UserId::new(),
            user_name: fields.user_name.clone(),
            external_id: fields.external_id.clone(),
            resource: obj,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let how;
        match self
            .ports
            .scim
            .find_user_by_name(&fields.user_name)
            .await
            .map_err(repo_err)?
        {
            Some(old) if old.deleted_at.is_none() => {
                return Err(ScimError::uniqueness(
                    "a user with this userName already exists",
                ));
            }
            Some(old) => {
                // Provisioned again after a SCIM DELETE: the same person, the same user.
                record.user_id = old.user_id;
                record.created_at = old.created_at;
                let mut user = self.ports.users.get(old.user_id).await.map_err(internal)?;
                apply_fields(&mut user, &fields);
                self.ports
                    .scim
                    .update_user(&user, &record)
                    .await
                    .map_err(repo_err)?;
                how = "revived";
            }
            None => match self.adoptable(&fields).await? {
                Some(mut user) => {
                    record.user_id = user.id;
                    apply_fields(&mut user, &fields);
                    self.ports
                        .scim
                        .adopt_user(&record)
                        .await
                        .map_err(repo_err)?;
                    self.ports
                        .scim
                        .update_user(&user, &record)
                        .await
                        .map_err(repo_err)?;
                    how = "adopted";
                }
                None => {
                    let mut user =
                        User::new(&fields.user_name.chars().take(100).collect::<String>(), now)
                            .map_err(|e| ScimError::bad(ScimType::InvalidValue, e.to_string()))?;
                    user.id = record.user_id;
                    apply_fields(&mut user, &fields);
                    if !active {
                        user.deactivate(now);
                    }
                    self.ports
                        .scim
                        .create_user(&user, &record)
                        .await
                        .map_err(repo_err)?;
                    how = "created";
                }
            },
        }
        let id = record.user_id;
        self.audit
            .record(
                AuditEvent::new(AuditAction::ScimProvisioned, None, now)
                    .target("user", id)
                    .ip(ip)
                    .detail("via", "scim")
                    .detail("userName", fields.user_name.as_str())
                    .detail("externalId", fields.external_id.clone())
                    .detail("how", how),
            )
            .await;
        // Adopted and revived users get the requested state through the one deactivation path.
        if how != "created" {
            self.set_active(id, active, ip, now).await?;
        }
        self.access.invalidate(id);
        let (rec, user) = self.live_user(id).await?;
        self.render_user(&rec, &user, q).await
    }

    /// A signed-in user with no SCIM record whose e-mail is the new user's `userName` or
    /// primary e-mail, when exactly one such user exists.
    async fn adoptable(&self, f: &resource::UserFields) -> Result<Option<User>, ScimError> {
        let mut seen = BTreeSet::new();
        let mut found = vec![];
        for candidate in [Some(f.user_name.as_str()), f.email.as_deref()]
            .into_iter()
            .flatten()
        {
            let Ok(email) = Email::parse(candidate) else {
                continue;
            };
            for u in self
                .ports
                .users
                .find_by_email(&email)
                .await
                .map_err(internal)?
            {
                if seen.insert(u.id) {
                    match self.ports.scim.get_user(u.id).await {
                        Err(ScimRepoError::NotFound) => found.push(u),
                        Ok(_) => {}
                        Err(e) => return Err(repo_err(e)),
                    }
                }
            }
        }
        Ok(if found.len() == 1 { found.pop() } else { None })
    }

    /// Deactivation or reactivation through [`Admin`]'s path, with the SCIM audit event.
    async fn set_active(
        &self,
        id: UserId,
        active: bool,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), ScimError> {
        let before = self
            .ports
            .users
            .get(id)
            .await
            .map_err(internal)?
            .is_active();
        if before == active {
            return Ok(());
        }
        self.admin
            .change_active(id, active, None, ip, now)
            .await
            .map_err(admin_err)?;
        if !active {
            self.audit
                .record(
                    AuditEvent::new(AuditAction::ScimDeprovisioned, None, now)
                        .target("user", id)
                        .ip(ip)
                        .detail("via", "scim"),
                )
                .await;
        }
        Ok(())
    }

    /// `GET /Users/{id}`.
    pub async fn get_user(&self, id: &str, q: &ScimQuery) -> Result<Value, ScimError> {
        let (rec, user) = self.live_user(user_id(id)?).await?;
        self.render_user(&rec, &user, q).await
    }

    /// `GET /Users` and `POST /Users/.search`: every provisioned user, inactive ones included.
    pub async fn list_users(&self, q: &ListQuery) -> Result<Value, ScimError> {
        let records = self.ports.scim.list_users().await.map_err(repo_err)?;
        let users: BTreeMap<UserId, User> = self
            .ports
            .users
            .list()
            .await
            .map_err(internal)?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let mut groups: BTreeMap<UserId, Vec<(ScimGroupId, String)>> = BTreeMap::new();
        for g in self.ports.scim.list_groups().await.map_err(repo_err)? {
            for m in &g.members {
                groups
                    .entry(*m)
                    .or_default()
                    .push((g.id, g.display_name.clone()));
            }
        }
        let all: Vec<Map<String, Value>> = records
            .iter()
            .filter_map(|r| {
                let user = users.get(&r.user_id)?;
                let gs = groups.get(&r.user_id).map(Vec::as_slice).unwrap_or(&[]);
                Some(self.user_json(r, user, gs))
            })
            .collect();
        Ok(q.respond(all, ResourceKind::User))
    }

    /// Writes a new version of a user's resource; applies `active` through the deactivation path.
    async fn write_user(
        &self,
        mut rec: ScimUser,
        mut user: User,
        mut obj: Map<String, Value>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), ScimError> {
        let fields = resource::user_fields(&obj)?;
        let active = requested_active(&obj)?;
        planpush_scim::path::remove_ci(&mut obj, "active");
        if active == Some(false) && user.is_active() {
            // Refuse before writing anything when this would remove the last active admin.
            self.admin
                .check_can_deactivate(user.id)
                .await
                .map_err(admin_err)?;
        }
        rec.user_name = fields.user_name.clone();
        rec.external_id = fields.external_id.clone();
        rec.resource = obj;
        rec.updated_at = now;
        apply_fields(&mut user, &fields);
        self.ports
            .scim
            .update_user(&user, &rec)
            .await
            .map_err(repo_err)?;
        self.access.invalidate(user.id);
        self.audit
            .record(
                AuditEvent::new(AuditAction::ScimUpdated, None, now)
                    .target("user", user.id)
                    .ip(ip)
                    .detail("via", "scim")
                    .detail("userName", fields.user_name.as_str()),
            )
            .await;
        if let Some(active) = active {
            self.set_active(user.id, active, ip, now).await?;
        }
        Ok(())
    }

    /// `PUT /Users/{id}`: replaces the resource. `active: false` deprovisions.
    pub async fn replace_user(
        &self,
        id: &str,
        body: Value,
        q: &ScimQuery,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Value, ScimError> {
        let id = user_id(id)?;
        let (rec, user) = self.live_user(id).await?;
        let obj = resource::prepare(body, ResourceKind::User)?;
        self.write_user(rec, user, obj, ip, now).await?;
        let (rec, user) = self.live_user(id).await?;
        self.render_user(&rec, &user, q).await
    }

    /// `PATCH /Users/{id}`. `active: false` (any casing or string form) deprovisions at once.
    pub async fn patch_user(
        &self,
        id: &str,
        body: Value,
        q: &ScimQuery,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Value, ScimError> {
        let id = user_id(id)?;
        let ops = patch::parse(&body, ResourceKind::User)?;
        let (rec, user) = self.live_user(id).await?;
        let mut obj = rec.resource.clone();
        obj.insert("active".into(), Value::Bool(user.is_active()));
        patch::apply(&mut obj, &ops, ResourceKind::User)?;
        resource::strip_unstored(&mut obj, ResourceKind::User);
        self.write_user(rec, user, obj, ip, now).await?;
        let (rec, user) = self.live_user(id).await?;
        self.render_user(&rec, &user, q).await
    }

    /// `DELETE /Users/{id}`: deprovisions (the user row stays, deactivated, with its history);
    /// the SCIM resource is gone (`404` afterwards) until the same `userName` is provisioned again.
    pub async fn delete_user(
        &self,
        id: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), ScimError> {
        let id = user_id(id)?;
        let (mut rec, user) = self.live_user(id).await?;
        if user.is_active() {
            self.admin
                .check_can_deactivate(id)
                .await
                .map_err(admin_err)?;
        }
        rec.deleted_at = Some(now);
        rec.updated_at = now;
        self.ports
            .scim
            .update_user(&user, &rec)
            .await
            .map_err(repo_err)?;
        self.set_active(id, false, ip, now).await?;
        Ok(())
    }

    // ---------------------------------------------------------------- Groups

    fn group_json(&self, g: &ScimGroup, names: &BTreeMap<UserId, String>) -> Map<String, Value> {
        let mut m = g.resource.clone();
        m.insert("schemas".into(), json!([schema::GROUP]));
        m.insert("id".into(), Value::String(g.id.to_string()));
        m.insert("displayName".into(), Value::String(g.display_name.clone()));
        // Members as the client wrote them (their `type`, `display`), in membership order; the
        // membership table decides who is a member.
        let written: Vec<Value> = match m.remove("members") {
            Some(Value::Array(items)) => items,
            _ => vec![],
        };
        let members: Vec<Value> = g
            .members
            .iter()
            .map(|u| {
                let id = u.to_string();
                let stored = written
                    .iter()
                    .find(|e| e["value"].as_str() == Some(id.as_str()));
                let mut member = match stored {
                    Some(Value::Object(o)) => Value::Object(o.clone()),
                    _ => json!({"value": id, "type": "User"}),
                };
                if member.get("$ref").is_none() {
                    member["$ref"] = Value::String(format!("{}/Users/{u}", self.base));
                }
                if stored.is_none()
                    && let Some(n) = names.get(u)
                {
                    member["display"] = Value::String(n.clone());
                }
                member
            })
            .collect();
        m.insert("members".into(), Value::Array(members));
        m.insert(
            "meta".into(),
            json!({
                "resourceType": "Group",
                "created": time(g.created_at),
                "lastModified": time(g.updated_at),
                "location": format!("{}/Groups/{}", self.base, g.id),
                "version": version(g.updated_at),
            }),
        );
        m
    }

    async fn member_names(&self) -> Result<BTreeMap<UserId, String>, ScimError> {
        Ok(self
            .ports
            .scim
            .list_users()
            .await
            .map_err(repo_err)?
            .into_iter()
            .map(|r| (r.user_id, r.user_name))
            .collect())
    }

    async fn render_group(&self, g: &ScimGroup, q: &ScimQuery) -> Result<Value, ScimError> {
        let names = self.member_names().await?;
        Ok(Value::Object(resource::project(
            self.group_json(g, &names),
            &q.attributes,
            &q.excluded,
        )))
    }

    /// A group resource as written, split into the stored parts.
    fn group_parts(
        obj: &mut Map<String, Value>,
    ) -> Result<(resource::GroupFields, Vec<UserId>), ScimError> {
        let fields = resource::group_fields(obj)?;
        let members = resource::member_ids(obj)?
            .iter()
            .map(|m| {
                UserId::parse(m).map_err(|_| {
                    ScimError::bad(
                        ScimType::InvalidValue,
                        format!("member {m:?} is not a user of this service"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The written members stay in the resource (for their `type` and `display`), one per user.
        if let Some(Value::Array(items)) = obj.get_mut("members") {
            let mut seen = BTreeSet::new();
            items.retain(|e| {
                e["value"]
                    .as_str()
                    .is_some_and(|v| seen.insert(v.to_owned()))
            });
        }
        planpush_scim::path::remove_ci(obj, "displayName");
        Ok((fields, members))
    }

    /// Recomputes the `sso` grants of every user whose memberships changed.
    async fn reconcile(
        &self,
        users: impl IntoIterator<Item = UserId>,
        now: DateTime<Utc>,
    ) -> Result<(), ScimError> {
        let groups = GroupAccess::new(self.ports.clone(), self.access.clone());
        for user in users {
            groups
                .reconcile_user(user, None, "scim group membership", None, now)
                .await
                .map_err(internal)?;
        }
        Ok(())
    }

    async fn audit_group(
        &self,
        action: AuditAction,
        g: &ScimGroup,
        added: &[UserId],
        removed: &[UserId],
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) {
        let ids = |v: &[UserId]| {
            v.iter()
                .map(|u| Value::String(u.to_string()))
                .collect::<Vec<_>>()
        };
        self.audit
            .record(
                AuditEvent::new(action, None, now)
                    .target("group", g.id)
                    .ip(ip)
                    .detail("via", "scim")
                    .detail("displayName", g.display_name.as_str())
                    .detail("members_added", ids(added))
                    .detail("members_removed", ids(removed)),
            )
            .await;
    }

    /// `POST /Groups`.
    pub async fn create_group(
        &self,
        body: Value,
        q: &ScimQuery,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Value, ScimError> {
        let mut obj = resource::prepare(body, ResourceKind::Group)?;
        let (fields, members) = Self::group_parts(&mut obj)?;
        let g = ScimGroup {
            id: ScimGroupId::new(),
            display_name: fields.display_name,
            external_id: fields.external_id,
            resource: obj,
            members,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        self.ports.scim.create_group(&g).await.map_err(repo_err)?;
        self.audit_group(AuditAction::ScimGroupCreated, &g, &g.members, &[], ip, now)
            .await;
        self.reconcile(g.members.iter().copied(), now).await?;
        self.render_group(&g, q).await
    }

    /// `GET /Groups/{id}`.
    pub async fn get_group(&self, id: &str, q: &ScimQuery) -> Result<Value, ScimError> {
        let g = self
            .ports
            .scim
            .get_group(group_id(id)?)
            .await
            .map_err(repo_err)?;
        self.render_group(&g, q).await
    }

    /// `GET /Groups` and `POST /Groups/.search`.
    pub async fn list_groups(&self, q: &ListQuery) -> Result<Value, ScimError> {
        let names = self.member_names().await?;
        let mut all = vec![];
        for g in self.ports.scim.list_groups().await.map_err(repo_err)? {
            all.push(self.group_json(&g, &names));
        }
        Ok(q.respond(all, ResourceKind::Group))
    }

    /// Writes a new version of a group (`None`: it changed since it was read; read it again).
    async fn write_group(
        &self,
        mut g: ScimGroup,
        mut obj: Map<String, Value>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Option<ScimGroup>, ScimError> {
        let (fields, members) = Self::group_parts(&mut obj)?;
        let before: BTreeSet<UserId> = g.members.iter().copied().collect();
        let after: BTreeSet<UserId> = members.iter().copied().collect();
        let added: Vec<UserId> = after.difference(&before).copied().collect();
        let removed: Vec<UserId> = before.difference(&after).copied().collect();
        let renamed = g.display_name != fields.display_name;
        g.display_name = fields.display_name;
        g.external_id = fields.external_id;
        g.resource = obj;
        g.members = members;
        g.updated_at = now;
        match self.ports.scim.update_group(&g).await {
            Ok(()) => g.version += 1,
            Err(ScimRepoError::Conflict) => return Ok(None),
            Err(e) => return Err(repo_err(e)),
        }
        self.audit_group(AuditAction::ScimGroupUpdated, &g, &added, &removed, ip, now)
            .await;
        // A rename changes what every member's group maps to.
        let touched: BTreeSet<UserId> = if renamed {
            before.union(&after).copied().collect()
        } else {
            added.iter().chain(&removed).copied().collect()
        };
        self.reconcile(touched, now).await?;
        Ok(Some(g))
    }

    /// Reads the group, builds its new resource with `make` and writes it, again from a fresh
    /// read when another change landed in between.
    async fn change_group(
        &self,
        id: ScimGroupId,
        make: impl Fn(&ScimGroup) -> Result<Map<String, Value>, ScimError>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<ScimGroup, ScimError> {
        let _queued = self.group_writes.lock().await;
        for _ in 0..GROUP_WRITE_ATTEMPTS {
            let g = self.ports.scim.get_group(id).await.map_err(repo_err)?;
            let obj = make(&g)?;
            if let Some(g) = self.write_group(g, obj, ip, now).await? {
                return Ok(g);
            }
        }
        Err(repo_err(ScimRepoError::Conflict))
    }

    /// `PUT /Groups/{id}`: replaces name and members.
    pub async fn replace_group(
        &self,
        id: &str,
        body: Value,
        q: &ScimQuery,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Value, ScimError> {
        let id = group_id(id)?;
        let obj = resource::prepare(body, ResourceKind::Group)?;
        let g = self.change_group(id, |_| Ok(obj.clone()), ip, now).await?;
        self.render_group(&g, q).await
    }

    /// `PATCH /Groups/{id}`: membership changes take effect on the members' roles at once.
    pub async fn patch_group(
        &self,
        id: &str,
        body: Value,
        q: &ScimQuery,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Value, ScimError> {
        let ops = patch::parse(&body, ResourceKind::Group)?;
        let id = group_id(id)?;
        let names = self.member_names().await?;
        let make = |g: &ScimGroup| {
            let mut obj = g.resource.clone();
            obj.insert("displayName".into(), Value::String(g.display_name.clone()));
            if let Some(Value::Array(members)) = self.group_json(g, &names).remove("members") {
                obj.insert("members".into(), Value::Array(members));
            }
            patch::apply(&mut obj, &ops, ResourceKind::Group)?;
            resource::strip_unstored(&mut obj, ResourceKind::Group);
            Ok(obj)
        };
        let g = self.change_group(id, make, ip, now).await?;
        self.render_group(&g, q).await
    }

    /// `DELETE /Groups/{id}`: its members lose the roles it mapped to.
    pub async fn delete_group(
        &self,
        id: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), ScimError> {
        let id = group_id(id)?;
        let g = self.ports.scim.get_group(id).await.map_err(repo_err)?;
        self.ports.scim.delete_group(id).await.map_err(repo_err)?;
        self.audit_group(AuditAction::ScimGroupDeleted, &g, &[], &g.members, ip, now)
            .await;
        self.reconcile(g.members.iter().copied(), now).await
    }
}

fn one_or_list(all: Vec<Value>, id: Option<&str>, what: &str) -> Result<Value, ScimError> {
    match id {
        None => {
            let n = all.len();
            Ok(resource::list_response(all, n, 1))
        }
        Some(id) => all
            .into_iter()
            .find(|v| v["id"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(id)))
            .ok_or_else(|| ScimError::not_found(format!("no {what} {id}"))),
    }
}

/// The SCIM-provisioned member an OpenID Connect sign-in with an unknown identity belongs to: the
/// one whose `userName` is the verified e-mail or the login (`preferred_username`) of `profile`,
/// ignoring case. The identity is linked to them, so later sign-ins find them directly. A member
/// deleted over SCIM is matched too: they are deactivated, so the sign-in is refused instead of
/// creating a fresh account for them. Only OIDC identities are matched: the OIDC issuer is the
/// identity provider that provisions; a GitHub account never takes over a provisioned member.
pub(crate) async fn link_provisioned(
    ports: &Ports,
    profile: &crate::VerifiedProfile,
) -> anyhow::Result<Option<User>> {
    if !matches!(
        profile.identity.provider(),
        planpush_identity::Provider::Oidc { .. }
    ) {
        return Ok(None);
    }
    let names = [
        profile.email.as_ref().map(Email::as_str),
        Some(profile.login.as_str()),
    ];
    for name in names.into_iter().flatten() {
        let Some(record) = ports.scim.find_user_by_name(name).await? else {
            continue;
        };
        ports
            .users
            .link_identity(record.user_id, &profile.identity)
            .await?;
        return Ok(Some(ports.users.get(record.user_id).await?));
    }
    Ok(None)
}
