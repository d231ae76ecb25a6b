//! The pivot at the end of a mirror or an active commit: the VDI moves into
//! the target's file (and SR), the target's object goes, the VDI's old file
//! is deleted.
//!
//! Four durable steps, each safe to be killed after, with the SR's hidden
//! list ([`coalesce`]) as the intent: a hidden file no row names is the
//! coalesce's to fold or delete, and a row that names a hidden file wins
//! (the file is un-hidden).
//!
//! 1. Both files are hidden (`pivot.hidden`): rows still name both, so a
//!    restart un-hides them; the job was interrupted, its target is kept
//!    (marked incomplete).
//! 2. The target's row goes (`pivot.forgotten`): its file is hidden and
//!    nobody's, so a restart's coalesce deletes it (or, for an active
//!    commit, folds it into the VDI's file it backs); the VDI is as before.
//! 3. The VDI's row names the new file (`pivot.moved`): the new file is
//!    un-hidden and the old one, nobody's, is deleted by a restart's
//!    coalesce.
//! 4. The new file is un-hidden, the old one deleted (`pivot.deleted`),
//!    then un-hidden.
//!
//! Before, the target's row went and the VDI's row moved with nothing
//! hidden: a kill in between left a file no row named and nothing marked,
//! and the restart's scan introduced it as a new VDI (found by the torture
//! run).

use super::coalesce::set_hidden;
use super::srs::refresh_totals;
use super::{blocking, durable, vdis, Domain};
use crate::error::ApiResult;
use crate::model::schema::vdi;
use crate::model::RowExt;
use crate::registry::Write;
use crate::storage::crash;
use crate::storage::files;
use crate::wire::Ref;

/// `vdi` now lives in `onto`'s file and SR, `onto`'s object is gone, and
/// `vdi`'s old file is deleted.
pub async fn pivot(d: &Domain, vdi: Ref, onto: Ref) -> ApiResult<()> {
    let (old_sr, old_dir, old_loc) = vdis::file_of(d, vdi)?;
    let (new_sr, _, new_loc) = vdis::file_of(d, onto)?;
    let new_format = vdis::known_format(d, onto)?;
    {
        // The coalesce must not act on the hidden files half-way.
        let _g = d.coalesce.lock.lock().await;
        set_hidden(d, new_sr, &new_loc, true).await?;
        set_hidden(d, old_sr, &old_loc, true).await?;
        crash::point("pivot.hidden");
        vdis::forget(d, onto).await?;
        crash::point("pivot.forgotten");
        let ((), c) = d.registry.update(vdi::CLASS, vdi, Write::Durable, |f| {
            f.set(vdi::SR, new_sr);
            f.set(vdi::LOCATION, new_loc.as_str());
            f[vdi::SM_CONFIG].map_set("image-format", Some(new_format.name()));
            f.set(vdi::READ_ONLY, false);
            Ok(())
        })?;
        durable(c).await?;
        crash::point("pivot.moved");
        set_hidden(d, new_sr, &new_loc, false).await?;
        let st = d.srs.get(old_sr)?;
        let gone = {
            let _g = st.lock.lock().await;
            let loc = old_loc.clone();
            blocking(move || files::remove_image(&old_dir, &loc)).await?
        };
        match gone {
            Ok(()) => {
                tracing::info!(vdi = %vdi, from = %old_loc, to = %new_loc, "pivoted");
                crash::point("pivot.deleted");
                set_hidden(d, old_sr, &old_loc, false).await?;
            }
            // Still hidden: the coalesce tries again.
            Err(e) => tracing::warn!(
                vdi = %vdi,
                error = %e,
                "could not delete the old file after a pivot"
            ),
        }
    }
    vdis::refresh(d, vdi).await?;
    if old_sr != new_sr {
        refresh_totals(d, old_sr, None).await?;
    }
    Ok(())
}
