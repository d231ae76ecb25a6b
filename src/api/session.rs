//! `session`: login, logout and password change. The rules (the check
//! every call makes, expiry, the per-originator cap) are in
//! [`crate::domain::sessions`].

use super::{ApiResult, Ctx};
use crate::domain::sessions;
use crate::model::schema::args::{
    SessionChangePassword, SessionGetAllSubjectIdentifiers, SessionLocalLogout,
    SessionLoginWithPassword, SessionLogout, SessionLogoutSubjectIdentifier,
};
use crate::wire::Value;

/// `session.login_with_password(uname, pwd [, version, originator])`.
pub async fn login_with_password(cx: Ctx, a: SessionLoginWithPassword) -> ApiResult<Value> {
    let SessionLoginWithPassword {
        uname,
        pwd,
        version: _,
        originator,
    } = a;
    let originator = originator.unwrap_or_default();
    let r = sessions::login(cx.domain(), &uname, &pwd, &originator).await?;
    Ok(Value::Ref(r))
}

/// `session.logout()`.
pub async fn logout(cx: Ctx, _: SessionLogout) -> ApiResult<Value> {
    tracing::debug!(user = %cx.identity.user, "logout");
    sessions::destroy(cx.domain(), cx.session);
    Ok(Value::void())
}

/// `session.local_logout()`: as `logout` (there is one host).
pub async fn local_logout(cx: Ctx, _: SessionLocalLogout) -> ApiResult<Value> {
    logout(cx, SessionLogout).await
}

/// `session.get_all_subject_identifiers()`.
pub async fn get_all_subject_identifiers(
    cx: Ctx,
    _: SessionGetAllSubjectIdentifiers,
) -> ApiResult<Value> {
    let ids = sessions::subject_identifiers(cx.domain());
    Ok(Value::Array(ids.into_iter().map(Value::from).collect()))
}

/// `session.logout_subject_identifier(subject_identifier)`.
pub async fn logout_subject_identifier(
    cx: Ctx,
    a: SessionLogoutSubjectIdentifier,
) -> ApiResult<Value> {
    sessions::logout_subject_identifier(cx.domain(), &a.subject_identifier, cx.session)?;
    Ok(Value::void())
}

/// `session.change_password(old, new)`.
pub async fn change_password(cx: Ctx, a: SessionChangePassword) -> ApiResult<Value> {
    let SessionChangePassword { old_pwd, new_pwd } = a;
    sessions::change_password(cx.domain(), &cx.identity, &old_pwd, &new_pwd).await?;
    Ok(Value::void())
}
