//! The parameters of the messages of `VDI`, typed and in order (the
//! session excluded). Built with `from_values` from the list dispatch
//! checked against the datamodel and converted (`model::convert`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::super::*;

/// `VDI.create(args)`: Create a new VDI: an empty sparse image file in the SR. The record needs SR and virtual_size; name_label, name_description, type, sharable, read_only, other_config and sm_config are optional. sm_config:image-format chooses raw (the default) or qcow2.
#[derive(Clone, Debug, PartialEq)]
pub struct VdiCreate {
    /// `args` (`VDI record`): All constructor arguments.
    pub args: Value,
}

impl VdiCreate {
    /// The wire name.
    pub const WIRE: &str = "VDI.create";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiCreate {
            args: next_arg(&mut it),
        }
    }
}

/// `VDI.destroy(self)`: Destroy the VDI and delete its file. A VDI that is the backing image of another VDI cannot be destroyed (VDI_IN_USE).
#[derive(Clone, Debug, PartialEq)]
pub struct VdiDestroy {
    /// `self` (`VDI ref`): The VDI to destroy.
    pub self_: Ref,
}

impl VdiDestroy {
    /// The wire name.
    pub const WIRE: &str = "VDI.destroy";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiDestroy {
            self_: next_arg(&mut it),
        }
    }
}

/// `VDI.resize(vdi, size)`: Resize the VDI: grow its virtual size. Shrinking is refused with VDI_TOO_SMALL.
#[derive(Clone, Debug, PartialEq)]
pub struct VdiResize {
    /// `vdi` (`VDI ref`): The VDI to resize.
    pub vdi: Ref,
    /// `size` (`int`): The new size of the VDI (in bytes).
    pub size: i64,
}

impl VdiResize {
    /// The wire name.
    pub const WIRE: &str = "VDI.resize";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiResize {
            vdi: next_arg(&mut it),
            size: next_arg(&mut it),
        }
    }
}

/// `VDI.copy(vdi, sr)`: Make a full, sparse-preserving copy of the VDI into the SR (a backup job with sync=full; its task is the call's task, and task.other_config:block_job names the job). The copy has the source's image format and no backing file. If the copy fails or is cancelled, the half-written new VDI is destroyed.
#[derive(Clone, Debug, PartialEq)]
pub struct VdiCopy {
    /// `vdi` (`VDI ref`): The VDI to copy.
    pub vdi: Ref,
    /// `sr` (`SR ref`): The destination SR.
    pub sr: Ref,
}

impl VdiCopy {
    /// The wire name.
    pub const WIRE: &str = "VDI.copy";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiCopy {
            vdi: next_arg(&mut it),
            sr: next_arg(&mut it),
        }
    }
}

/// `VDI.clone(vdi, [driver_params])`: Make a full, sparse-preserving copy of the VDI in the same SR (a backup job, as VDI.copy).
#[derive(Clone, Debug, PartialEq)]
pub struct VdiClone {
    /// `vdi` (`VDI ref`): The VDI to clone.
    pub vdi: Ref,
    /// `driver_params` (`(string -> string) map`, optional): Optional parameters that can be passed through to backend driver in order to specify storage-type-specific clone options (unused).
    pub driver_params: Option<Map<String>>,
}

impl VdiClone {
    /// The wire name.
    pub const WIRE: &str = "VDI.clone";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiClone {
            vdi: next_arg(&mut it),
            driver_params: next_opt_arg(&mut it),
        }
    }
}

/// `VDI.snapshot(vdi, [driver_params])`: Take an instant external snapshot: the VDI's current image becomes the read-only snapshot VDI, and the VDI continues as a new qcow2 overlay on it (its location is unchanged). Repeated snapshots build a backing chain.
#[derive(Clone, Debug, PartialEq)]
pub struct VdiSnapshot {
    /// `vdi` (`VDI ref`): The VDI to snapshot.
    pub vdi: Ref,
    /// `driver_params` (`(string -> string) map`, optional): Optional parameters that are passed through to the backend driver in order to specify storage-type-specific snapshot options (unused).
    pub driver_params: Option<Map<String>>,
}

impl VdiSnapshot {
    /// The wire name.
    pub const WIRE: &str = "VDI.snapshot";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiSnapshot {
            vdi: next_arg(&mut it),
            driver_params: next_opt_arg(&mut it),
        }
    }
}
