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

/// `VDI.destroy(self)`: Destroy the VDI. Its record goes at once. Its file goes too, unless another image is built on it (a snapshot under the VDI it was taken of, or under a later snapshot): then the file stays as a hidden base, never listed as a VDI, until the background coalesce folds it into the image above it (as SM's garbage collector does). The data of every other VDI never changes. Its changed-block-tracking set is merged into the next VDI of its chain first.
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

/// `VDI.enable_cbt(self)`: Enable changed block tracking for the VDI: from now on every block written is recorded (64 KiB blocks), raw and qcow2 alike. A no-op when it is already enabled. Refused for a snapshot (OPERATION_NOT_ALLOWED) and for a VDI whose type is not user or system (VDI_INCOMPATIBLE_TYPE).
#[derive(Clone, Debug, PartialEq)]
pub struct VdiEnableCbt {
    /// `self` (`VDI ref`): The VDI for which CBT should be enabled.
    pub self_: Ref,
}

impl VdiEnableCbt {
    /// The wire name.
    pub const WIRE: &str = "VDI.enable_cbt";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiEnableCbt {
            self_: next_arg(&mut it),
        }
    }
}

/// `VDI.disable_cbt(self)`: Disable changed block tracking for the VDI: its current change set is dropped, which breaks the chain (list_changed_blocks from an earlier snapshot to a later one then fails as unrelated). Its snapshots keep theirs. A no-op when it is already disabled.
#[derive(Clone, Debug, PartialEq)]
pub struct VdiDisableCbt {
    /// `self` (`VDI ref`): The VDI for which CBT should be disabled.
    pub self_: Ref,
}

impl VdiDisableCbt {
    /// The wire name.
    pub const WIRE: &str = "VDI.disable_cbt";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiDisableCbt {
            self_: next_arg(&mut it),
        }
    }
}

/// `VDI.set_cbt_enabled(self, value)`: Set the value of the cbt_enabled field (for internal use, as xapi's; a VDI whose change set is missing reads as changed everywhere).
#[derive(Clone, Debug, PartialEq)]
pub struct VdiSetCbtEnabled {
    /// `self` (`VDI ref`): The VDI.
    pub self_: Ref,
    /// `value` (`bool`): The new value.
    pub value: bool,
}

impl VdiSetCbtEnabled {
    /// The wire name.
    pub const WIRE: &str = "VDI.set_cbt_enabled";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiSetCbtEnabled {
            self_: next_arg(&mut it),
            value: next_arg(&mut it),
        }
    }
}

/// `VDI.data_destroy(self)`: Delete the data of the snapshot VDI but keep its changed block tracking metadata: its type becomes cbt_metadata, and it stays usable as the base of list_changed_blocks. Its file goes at once when no other image is built on it, else it stays as a hidden base until the background coalesce folds it away. Only for a snapshot (OPERATION_NOT_ALLOWED) with CBT enabled (VDI_NO_CBT_METADATA); a no-op on a cbt_metadata VDI.
#[derive(Clone, Debug, PartialEq)]
pub struct VdiDataDestroy {
    /// `self` (`VDI ref`): The VDI whose data should be deleted.
    pub self_: Ref,
}

impl VdiDataDestroy {
    /// The wire name.
    pub const WIRE: &str = "VDI.data_destroy";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiDataDestroy {
            self_: next_arg(&mut it),
        }
    }
}

/// `VDI.list_changed_blocks(vdi_from, vdi_to)`: Compare two VDIs in 64k block increments (VDI_IN_USE while vdi_to is being written): the base64 encoding of a bitmap with one bit per 64 KiB block of vdi_to (the first block is the most significant bit of the first byte), set for the blocks written after vdi_from was taken up to and including vdi_to, zero-padded to a multiple of 4 bytes. vdi_from must come before vdi_to in one chain of snapshots of a VDI with CBT enabled; otherwise SR_BACKEND_FAILURE_460 (unrelated VDIs).
#[derive(Clone, Debug, PartialEq)]
pub struct VdiListChangedBlocks {
    /// `vdi_from` (`VDI ref`): The first VDI.
    pub vdi_from: Ref,
    /// `vdi_to` (`VDI ref`): The second VDI.
    pub vdi_to: Ref,
}

impl VdiListChangedBlocks {
    /// The wire name.
    pub const WIRE: &str = "VDI.list_changed_blocks";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiListChangedBlocks {
            vdi_from: next_arg(&mut it),
            vdi_to: next_arg(&mut it),
        }
    }
}

/// `VDI.list_changed_blocks_range(vdi_from, vdi_to, offset, length)`: xapid extension (SMAPIv3's Volume.list_changed_blocks): the changed blocks of list_changed_blocks for the byte range \[offset, offset + length) only, as a map with granularity (bytes per bit, a decimal string: 65536) and bitmap (base64, the first bit is the block at offset, which must be a multiple of the granularity; zero-padded to a multiple of 4 bytes). A length reaching past the end stops at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct VdiListChangedBlocksRange {
    /// `vdi_from` (`VDI ref`): The first VDI.
    pub vdi_from: Ref,
    /// `vdi_to` (`VDI ref`): The second VDI.
    pub vdi_to: Ref,
    /// `offset` (`int`): The first byte, a multiple of 65536.
    pub offset: i64,
    /// `length` (`int`): How many bytes to cover.
    pub length: i64,
}

impl VdiListChangedBlocksRange {
    /// The wire name.
    pub const WIRE: &str = "VDI.list_changed_blocks_range";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiListChangedBlocksRange {
            vdi_from: next_arg(&mut it),
            vdi_to: next_arg(&mut it),
            offset: next_arg(&mut it),
            length: next_arg(&mut it),
        }
    }
}

/// `VDI.list_changed_extents(vdi_from, vdi_to)`: xapid extension: the changed blocks of list_changed_blocks as byte extents, flattened pairs \[offset1, length1, offset2, length2, ...\] in increasing order, adjacent blocks merged, the last one ending at most at vdi_to's virtual size.
#[derive(Clone, Debug, PartialEq)]
pub struct VdiListChangedExtents {
    /// `vdi_from` (`VDI ref`): The first VDI.
    pub vdi_from: Ref,
    /// `vdi_to` (`VDI ref`): The second VDI.
    pub vdi_to: Ref,
}

impl VdiListChangedExtents {
    /// The wire name.
    pub const WIRE: &str = "VDI.list_changed_extents";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiListChangedExtents {
            vdi_from: next_arg(&mut it),
            vdi_to: next_arg(&mut it),
        }
    }
}

/// `VDI.get_nbd_info(self)`: Get details specifying how to access this VDI via a Network Block Device server: one vdi_nbd_server_info record (exportname /\<vdi-uuid>?session_id=\<this session>, address, port, cert: the server's certificate in PEM, subject: the name the certificate is for) per address the NBD server listens on. The empty set when the NBD server is off. The export is valid for as long as the session is.
#[derive(Clone, Debug, PartialEq)]
pub struct VdiGetNbdInfo {
    /// `self` (`VDI ref`): The VDI to access via Network Block Device protocol.
    pub self_: Ref,
}

impl VdiGetNbdInfo {
    /// The wire name.
    pub const WIRE: &str = "VDI.get_nbd_info";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        VdiGetNbdInfo {
            self_: next_arg(&mut it),
        }
    }
}
