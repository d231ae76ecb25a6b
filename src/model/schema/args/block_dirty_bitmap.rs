//! The parameters of the messages of `block_dirty_bitmap`, typed and in order (the
//! session excluded). Built with `from_values` from the list dispatch
//! checked against the datamodel and converted (`model::convert`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::super::*;

/// `block_dirty_bitmap.add(vdi, name, options)`: Add a bitmap to the VDI (QEMU's block-dirty-bitmap-add). options (all optional): granularity (a power of two from 512 to 2147483648; default: the qcow2 cluster size clamped to 4 KiB..64 KiB, 64 KiB for raw), persistent (true: qcow2 VDIs only), disabled (true: not recording). The new bitmap is empty.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockDirtyBitmapAdd {
    /// `vdi` (`VDI ref`): The VDI.
    pub vdi: Ref,
    /// `name` (`string`): The bitmap's name.
    pub name: String,
    /// `options` (`(string -> string) map`): Options.
    pub options: Map<String>,
}

impl BlockDirtyBitmapAdd {
    /// The wire name.
    pub const WIRE: &str = "block_dirty_bitmap.add";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        BlockDirtyBitmapAdd {
            vdi: next_arg(&mut it),
            name: next_arg(&mut it),
            options: next_arg(&mut it),
        }
    }
}

/// `block_dirty_bitmap.remove(self)`: Remove the bitmap (QEMU's block-dirty-bitmap-remove). Refused while it is busy.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockDirtyBitmapRemove {
    /// `self` (`block_dirty_bitmap ref`): The bitmap.
    pub self_: Ref,
}

impl BlockDirtyBitmapRemove {
    /// The wire name.
    pub const WIRE: &str = "block_dirty_bitmap.remove";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        BlockDirtyBitmapRemove {
            self_: next_arg(&mut it),
        }
    }
}

/// `block_dirty_bitmap.clear(self)`: Clear every bit (QEMU's block-dirty-bitmap-clear). Refused while busy or inconsistent.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockDirtyBitmapClear {
    /// `self` (`block_dirty_bitmap ref`): The bitmap.
    pub self_: Ref,
}

impl BlockDirtyBitmapClear {
    /// The wire name.
    pub const WIRE: &str = "block_dirty_bitmap.clear";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        BlockDirtyBitmapClear {
            self_: next_arg(&mut it),
        }
    }
}

/// `block_dirty_bitmap.enable(self)`: Start recording writes (QEMU's block-dirty-bitmap-enable). Refused while busy or inconsistent.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockDirtyBitmapEnable {
    /// `self` (`block_dirty_bitmap ref`): The bitmap.
    pub self_: Ref,
}

impl BlockDirtyBitmapEnable {
    /// The wire name.
    pub const WIRE: &str = "block_dirty_bitmap.enable";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        BlockDirtyBitmapEnable {
            self_: next_arg(&mut it),
        }
    }
}

/// `block_dirty_bitmap.disable(self)`: Stop recording writes (QEMU's block-dirty-bitmap-disable). Refused while busy or inconsistent.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockDirtyBitmapDisable {
    /// `self` (`block_dirty_bitmap ref`): The bitmap.
    pub self_: Ref,
}

impl BlockDirtyBitmapDisable {
    /// The wire name.
    pub const WIRE: &str = "block_dirty_bitmap.disable";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        BlockDirtyBitmapDisable {
            self_: next_arg(&mut it),
        }
    }
}

/// `block_dirty_bitmap.merge(target, sources)`: OR the bits of sources into target (QEMU's block-dirty-bitmap-merge): target is not cleared first; all bitmaps belong to one VDI; sources may have another granularity (a source bit marks every target bit it overlaps). Refused while target is busy or any bitmap is inconsistent; nothing changes on a refusal.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockDirtyBitmapMerge {
    /// `target` (`block_dirty_bitmap ref`): The bitmap to merge into.
    pub target: Ref,
    /// `sources` (`block_dirty_bitmap ref set`): The bitmaps to merge.
    pub sources: Vec<Ref>,
}

impl BlockDirtyBitmapMerge {
    /// The wire name.
    pub const WIRE: &str = "block_dirty_bitmap.merge";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        BlockDirtyBitmapMerge {
            target: next_arg(&mut it),
            sources: next_arg(&mut it),
        }
    }
}
