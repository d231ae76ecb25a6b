//! Class ids and field indices that hand-written handlers use, resolved from
//! the model once at start-up (a missing name fails start-up and the tests).
//!
//! Superseded by the typed handles of the generated `model::schema`
//! (`schema::vdi::SR`, ...), which the domain and the HTTP layer use. What
//! is left here is what the jobs and the API handlers still read; it goes
//! once they have moved over too.

use crate::model::{ClassId, Model};

/// Declares a struct of field indices of one class and its resolver.
macro_rules! class_ids {
    ($(#[$doc:meta])* $name:ident, $class:literal, { $($field:ident = $wire:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug)]
        #[allow(missing_docs)]
        pub struct $name {
            pub class: ClassId,
            $(pub $field: usize,)*
        }

        impl $name {
            fn resolve(m: &Model) -> $name {
                let c = class(m, $class);
                $name { class: c, $($field: m.field(c, $wire),)* }
            }
        }
    };
}

class_ids!(
    /// `session`: the class only.
    SessionIds, "session", {}
);

class_ids!(
    /// `VDI` fields.
    VdiIds, "VDI", {
        uuid = "uuid", name_label = "name_label", name_description = "name_description",
        sr = "SR", virtual_size = "virtual_size", ty = "type", sharable = "sharable",
        read_only = "read_only", other_config = "other_config", sm_config = "sm_config",
    }
);

class_ids!(
    /// `VM` fields.
    VmIds, "VM", {
        uuid = "uuid", name_label = "name_label", vbds = "VBDs", building = "building",
    }
);

class_ids!(
    /// `VBD` fields.
    VbdIds, "VBD", {
        vm = "VM", vdi = "VDI", ty = "type",
    }
);

class_ids!(
    /// `block_job` fields.
    JobIds, "block_job", {
        uuid = "uuid", job_id = "job_id", ty = "type", status = "status", device = "device",
        target = "target", current_progress = "current_progress",
        total_progress = "total_progress", speed = "speed", auto_finalize = "auto_finalize",
        auto_dismiss = "auto_dismiss", on_source_error = "on_source_error",
        on_target_error = "on_target_error", io_status = "io_status", error = "error",
        task = "task", rate = "rate", sync = "sync", ready = "ready",
    }
);

/// Everything handlers look up by name.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct Ids {
    pub session: SessionIds,
    pub vdi: VdiIds,
    pub job: JobIds,
    pub vm: VmIds,
    pub vbd: VbdIds,
}

fn class(m: &Model, name: &str) -> ClassId {
    m.class_id(name)
        .unwrap_or_else(|| panic!("datamodel: class {name} missing"))
}

impl Ids {
    /// Resolves every name; panics if the model lacks one.
    pub fn resolve(m: &Model) -> Ids {
        Ids {
            session: SessionIds::resolve(m),
            vdi: VdiIds::resolve(m),
            job: JobIds::resolve(m),
            vm: VmIds::resolve(m),
            vbd: VbdIds::resolve(m),
        }
    }
}
