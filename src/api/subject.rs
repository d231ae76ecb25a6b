//! `subject`: local users and their roles ([`crate::domain::subjects`]).

use super::implicit::NewRow;
use super::{ApiResult, Ctx};
use crate::domain::subjects;
use crate::model::schema::args::{
    SubjectAddToRoles, SubjectCreate, SubjectDestroy, SubjectGetPermissionsNameLabel,
    SubjectRemoveFromRoles, SubjectSetPassword,
};
use crate::model::schema::subject;
use crate::wire::Value;

/// `subject.create(args)`.
pub async fn create(cx: Ctx, a: SubjectCreate) -> ApiResult<Value> {
    let SubjectCreate { args } = a;
    let row = NewRow::new(&cx.api, subject::CLASS, &args);
    let sid = row.member(subject::SUBJECT_IDENTIFIER)?.unwrap_or_default();
    let other = row.member(subject::OTHER_CONFIG)?.unwrap_or_default();
    subjects::create(cx.domain(), sid, other)
        .await
        .map(Value::Ref)
}

/// `subject.destroy(self)`.
pub async fn destroy(cx: Ctx, a: SubjectDestroy) -> ApiResult<Value> {
    subjects::destroy(cx.domain(), a.self_).await?;
    Ok(Value::void())
}

/// `subject.add_to_roles(self, role)`.
pub async fn add_to_roles(cx: Ctx, a: SubjectAddToRoles) -> ApiResult<Value> {
    subjects::change_roles(cx.domain(), a.self_, a.role, true).await?;
    Ok(Value::void())
}

/// `subject.remove_from_roles(self, role)`.
pub async fn remove_from_roles(cx: Ctx, a: SubjectRemoveFromRoles) -> ApiResult<Value> {
    subjects::change_roles(cx.domain(), a.self_, a.role, false).await?;
    Ok(Value::void())
}

/// `subject.get_permissions_name_label(self)`.
pub async fn get_permissions_name_label(
    cx: Ctx,
    a: SubjectGetPermissionsNameLabel,
) -> ApiResult<Value> {
    let names = subjects::permission_names(cx.domain(), a.self_)?;
    Ok(Value::Array(names.into_iter().map(Value::from).collect()))
}

/// `subject.set_password(self, password)` (an xapid extension).
pub async fn set_password(cx: Ctx, a: SubjectSetPassword) -> ApiResult<Value> {
    let SubjectSetPassword { self_, password } = a;
    subjects::set_password(cx.domain(), self_, &password).await?;
    Ok(Value::void())
}
