//! `session`: login, logout and password change. The rules (the check
//! every call makes, expiry, the per-originator cap) are in
//! [`crate::domain::sessions`].

use super::{ApiResult, Ctx};
use crate::domain::sessions;
use crate::model::schema::args::{
    SessionChangePassword, SessionLocalLogout, SessionLoginWithPassword, SessionLogout,
};
use crate::model::schema::codes;
use crate::wire::Value;

/// `session.login_with_password(uname, pwd [, version, originator])`.
pub async fn login_with_password(cx: Ctx, a: SessionLoginWithPassword) -> ApiResult<Value> {
    let SessionLoginWithPassword {
        uname,
        pwd,
        version: _,
        originator,
    } = a;
    let d = cx.domain();
    let originator = originator.unwrap_or_default();
    if let Err(e) = sessions::authenticate(d, &uname, &pwd).await {
        if e.code == codes::SESSION_AUTHENTICATION_FAILED {
            tracing::info!(user = %uname, "login failed");
        }
        return Err(e);
    }
    let r = sessions::create(d, &uname, &originator);
    tracing::debug!(user = %uname, originator = %originator, "login");
    Ok(Value::Ref(r))
}

/// `session.logout()`.
pub async fn logout(cx: Ctx, _: SessionLogout) -> ApiResult<Value> {
    sessions::destroy(cx.domain(), cx.session);
    Ok(Value::void())
}

/// `session.local_logout()`: as `logout` (there is one host).
pub async fn local_logout(cx: Ctx, _: SessionLocalLogout) -> ApiResult<Value> {
    logout(cx, SessionLogout).await
}

/// `session.change_password(old, new)`.
pub async fn change_password(cx: Ctx, a: SessionChangePassword) -> ApiResult<Value> {
    let SessionChangePassword { old_pwd, new_pwd } = a;
    sessions::change_password(cx.domain(), cx.session, &old_pwd, &new_pwd).await?;
    Ok(Value::void())
}
