//! The datamodel: the API as data (`datamodel/*.toml`), loaded, validated,
//! and turned into everything derived from it: the method table that
//! dispatch uses (explicit and implicit messages), `system.listMethods`,
//! `docs/api.md`, and the Rust names of [`schema`] that the code compiles
//! against.
//!
//! ```text
//! datamodel/*.toml --load+check--> Model --methods()--> MethodTable --> api::dispatch
//!                                        |--docs::render--> docs/api.md
//!                                        \--codegen::render--> src/model/schema/
//! ```
//!
//! Both rendered files are committed and held fresh by a test; see
//! [`codegen`] for what `schema` contains and [`field`] for typed row
//! access.

pub mod codegen;
pub mod convert;
pub mod docs;
pub mod field;
mod load;
pub mod methods;
pub mod rbac;
// Generated and compared byte for byte with its render: rustfmt must not
// touch it.
#[rustfmt::skip]
pub mod schema;
pub mod types;

use std::collections::BTreeMap;

// `field::Field` is not re-exported: `model::Field` describes a datamodel field.
pub use field::{FieldValue, Map, RowExt};
pub use load::{embedded, load_sources, ModelError};
pub use methods::{Method, MethodKind, MethodTable};
pub use types::Type;

use crate::wire::Value;

/// Index of a class in [`Model::classes`].
pub type ClassId = usize;

/// The whole API.
#[derive(Debug)]
pub struct Model {
    /// Served classes, in a stable order (file order).
    pub classes: Vec<Class>,
    /// Classes that refs may name but that are not served.
    pub stubs: Vec<String>,
    /// Enums by name.
    pub enums: BTreeMap<String, Enum>,
    /// Error codes by code.
    pub errors: BTreeMap<String, ErrorDef>,
    /// RBAC roles, most privileged first.
    pub roles: Vec<rbac::RoleDef>,
    /// Permissions that belong to no message (`task.destroy/any`).
    pub extra_permissions: Vec<rbac::ExtraPermission>,
    /// HTTP handlers and their permissions (`http/<name>`).
    pub http_actions: Vec<rbac::HttpAction>,
}

/// When a class's rows are written to the durable store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persist {
    /// Never: the class lives in memory only (sessions).
    None,
    /// Every row, on creation and on every durable change.
    All,
}

/// A class.
#[derive(Debug)]
pub struct Class {
    /// Wire name, e.g. `task`, `VDI`.
    pub name: String,
    /// Documentation.
    pub doc: String,
    /// Whether changes emit events.
    pub events: bool,
    /// Persistence policy.
    pub persist: Persist,
    /// Whether `get_all`/`get_all_records` are exposed.
    pub get_all: bool,
    /// Roles allowed the class's messages and setters by default.
    pub roles: rbac::RoleMask,
    /// Fields, in record order (internal ones included).
    pub fields: Vec<Field>,
    /// Explicit messages.
    pub messages: Vec<Message>,
}

/// Who may write a field through the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read-only for clients (xapi's DynamicRO/StaticRO).
    RO,
    /// Readable and writable: a setter, and add/remove for maps.
    RW,
}

/// A field.
#[derive(Debug)]
pub struct Field {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: Type,
    /// Access.
    pub access: Access,
    /// Internal fields are stored but never shown to clients.
    pub internal: bool,
    /// The value a new row starts with.
    pub default: Value,
    /// Documentation.
    pub doc: String,
}

/// A parameter of a message.
#[derive(Debug, Clone)]
pub struct Param {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: Type,
    /// Trailing optional parameters may be left out.
    pub optional: bool,
    /// Documentation.
    pub doc: String,
}

/// An explicit message.
#[derive(Debug)]
pub struct Message {
    /// Name, e.g. `cancel`.
    pub name: String,
    /// Parameters after the session.
    pub params: Vec<Param>,
    /// Result type.
    pub result: Type,
    /// Errors this message may raise beyond the generic ones.
    pub errors: Vec<String>,
    /// Whether an `Async.` form exists.
    pub is_async: bool,
    /// Whether the first wire argument is a session ref.
    pub session: bool,
    /// Whether parameters must never be logged.
    pub secret: bool,
    /// Roles allowed to call it.
    pub roles: rbac::RoleMask,
    /// Documentation.
    pub doc: String,
}

/// An enum.
#[derive(Debug)]
pub struct Enum {
    /// Values with their docs, in declaration order (the first is the
    /// default).
    pub values: Vec<(String, String)>,
}

/// An error code.
#[derive(Debug)]
pub struct ErrorDef {
    /// Parameter names.
    pub params: Vec<String>,
    /// Documentation.
    pub doc: String,
}

impl Model {
    /// The class with this wire name.
    pub fn class_id(&self, name: &str) -> Option<ClassId> {
        self.classes.iter().position(|c| c.name == name)
    }

    /// The class with this name, ignoring case (event subscriptions).
    pub fn class_id_ci(&self, name: &str) -> Option<ClassId> {
        self.classes
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The index of a field; panics if the model lacks it (field names used
    /// by handlers are checked by the start-up test).
    pub fn field(&self, class: ClassId, name: &str) -> usize {
        self.classes[class]
            .fields
            .iter()
            .position(|f| f.name == name)
            .unwrap_or_else(|| panic!("datamodel: {}.{name} missing", self.classes[class].name))
    }

    /// A fresh row of `class` with every field at its default.
    pub fn default_row(&self, class: ClassId) -> Box<[Value]> {
        self.classes[class]
            .fields
            .iter()
            .map(|f| f.default.clone())
            .collect()
    }
}
