//! `docs/api.md`, rendered from the model. A test fails when the committed
//! file differs; `XAPID_BLESS=1 cargo test docs` rewrites it.

use std::fmt::Write;

use super::{Access, MethodKind, MethodTable, Model};

/// The reference documentation of the whole API, as Markdown.
pub fn render(model: &Model) -> String {
    let table = MethodTable::new(model);
    let rbac = super::rbac::Rbac::new(model);
    let mut s = String::new();
    s.push_str("# xapid API reference\n\n");
    s.push_str("Generated from `datamodel/` by `xapid::model::docs`; do not edit by hand ");
    s.push_str("(run `XAPID_BLESS=1 cargo test --lib docs` after changing the datamodel).\n\n");
    s.push_str("Every call but `session.login_with_password` and `system.listMethods` takes a ");
    s.push_str("session reference as its first argument, not listed below. Parameter counts in ");
    s.push_str("`MESSAGE_PARAMETER_COUNT_MISMATCH` exclude it. Messages marked *async* also have ");
    s.push_str("an `Async.` form that returns a task at once. Each message names the roles ");
    s.push_str("allowed to call it (see [Roles and permissions](#roles-and-permissions)); ");
    s.push_str("`root`, the local superuser, may call everything.\n\n## Classes\n\n");
    for c in &model.classes {
        let _ = writeln!(s, "- [{}](#class-{})", c.name, c.name.to_lowercase());
    }
    for c in &model.classes {
        let _ = writeln!(s, "\n## Class: {}\n\n{}\n", c.name, c.doc);
        let _ = writeln!(
            s,
            "Emits events: {}. Survives a restart: {}.\n",
            if c.events { "yes" } else { "no" },
            if c.persist == super::Persist::All {
                "yes"
            } else {
                "no"
            }
        );
        s.push_str("### Fields\n\n| field | type | access | description |\n|---|---|---|---|\n");
        for f in c.fields.iter().filter(|f| !f.internal) {
            let access = if f.access == Access::RW { "RW" } else { "RO" };
            let _ = writeln!(
                s,
                "| `{}` | `{}` | {} | {} |",
                f.name,
                f.ty,
                access,
                cell(&f.doc)
            );
        }
        s.push_str("\n### Messages\n\n");
        for m in table
            .all()
            .iter()
            .filter(|m| m.class == model.class_id(&c.name))
        {
            let name = m.wire.split_once('.').map(|x| x.1).unwrap_or(&m.wire);
            let params: Vec<String> = m
                .params
                .iter()
                .map(|p| {
                    if p.optional {
                        format!("[{}: {}]", p.name, p.ty)
                    } else {
                        format!("{}: {}", p.name, p.ty)
                    }
                })
                .collect();
            let mut tags = Vec::new();
            if m.is_async {
                tags.push("async");
            }
            if !m.session {
                tags.push("no session");
            }
            if !matches!(m.kind, MethodKind::Explicit(_)) {
                tags.push("implicit");
            }
            let roles = if m.session {
                format!("roles: {}", rbac.describe(m.roles))
            } else {
                String::new()
            };
            if !roles.is_empty() {
                tags.push(&roles);
            }
            let tags = if tags.is_empty() {
                String::new()
            } else {
                format!(" *({})*", tags.join(", "))
            };
            let _ = writeln!(
                s,
                "- `{name}({}) -> {}`{tags}: {}",
                params.join(", "),
                m.result,
                m.doc
            );
            if let MethodKind::Explicit(mi) = m.kind {
                let errs = &c.messages[mi].errors;
                if !errs.is_empty() {
                    let _ = writeln!(s, "  Errors: {}.", errs.join(", "));
                }
            }
        }
    }
    s.push_str("\n## Roles and permissions\n\n");
    s.push_str("Roles, from the most privileged to the least. A message allowed to a role is ");
    s.push_str("allowed to every role above it. A permission is named after its message in ");
    s.push_str("lower case (`vdi.copy`); a denied call fails with `RBAC_PERMISSION_DENIED`.\n\n");
    s.push_str("| role | uuid | description |\n|---|---|---|\n");
    for r in &model.roles {
        let _ = writeln!(s, "| `{}` | `{}` | {} |", r.name, r.uuid, cell(&r.doc));
    }
    s.push_str("\nPermissions that belong to no message:\n\n");
    for p in &model.extra_permissions {
        let _ = writeln!(s, "- `{}` ({}): {}", p.name, rbac.describe(p.roles), p.doc);
    }
    s.push_str("\nHTTP handlers (permission `http/<name>`):\n\n");
    for h in &model.http_actions {
        let _ = writeln!(
            s,
            "- `http/{}`: `{} {}` ({}): {}",
            h.name,
            h.method,
            h.path,
            rbac.describe(h.roles),
            h.doc
        );
    }
    s.push_str("\n## Enums\n\n");
    for (name, e) in &model.enums {
        let _ = writeln!(s, "### {name}\n");
        for (v, doc) in &e.values {
            let _ = writeln!(s, "- `{v}`: {doc}");
        }
        s.push('\n');
    }
    s.push_str("## Errors\n\nEvery failure is `{Status: \"Failure\", ErrorDescription: [CODE, params...]}`.\n\n");
    s.push_str("| code | parameters | meaning |\n|---|---|---|\n");
    for (code, e) in &model.errors {
        let _ = writeln!(
            s,
            "| `{code}` | {} | {} |",
            e.params.join(", "),
            cell(&e.doc)
        );
    }
    s.push_str("\n## Other methods\n\n- `system.listMethods() -> string set` *(no session)*: ");
    s.push_str("the names of every method, as a bare array (no Status wrapper).\n");
    s
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use crate::model;

    #[test]
    fn docs_are_fresh() {
        let m = model::load_sources(model::embedded()).unwrap();
        let want = super::render(&m);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md");
        if std::env::var_os("XAPID_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/api.md is stale: run `XAPID_BLESS=1 cargo test --lib docs` and commit it"
        );
    }
}
