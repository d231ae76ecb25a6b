//! `host` and `pool`: this server, in a pool of one. Created on first start
//! and kept (with their uuids and refs) across restarts; the version fields
//! are refreshed at every start.

use uuid::Uuid;

use crate::model::schema::{host, pool};
use crate::model::{Map, RowExt};
use crate::registry::{Registry, Write};
use crate::wire::Ref;

/// The XenAPI version this server speaks (XenServer 8's).
pub const API_VERSION: (i64, i64) = (2, 21);

/// This machine's host name (`localhost` if it cannot be read).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Finds or creates the host and the pool.
pub async fn bootstrap(reg: &Registry) -> anyhow::Result<(Ref, Ref)> {
    let model = reg.model().clone();
    let host_ref = match reg.refs(host::CLASS).into_iter().min() {
        Some(r) => r,
        None => {
            let mut f = model.default_row(host::CLASS);
            f.set(host::UUID, Uuid::new_v4().to_string());
            f.set(host::NAME_LABEL, hostname());
            f.set(host::NAME_DESCRIPTION, "xapid: disk images and block jobs");
            let r = Ref::new();
            reg.insert(host::CLASS, r, f).wait().await?;
            r
        }
    };
    let version = env!("CARGO_PKG_VERSION");
    let ((), commit) = reg.update(host::CLASS, host_ref, Write::Durable, |f| {
        f.set(host::API_VERSION_MAJOR, API_VERSION.0);
        f.set(host::API_VERSION_MINOR, API_VERSION.1);
        f.set(host::API_VERSION_VENDOR, "xapid");
        f.set(
            host::SOFTWARE_VERSION,
            Map(vec![
                ("product_brand".into(), "xapid".into()),
                ("product_version".into(), version.into()),
                (
                    "xapi".into(),
                    format!("{}.{}", API_VERSION.0, API_VERSION.1),
                ),
                ("xapid".into(), version.into()),
            ]),
        );
        f.set(host::ENABLED, true);
        f.set(host::HOSTNAME, hostname());
        f.set(host::ADDRESS, "127.0.0.1");
        Ok(())
    })?;
    commit.wait().await?;
    let pool_ref = match reg.refs(pool::CLASS).into_iter().min() {
        Some(r) => r,
        None => {
            let mut f = model.default_row(pool::CLASS);
            f.set(pool::UUID, Uuid::new_v4().to_string());
            f.set(pool::MASTER, host_ref);
            let r = Ref::new();
            reg.insert(pool::CLASS, r, f).wait().await?;
            r
        }
    };
    Ok((host_ref, pool_ref))
}
