//! The parameters of the messages of `VBD`, typed and in order (the
//! session excluded). Built with `from_values` from the list dispatch
//! checked against the datamodel and converted (`model::convert`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::super::*;

/// `VBD.create(args)`: Create a new VBD: the record needs VM and VDI (null for an empty CD drive); userdevice, bootable, mode, type and other_config are optional.
#[derive(Clone, Debug, PartialEq)]
pub struct VbdCreate {
    /// `args` (`VBD record`): All constructor arguments.
    pub args: Value,
}

impl VbdCreate {
    /// The wire name.
    pub const WIRE: &str = "VBD.create";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VbdCreate {
            args: next_arg(&mut it),
        }
    }
}

/// `VBD.destroy(self)`: Destroy the VBD (the VDI stays).
#[derive(Clone, Debug, PartialEq)]
pub struct VbdDestroy {
    /// `self` (`VBD ref`): The VBD to destroy.
    pub self_: Ref,
}

impl VbdDestroy {
    /// The wire name.
    pub const WIRE: &str = "VBD.destroy";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VbdDestroy {
            self_: next_arg(&mut it),
        }
    }
}
