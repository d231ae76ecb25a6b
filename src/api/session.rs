//! `session`: login, logout and password change. The rules (the check
//! every call makes, expiry, the per-originator cap) are in
//! [`crate::domain::sessions`].

use super::{ApiResult, Args, BoxFuture, Ctx};
use crate::domain::sessions;
use crate::wire::Value;

/// `session.login_with_password(uname, pwd [, version, originator])`.
pub fn login_with_password(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let d = cx.domain();
        let user = a.str(0).to_owned();
        let originator = a.opt_str(3).unwrap_or("").to_owned();
        if let Err(e) = sessions::authenticate(d, &user, a.str(1)).await {
            if e.code == "SESSION_AUTHENTICATION_FAILED" {
                tracing::info!(user = %user, "login failed");
            }
            return Err(e);
        }
        let r = sessions::create(d, &user, &originator);
        tracing::debug!(user = %user, originator = %originator, "login");
        Ok(Value::Ref(r))
    })
}

/// `session.logout()` and `session.local_logout()`.
pub fn logout(cx: Ctx, _a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        sessions::destroy(cx.domain(), cx.session);
        Ok(Value::void())
    })
}

/// `session.change_password(old, new)`.
pub fn change_password(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        sessions::change_password(cx.domain(), cx.session, a.str(0), a.str(1)).await?;
        Ok(Value::void())
    })
}
