//! The parameters of the messages of `SR`, typed and in order (the
//! session excluded). Built with `from_values` from the list dispatch
//! checked against the datamodel and converted (`model::convert`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::super::*;

/// `SR.scan(sr)`: Refreshes the list of VDIs: image files placed in the directory by hand are introduced (raw or qcow2, by content; never the hidden bases of destroyed snapshots, which the background coalesce folds away; a qcow2 whose backing file lies outside the SR is skipped), VDIs whose file is gone are forgotten, and sizes and utilisation are read anew from the files.
#[derive(Clone, Debug, PartialEq)]
pub struct SrScan {
    /// `sr` (`SR ref`): The SR to scan.
    pub sr: Ref,
}

impl SrScan {
    /// The wire name.
    pub const WIRE: &str = "SR.scan";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        SrScan {
            sr: next_arg(&mut it),
        }
    }
}
