//! Records as xe shows them (`records.ml`): each class's fields under xe's
//! names (`name-label`, `sr-uuid`, ...), with references shown as the
//! uuids of the objects they point to; xe's layout (`name ( RO): value`,
//! later keys right-aligned) and `--minimal`; and the `field=value`,
//! `map:key=value` and `set:contains=value` filters of `*-list`.

use std::collections::HashMap;

use xapid::wire::Value;

use crate::connection::{value_text, CallError, Conn};

/// How a field's value is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A scalar as text (strings, ints, enums, booleans).
    Text,
    /// An enum xe prints in lower case (`power-state`).
    Lower,
    /// A float as OCaml's `string_of_float` prints it (`0.`, `0.5`).
    Float,
    /// A datetime, RFC 3339 (`2026-11-23T12:00:00Z`).
    Date,
    /// A reference: the uuid of the object of this class.
    Ref(&'static str),
    /// A reference: the `name_label` of the object of this class.
    RefName(&'static str),
    /// A set of references: the uuids, `; `-joined.
    Refs(&'static str),
    /// A set of references: the objects' `name_label`s, `; `-joined.
    RefNames(&'static str),
    /// A set of references to VDIs, VMs or SRs (`task.objects`): each as
    /// `<class> <uuid>`, `; `-joined.
    Objects,
    /// A set of strings, `; `-joined.
    Strings,
    /// A map shown by its values, `; `-joined (`current_operations`).
    MapValues,
    /// A `(string -> string)` map: `k: v; k2: v2`.
    Map,
}

/// One column of a class.
#[derive(Clone, Copy, Debug)]
pub struct Col {
    /// xe's name.
    pub name: &'static str,
    /// The XenAPI field it is read from.
    pub api: &'static str,
    /// How it is shown.
    pub kind: Kind,
    /// xe's qualifier: ` ( RO)`, ` ( RW)`, ` (SRO)`, ` (MRO)`, ` (MRW)`.
    pub qual: &'static str,
}

const fn c(name: &'static str, api: &'static str, kind: Kind, qual: &'static str) -> Col {
    Col {
        name,
        api,
        kind,
        qual,
    }
}

const RO: &str = " ( RO)";
const RW: &str = " ( RW)";
const SRO: &str = " (SRO)";
const MRO: &str = " (MRO)";
const MRW: &str = " (MRW)";

/// A class as xe shows it.
#[derive(Debug)]
pub struct ClassDef {
    /// xe's prefix of its commands (`vdi`, `block-job`).
    pub xe: &'static str,
    /// The XenAPI class (`VDI`, `block_job`).
    pub api: &'static str,
    /// The columns, in xe's order.
    pub cols: &'static [Col],
    /// What `*-list` shows without `params=`.
    pub defaults: &'static [&'static str],
}

use Kind::*;

/// The classes xe knows here.
pub static CLASSES: &[ClassDef] = &[
    ClassDef {
        xe: "task",
        api: "task",
        cols: &[
            c("uuid", "uuid", Text, RO),
            c("name-label", "name_label", Text, RO),
            c("name-description", "name_description", Text, RO),
            c("subtask_of", "subtask_of", Ref("task"), RO),
            c("subtasks", "subtasks", Refs("task"), RO),
            c("resident-on", "resident_on", Ref("host"), RO),
            c("status", "status", Text, RO),
            c("progress", "progress", Float, RO),
            c("eta", "eta", Date, RO),
            c("type", "type", Text, RO),
            c("result", "result", Text, RO),
            c("created", "created", Date, RO),
            c("finished", "finished", Date, RO),
            c("error_info", "error_info", Strings, RO),
            c("allowed_operations", "allowed_operations", Strings, RO),
            c("current_operations", "current_operations", MapValues, RO),
            c("other-config", "other_config", Map, MRW),
            c("objects", "objects", Objects, SRO),
            c("created-by", "created_by", Text, RO),
        ],
        defaults: &[
            "uuid",
            "name-label",
            "name-description",
            "status",
            "progress",
        ],
    },
    ClassDef {
        xe: "sr",
        api: "SR",
        cols: &[
            c("uuid", "uuid", Text, RO),
            c("name-label", "name_label", Text, RW),
            c("name-description", "name_description", Text, RW),
            c("allowed-operations", "allowed_operations", Strings, SRO),
            c("current-operations", "current_operations", MapValues, SRO),
            c("VDIs", "VDIs", Refs("VDI"), SRO),
            c("virtual-allocation", "virtual_allocation", Text, RO),
            c("physical-utilisation", "physical_utilisation", Text, RO),
            c("physical-size", "physical_size", Text, RO),
            c("type", "type", Text, RO),
            c("content-type", "content_type", Text, RO),
            c("shared", "shared", Text, RO),
            c("other-config", "other_config", Map, MRW),
            c("sm-config", "sm_config", Map, MRO),
            c("jobs", "jobs", Refs("task"), SRO),
        ],
        defaults: &[
            "uuid",
            "name-label",
            "name-description",
            "host",
            "type",
            "content-type",
        ],
    },
    ClassDef {
        xe: "vdi",
        api: "VDI",
        cols: &[
            c("uuid", "uuid", Text, RO),
            c("name-label", "name_label", Text, RW),
            c("name-description", "name_description", Text, RW),
            c("is-a-snapshot", "is_a_snapshot", Text, RO),
            c("snapshot-of", "snapshot_of", Ref("VDI"), RO),
            c("snapshots", "snapshots", Refs("VDI"), RO),
            c("snapshot-time", "snapshot_time", Date, RO),
            c("allowed-operations", "allowed_operations", Strings, SRO),
            c("current-operations", "current_operations", MapValues, SRO),
            c("sr-uuid", "SR", Ref("SR"), RO),
            c("sr-name-label", "SR", RefName("SR"), RO),
            c("vbd-uuids", "VBDs", Refs("VBD"), SRO),
            c("virtual-size", "virtual_size", Text, RO),
            c("physical-utilisation", "physical_utilisation", Text, RO),
            c("location", "location", Text, RO),
            c("type", "type", Text, RO),
            c("sharable", "sharable", Text, RO),
            c("read-only", "read_only", Text, RO),
            c("storage-lock", "storage_lock", Text, RO),
            c("managed", "managed", Text, RO),
            c("parent", "parent", Ref("VDI"), RO),
            c("missing", "missing", Text, RO),
            c("other-config", "other_config", Map, MRW),
            c("sm-config", "sm_config", Map, MRO),
            c("cbt-enabled", "cbt_enabled", Text, RO),
            c("jobs", "jobs", Refs("task"), SRO),
        ],
        defaults: &[
            "uuid",
            "name-label",
            "name-description",
            "virtual-size",
            "read-only",
            "sharable",
            "sr-uuid",
        ],
    },
    ClassDef {
        xe: "vm",
        api: "VM",
        cols: &[
            c("uuid", "uuid", Text, RO),
            c("name-label", "name_label", Text, RW),
            c("name-description", "name_description", Text, RW),
            c("power-state", "power_state", Lower, RO),
            c("VBDs", "VBDs", Refs("VBD"), SRO),
            c("other-config", "other_config", Map, MRW),
            c("jobs", "jobs", Refs("task"), SRO),
        ],
        defaults: &["name-label", "uuid", "power-state"],
    },
    ClassDef {
        xe: "vbd",
        api: "VBD",
        cols: &[
            c("uuid", "uuid", Text, RO),
            c("vm-uuid", "VM", Ref("VM"), RO),
            c("vm-name-label", "VM", RefName("VM"), RO),
            c("vdi-uuid", "VDI", Ref("VDI"), RO),
            c("vdi-name-label", "VDI", RefName("VDI"), RO),
            c("userdevice", "userdevice", Text, RW),
            c("bootable", "bootable", Text, RW),
            c("mode", "mode", Text, RW),
            c("type", "type", Text, RW),
            c("other-config", "other_config", Map, MRW),
        ],
        defaults: &[
            "uuid",
            "vm-uuid",
            "vm-name-label",
            "vdi-uuid",
            "device",
            "empty",
        ],
    },
    ClassDef {
        xe: "host",
        api: "host",
        cols: &[
            c("uuid", "uuid", Text, RO),
            c("name-label", "name_label", Text, RW),
            c("name-description", "name_description", Text, RW),
            c("API-version-major", "API_version_major", Text, RO),
            c("API-version-minor", "API_version_minor", Text, RO),
            c("software-version", "software_version", Map, MRO),
            c("other-config", "other_config", Map, MRW),
        ],
        defaults: &["uuid", "name-label", "name-description"],
    },
    ClassDef {
        xe: "subject",
        api: "subject",
        cols: &[
            c("uuid", "uuid", Text, RO),
            c("subject-identifier", "subject_identifier", Text, RO),
            c("other-config", "other_config", Map, MRO),
            c("roles", "roles", RefNames("role"), SRO),
        ],
        defaults: &["uuid", "subject-identifier", "other-config", "roles"],
    },
    ClassDef {
        xe: "role",
        api: "role",
        cols: &[
            c("uuid", "uuid", Text, RO),
            c("name", "name_label", Text, RO),
            c("description", "name_description", Text, RO),
            c("subroles", "subroles", RefNames("role"), SRO),
        ],
        defaults: &["uuid", "name", "description", "subroles"],
    },
    ClassDef {
        xe: "block-job",
        api: "block_job",
        cols: &[
            c("uuid", "uuid", Text, RO),
            c("job-id", "job_id", Text, RO),
            c("type", "type", Text, RO),
            c("status", "status", Text, RO),
            c("device-uuid", "device", Ref("VDI"), RO),
            c("device-name-label", "device", RefName("VDI"), RO),
            c("target-uuid", "target", Ref("VDI"), RO),
            c("sync", "sync", Text, RO),
            c("current-progress", "current_progress", Text, RO),
            c("total-progress", "total_progress", Text, RO),
            c("speed", "speed", Text, RO),
            c("rate", "rate", Text, RO),
            c("ready", "ready", Text, RO),
            c("auto-finalize", "auto_finalize", Text, RO),
            c("auto-dismiss", "auto_dismiss", Text, RO),
            c("on-source-error", "on_source_error", Text, RO),
            c("on-target-error", "on_target_error", Text, RO),
            c("io-status", "io_status", Text, RO),
            c("error", "error", Text, RO),
            c("task-uuid", "task", Ref("task"), RO),
        ],
        defaults: &[
            "uuid",
            "type",
            "status",
            "device-uuid",
            "target-uuid",
            "current-progress",
            "total-progress",
            "speed",
            "rate",
        ],
    },
    ClassDef {
        xe: "block-dirty-bitmap",
        api: "block_dirty_bitmap",
        cols: &[
            c("uuid", "uuid", Text, RO),
            c("name", "name", Text, RO),
            c("vdi-uuid", "VDI", Ref("VDI"), RO),
            c("granularity", "granularity", Text, RO),
            c("count", "count", Text, RO),
            c("recording", "recording", Text, RO),
            c("busy", "busy", Text, RO),
            c("persistent", "persistent", Text, RO),
            c("inconsistent", "inconsistent", Text, RO),
        ],
        defaults: &["uuid", "name", "vdi-uuid", "count", "recording"],
    },
];

/// The class whose xe prefix is `xe`.
pub fn class(xe: &str) -> Option<&'static ClassDef> {
    CLASSES.iter().find(|c| c.xe == xe)
}

/// What xe prints for a reference it cannot resolve (and for a null one).
pub const NID: &str = "<not in database>";

/// Resolves references to uuids and names, with a cache.
#[derive(Default)]
pub struct Resolver {
    cache: HashMap<String, (String, String)>,
}

impl Resolver {
    /// Remembers the uuid and name of `r` (from a record already fetched).
    pub fn seed(&mut self, r: &str, rec: &Value) {
        let uuid = rec.member("uuid").map(value_text).unwrap_or_default();
        let name = rec.member("name_label").map(value_text).unwrap_or_default();
        self.cache.insert(r.to_string(), (uuid, name));
    }

    /// `(uuid, name_label)` of `r`, an object of `class`; `None` for the
    /// null ref or one the server does not know.
    pub fn lookup(
        &mut self,
        conn: &mut Conn,
        session: &str,
        class: &str,
        r: &str,
    ) -> Option<(String, String)> {
        if r.is_empty() || r == "OpaqueRef:NULL" {
            return None;
        }
        if let Some(v) = self.cache.get(r) {
            return Some(v.clone());
        }
        let rec = conn
            .call(
                &format!("{class}.get_record"),
                &[Value::from(session), Value::from(r)],
            )
            .ok()?;
        self.seed(r, &rec);
        self.cache.get(r).cloned()
    }

    /// The uuid of `r` (or [`NID`]).
    pub fn uuid(&mut self, conn: &mut Conn, session: &str, class: &str, r: &str) -> String {
        self.lookup(conn, session, class, r)
            .map(|(u, _)| u)
            .unwrap_or_else(|| NID.to_string())
    }

    /// The name of `r` (or [`NID`]).
    pub fn name(&mut self, conn: &mut Conn, session: &str, class: &str, r: &str) -> String {
        self.lookup(conn, session, class, r)
            .map(|(_, n)| n)
            .unwrap_or_else(|| NID.to_string())
    }
}

/// One field of a shown record.
#[derive(Clone, Debug)]
pub struct Field {
    /// xe's name.
    pub name: &'static str,
    /// The qualifier (` ( RO)`).
    pub qual: &'static str,
    /// The text shown.
    pub value: String,
    /// The map, for `name:key=value` filters and `param-key`.
    pub map: Option<Vec<(String, String)>>,
    /// The members, for `name:contains=value` filters.
    pub set: Option<Vec<String>>,
}

/// A record as xe shows it.
pub type Record = Vec<Field>;

/// OCaml's `string_of_float`: `%.12g`, with a `.` added to integers.
pub fn ocaml_float(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".into()
        } else if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let rounded: f64 = format!("{x:.11e}").parse().unwrap_or(x);
    let mut s = format!("{rounded}");
    if !s.contains('.') {
        s.push('.');
    }
    s
}

fn date_text(v: &Value) -> String {
    match v {
        Value::DateTime(d) => match d.to_chrono() {
            Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            None => d.to_xapi_string(),
        },
        other => value_text(other),
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().map(value_text).collect(),
        _ => Vec::new(),
    }
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Struct(m) => m.iter().map(|(k, v)| (k.clone(), value_text(v))).collect(),
        _ => Vec::new(),
    }
}

/// Builds the xe record of `rec` (a XenAPI record of `class`); fields the
/// server does not have are left out.
pub fn build(
    conn: &mut Conn,
    session: &str,
    res: &mut Resolver,
    class: &ClassDef,
    rec: &Value,
) -> Record {
    let mut out = Vec::with_capacity(class.cols.len());
    for col in class.cols {
        let Some(v) = rec.member(col.api) else {
            continue;
        };
        let mut f = Field {
            name: col.name,
            qual: col.qual,
            value: String::new(),
            map: None,
            set: None,
        };
        match col.kind {
            Text => f.value = value_text(v),
            Lower => f.value = value_text(v).to_ascii_lowercase(),
            Float => {
                f.value = match v {
                    Value::Double(d) => ocaml_float(*d),
                    other => value_text(other),
                }
            }
            Date => f.value = date_text(v),
            Ref(cl) => f.value = res.uuid(conn, session, cl, &value_text(v)),
            RefName(cl) => f.value = res.name(conn, session, cl, &value_text(v)),
            Refs(cl) => {
                let l: Vec<String> = strings(v)
                    .iter()
                    .map(|r| res.uuid(conn, session, cl, r))
                    .collect();
                f.value = l.join("; ");
                f.set = Some(l);
            }
            Objects => {
                let l: Vec<String> = strings(v)
                    .iter()
                    .map(|r| {
                        ["VDI", "VM", "SR"]
                            .iter()
                            .find_map(|cl| {
                                res.lookup(conn, session, cl, r)
                                    .map(|(u, _)| format!("{cl} {u}"))
                            })
                            .unwrap_or_else(|| NID.to_string())
                    })
                    .collect();
                f.value = l.join("; ");
                f.set = Some(l);
            }
            RefNames(cl) => {
                let l: Vec<String> = strings(v)
                    .iter()
                    .map(|r| res.name(conn, session, cl, r))
                    .collect();
                f.value = l.join("; ");
                f.set = Some(l);
            }
            Strings => {
                let l = strings(v);
                f.value = l.join("; ");
                f.set = Some(l);
            }
            MapValues => {
                let l: Vec<String> = pairs(v).into_iter().map(|(_, v)| v).collect();
                f.value = l.join("; ");
                f.set = Some(l);
            }
            Map => {
                let m = pairs(v);
                f.value = m
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                f.map = Some(m);
            }
        }
        out.push(f);
    }
    out
}

/// Formats records as xe does: per record, `name (qual): value` lines,
/// the first key left-aligned and the others right-aligned to four more
/// than the longest key; each record followed by two empty lines (xe
/// prints the record, its newline, and a newline of its own).
pub fn format_table(records: &[Vec<(String, String)>]) -> String {
    let mut out = String::new();
    for r in records {
        let width = 4 + r.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (i, (k, v)) in r.iter().enumerate() {
            if i == 0 {
                out.push_str(&format!("{k:<width$}: {v}\n"));
            } else {
                out.push_str(&format!("{k:>width$}: {v}\n"));
            }
        }
        out.push_str("\n\n");
    }
    out
}

/// `--minimal`: the values, `,` and `\` escaped, comma-joined.
pub fn minimal(values: &[String]) -> String {
    values
        .iter()
        .map(|v| v.replace('\\', "\\\\").replace(',', "\\,"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The fields `params=` picks (all for `params=all`, the defaults when
/// absent), in the record's order.
pub fn select(rec: &Record, params: Option<&str>, defaults: &[&str]) -> Vec<(String, String)> {
    let wanted: Option<Vec<&str>> = match params {
        Some("all") => None,
        Some(p) => Some(p.split(',').collect()),
        None => Some(defaults.to_vec()),
    };
    rec.iter()
        .filter(|f| wanted.as_ref().is_none_or(|w| w.contains(&f.name)))
        .map(|f| (format!("{}{}", f.name, f.qual), f.value.clone()))
        .collect()
}

/// Keeps the records matching a `k=v` filter (`name=v`, `map:key=v`,
/// `map-key=v`, `set:contains=v`); an error for an unknown field.
pub fn filter(
    records: Vec<(String, Record)>,
    k: &str,
    v: &str,
) -> Result<Vec<(String, Record)>, CallError> {
    let Some((_, first)) = records.first() else {
        return Ok(records);
    };
    enum How {
        Normal,
        Map(&'static str, String),
        Set(&'static str),
    }
    let how = if first.iter().any(|f| f.name == k) {
        How::Normal
    } else if let Some((name, key)) = k.split_once(':') {
        match first.iter().find(|f| f.name == name) {
            Some(f) if f.map.is_some() => How::Map(f.name, key.to_string()),
            Some(f) if f.set.is_some() => {
                if key != "contains" {
                    return Err(failure(
                        "Invalid syntax for set filtering (should be set-param:contains=key)",
                    ));
                }
                How::Set(f.name)
            }
            Some(f) => return Err(failure(&format!("Field '{}' is not a set or map", f.name))),
            None => return Err(failure(&format!("Unknown field '{k}'"))),
        }
    } else {
        let mut maps: Vec<&Field> = first.iter().filter(|f| f.map.is_some()).collect();
        maps.sort_by_key(|f| std::cmp::Reverse(f.name.len()));
        match maps.iter().find(|f| k.starts_with(&format!("{}-", f.name))) {
            Some(f) => How::Map(f.name, k[f.name.len() + 1..].to_string()),
            None => return Err(failure(&format!("Unknown field '{k}'"))),
        }
    };
    Ok(records
        .into_iter()
        .filter(|(_, r)| match &how {
            How::Normal => r.iter().any(|f| f.name == k && f.value == v),
            How::Map(name, key) => r.iter().any(|f| {
                f.name == *name
                    && f.map
                        .as_ref()
                        .is_some_and(|m| m.iter().any(|(mk, mv)| mk == key && mv == v))
            }),
            How::Set(name) => r.iter().any(|f| {
                f.name == *name && f.set.as_ref().is_some_and(|s| s.iter().any(|m| m == v))
            }),
        })
        .collect())
}

/// An error raised by the CLI itself (xapi: a `Failure` turned into
/// `INTERNAL_ERROR`).
pub fn failure(msg: &str) -> CallError {
    CallError::Api(vec!["INTERNAL_ERROR".into(), format!("Failure: {msg}")])
}
