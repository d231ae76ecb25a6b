//! The handler of every explicit message: a wrapper per message that
//! builds its argument struct (`schema::args`) from the parameters dispatch
//! checked and calls the typed handler in the file of its class, and the
//! table of `(wire name, wrapper)` that `handlers::resolve` lays out.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale). Being generated, this file is
//! exempt from the limit on file length.

use super::{ApiResult, Args, BoxFuture, Ctx, Handler};
use crate::model::schema::args;
use crate::wire::Value;

/// `(wire name, handler)` for every explicit message, in datamodel order.
pub const TABLE: &[(&str, Handler)] = &[
    (args::SessionLoginWithPassword::WIRE, session_login_with_password),
    (args::SessionLogout::WIRE, session_logout),
    (args::SessionLocalLogout::WIRE, session_local_logout),
    (args::SessionChangePassword::WIRE, session_change_password),
    (args::SessionGetAllSubjectIdentifiers::WIRE, session_get_all_subject_identifiers),
    (args::SessionLogoutSubjectIdentifier::WIRE, session_logout_subject_identifier),
    (args::TaskCreate::WIRE, task_create),
    (args::TaskDestroy::WIRE, task_destroy),
    (args::TaskCancel::WIRE, task_cancel),
    (args::TaskSetStatus::WIRE, task_set_status),
    (args::TaskSetProgress::WIRE, task_set_progress),
    (args::TaskSetResult::WIRE, task_set_result),
    (args::TaskSetErrorInfo::WIRE, task_set_error_info),
    (args::HostGetServerCertificate::WIRE, host_get_server_certificate),
    (args::HostInstallServerCertificate::WIRE, host_install_server_certificate),
    (args::HostResetServerCertificate::WIRE, host_reset_server_certificate),
    (args::HostSetHttpsOnly::WIRE, host_set_https_only),
    (args::SrScan::WIRE, sr_scan),
    (args::VdiCreate::WIRE, vdi_create),
    (args::VdiDestroy::WIRE, vdi_destroy),
    (args::VdiResize::WIRE, vdi_resize),
    (args::VdiCopy::WIRE, vdi_copy),
    (args::VdiClone::WIRE, vdi_clone),
    (args::VdiSnapshot::WIRE, vdi_snapshot),
    (args::VdiEnableCbt::WIRE, vdi_enable_cbt),
    (args::VdiDisableCbt::WIRE, vdi_disable_cbt),
    (args::VdiSetCbtEnabled::WIRE, vdi_set_cbt_enabled),
    (args::VdiDataDestroy::WIRE, vdi_data_destroy),
    (args::VdiListChangedBlocks::WIRE, vdi_list_changed_blocks),
    (args::VdiListChangedBlocksRange::WIRE, vdi_list_changed_blocks_range),
    (args::VdiListChangedExtents::WIRE, vdi_list_changed_extents),
    (args::VdiGetNbdInfo::WIRE, vdi_get_nbd_info),
    (args::BlockJobBackup::WIRE, block_job_backup),
    (args::BlockJobMirror::WIRE, block_job_mirror),
    (args::BlockJobStream::WIRE, block_job_stream),
    (args::BlockJobCommit::WIRE, block_job_commit),
    (args::BlockJobTransaction::WIRE, block_job_transaction),
    (args::BlockJobPause::WIRE, block_job_pause),
    (args::BlockJobResume::WIRE, block_job_resume),
    (args::BlockJobCancel::WIRE, block_job_cancel),
    (args::BlockJobSetSpeed::WIRE, block_job_set_speed),
    (args::BlockJobComplete::WIRE, block_job_complete),
    (args::BlockJobFinalize::WIRE, block_job_finalize),
    (args::BlockJobDismiss::WIRE, block_job_dismiss),
    (args::EventRegister::WIRE, event_register),
    (args::EventUnregister::WIRE, event_unregister),
    (args::EventNext::WIRE, event_next),
    (args::EventFrom::WIRE, event_from),
    (args::EventGetCurrentId::WIRE, event_get_current_id),
    (args::EventInject::WIRE, event_inject),
    (args::VmCreate::WIRE, vm_create),
    (args::VmDestroy::WIRE, vm_destroy),
    (args::VmClone::WIRE, vm_clone),
    (args::VmCopy::WIRE, vm_copy),
    (args::VbdCreate::WIRE, vbd_create),
    (args::VbdDestroy::WIRE, vbd_destroy),
    (args::BlockDirtyBitmapAdd::WIRE, block_dirty_bitmap_add),
    (args::BlockDirtyBitmapRemove::WIRE, block_dirty_bitmap_remove),
    (args::BlockDirtyBitmapClear::WIRE, block_dirty_bitmap_clear),
    (args::BlockDirtyBitmapEnable::WIRE, block_dirty_bitmap_enable),
    (args::BlockDirtyBitmapDisable::WIRE, block_dirty_bitmap_disable),
    (args::BlockDirtyBitmapMerge::WIRE, block_dirty_bitmap_merge),
    (args::RoleGetPermissions::WIRE, role_get_permissions),
    (args::RoleGetPermissionsNameLabel::WIRE, role_get_permissions_name_label),
    (args::RoleGetByPermission::WIRE, role_get_by_permission),
    (args::RoleGetByPermissionNameLabel::WIRE, role_get_by_permission_name_label),
    (args::SubjectCreate::WIRE, subject_create),
    (args::SubjectDestroy::WIRE, subject_destroy),
    (args::SubjectAddToRoles::WIRE, subject_add_to_roles),
    (args::SubjectRemoveFromRoles::WIRE, subject_remove_from_roles),
    (args::SubjectGetPermissionsNameLabel::WIRE, subject_get_permissions_name_label),
    (args::SubjectSetPassword::WIRE, subject_set_password),
];

/// `session.login_with_password`.
fn session_login_with_password(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SessionLoginWithPassword::from_values(a.0);
    Box::pin(super::session::login_with_password(cx, a))
}

/// `session.logout`.
fn session_logout(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SessionLogout::from_values(a.0);
    Box::pin(super::session::logout(cx, a))
}

/// `session.local_logout`.
fn session_local_logout(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SessionLocalLogout::from_values(a.0);
    Box::pin(super::session::local_logout(cx, a))
}

/// `session.change_password`.
fn session_change_password(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SessionChangePassword::from_values(a.0);
    Box::pin(super::session::change_password(cx, a))
}

/// `session.get_all_subject_identifiers`.
fn session_get_all_subject_identifiers(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SessionGetAllSubjectIdentifiers::from_values(a.0);
    Box::pin(super::session::get_all_subject_identifiers(cx, a))
}

/// `session.logout_subject_identifier`.
fn session_logout_subject_identifier(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SessionLogoutSubjectIdentifier::from_values(a.0);
    Box::pin(super::session::logout_subject_identifier(cx, a))
}

/// `task.create`.
fn task_create(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::TaskCreate::from_values(a.0);
    Box::pin(super::task::create(cx, a))
}

/// `task.destroy`.
fn task_destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::TaskDestroy::from_values(a.0);
    Box::pin(super::task::destroy(cx, a))
}

/// `task.cancel`.
fn task_cancel(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::TaskCancel::from_values(a.0);
    Box::pin(super::task::cancel(cx, a))
}

/// `task.set_status`.
fn task_set_status(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::TaskSetStatus::from_values(a.0);
    Box::pin(super::task::set_status(cx, a))
}

/// `task.set_progress`.
fn task_set_progress(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::TaskSetProgress::from_values(a.0);
    Box::pin(super::task::set_progress(cx, a))
}

/// `task.set_result`.
fn task_set_result(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::TaskSetResult::from_values(a.0);
    Box::pin(super::task::set_result(cx, a))
}

/// `task.set_error_info`.
fn task_set_error_info(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::TaskSetErrorInfo::from_values(a.0);
    Box::pin(super::task::set_error_info(cx, a))
}

/// `host.get_server_certificate`.
fn host_get_server_certificate(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::HostGetServerCertificate::from_values(a.0);
    Box::pin(super::host::get_server_certificate(cx, a))
}

/// `host.install_server_certificate`.
fn host_install_server_certificate(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::HostInstallServerCertificate::from_values(a.0);
    Box::pin(super::host::install_server_certificate(cx, a))
}

/// `host.reset_server_certificate`.
fn host_reset_server_certificate(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::HostResetServerCertificate::from_values(a.0);
    Box::pin(super::host::reset_server_certificate(cx, a))
}

/// `host.set_https_only`.
fn host_set_https_only(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::HostSetHttpsOnly::from_values(a.0);
    Box::pin(super::host::set_https_only(cx, a))
}

/// `SR.scan`.
fn sr_scan(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SrScan::from_values(a.0);
    Box::pin(super::sr::scan(cx, a))
}

/// `VDI.create`.
fn vdi_create(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiCreate::from_values(a.0);
    Box::pin(super::vdi::create(cx, a))
}

/// `VDI.destroy`.
fn vdi_destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiDestroy::from_values(a.0);
    Box::pin(super::vdi::destroy(cx, a))
}

/// `VDI.resize`.
fn vdi_resize(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiResize::from_values(a.0);
    Box::pin(super::vdi::resize(cx, a))
}

/// `VDI.copy`.
fn vdi_copy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiCopy::from_values(a.0);
    Box::pin(super::vdi::copy(cx, a))
}

/// `VDI.clone`.
fn vdi_clone(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiClone::from_values(a.0);
    Box::pin(super::vdi::clone(cx, a))
}

/// `VDI.snapshot`.
fn vdi_snapshot(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiSnapshot::from_values(a.0);
    Box::pin(super::vdi::snapshot(cx, a))
}

/// `VDI.enable_cbt`.
fn vdi_enable_cbt(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiEnableCbt::from_values(a.0);
    Box::pin(super::vdi::enable_cbt(cx, a))
}

/// `VDI.disable_cbt`.
fn vdi_disable_cbt(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiDisableCbt::from_values(a.0);
    Box::pin(super::vdi::disable_cbt(cx, a))
}

/// `VDI.set_cbt_enabled`.
fn vdi_set_cbt_enabled(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiSetCbtEnabled::from_values(a.0);
    Box::pin(super::vdi::set_cbt_enabled(cx, a))
}

/// `VDI.data_destroy`.
fn vdi_data_destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiDataDestroy::from_values(a.0);
    Box::pin(super::vdi::data_destroy(cx, a))
}

/// `VDI.list_changed_blocks`.
fn vdi_list_changed_blocks(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiListChangedBlocks::from_values(a.0);
    Box::pin(super::vdi::list_changed_blocks(cx, a))
}

/// `VDI.list_changed_blocks_range`.
fn vdi_list_changed_blocks_range(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiListChangedBlocksRange::from_values(a.0);
    Box::pin(super::vdi::list_changed_blocks_range(cx, a))
}

/// `VDI.list_changed_extents`.
fn vdi_list_changed_extents(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiListChangedExtents::from_values(a.0);
    Box::pin(super::vdi::list_changed_extents(cx, a))
}

/// `VDI.get_nbd_info`.
fn vdi_get_nbd_info(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VdiGetNbdInfo::from_values(a.0);
    Box::pin(super::vdi::get_nbd_info(cx, a))
}

/// `block_job.backup`.
fn block_job_backup(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockJobBackup::from_values(a.0);
    Box::pin(super::block_job::backup(cx, a))
}

/// `block_job.mirror`.
fn block_job_mirror(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockJobMirror::from_values(a.0);
    Box::pin(super::block_job::mirror(cx, a))
}

/// `block_job.stream`.
fn block_job_stream(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockJobStream::from_values(a.0);
    Box::pin(super::block_job::stream(cx, a))
}

/// `block_job.commit`.
fn block_job_commit(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockJobCommit::from_values(a.0);
    Box::pin(super::block_job::commit(cx, a))
}

/// `block_job.transaction`.
fn block_job_transaction(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockJobTransaction::from_values(a.0);
    Box::pin(super::block_job::transaction(cx, a))
}

/// `block_job.pause`.
fn block_job_pause(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockJobPause::from_values(a.0);
    Box::pin(super::block_job::pause(cx, a))
}

/// `block_job.resume`.
fn block_job_resume(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockJobResume::from_values(a.0);
    Box::pin(super::block_job::resume(cx, a))
}

/// `block_job.cancel`.
fn block_job_cancel(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockJobCancel::from_values(a.0);
    Box::pin(super::block_job::cancel(cx, a))
}

/// `block_job.set_speed`.
fn block_job_set_speed(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockJobSetSpeed::from_values(a.0);
    Box::pin(super::block_job::set_speed(cx, a))
}

/// `block_job.complete`.
fn block_job_complete(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockJobComplete::from_values(a.0);
    Box::pin(super::block_job::complete(cx, a))
}

/// `block_job.finalize`.
fn block_job_finalize(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockJobFinalize::from_values(a.0);
    Box::pin(super::block_job::finalize(cx, a))
}

/// `block_job.dismiss`.
fn block_job_dismiss(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockJobDismiss::from_values(a.0);
    Box::pin(super::block_job::dismiss(cx, a))
}

/// `event.register`.
fn event_register(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::EventRegister::from_values(a.0);
    Box::pin(super::event::register(cx, a))
}

/// `event.unregister`.
fn event_unregister(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::EventUnregister::from_values(a.0);
    Box::pin(super::event::unregister(cx, a))
}

/// `event.next`.
fn event_next(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::EventNext::from_values(a.0);
    Box::pin(super::event::next(cx, a))
}

/// `event.from`.
fn event_from(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::EventFrom::from_values(a.0);
    Box::pin(super::event::from(cx, a))
}

/// `event.get_current_id`.
fn event_get_current_id(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::EventGetCurrentId::from_values(a.0);
    Box::pin(super::event::get_current_id(cx, a))
}

/// `event.inject`.
fn event_inject(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::EventInject::from_values(a.0);
    Box::pin(super::event::inject(cx, a))
}

/// `VM.create`.
fn vm_create(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VmCreate::from_values(a.0);
    Box::pin(super::vm::create(cx, a))
}

/// `VM.destroy`.
fn vm_destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VmDestroy::from_values(a.0);
    Box::pin(super::vm::destroy(cx, a))
}

/// `VM.clone`.
fn vm_clone(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VmClone::from_values(a.0);
    Box::pin(super::vm::clone(cx, a))
}

/// `VM.copy`.
fn vm_copy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VmCopy::from_values(a.0);
    Box::pin(super::vm::copy(cx, a))
}

/// `VBD.create`.
fn vbd_create(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VbdCreate::from_values(a.0);
    Box::pin(super::vbd::create(cx, a))
}

/// `VBD.destroy`.
fn vbd_destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::VbdDestroy::from_values(a.0);
    Box::pin(super::vbd::destroy(cx, a))
}

/// `block_dirty_bitmap.add`.
fn block_dirty_bitmap_add(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockDirtyBitmapAdd::from_values(a.0);
    Box::pin(super::block_dirty_bitmap::add(cx, a))
}

/// `block_dirty_bitmap.remove`.
fn block_dirty_bitmap_remove(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockDirtyBitmapRemove::from_values(a.0);
    Box::pin(super::block_dirty_bitmap::remove(cx, a))
}

/// `block_dirty_bitmap.clear`.
fn block_dirty_bitmap_clear(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockDirtyBitmapClear::from_values(a.0);
    Box::pin(super::block_dirty_bitmap::clear(cx, a))
}

/// `block_dirty_bitmap.enable`.
fn block_dirty_bitmap_enable(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockDirtyBitmapEnable::from_values(a.0);
    Box::pin(super::block_dirty_bitmap::enable(cx, a))
}

/// `block_dirty_bitmap.disable`.
fn block_dirty_bitmap_disable(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockDirtyBitmapDisable::from_values(a.0);
    Box::pin(super::block_dirty_bitmap::disable(cx, a))
}

/// `block_dirty_bitmap.merge`.
fn block_dirty_bitmap_merge(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::BlockDirtyBitmapMerge::from_values(a.0);
    Box::pin(super::block_dirty_bitmap::merge(cx, a))
}

/// `role.get_permissions`.
fn role_get_permissions(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::RoleGetPermissions::from_values(a.0);
    Box::pin(super::role::get_permissions(cx, a))
}

/// `role.get_permissions_name_label`.
fn role_get_permissions_name_label(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::RoleGetPermissionsNameLabel::from_values(a.0);
    Box::pin(super::role::get_permissions_name_label(cx, a))
}

/// `role.get_by_permission`.
fn role_get_by_permission(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::RoleGetByPermission::from_values(a.0);
    Box::pin(super::role::get_by_permission(cx, a))
}

/// `role.get_by_permission_name_label`.
fn role_get_by_permission_name_label(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::RoleGetByPermissionNameLabel::from_values(a.0);
    Box::pin(super::role::get_by_permission_name_label(cx, a))
}

/// `subject.create`.
fn subject_create(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SubjectCreate::from_values(a.0);
    Box::pin(super::subject::create(cx, a))
}

/// `subject.destroy`.
fn subject_destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SubjectDestroy::from_values(a.0);
    Box::pin(super::subject::destroy(cx, a))
}

/// `subject.add_to_roles`.
fn subject_add_to_roles(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SubjectAddToRoles::from_values(a.0);
    Box::pin(super::subject::add_to_roles(cx, a))
}

/// `subject.remove_from_roles`.
fn subject_remove_from_roles(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SubjectRemoveFromRoles::from_values(a.0);
    Box::pin(super::subject::remove_from_roles(cx, a))
}

/// `subject.get_permissions_name_label`.
fn subject_get_permissions_name_label(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SubjectGetPermissionsNameLabel::from_values(a.0);
    Box::pin(super::subject::get_permissions_name_label(cx, a))
}

/// `subject.set_password`.
fn subject_set_password(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    let a = args::SubjectSetPassword::from_values(a.0);
    Box::pin(super::subject::set_password(cx, a))
}
