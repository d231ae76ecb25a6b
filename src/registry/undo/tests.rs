//! Taking refused changes back: the registry's memory after `apply` is what
//! it was before the refused changes, volatile changes made meanwhile kept.

use std::sync::Arc;

use super::{apply, Undo};
use crate::model::schema::task;
use crate::registry::{Registry, Write};
use crate::wire::{Ref, Value};

fn registry() -> (Registry, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("xapid-undo-{}", uuid::Uuid::new_v4()));
    let model = Arc::new(crate::model::load_sources(crate::model::embedded()).unwrap());
    let (reg, _) = Registry::open(model, &dir).unwrap();
    (reg, dir)
}

fn task_row(reg: &Registry, label: &str) -> Box<[Value]> {
    let mut f = reg.model().default_row(task::CLASS);
    f[task::UUID.index()] = Value::from(uuid::Uuid::new_v4().to_string());
    f[task::NAME_LABEL.index()] = Value::from(label);
    f
}

fn label(reg: &Registry, r: Ref) -> Option<String> {
    reg.read(task::CLASS, r, |row| row.get(task::NAME_LABEL))
}

fn set(reg: &Registry, r: Ref, field: usize, v: &str, write: Write) -> Option<Undo> {
    let before = reg.read(task::CLASS, r, |row| row.fields.clone()).unwrap();
    let ((), c) = reg
        .update(task::CLASS, r, write, |f| {
            f[field] = Value::from(v);
            Ok(())
        })
        .unwrap();
    drop(c);
    let after = reg.read(task::CLASS, r, |row| row.fields.clone()).unwrap();
    Some(Undo::Update {
        class: task::CLASS,
        r,
        changed: super::diff(&before, &after),
    })
}

#[tokio::test]
async fn changes_are_taken_back_newest_first() {
    let (reg, dir) = registry();
    let r = Ref::new();
    reg.insert(task::CLASS, r, task_row(&reg, "a"))
        .wait()
        .await
        .unwrap();
    let g0 = reg.generation();
    // Two refused changes of the same field, a volatile one of another
    // field between them, and a refused one of a field a volatile change
    // then overwrote.
    let u1 = set(&reg, r, task::NAME_LABEL.index(), "b", Write::Durable).unwrap();
    set(
        &reg,
        r,
        task::NAME_DESCRIPTION.index(),
        "volatile",
        Write::Volatile,
    );
    let u2 = set(&reg, r, task::NAME_LABEL.index(), "c", Write::Durable).unwrap();
    let u3 = set(&reg, r, task::STATUS.index(), "cancelling", Write::Durable).unwrap();
    set(&reg, r, task::STATUS.index(), "cancelled", Write::Volatile);
    assert_eq!(label(&reg, r).as_deref(), Some("c"));
    apply(&reg.core, vec![u1, u2, u3]);
    assert_eq!(label(&reg, r).as_deref(), Some("a"));
    let (desc, status) = reg
        .read(task::CLASS, r, |row| {
            (
                row.get(task::NAME_DESCRIPTION),
                row.fields[task::STATUS.index()].clone(),
            )
        })
        .unwrap();
    assert_eq!(desc, "volatile");
    assert_eq!(status, Value::from("cancelled"));
    // Watchers are told.
    assert!(reg.generation() > g0 + 5);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_refused_insert_goes_and_a_refused_remove_comes_back() {
    let (reg, dir) = registry();
    let kept = Ref::new();
    let row = task_row(&reg, "kept");
    let id = uuid::Uuid::parse_str(row[task::UUID.index()].as_str().unwrap()).unwrap();
    reg.insert(task::CLASS, kept, row).wait().await.unwrap();
    let made = Ref::new();
    drop(reg.insert(task::CLASS, made, task_row(&reg, "made")));
    let (old, c) = reg.remove(task::CLASS, kept).unwrap();
    drop(c);
    assert!(!reg.exists(task::CLASS, kept) && reg.exists(task::CLASS, made));
    apply(
        &reg.core,
        vec![
            Undo::Insert {
                class: task::CLASS,
                r: made,
            },
            Undo::Remove {
                class: task::CLASS,
                r: kept,
                row: Box::new(old),
            },
        ],
    );
    assert!(!reg.exists(task::CLASS, made));
    assert_eq!(label(&reg, kept).as_deref(), Some("kept"));
    assert_eq!(reg.by_uuid(task::CLASS, &id), Some(kept));
    std::fs::remove_dir_all(dir).ok();
}
