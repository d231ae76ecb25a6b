//! `src/model/schema/`, rendered from the model: the datamodel as Rust
//! names, so that the compiler sees it.
//!
//! The output is committed, like `docs/api.md`. A test fails when a
//! committed file differs from the render; `XAPID_BLESS=1 cargo test --lib
//! codegen` rewrites it. After a change to the datamodel the server then
//! stops compiling wherever it used a field or parameter whose type or
//! position changed, rather than reading a default at run time.
//!
//! What is generated, and how datamodel names become Rust names:
//!
//! | datamodel | Rust |
//! |---|---|
//! | class `VDI` | module `schema::vdi` with `CLASS: ClassId` and `NAME: &str` |
//! | field `VDI.virtual_size: int` | `schema::vdi::VIRTUAL_SIZE: Field<i64>` |
//! | enum `vdi_type`, value `ha_statefile` | `schema::VdiType::HaStatefile` |
//! | message `VDI.resize(vdi, size)` | `schema::args::VdiResize { vdi, size }` |
//! | error `VDI_IN_USE [vdi, operation]` | `schema::codes::VDI_IN_USE`, `ApiError::vdi_in_use(vdi, operation)` |
//!
//! It also renders `src/api/table.rs`, the glue between dispatch and the
//! handlers: for every explicit message `C.m` a wrapper of the type
//! `api::Handler` that builds `schema::args::CM` from the checked
//! parameters and calls `<c>::<m>(cx, args)` in the API file of the class
//! (`VDI.resize` -> `vdi::resize`, `event.inject` -> `event::inject`), and
//! the table of `(wire name, wrapper)` that dispatch lays out. A message
//! without its handler, or a handler whose argument struct no longer
//! matches, is then a compile error. The same test and `XAPID_BLESS`
//! keep it fresh.
//!
//! Field constants are the field name in upper case (`VBDs` -> `VBDS`).
//! A name that is a Rust keyword, or a field constant that would collide
//! with `CLASS` or `NAME`, gets a trailing underscore (`self_`, `ref_`,
//! `event::CLASS_`).
//!
//! Types: `string` -> `String`, `int` -> `i64`, `float` -> `f64`, `bool`,
//! `datetime` -> `DateTime`, `<c> ref` -> `Ref`, an enum -> its Rust enum,
//! `<t> set` -> `Vec<t>`, `(string -> v) map` -> [`Map<v>`](super::Map);
//! records, free-form structs and maps with other keys stay [`Value`]s.
//!
//! [`Value`]: crate::wire::Value

use std::fmt::Write;

use super::{Access, Model, Type};

/// Error codes whose constructor is written by hand in `src/error.rs`
/// because it does more than build the error.
const HAND_WRITTEN: &[&str] = &[
    // `ApiError::internal` also logs the message.
    "INTERNAL_ERROR",
];

/// Rust's keywords, strict and reserved: never usable as plain
/// identifiers.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// The items of a class module besides its fields.
const CLASS_ITEMS: &[&str] = &["CLASS", "NAME"];

/// The Rust source of `src/model/schema/`, a file per concept: the
/// shared imports and the test tables (`mod.rs`), the enums (`enums.rs`),
/// a file per class with its field handles, the argument structs
/// (`args.rs`), and the error codes with their constructors (`codes.rs`).
/// Paths are relative to `src/model/schema/`.
pub fn render(model: &Model) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut root = String::new();
    header(&mut root);
    root.push_str("mod enums;\npub use enums::*;\n\n");
    for c in &model.classes {
        let _ = writeln!(root, "pub mod {};", snake(&c.name));
    }
    root.push_str("pub mod args;\npub mod codes;\n");
    render_test_tables(&mut root, model);
    files.push(("mod.rs".to_string(), root));

    let mut enums = String::from("//! The datamodel's enums, one Rust enum each.\n//!\n");
    enums.push_str(GENERATED);
    enums.push_str("\nuse super::*;\n\n");
    for (name, e) in &model.enums {
        render_enum(&mut enums, name, &e.values);
    }
    files.push(("enums.rs".to_string(), enums));

    for (ci, c) in model.classes.iter().enumerate() {
        let mut m = String::new();
        render_class(&mut m, ci, c);
        files.push((format!("{}.rs", snake(&c.name)), as_file(&m)));
    }
    let mut args = String::from(
        "//! The parameters of every explicit message, typed and in order (the
//! session excluded), a file per class.
//!
",
    );
    args.push_str(GENERATED);
    args.push('\n');
    for c in model.classes.iter().filter(|c| !c.messages.is_empty()) {
        let m = snake(&c.name);
        let _ = writeln!(args, "mod {m};\npub use {m}::*;");
        let mut a = String::new();
        render_args(&mut a, c);
        files.push((format!("args/{m}.rs"), as_file(&a)));
    }
    files.push(("args/mod.rs".to_string(), args));
    let mut codes = String::new();
    render_codes(&mut codes, model);
    let mut codes = as_file(&codes);
    codes.push('\n');
    render_constructors(&mut codes, model);
    files.push(("codes.rs".to_string(), codes));
    files
}

/// What every generated file says of itself.
const GENERATED: &str = "//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).
";

/// An inline module as rendered (`/// doc`, `pub mod x {`, its items
/// indented, `}`) as the text of its own file: the doc becomes the file's,
/// the items lose one level of indentation.
fn as_file(module: &str) -> String {
    let mut doc = String::new();
    let mut body = String::new();
    let mut inside = false;
    for line in module.lines() {
        if !inside {
            if let Some(d) = line.strip_prefix("///") {
                doc.push_str("//!");
                doc.push_str(d);
                doc.push('\n');
            } else if line.starts_with("pub mod ") {
                inside = true;
            }
            continue;
        }
        if line == "}" {
            break;
        }
        body.push_str(line.strip_prefix("    ").unwrap_or(line));
        body.push('\n');
    }
    format!("{doc}//!\n{GENERATED}\n{}", body.trim_start_matches('\n'))
}

/// One class's module: its id, name and field handles.
fn render_class(s: &mut String, ci: usize, c: &super::Class) {
    let _ = writeln!(
        s,
        "{}",
        doc_line("", &format!("`{}`: {}", c.name, prose(&c.doc)))
    );
    let _ = writeln!(s, "pub mod {} {{", snake(&c.name));
    s.push_str("    use super::*;\n\n");
    let _ = writeln!(s, "    /// The class `{}`.", c.name);
    let _ = writeln!(s, "    pub const CLASS: ClassId = {ci};\n");
    let _ = writeln!(s, "    /// The wire name of the class.");
    let _ = writeln!(s, "    pub const NAME: &str = {:?};", c.name);
    for (fi, f) in c.fields.iter().enumerate() {
        let access = match (f.internal, f.access) {
            (true, _) => "internal",
            (false, Access::RO) => "RO",
            (false, Access::RW) => "RW",
        };
        let _ = writeln!(
            s,
            "\n{}",
            doc_line(
                "    ",
                &format!("`{}` (`{}`, {access}): {}", f.name, f.ty, prose(&f.doc))
            )
        );
        let _ = writeln!(
            s,
            "    pub const {}: Field<{}> = Field::new(CLASS, {fi}, {:?});",
            field_const(&f.name),
            rust_type(&f.ty),
            f.name
        );
    }
    s.push_str("}\n");
}

fn header(s: &mut String) {
    s.push_str(
        "//! The datamodel as Rust, a file per concept: a module per class with
//! typed field handles, an enum per datamodel enum (`enums`), an argument
//! struct per explicit message (`args`), and the error codes (`codes`)
//! with a constructor each on `ApiError`. The imports below serve every
//! file (each starts with `use super::*`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).
//!
//! Class ids and field indices are those of the embedded datamodel, which
//! the server loads at start-up (`model::embedded()`); a test holds every
//! constant against it.

#![allow(unused_imports)]

use std::fmt;

use crate::error::ApiError;
use crate::model::field::{enum_impls, next_arg, next_opt_arg, Field, FieldValue, Map};
use crate::model::ClassId;
use crate::wire::{DateTime, Ref, Value};

",
    );
}

fn render_enum(s: &mut String, name: &str, values: &[(String, String)]) {
    let ty = camel(name);
    let _ = writeln!(s, "/// The enum `{name}`; the default is its first value.");
    s.push_str("#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]\n");
    let _ = writeln!(s, "pub enum {ty} {{");
    for (i, (v, doc)) in values.iter().enumerate() {
        let _ = writeln!(s, "{}", doc_line("    ", &format!("`{v}`: {}", prose(doc))));
        if i == 0 {
            s.push_str("    #[default]\n");
        }
        let _ = writeln!(s, "    {},", camel(v));
    }
    s.push_str("}\n\n");
    let _ = writeln!(s, "impl {ty} {{");
    s.push_str("    /// Every value, in datamodel order.\n");
    let _ = writeln!(s, "    pub const ALL: &[{ty}] = &[");
    for (v, _) in values {
        let _ = writeln!(s, "        {ty}::{},", camel(v));
    }
    s.push_str("    ];\n\n");
    s.push_str("    /// The wire spelling.\n");
    s.push_str("    pub const fn name(self) -> &'static str {\n        match self {\n");
    for (v, _) in values {
        let _ = writeln!(s, "            {ty}::{} => {v:?},", camel(v));
    }
    s.push_str("        }\n    }\n\n");
    s.push_str(
        "    /// The value spelt `name` exactly (stored values are in the datamodel's\n    \
         /// spelling; `model::convert` accepts any case from clients).\n",
    );
    let _ = writeln!(s, "    pub fn from_name(name: &str) -> Option<{ty}> {{");
    s.push_str("        match name {\n");
    for (v, _) in values {
        let _ = writeln!(s, "            {v:?} => Some({ty}::{}),", camel(v));
    }
    s.push_str("            _ => None,\n        }\n    }\n}\n\n");
    // Display, From<_> for Value and FieldValue: the same for every enum.
    let _ = writeln!(s, "enum_impls!({ty});\n");
}

fn render_args(s: &mut String, c: &super::Class) {
    let _ = writeln!(
        s,
        "/// The parameters of the messages of `{}`, typed and in order (the
/// session excluded). Built with `from_values` from the list dispatch
/// checked against the datamodel and converted (`model::convert`).
pub mod args {{
    use super::super::*;",
        c.name
    );
    for m in &c.messages {
        let ty = format!("{}{}", camel(&c.name), camel(&m.name));
        let sig: Vec<String> = m
            .params
            .iter()
            .map(|p| {
                if p.optional {
                    format!("[{}]", p.name)
                } else {
                    p.name.clone()
                }
            })
            .collect();
        let wire = format!("{}.{}", c.name, m.name);
        let _ = writeln!(
            s,
            "\n{}",
            doc_line(
                "    ",
                &format!("`{wire}({})`: {}", sig.join(", "), prose(&m.doc))
            )
        );
        let debug = if m.secret {
            "    /// Its `Debug` shows no member: the parameters are secret.\n    \
                 #[derive(Clone, PartialEq)]\n"
        } else {
            "    #[derive(Clone, Debug, PartialEq)]\n"
        };
        s.push_str(debug);
        if m.params.is_empty() {
            let _ = writeln!(s, "    pub struct {ty};");
        } else {
            let _ = writeln!(s, "    pub struct {ty} {{");
            for p in &m.params {
                let t = rust_type(&p.ty);
                let t = if p.optional {
                    format!("Option<{t}>")
                } else {
                    t
                };
                let opt = if p.optional { ", optional" } else { "" };
                let d = format!("`{}` (`{}`{opt}): {}", p.name, p.ty, prose(&p.doc));
                let _ = writeln!(s, "{}", doc_line("        ", &d));
                let _ = writeln!(s, "        pub {}: {t},", snake(&p.name));
            }
            s.push_str("    }\n");
        }
        let _ = writeln!(s, "\n    impl {ty} {{");
        s.push_str("        /// The wire name.\n");
        let _ = writeln!(s, "        pub const WIRE: &str = {wire:?};\n");
        s.push_str("        /// From the checked parameters, in order; moves them out.\n");
        if m.params.is_empty() {
            s.push_str("        pub fn from_values(_: Vec<Value>) -> Self {\n");
            let _ = writeln!(s, "            {ty}\n        }}\n    }}");
        } else {
            s.push_str("        pub fn from_values(v: Vec<Value>) -> Self {\n");
            s.push_str("            let mut it = v.into_iter();\n");
            let _ = writeln!(s, "            {ty} {{");
            for p in &m.params {
                let take = if p.optional {
                    "next_opt_arg"
                } else {
                    "next_arg"
                };
                let _ = writeln!(s, "                {}: {take}(&mut it),", snake(&p.name));
            }
            s.push_str("            }\n        }\n    }\n");
        }
        if m.secret {
            let _ = writeln!(
                s,
                "
    impl fmt::Debug for {ty} {{
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {{
            f.write_str(\"{ty} {{ .. }}\")
        }}
    }}"
            );
        }
    }
    s.push_str("}\n\n");
}

fn render_codes(s: &mut String, model: &Model) {
    s.push_str("/// Every error code of the datamodel (`datamodel/errors.toml`), and a\n/// constructor on `ApiError` for each.\npub mod codes {\n    use super::*;\n");
    for (code, e) in &model.errors {
        let d = format!("`{code} [{}]`: {}", e.params.join(", "), prose(&e.doc));
        let _ = writeln!(s, "\n{}", doc_line("    ", &d));
        let _ = writeln!(s, "    pub const {code}: &str = {code:?};");
    }
    s.push_str("}\n");
}

fn render_constructors(s: &mut String, model: &Model) {
    s.push_str("/// A constructor per error code, a parameter per listed parameter.\n");
    s.push_str("impl ApiError {");
    for (code, e) in &model.errors {
        if HAND_WRITTEN.contains(&code.as_str()) {
            continue;
        }
        let d = format!("`{code} [{}]`: {}", e.params.join(", "), prose(&e.doc));
        let _ = writeln!(s, "\n{}", doc_line("    ", &d));
        let params: Vec<String> = e.params.iter().map(|p| snake(p)).collect();
        let args: Vec<String> = params
            .iter()
            .map(|p| format!("{p}: impl fmt::Display"))
            .collect();
        let values: Vec<String> = params.iter().map(|p| format!("{p}.to_string()")).collect();
        let _ = writeln!(
            s,
            "    pub fn {}({}) -> ApiError {{",
            code.to_ascii_lowercase(),
            args.join(", ")
        );
        let _ = writeln!(
            s,
            "        ApiError {{\n            code: {code},\n            params: vec![{}],\n        }}\n    }}",
            values.join(", ")
        );
    }
    s.push_str("}\n");
}

/// Type-erased lists of what was generated, for the tests that hold it
/// against the model.
fn render_test_tables(s: &mut String, model: &Model) {
    s.push_str("\n/// Every class module: its id and name.\n#[cfg(test)]\n");
    s.push_str("pub(crate) const EVERY_CLASS: &[(ClassId, &str)] = &[\n");
    for c in &model.classes {
        let m = snake(&c.name);
        let _ = writeln!(s, "    ({m}::CLASS, {m}::NAME),");
    }
    s.push_str("];\n\n/// Every field handle.\n#[cfg(test)]\n");
    s.push_str("pub(crate) fn every_field() -> Vec<crate::model::field::Erased> {\n    vec![\n");
    for c in &model.classes {
        for f in &c.fields {
            let _ = writeln!(
                s,
                "        {}::{}.erased(),",
                snake(&c.name),
                field_const(&f.name)
            );
        }
    }
    s.push_str("    ]\n}\n\n/// Every enum.\n#[cfg(test)]\n");
    s.push_str("pub(crate) fn every_enum() -> Vec<crate::model::field::ErasedEnum> {\n");
    s.push_str("    use crate::model::field::erase_enum;\n    vec![\n");
    for name in model.enums.keys() {
        let t = camel(name);
        let _ = writeln!(
            s,
            "        erase_enum({name:?}, {t}::ALL, {t}::name, {t}::from_name),"
        );
    }
    s.push_str("    ]\n}\n\n/// Every error code.\n#[cfg(test)]\n");
    s.push_str("pub(crate) const EVERY_CODE: &[&str] = &[\n");
    for code in model.errors.keys() {
        let _ = writeln!(s, "    codes::{code},");
    }
    s.push_str("];\n");
}

/// The Rust source of `src/api/table.rs`: a wrapper per explicit message
/// and the table of them (see the module documentation).
pub fn render_table(model: &Model) -> String {
    let mut s = String::from(
        "//! The handler of every explicit message: a wrapper per message that
//! builds its argument struct (`schema::args`) from the parameters dispatch
//! checked and calls the typed handler in the file of its class, and the
//! table of `(wire name, wrapper)` that `handlers::resolve` lays out.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale). Being generated, this file is
//! exempt from the limit on file length.

use super::{ApiResult, Args, BoxFuture, Ctx, Handler};
use crate::model::schema::args;
use crate::wire::Value;

/// `(wire name, handler)` for every explicit message, in datamodel order.
pub const TABLE: &[(&str, Handler)] = &[
",
    );
    let mut wrappers = String::new();
    for c in &model.classes {
        for m in &c.messages {
            let ty = format!("{}{}", camel(&c.name), camel(&m.name));
            // Lower case throughout, so never a keyword.
            let wrapper = format!("{}_{}", c.name.to_ascii_lowercase(), m.name);
            let _ = writeln!(s, "    (args::{ty}::WIRE, {wrapper}),");
            let _ = writeln!(
                wrappers,
                "\n/// `{}.{}`.
fn {wrapper}(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {{
    let a = args::{ty}::from_values(a.0);
    Box::pin(super::{}::{}(cx, a))
}}",
                c.name,
                m.name,
                snake(&c.name),
                snake(&m.name)
            );
        }
    }
    s.push_str("];\n");
    s.push_str(&wrappers);
    s
}

/// The Rust type standing for a datamodel type.
fn rust_type(ty: &Type) -> String {
    match ty {
        Type::String => "String".into(),
        Type::Int => "i64".into(),
        Type::Float => "f64".into(),
        Type::Bool => "bool".into(),
        Type::DateTime => "DateTime".into(),
        Type::Ref(_) => "Ref".into(),
        Type::Enum(e) => camel(e),
        Type::Set(t) => format!("Vec<{}>", rust_type(t)),
        Type::Map(k, v) if **k == Type::String => format!("Map<{}>", rust_type(v)),
        Type::Map(..) | Type::Record(_) | Type::Struct | Type::Void => "Value".into(),
    }
}

/// `block_job` -> `BlockJob`, `VDI` -> `Vdi`, `RO` -> `Ro`.
fn camel(name: &str) -> String {
    let mut out = String::new();
    for part in name.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    unkeyword(out)
}

/// Module and member names: `VDI` -> `vdi`, `self` -> `self_`.
fn snake(name: &str) -> String {
    unkeyword(name.to_ascii_lowercase())
}

/// `virtual_size` -> `VIRTUAL_SIZE`, `class` -> `CLASS_`.
fn field_const(name: &str) -> String {
    let c = name.to_ascii_uppercase();
    if CLASS_ITEMS.contains(&c.as_str()) {
        c + "_"
    } else {
        c
    }
}

fn unkeyword(name: String) -> String {
    if KEYWORDS.contains(&name.as_str()) {
        name + "_"
    } else {
        name
    }
}

/// Datamodel prose in a doc comment: written for `docs/api.md`, it has
/// brackets and angle brackets (`[cancel]`, `<task ref>`) that rustdoc
/// would take for links and HTML tags.
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '[' | ']' | '<') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A doc comment at `indent`, one `///` line per line of `text`.
fn doc_line(indent: &str, text: &str) -> String {
    text.lines()
        .map(|l| {
            format!("{indent}/// {}", l.trim_end())
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::error::ApiError;
    use crate::model::schema::{self, args, block_job, codes, event, vdi, VdiType};
    use crate::model::{self, Model, RowExt};
    use crate::wire::{Ref, Value};

    fn m() -> Model {
        model::load_sources(model::embedded()).unwrap()
    }

    /// Fails when the committed `file` (relative to the crate) differs
    /// from `want`; rewrites it first under `XAPID_BLESS`.
    fn check_fresh(file: &str, want: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        if std::env::var_os("XAPID_BLESS").is_some() {
            std::fs::write(&path, want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{file} is stale: run `XAPID_BLESS=1 cargo test --lib codegen` and commit it"
        );
    }

    #[test]
    fn codegen_output_is_fresh() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model/schema");
        let files = super::render(&m());
        if std::env::var_os("XAPID_BLESS").is_some() {
            std::fs::create_dir_all(dir.join("args")).unwrap();
        }
        for (name, want) in &files {
            check_fresh(&format!("src/model/schema/{name}"), want);
        }
        // Nothing stale beside them (a class that went, say).
        let mut on_disk = Vec::new();
        for sub in ["", "args/"] {
            for e in std::fs::read_dir(dir.join(sub)).unwrap() {
                let e = e.unwrap();
                if e.path().is_file() {
                    on_disk.push(format!("{sub}{}", e.file_name().to_string_lossy()));
                }
            }
        }
        on_disk.sort();
        let mut rendered: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
        rendered.sort();
        assert_eq!(
            on_disk, rendered,
            "src/model/schema/ holds files the datamodel no longer renders"
        );
    }

    #[test]
    fn handler_table_is_fresh() {
        check_fresh("src/api/table.rs", &super::render_table(&m()));
    }

    #[test]
    fn the_table_calls_the_class_file_and_escapes_keywords() {
        let t = super::render_table(&m());
        assert!(t.contains("    (args::VdiResize::WIRE, vdi_resize),\n"));
        assert!(t.contains(
            "fn vdi_resize(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {\n    \
             let a = args::VdiResize::from_values(a.0);\n    \
             Box::pin(super::vdi::resize(cx, a))\n}"
        ));
        assert!(t.contains("Box::pin(super::block_job::set_speed(cx, a))"));
        assert!(t.contains("Box::pin(super::session::local_logout(cx, a))"));
    }

    #[test]
    fn constants_match_the_model() {
        let m = m();
        assert_eq!(schema::EVERY_CLASS.len(), m.classes.len());
        for &(id, name) in schema::EVERY_CLASS {
            assert_eq!(m.class_id(name), Some(id), "class {name}");
        }
        let fields = schema::every_field();
        let total: usize = m.classes.iter().map(|c| c.fields.len()).sum();
        assert_eq!(fields.len(), total);
        for f in fields {
            let c = &m.classes[f.class];
            assert_eq!(m.field(f.class, f.name), f.index, "{}.{}", c.name, f.name);
            // The Rust type holds the field's default without loss: a
            // wrong mapping (an int read as f64, a set as a string) shows.
            let default = &c.fields[f.index].default;
            assert_eq!(&(f.round_trip)(default), default, "{}.{}", c.name, f.name);
        }
        let codes: BTreeSet<&str> = schema::EVERY_CODE.iter().copied().collect();
        let model_codes: BTreeSet<&str> = m.errors.keys().map(String::as_str).collect();
        assert_eq!(codes, model_codes);
    }

    #[test]
    fn enums_match_the_model_and_round_trip() {
        let m = m();
        let enums = schema::every_enum();
        assert_eq!(enums.len(), m.enums.len());
        for e in enums {
            let want: Vec<&str> = m.enums[e.name]
                .values
                .iter()
                .map(|v| v.0.as_str())
                .collect();
            assert_eq!(e.values, want, "{}", e.name);
            assert!(e.round_trips, "{}", e.name);
            assert!(e.default_is_first, "{}", e.name);
        }
        assert_eq!(
            VdiType::from_name("ha_statefile"),
            Some(VdiType::HaStatefile)
        );
        assert_eq!(VdiType::HaStatefile.name(), "ha_statefile");
        assert_eq!(VdiType::from_name("HA_STATEFILE"), None);
        assert_eq!(Value::from(VdiType::User), Value::from("user"));
        assert_eq!(VdiType::default(), VdiType::System);
        assert_eq!(schema::BlockJobStatus::Null.to_string(), "null");
    }

    #[test]
    fn typed_access_on_a_default_row() {
        let m = m();
        let mut row = m.default_row(vdi::CLASS);
        assert_eq!(
            row.field(vdi::TYPE),
            VdiType::User,
            "the datamodel's default"
        );
        assert!(row.field(vdi::MANAGED));
        let sr = Ref::new();
        row.set(vdi::SR, sr);
        row.set(vdi::VIRTUAL_SIZE, 1i64 << 40);
        row.set(vdi::TYPE, VdiType::Suspend);
        row.set(vdi::NAME_LABEL, "disk");
        row[vdi::SM_CONFIG].map_set("image-format", Some("qcow2"));
        assert_eq!(row.field(vdi::SR), sr);
        assert_eq!(row.field(vdi::VIRTUAL_SIZE), 1 << 40);
        assert_eq!(row[vdi::TYPE], Value::from("suspend"));
        assert_eq!(row[vdi::NAME_LABEL].as_str(), Some("disk"));
        assert_eq!(
            row.field(vdi::SM_CONFIG)
                .get("image-format")
                .map(String::as_str),
            Some("qcow2")
        );
        assert!(row.field(vdi::VBDS).is_empty());
        let job = m.default_row(block_job::CLASS);
        assert_eq!(
            job.field(block_job::STATUS),
            schema::BlockJobStatus::Undefined
        );
        assert_eq!(event::CLASS_.name(), "class");
    }

    #[test]
    fn argument_structs_take_their_values_in_order() {
        let vdi = Ref::new();
        let a = args::VdiResize::from_values(vec![Value::Ref(vdi), Value::Int(1 << 30)]);
        assert_eq!(a, args::VdiResize { vdi, size: 1 << 30 });
        assert_eq!(args::VdiResize::WIRE, "VDI.resize");
        // An optional trailing parameter left out is None.
        let c = args::VdiClone::from_values(vec![Value::Ref(vdi)]);
        assert_eq!((c.vdi, c.driver_params), (vdi, None));
        let c = args::VdiClone::from_values(vec![
            Value::Ref(vdi),
            Value::Struct(vec![("k".into(), Value::from("v"))]),
        ]);
        assert_eq!(
            c.driver_params.unwrap().get("k").map(String::as_str),
            Some("v")
        );
        let login = args::SessionLoginWithPassword::from_values(vec![
            Value::from("root"),
            Value::from("secret"),
        ]);
        assert_eq!((login.uname.as_str(), &login.version), ("root", &None));
        assert!(!format!("{login:?}").contains("secret"));
        let _: args::SessionLogout = args::SessionLogout::from_values(vec![]);
    }

    #[test]
    fn error_constructors_take_the_listed_parameters() {
        let vdi = Ref::new();
        let e = ApiError::vdi_in_use(vdi, "destroy");
        assert_eq!(e.code, codes::VDI_IN_USE);
        assert_eq!(e.to_vec(), ["VDI_IN_USE", &vdi.to_string(), "destroy"]);
        assert_eq!(
            ApiError::handle_invalid(vdi::NAME, vdi).to_vec(),
            ["HANDLE_INVALID", "VDI", &vdi.to_string()]
        );
    }

    /// What makes a datamodel change a compile error: the Rust types follow
    /// the datamodel's.
    #[test]
    fn types_follow_the_datamodel() {
        let vdi_toml = model::embedded()
            .iter()
            .find(|(n, _)| *n == "vdi.toml")
            .unwrap()
            .1
            .replace(
                "name = \"virtual_size\"\ntype = \"int\"",
                "name = \"virtual_size\"\ntype = \"float\"",
            )
            .replace(
                "{ name = \"size\", type = \"int\"",
                "{ name = \"size\", type = \"float\"",
            );
        let files: Vec<(&str, &str)> = model::embedded()
            .iter()
            .map(|&(n, t)| (n, if n == "vdi.toml" { &vdi_toml } else { t }))
            .collect();
        let text = |files: Vec<(String, String)>| -> String {
            files.into_iter().map(|(_, t)| t).collect()
        };
        let changed = text(super::render(&model::load_sources(&files).unwrap()));
        assert!(changed.contains("pub const VIRTUAL_SIZE: Field<f64> = Field::new(CLASS, 6,"));
        assert!(changed.contains("\n    pub size: f64,\n"));
        let current = text(super::render(&m()));
        assert!(current.contains("pub const VIRTUAL_SIZE: Field<i64> = Field::new(CLASS, 6,"));
    }

    #[test]
    fn names() {
        assert_eq!(super::camel("block_job_status"), "BlockJobStatus");
        assert_eq!(super::camel("RO"), "Ro");
        assert_eq!(super::snake("self"), "self_");
        assert_eq!(super::snake("VDI"), "vdi");
        assert_eq!(super::field_const("API_version_major"), "API_VERSION_MAJOR");
        assert_eq!(super::field_const("class"), "CLASS_");
        assert_eq!(super::field_const("type"), "TYPE");
    }
}
