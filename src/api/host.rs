//! `host`: this server. The TLS certificate and `https_only` rules are in
//! [`crate::domain::tls`]; the rest of the class is implicit (getters,
//! setters, records).

use super::{ApiResult, Ctx};
use crate::domain::tls;
use crate::model::schema::args::{
    HostGetServerCertificate, HostInstallServerCertificate, HostResetServerCertificate,
    HostSetHttpsOnly,
};
use crate::wire::Value;

/// `host.get_server_certificate(host)`: the served certificate, PEM.
pub async fn get_server_certificate(cx: Ctx, a: HostGetServerCertificate) -> ApiResult<Value> {
    let HostGetServerCertificate { host } = a;
    Ok(Value::from(tls::server_certificate(cx.domain(), host)?))
}

/// `host.install_server_certificate(host, certificate, private_key
/// [, certificate_chain])`.
pub async fn install_server_certificate(
    cx: Ctx,
    a: HostInstallServerCertificate,
) -> ApiResult<Value> {
    let HostInstallServerCertificate {
        host,
        certificate,
        private_key,
        certificate_chain,
    } = a;
    let chain = certificate_chain.unwrap_or_default();
    tls::install(cx.domain(), host, certificate, private_key, chain).await?;
    Ok(Value::void())
}

/// `host.reset_server_certificate(host)`.
pub async fn reset_server_certificate(cx: Ctx, a: HostResetServerCertificate) -> ApiResult<Value> {
    let HostResetServerCertificate { host } = a;
    tls::reset(cx.domain(), host).await?;
    Ok(Value::void())
}

/// `host.set_https_only(self, value)`.
pub async fn set_https_only(cx: Ctx, a: HostSetHttpsOnly) -> ApiResult<Value> {
    let HostSetHttpsOnly { self_, value } = a;
    tls::set_https_only(cx.domain(), self_, value).await?;
    Ok(Value::void())
}
