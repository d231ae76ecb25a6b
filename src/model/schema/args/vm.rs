//! The parameters of the messages of `VM`, typed and in order (the
//! session excluded). Built with `from_values` from the list dispatch
//! checked against the datamodel and converted (`model::convert`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::super::*;

/// `VM.create(args)`: Create a new VM. The record may give name_label, name_description and other_config.
#[derive(Clone, Debug, PartialEq)]
pub struct VmCreate {
    /// `args` (`VM record`): All constructor arguments.
    pub args: Value,
}

impl VmCreate {
    /// The wire name.
    pub const WIRE: &str = "VM.create";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VmCreate {
            args: next_arg(&mut it),
        }
    }
}

/// `VM.destroy(self)`: Destroy the VM and its VBDs (its VDIs stay).
#[derive(Clone, Debug, PartialEq)]
pub struct VmDestroy {
    /// `self` (`VM ref`): The VM to destroy.
    pub self_: Ref,
}

impl VmDestroy {
    /// The wire name.
    pub const WIRE: &str = "VM.destroy";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VmDestroy {
            self_: next_arg(&mut it),
        }
    }
}

/// `VM.clone(vm, new_name)`: Make a new VM with a full copy of every disk, each in the SR of its source: one subtask per disk (subtask_of/subtasks), the task's progress the byte-weighted progress of its subtasks. Cancelling the task cancels every subtask and removes what was made; the failure of one disk fails the whole call with that disk's error.
#[derive(Clone, Debug, PartialEq)]
pub struct VmClone {
    /// `vm` (`VM ref`): The VM to be cloned.
    pub vm: Ref,
    /// `new_name` (`string`): The name of the cloned VM.
    pub new_name: String,
}

impl VmClone {
    /// The wire name.
    pub const WIRE: &str = "VM.clone";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VmClone {
            vm: next_arg(&mut it),
            new_name: next_arg(&mut it),
        }
    }
}

/// `VM.copy(vm, new_name, sr)`: As VM.clone, but every disk is copied into the given SR.
#[derive(Clone, Debug, PartialEq)]
pub struct VmCopy {
    /// `vm` (`VM ref`): The VM to be copied.
    pub vm: Ref,
    /// `new_name` (`string`): The name of the copied VM.
    pub new_name: String,
    /// `sr` (`SR ref`): The SR for the new disks.
    pub sr: Ref,
}

impl VmCopy {
    /// The wire name.
    pub const WIRE: &str = "VM.copy";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VmCopy {
            vm: next_arg(&mut it),
            new_name: next_arg(&mut it),
            sr: next_arg(&mut it),
        }
    }
}
