//! Reading `datamodel/*.toml` and checking it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::rbac::{self, ExtraPermission, HttpAction, RoleDef, RoleMask};
use super::{convert, Access, Class, Enum, ErrorDef, Field, Message, Model, Param, Persist, Type};
use crate::wire::Value;

/// The datamodel files compiled into the binary, by file name.
pub fn embedded() -> &'static [(&'static str, &'static str)] {
    &[
        ("errors.toml", include_str!("../../datamodel/errors.toml")),
        ("classes.toml", include_str!("../../datamodel/classes.toml")),
        ("rbac.toml", include_str!("../../datamodel/rbac.toml")),
        ("session.toml", include_str!("../../datamodel/session.toml")),
        ("task.toml", include_str!("../../datamodel/task.toml")),
        ("host.toml", include_str!("../../datamodel/host.toml")),
        ("pool.toml", include_str!("../../datamodel/pool.toml")),
        ("sr.toml", include_str!("../../datamodel/sr.toml")),
        ("vdi.toml", include_str!("../../datamodel/vdi.toml")),
        (
            "block_job.toml",
            include_str!("../../datamodel/block_job.toml"),
        ),
        ("event.toml", include_str!("../../datamodel/event.toml")),
        ("vm.toml", include_str!("../../datamodel/vm.toml")),
        ("vbd.toml", include_str!("../../datamodel/vbd.toml")),
        (
            "block_dirty_bitmap.toml",
            include_str!("../../datamodel/block_dirty_bitmap.toml"),
        ),
        ("role.toml", include_str!("../../datamodel/role.toml")),
        ("subject.toml", include_str!("../../datamodel/subject.toml")),
    ]
}

/// Why the datamodel is unusable.
#[derive(Debug, thiserror::Error)]
#[error("datamodel: {0}")]
pub struct ModelError(pub String);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    class: Option<ClassToml>,
    #[serde(default)]
    field: Vec<FieldToml>,
    #[serde(default)]
    message: Vec<MessageToml>,
    #[serde(default, rename = "enum")]
    enums: Vec<EnumToml>,
    #[serde(default)]
    error: Vec<ErrorToml>,
    #[serde(default)]
    stub: Vec<StubToml>,
    #[serde(default)]
    role: Vec<RoleToml>,
    #[serde(default)]
    permission: Vec<PermissionToml>,
    #[serde(default)]
    http: Vec<HttpToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleToml {
    name: String,
    #[serde(default)]
    uuid: Option<String>,
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionToml {
    name: String,
    roles: String,
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpToml {
    name: String,
    method: String,
    path: String,
    roles: String,
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassToml {
    name: String,
    roles: String,
    doc: String,
    events: bool,
    persist: String,
    get_all: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldToml {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    access: Option<String>,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    default: Option<toml::Value>,
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamToml {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    optional: bool,
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageToml {
    name: String,
    params: Vec<ParamToml>,
    result: String,
    #[serde(default)]
    errors: Vec<String>,
    #[serde(default, rename = "async")]
    is_async: bool,
    #[serde(default = "yes")]
    session: bool,
    #[serde(default)]
    secret: bool,
    #[serde(default)]
    roles: Option<String>,
    doc: String,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnumToml {
    name: String,
    values: Vec<EnumValueToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnumValueToml {
    name: String,
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorToml {
    code: String,
    params: Vec<String>,
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StubToml {
    name: String,
    #[allow(dead_code)]
    doc: String,
}

/// Loads and checks a model from `(file name, TOML text)` pairs.
pub fn load_sources(files: &[(&str, &str)]) -> Result<Model, ModelError> {
    let mut classes = Vec::new();
    let mut enums = BTreeMap::new();
    let mut errors = BTreeMap::new();
    let mut stubs = Vec::new();
    let mut raw_fields = Vec::new();
    let parsed = files
        .iter()
        .map(|(name, text)| {
            toml::from_str::<File>(text)
                .map(|f| (*name, f))
                .map_err(|e| ModelError(format!("{name}: {}", e.message())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Roles first: every class and message names one.
    let mut roles: Vec<RoleDef> = Vec::new();
    for (name, f) in &parsed {
        for r in &f.role {
            let uuid = match &r.uuid {
                Some(u) => uuid::Uuid::parse_str(u)
                    .map_err(|_| ModelError(format!("{name}: role {}: bad uuid", r.name)))?,
                None => rbac::md5_uuid(&r.name),
            };
            if roles.iter().any(|x| x.name == r.name) {
                return Err(ModelError(format!("{name}: role {} defined twice", r.name)));
            }
            roles.push(RoleDef {
                name: r.name.clone(),
                uuid,
                doc: r.doc.clone(),
            });
        }
    }
    if roles.len() > RoleMask::BITS as usize {
        return Err(ModelError("too many roles".into()));
    }
    let mask = |ctx: &str, s: &str| -> Result<RoleMask, ModelError> {
        rbac::parse_roles(&roles, s).ok_or_else(|| ModelError(format!("{ctx}: unknown role {s:?}")))
    };
    let mut extra_permissions = Vec::new();
    let mut http_actions = Vec::new();
    for (name, f) in parsed {
        for p in &f.permission {
            extra_permissions.push(ExtraPermission {
                name: p.name.clone(),
                roles: mask(name, &p.roles)?,
                doc: p.doc.clone(),
            });
        }
        for h in &f.http {
            http_actions.push(HttpAction {
                name: h.name.clone(),
                method: h.method.clone(),
                path: h.path.clone(),
                roles: mask(name, &h.roles)?,
                doc: h.doc.clone(),
            });
        }
        for e in f.enums {
            let values: Vec<_> = e.values.into_iter().map(|v| (v.name, v.doc)).collect();
            if values.is_empty() {
                return Err(ModelError(format!("{name}: enum {} has no values", e.name)));
            }
            if enums.insert(e.name.clone(), Enum { values }).is_some() {
                return Err(ModelError(format!("{name}: enum {} defined twice", e.name)));
            }
        }
        for e in f.error {
            let def = ErrorDef {
                params: e.params,
                doc: e.doc,
            };
            if errors.insert(e.code.clone(), def).is_some() {
                return Err(ModelError(format!(
                    "{name}: error {} defined twice",
                    e.code
                )));
            }
        }
        stubs.extend(f.stub.into_iter().map(|s| s.name));
        let Some(c) = f.class else {
            if !f.field.is_empty() || !f.message.is_empty() {
                return Err(ModelError(format!(
                    "{name}: fields or messages without a [class]"
                )));
            }
            continue;
        };
        let persist = match c.persist.as_str() {
            "none" => Persist::None,
            "all" => Persist::All,
            p => return Err(ModelError(format!("{name}: unknown persist policy {p:?}"))),
        };
        let class_roles = mask(&c.name, &c.roles)?;
        let mut messages = Vec::new();
        for m in f.message {
            let ctx = format!("{}.{}", c.name, m.name);
            let roles = match &m.roles {
                Some(r) => mask(&ctx, r)?,
                None => class_roles,
            };
            let params = m
                .params
                .into_iter()
                .map(|p| {
                    Ok(Param {
                        ty: Type::parse(&p.ty).map_err(|e| ModelError(format!("{ctx}: {e}")))?,
                        name: p.name,
                        optional: p.optional,
                        doc: p.doc,
                    })
                })
                .collect::<Result<Vec<_>, ModelError>>()?;
            messages.push(Message {
                result: Type::parse(&m.result).map_err(|e| ModelError(format!("{ctx}: {e}")))?,
                name: m.name,
                params,
                errors: m.errors,
                is_async: m.is_async,
                session: m.session,
                secret: m.secret,
                roles,
                doc: m.doc,
            });
        }
        let mut fields = Vec::new();
        for fd in f.field {
            let ctx = format!("{}.{}", c.name, fd.name);
            let ty = Type::parse(&fd.ty).map_err(|e| ModelError(format!("{ctx}: {e}")))?;
            let access = match fd.access.as_deref() {
                None | Some("RO") => Access::RO,
                Some("RW") => Access::RW,
                Some(a) => return Err(ModelError(format!("{ctx}: unknown access {a:?}"))),
            };
            raw_fields.push((ctx, fd.default));
            fields.push(Field {
                name: fd.name,
                ty,
                access,
                internal: fd.internal,
                default: Value::Nil,
                doc: fd.doc,
            });
        }
        classes.push(Class {
            name: c.name,
            doc: c.doc,
            events: c.events,
            persist,
            get_all: c.get_all,
            roles: class_roles,
            fields,
            messages,
        });
    }
    let mut model = Model {
        classes,
        stubs,
        enums,
        errors,
        roles,
        extra_permissions,
        http_actions,
    };
    check(&model)?;
    // Defaults need the enums, so they are filled in after the check.
    let mut raw = raw_fields.into_iter();
    for ci in 0..model.classes.len() {
        for fi in 0..model.classes[ci].fields.len() {
            let (ctx, given) = raw.next().expect("one default per field");
            let ty = model.classes[ci].fields[fi].ty.clone();
            let default = match given {
                None => zero(&model, &ty),
                Some(v) => convert::from_toml(&model, &ty, &v)
                    .map_err(|e| ModelError(format!("{ctx}: default: {e}")))?,
            };
            model.classes[ci].fields[fi].default = default;
        }
    }
    Ok(model)
}

/// The value a field of this type starts with when the model gives none.
fn zero(model: &Model, ty: &Type) -> Value {
    match ty {
        Type::String => Value::from(""),
        Type::Int => Value::Int(0),
        Type::Float => Value::Double(0.0),
        Type::Bool => Value::Bool(false),
        Type::DateTime => Value::DateTime(crate::wire::DateTime::EPOCH),
        Type::Ref(_) => Value::Ref(crate::wire::Ref::NULL),
        Type::Enum(e) => Value::from(model.enums[e].values[0].0.as_str()),
        Type::Set(_) => Value::Array(Vec::new()),
        Type::Map(..) | Type::Record(_) | Type::Struct => Value::Struct(Vec::new()),
        Type::Void => Value::void(),
    }
}

/// The invariants: unique names, every type resolves, every error exists,
/// every class has a uuid, optional parameters are trailing, no message
/// collides with an implicit one.
fn check(m: &Model) -> Result<(), ModelError> {
    let mut names = BTreeSet::new();
    for c in &m.classes {
        if !names.insert(c.name.as_str()) {
            return Err(ModelError(format!("class {} defined twice", c.name)));
        }
    }
    for s in &m.stubs {
        if !names.insert(s.as_str()) {
            return Err(ModelError(format!("stub {s} is also a class")));
        }
    }
    let check_ty = |ctx: &str, ty: &Type, result: bool| -> Result<(), ModelError> {
        check_type(m, &names, ctx, ty, result)
    };
    for c in &m.classes {
        if c.fields.first().map(|f| f.name.as_str()) != Some("uuid") {
            return Err(ModelError(format!(
                "{}: the first field must be uuid",
                c.name
            )));
        }
        let mut fnames = BTreeSet::new();
        for f in &c.fields {
            let ctx = format!("{}.{}", c.name, f.name);
            if !fnames.insert(f.name.as_str()) {
                return Err(ModelError(format!("{ctx}: field defined twice")));
            }
            check_ty(&ctx, &f.ty, false)?;
            if f.internal && f.access == Access::RW {
                return Err(ModelError(format!("{ctx}: an internal field cannot be RW")));
            }
        }
        let implicit = super::methods::implicit_names(c);
        let mut mnames = BTreeSet::new();
        for msg in &c.messages {
            let ctx = format!("{}.{}", c.name, msg.name);
            if !mnames.insert(msg.name.as_str()) || implicit.contains(&msg.name) {
                return Err(ModelError(format!("{ctx}: message defined twice")));
            }
            let mut seen_optional = false;
            let mut pnames = BTreeSet::new();
            for p in &msg.params {
                if !pnames.insert(p.name.as_str()) {
                    return Err(ModelError(format!("{ctx}: parameter {} twice", p.name)));
                }
                check_ty(&format!("{ctx}({})", p.name), &p.ty, false)?;
                if seen_optional && !p.optional {
                    return Err(ModelError(format!(
                        "{ctx}: optional parameters must be last"
                    )));
                }
                seen_optional |= p.optional;
            }
            check_ty(&ctx, &msg.result, true)?;
            for e in &msg.errors {
                if !m.errors.contains_key(e) {
                    return Err(ModelError(format!("{ctx}: unknown error code {e}")));
                }
            }
        }
    }
    for (code, e) in &m.errors {
        if code.is_empty()
            || !code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(ModelError(format!("bad error code {code:?}")));
        }
        let _ = &e.params;
    }
    Ok(())
}

fn check_type(
    m: &Model,
    names: &BTreeSet<&str>,
    ctx: &str,
    ty: &Type,
    result: bool,
) -> Result<(), ModelError> {
    match ty {
        Type::Ref(c) if !names.contains(c.as_str()) => Err(ModelError(format!(
            "{ctx}: dangling ref to unknown class {c}"
        ))),
        Type::Record(c) if m.class_id(c).is_none() => {
            Err(ModelError(format!("{ctx}: record of unknown class {c}")))
        }
        Type::Enum(e) if !m.enums.contains_key(e) => {
            Err(ModelError(format!("{ctx}: unknown type {e}")))
        }
        // A free-form struct may be a parameter (block_job.transaction's
        // actions): its handler checks its members.
        Type::Void if !result => Err(ModelError(format!("{ctx}: {ty} is only valid as a result"))),
        Type::Set(t) => check_type(m, names, ctx, t, result),
        Type::Map(k, v) => {
            if !k.is_valid_map_key() {
                return Err(ModelError(format!("{ctx}: {k} cannot be a map key")));
            }
            check_type(m, names, ctx, k, result)?;
            check_type(m, names, ctx, v, result)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_task(extra: &str) -> Result<Model, ModelError> {
        let errors = include_str!("../../datamodel/errors.toml");
        let rbac = include_str!("../../datamodel/rbac.toml");
        let text = format!(
            "[class]\nname=\"thing\"\nroles=\"vm-admin\"\ndoc=\"\"\nevents=true\npersist=\"all\"\nget_all=true\n\
             [[field]]\nname=\"uuid\"\ntype=\"string\"\ndoc=\"\"\n{extra}"
        );
        load_sources(&[
            ("errors.toml", errors),
            ("rbac.toml", rbac),
            ("thing.toml", &text),
        ])
    }

    #[test]
    fn the_embedded_model_loads() {
        let m = load_sources(embedded()).unwrap();
        assert!(m.class_id("task").is_some());
        assert!(m.class_id("session").is_some());
    }

    #[test]
    fn every_datamodel_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/datamodel");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = embedded().iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn unknown_types_are_rejected() {
        let e = with_task("[[field]]\nname=\"x\"\ntype=\"colour\"\ndoc=\"\"\n").unwrap_err();
        assert!(e.0.contains("unknown type colour"), "{e}");
    }

    #[test]
    fn dangling_refs_are_rejected() {
        let e = with_task("[[field]]\nname=\"x\"\ntype=\"nowhere ref\"\ndoc=\"\"\n").unwrap_err();
        assert!(e.0.contains("dangling ref"), "{e}");
    }

    #[test]
    fn unknown_error_codes_are_rejected() {
        let e = with_task(
            "[[message]]\nname=\"go\"\nparams=[]\nresult=\"void\"\nerrors=[\"NO_SUCH\"]\ndoc=\"\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("unknown error code NO_SUCH"), "{e}");
    }

    #[test]
    fn collisions_with_implicit_messages_are_rejected() {
        let e = with_task("[[message]]\nname=\"get_uuid\"\nparams=[]\nresult=\"void\"\ndoc=\"\"\n")
            .unwrap_err();
        assert!(e.0.contains("defined twice"), "{e}");
    }

    #[test]
    fn bad_defaults_are_rejected() {
        let e = with_task("[[field]]\nname=\"n\"\ntype=\"int\"\ndefault=\"x\"\ndoc=\"\"\n")
            .unwrap_err();
        assert!(e.0.contains("default"), "{e}");
    }

    #[test]
    fn unknown_roles_are_rejected() {
        let e = with_task(
            "[[message]]\nname=\"go\"\nroles=\"admin\"\nparams=[]\nresult=\"void\"\ndoc=\"\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("unknown role"), "{e}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = with_task("[[field]]\nname=\"n\"\ntype=\"int\"\ndoc=\"\"\ncolour=1\n").unwrap_err();
        assert!(e.0.contains("unknown field"), "{e}");
    }
}
