//! Fault injection for tests of the error policies: a VDI's
//! `other_config:xapid-fault` becomes a rule of `storage::fault` for its
//! file (only when the configuration allows it).

use crate::domain::{vdis, Domain};
use crate::model::schema::vdi;
use crate::storage::fault;
use crate::wire::Ref;

/// Applies `VDI.other_config:xapid-fault` of these VDIs to the fault table
/// (only when the server allows fault injection).
pub fn refresh_faults(d: &Domain, list: &[Ref]) {
    if !d.config.fault_injection {
        return;
    }
    for &r in list {
        let Ok((_, dir, loc)) = vdis::file_of(d, r) else {
            continue;
        };
        let spec = d
            .registry
            .read(vdi::CLASS, r, |row| {
                row.fields[vdi::OTHER_CONFIG]
                    .map_get("xapid-fault")
                    .map(str::to_owned)
            })
            .flatten();
        let rule = spec.and_then(|s| match fault::parse(&s) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(vdi = %r, error = %e, "bad xapid-fault");
                None
            }
        });
        fault::set(&dir.root().join(&loc), rule);
    }
}
