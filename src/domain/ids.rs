//! Class ids and field indices that hand-written handlers use, resolved from
//! the model once at start-up (a missing name fails start-up and the tests).

use crate::model::{ClassId, Model};

/// `session` fields.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct SessionIds {
    pub class: ClassId,
    pub uuid: usize,
    pub this_host: usize,
    pub last_active: usize,
    pub other_config: usize,
    pub is_local_superuser: usize,
    pub validation_time: usize,
    pub auth_user_name: usize,
    pub originator: usize,
}

/// `task` fields.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct TaskIds {
    pub class: ClassId,
    pub uuid: usize,
    pub name_label: usize,
    pub name_description: usize,
    pub allowed_operations: usize,
    pub current_operations: usize,
    pub created: usize,
    pub finished: usize,
    pub status: usize,
    pub resident_on: usize,
    pub progress: usize,
    pub eta: usize,
    pub result: usize,
    pub error_info: usize,
    pub other_config: usize,
    pub subtask_of: usize,
    pub subtasks: usize,
    pub backtrace: usize,
    pub managed: usize,
}

/// `host` fields.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct HostIds {
    pub class: ClassId,
    pub uuid: usize,
    pub name_label: usize,
    pub name_description: usize,
    pub api_version_major: usize,
    pub api_version_minor: usize,
    pub api_version_vendor: usize,
    pub software_version: usize,
    pub enabled: usize,
    pub hostname: usize,
    pub address: usize,
}

/// `pool` fields.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct PoolIds {
    pub class: ClassId,
    pub uuid: usize,
    pub name_label: usize,
    pub master: usize,
}

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
    /// `SR` fields.
    SrIds, "SR", {
        uuid = "uuid", name_label = "name_label", name_description = "name_description",
        allowed_operations = "allowed_operations", current_operations = "current_operations",
        vdis = "VDIs", virtual_allocation = "virtual_allocation",
        physical_utilisation = "physical_utilisation", physical_size = "physical_size",
        other_config = "other_config", sm_config = "sm_config",
        config_name = "config_name", path = "path",
    }
);

class_ids!(
    /// `VDI` fields.
    VdiIds, "VDI", {
        uuid = "uuid", name_label = "name_label", name_description = "name_description",
        allowed_operations = "allowed_operations", current_operations = "current_operations",
        sr = "SR", virtual_size = "virtual_size", physical_utilisation = "physical_utilisation",
        ty = "type", sharable = "sharable", read_only = "read_only", other_config = "other_config",
        location = "location", sm_config = "sm_config", is_a_snapshot = "is_a_snapshot",
        snapshot_of = "snapshot_of", snapshots = "snapshots", snapshot_time = "snapshot_time",
        building = "building", missing = "missing", vbds = "VBDs",
    }
);

class_ids!(
    /// `VM` fields.
    VmIds, "VM", {
        uuid = "uuid", name_label = "name_label", name_description = "name_description",
        power_state = "power_state", vbds = "VBDs", other_config = "other_config",
        building = "building",
    }
);

class_ids!(
    /// `VBD` fields.
    VbdIds, "VBD", {
        uuid = "uuid", vm = "VM", vdi = "VDI", userdevice = "userdevice",
        bootable = "bootable", mode = "mode", ty = "type", other_config = "other_config",
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
    pub task: TaskIds,
    pub host: HostIds,
    pub pool: PoolIds,
    pub sr: SrIds,
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
        let s = class(m, "session");
        let t = class(m, "task");
        let h = class(m, "host");
        let p = class(m, "pool");
        Ids {
            session: SessionIds {
                class: s,
                uuid: m.field(s, "uuid"),
                this_host: m.field(s, "this_host"),
                last_active: m.field(s, "last_active"),
                other_config: m.field(s, "other_config"),
                is_local_superuser: m.field(s, "is_local_superuser"),
                validation_time: m.field(s, "validation_time"),
                auth_user_name: m.field(s, "auth_user_name"),
                originator: m.field(s, "originator"),
            },
            task: TaskIds {
                class: t,
                uuid: m.field(t, "uuid"),
                name_label: m.field(t, "name_label"),
                name_description: m.field(t, "name_description"),
                allowed_operations: m.field(t, "allowed_operations"),
                current_operations: m.field(t, "current_operations"),
                created: m.field(t, "created"),
                finished: m.field(t, "finished"),
                status: m.field(t, "status"),
                resident_on: m.field(t, "resident_on"),
                progress: m.field(t, "progress"),
                eta: m.field(t, "eta"),
                result: m.field(t, "result"),
                error_info: m.field(t, "error_info"),
                other_config: m.field(t, "other_config"),
                subtask_of: m.field(t, "subtask_of"),
                subtasks: m.field(t, "subtasks"),
                backtrace: m.field(t, "backtrace"),
                managed: m.field(t, "managed"),
            },
            host: HostIds {
                class: h,
                uuid: m.field(h, "uuid"),
                name_label: m.field(h, "name_label"),
                name_description: m.field(h, "name_description"),
                api_version_major: m.field(h, "API_version_major"),
                api_version_minor: m.field(h, "API_version_minor"),
                api_version_vendor: m.field(h, "API_version_vendor"),
                software_version: m.field(h, "software_version"),
                enabled: m.field(h, "enabled"),
                hostname: m.field(h, "hostname"),
                address: m.field(h, "address"),
            },
            pool: PoolIds {
                class: p,
                uuid: m.field(p, "uuid"),
                name_label: m.field(p, "name_label"),
                master: m.field(p, "master"),
            },
            sr: SrIds::resolve(m),
            vdi: VdiIds::resolve(m),
            job: JobIds::resolve(m),
            vm: VmIds::resolve(m),
            vbd: VbdIds::resolve(m),
        }
    }
}
