//! The method table: every wire name the server answers, explicit and
//! implicit, derived from the model.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::rbac::{RoleMask, ALL_ROLES};
use super::{Access, Class, ClassId, Model, Param, Type};

/// What a method does, for the dispatcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodKind {
    /// An explicit message of the class, by index; runs its handler.
    Explicit(usize),
    /// `get_all`
    GetAll,
    /// `get_all_records`
    GetAllRecords,
    /// `get_record`
    GetRecord,
    /// `get_by_uuid`
    GetByUuid,
    /// `get_by_name_label`
    GetByNameLabel,
    /// `get_<field>`
    GetField(usize),
    /// `set_<field>` (RW fields)
    SetField(usize),
    /// `add_to_<field>` (RW maps)
    AddToMap(usize),
    /// `remove_from_<field>` (RW maps)
    RemoveFromMap(usize),
    /// `system.listMethods`: no session, a bare array.
    ListMethods,
}

/// One callable wire name.
#[derive(Clone, Debug)]
pub struct Method {
    /// `class.message`.
    pub wire: String,
    /// The class, or `None` for `system.*`.
    pub class: Option<ClassId>,
    /// What it does.
    pub kind: MethodKind,
    /// Parameters after the session.
    pub params: Vec<Param>,
    /// Fewest parameters accepted (trailing optional ones may be left out).
    pub min_params: usize,
    /// Result type.
    pub result: Type,
    /// Whether the first wire argument is a session.
    pub session: bool,
    /// Whether an `Async.` form exists.
    pub is_async: bool,
    /// Whether parameters must never be logged.
    pub secret: bool,
    /// The permission a session needs: the wire name in lower case.
    pub permission: String,
    /// The roles that hold the permission.
    pub roles: RoleMask,
    /// Documentation.
    pub doc: String,
}

/// All methods, with lookup by wire name (and the `class_message` alias).
#[derive(Debug)]
pub struct MethodTable {
    methods: Vec<Method>,
    by_name: HashMap<String, usize, BuildHasherDefault<NameHasher>>,
}

/// FNV-1a over the method name: the table is fixed at start-up and small,
/// so a flooding-resistant hash buys nothing here, and this runs on every
/// call.
#[derive(Default)]
pub struct NameHasher(u64);

impl Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The prefixes that ask for the asynchronous form of a call.
const ASYNC_PREFIXES: [&str; 2] = ["Async.", "InternalAsync."];

impl MethodTable {
    /// Derives the table from the model.
    pub fn new(model: &Model) -> MethodTable {
        let mut methods = vec![Method {
            wire: "system.listMethods".into(),
            class: None,
            kind: MethodKind::ListMethods,
            params: vec![],
            min_params: 0,
            result: Type::Set(Box::new(Type::String)),
            session: false,
            is_async: false,
            secret: false,
            permission: "system.listmethods".into(),
            roles: ALL_ROLES,
            doc: "The names of every method this server answers (no session; the reply is a bare array, not a Status struct).".into(),
        }];
        for (ci, c) in model.classes.iter().enumerate() {
            methods.extend(class_methods(ci, c));
        }
        let mut by_name: HashMap<String, usize, BuildHasherDefault<NameHasher>> =
            HashMap::default();
        for (i, m) in methods.iter().enumerate() {
            by_name.insert(m.wire.clone(), i);
        }
        // xapi also answers `class_message`: Python cannot spell event.from.
        for (i, m) in methods.iter().enumerate() {
            by_name.entry(m.wire.replacen('.', "_", 1)).or_insert(i);
        }
        MethodTable { methods, by_name }
    }

    /// Looks a wire name up; the flag says whether the `Async.` form was
    /// asked for.
    pub fn lookup(&self, wire: &str) -> Option<(&Method, bool)> {
        self.lookup_id(wire)
            .map(|(i, is_async)| (&self.methods[i], is_async))
    }

    /// Like [`MethodTable::lookup`], with the method's index in
    /// [`MethodTable::all`].
    pub fn lookup_id(&self, wire: &str) -> Option<(usize, bool)> {
        let (name, is_async) = ASYNC_PREFIXES
            .iter()
            .find_map(|p| wire.strip_prefix(p).map(|rest| (rest, true)))
            .unwrap_or((wire, false));
        self.by_name.get(name).map(|&i| (i, is_async))
    }

    /// Every method, in model order.
    pub fn all(&self) -> &[Method] {
        &self.methods
    }
}

fn self_param(c: &Class) -> Param {
    Param {
        name: "self".into(),
        ty: Type::Ref(c.name.clone()),
        optional: false,
        doc: format!("reference to the {} object", c.name),
    }
}

fn param(name: &str, ty: Type, doc: String) -> Param {
    Param {
        name: name.into(),
        ty,
        optional: false,
        doc,
    }
}

/// The names of the implicit messages of a class.
pub fn implicit_names(c: &Class) -> Vec<String> {
    class_methods(0, c)
        .into_iter()
        .filter(|m| !matches!(m.kind, MethodKind::Explicit(_)))
        .map(|m| {
            m.wire
                .split_once('.')
                .map(|x| x.1.to_owned())
                .unwrap_or_default()
        })
        .collect()
}

fn class_methods(ci: ClassId, c: &Class) -> Vec<Method> {
    let cref = Type::Ref(c.name.clone());
    let crec = Type::Record(c.name.clone());
    let mut out = Vec::new();
    let mut push = |name: String, kind, params: Vec<Param>, result: Type, doc: String| {
        // Readers are open to every role; writers take the class's roles.
        let roles = match kind {
            MethodKind::SetField(_) | MethodKind::AddToMap(_) | MethodKind::RemoveFromMap(_) => {
                c.roles
            }
            _ => ALL_ROLES,
        };
        let wire = format!("{}.{}", c.name, name);
        out.push(Method {
            permission: wire.to_ascii_lowercase(),
            roles,
            wire,
            class: Some(ci),
            kind,
            min_params: params.len(),
            params,
            result,
            session: true,
            is_async: false,
            secret: false,
            doc,
        })
    };
    if c.get_all {
        push(
            "get_all".into(),
            MethodKind::GetAll,
            vec![],
            Type::Set(Box::new(cref.clone())),
            format!("Return a list of all the {}s known to the system.", c.name),
        );
        push(
            "get_all_records".into(),
            MethodKind::GetAllRecords,
            vec![],
            Type::Map(Box::new(cref.clone()), Box::new(crec.clone())),
            format!(
                "Return a map of {} references to {} records for all {}s known to the system.",
                c.name, c.name, c.name
            ),
        );
    }
    push(
        "get_record".into(),
        MethodKind::GetRecord,
        vec![self_param(c)],
        crec.clone(),
        format!(
            "Get a record containing the current state of the given {}.",
            c.name
        ),
    );
    push(
        "get_by_uuid".into(),
        MethodKind::GetByUuid,
        vec![param(
            "uuid",
            Type::String,
            "UUID of object to return".into(),
        )],
        cref.clone(),
        format!(
            "Get a reference to the {} instance with the specified UUID.",
            c.name
        ),
    );
    if c.fields
        .iter()
        .any(|f| f.name == "name_label" && !f.internal)
    {
        push(
            "get_by_name_label".into(),
            MethodKind::GetByNameLabel,
            vec![param(
                "label",
                Type::String,
                "label of object to return".into(),
            )],
            Type::Set(Box::new(cref.clone())),
            format!("Get all the {} instances with the given label.", c.name),
        );
    }
    for (fi, f) in c.fields.iter().enumerate() {
        if f.internal {
            continue;
        }
        push(
            format!("get_{}", f.name),
            MethodKind::GetField(fi),
            vec![self_param(c)],
            f.ty.clone(),
            format!("Get the {} field of the given {}.", f.name, c.name),
        );
        if f.access != Access::RW {
            continue;
        }
        push(
            format!("set_{}", f.name),
            MethodKind::SetField(fi),
            vec![
                self_param(c),
                param("value", f.ty.clone(), "New value to set".into()),
            ],
            Type::Void,
            format!("Set the {} field of the given {}.", f.name, c.name),
        );
        if let Type::Map(k, v) = &f.ty {
            push(
                format!("add_to_{}", f.name),
                MethodKind::AddToMap(fi),
                vec![
                    self_param(c),
                    param("key", (**k).clone(), "Key to add".into()),
                    param("value", (**v).clone(), "Value to add".into()),
                ],
                Type::Void,
                format!(
                    "Add the given key-value pair to the {} field of the given {} (MAP_DUPLICATE_KEY if the key is there).",
                    f.name, c.name
                ),
            );
            push(
                format!("remove_from_{}", f.name),
                MethodKind::RemoveFromMap(fi),
                vec![self_param(c), param("key", (**k).clone(), "Key to remove".into())],
                Type::Void,
                format!(
                    "Remove the given key and its corresponding value from the {} field of the given {}. If the key is not in that Map, then do nothing.",
                    f.name, c.name
                ),
            );
        }
    }
    for (mi, m) in c.messages.iter().enumerate() {
        let min_params = m.params.iter().filter(|p| !p.optional).count();
        let wire = format!("{}.{}", c.name, m.name);
        out.push(Method {
            permission: wire.to_ascii_lowercase(),
            roles: m.roles,
            wire,
            class: Some(ci),
            kind: MethodKind::Explicit(mi),
            params: m.params.clone(),
            min_params,
            result: m.result.clone(),
            session: m.session,
            is_async: m.is_async,
            secret: m.secret,
            doc: m.doc.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    #[test]
    fn implicit_and_alias_lookup() {
        let m = model::load_sources(model::embedded()).unwrap();
        let t = MethodTable::new(&m);
        let (g, a) = t.lookup("task.get_progress").unwrap();
        assert!(!a);
        assert!(matches!(g.kind, MethodKind::GetField(_)));
        assert_eq!(
            t.lookup("task_get_progress").unwrap().0.wire,
            "task.get_progress"
        );
        let (c, a) = t.lookup("Async.task.cancel").unwrap();
        assert!(a && c.is_async);
        assert!(
            t.lookup("task.get_session").is_none(),
            "internal fields are hidden"
        );
        assert!(t.lookup("task.set_progress").is_some());
        assert!(t.lookup("task.add_to_other_config").is_some());
        assert!(t.lookup("session.get_all").is_none());
        assert!(t.lookup("nope.nope").is_none());
        let login = t.lookup("session.login_with_password").unwrap().0;
        assert_eq!((login.min_params, login.params.len()), (2, 4));
    }
}
