//! `host` and `pool`: this server, in a pool of one. Created on first start
//! and kept (with their uuids and refs) across restarts; the version fields
//! are refreshed at every start.

use uuid::Uuid;

use super::Ids;
use crate::registry::{Registry, Write};
use crate::wire::{Ref, Value};

/// The XenAPI version this server speaks (XenServer 8's).
pub const API_VERSION: (i64, i64) = (2, 21);

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Finds or creates the host and the pool.
pub async fn bootstrap(reg: &Registry, ids: &Ids) -> anyhow::Result<(Ref, Ref)> {
    let h = &ids.host;
    let p = &ids.pool;
    let model = reg.model().clone();
    let host = match reg.refs(h.class).into_iter().min() {
        Some(r) => r,
        None => {
            let mut f = model.default_row(h.class);
            f[h.uuid] = Value::from(Uuid::new_v4().to_string());
            f[h.name_label] = Value::from(hostname());
            f[h.name_description] = Value::String("xapid: disk images and block jobs".into());
            let r = Ref::new();
            reg.insert(h.class, r, f).wait().await?;
            r
        }
    };
    let version = env!("CARGO_PKG_VERSION");
    let ((), commit) = reg.update(h.class, host, Write::Durable, |f| {
        f[h.api_version_major] = Value::Int(API_VERSION.0);
        f[h.api_version_minor] = Value::Int(API_VERSION.1);
        f[h.api_version_vendor] = Value::String("xapid".into());
        f[h.software_version] = Value::Struct(vec![
            ("product_brand".into(), Value::from("xapid")),
            ("product_version".into(), Value::from(version)),
            (
                "xapi".into(),
                Value::from(format!("{}.{}", API_VERSION.0, API_VERSION.1)),
            ),
            ("xapid".into(), Value::from(version)),
        ]);
        f[h.enabled] = Value::Bool(true);
        f[h.hostname] = Value::from(hostname());
        f[h.address] = Value::String("127.0.0.1".into());
        Ok(())
    })?;
    commit.wait().await?;
    let pool = match reg.refs(p.class).into_iter().min() {
        Some(r) => r,
        None => {
            let mut f = model.default_row(p.class);
            f[p.uuid] = Value::from(Uuid::new_v4().to_string());
            f[p.master] = Value::Ref(host);
            let r = Ref::new();
            reg.insert(p.class, r, f).wait().await?;
            r
        }
    };
    Ok((host, pool))
}
