//! Command line + config file + environment -> one [`Config`].
//!
//! Precedence: command-line flags, then the config file, then built-in
//! defaults; the root password comes from `XAPID_ROOT_PASSWORD`, then the
//! config file, then the state directory (generated on first start).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::wire::Limits;

/// Everything the server needs to know to start.
#[derive(Clone)]
pub struct Config {
    /// Address of the plain-HTTP listener (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Address of the HTTPS listener (port 0 picks a free port).
    pub listen_tls: SocketAddr,
    /// Serve plain HTTP on an address that is not loopback. Off: such a
    /// `listen` refuses to start.
    pub allow_plain_http: bool,
    /// The operator's certificate (PEM, the leaf then its chain), instead
    /// of the one in `<state-dir>/tls/`; given with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// The operator's private key (PEM), with `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// A TLS client that has not finished its handshake this long after
    /// connecting is dropped.
    pub tls_handshake_timeout: Duration,
    /// Address of the NBD server (`None`: off; port 0 picks a free port).
    pub nbd_listen: Option<SocketAddr>,
    /// Most simultaneous NBD connections.
    pub nbd_max_connections: usize,
    /// Where the durable store and generated secrets live.
    pub state_dir: PathBuf,
    /// Storage repositories: name and directory.
    pub srs: Vec<(String, PathBuf)>,
    /// The root password, if given by environment or config file.
    pub root_password: Option<String>,
    /// A session unused this long is destroyed.
    pub session_idle_timeout: Duration,
    /// Most live sessions per originator; the least recently active are
    /// evicted beyond it.
    pub max_sessions_per_originator: usize,
    /// Finished tasks nobody destroyed are deleted this long after they
    /// finished.
    pub task_retention: Duration,
    /// How often expired sessions and old tasks are collected.
    pub gc_interval: Duration,
    /// The delay before answering the first failed login of a user; it
    /// doubles with each further consecutive failure, up to
    /// `login_failure_max_delay`.
    pub login_failure_delay: Duration,
    /// Upper bound of the failed-login delay.
    pub login_failure_max_delay: Duration,
    /// Most simultaneous client connections.
    pub max_connections: usize,
    /// Most connections accepted beyond `max_connections` that wait for a
    /// place; one more is refused at once (503 on plain HTTP, closed on TLS).
    pub max_waiting_connections: usize,
    /// How long a waiting connection waits for a place before it is refused.
    pub connection_wait: Duration,
    /// A request's headers must arrive within this long (also how long a
    /// keep-alive connection may stay idle between requests).
    pub header_read_timeout: Duration,
    /// A request body (an RPC's, an import's) that sends nothing for this
    /// long is given up.
    pub body_idle_timeout: Duration,
    /// A client that takes nothing of a reply for this long is disconnected.
    pub write_stall_timeout: Duration,
    /// Largest RPC request body, in bytes.
    pub max_body_bytes: usize,
    /// XML/JSON structure bounds.
    pub limits: Limits,
    /// How long shutdown waits for in-flight calls.
    pub shutdown_grace: Duration,
    /// Honour `VDI.other_config:xapid-fault` (injected I/O errors, for
    /// testing error policies). Off unless the config file turns it on.
    pub fault_injection: bool,
    /// How many changes the event log keeps (older event.from tokens fall
    /// back to a scan; event.next readers that fall behind get EVENTS_LOST).
    pub event_log_capacity: usize,
    /// The audit log is rotated when it would grow past this many bytes.
    pub audit_log_max_bytes: u64,
    /// How many rotated audit logs are kept (`audit.log.1` ... `.N`).
    pub audit_log_keep: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("listen_tls", &self.listen_tls)
            .field("tls_cert", &self.tls_cert)
            .field("state_dir", &self.state_dir)
            .field("srs", &self.srs)
            .field(
                "root_password",
                &self.root_password.as_ref().map(|_| "<set>"),
            )
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field(
                "max_sessions_per_originator",
                &self.max_sessions_per_originator,
            )
            .field("task_retention", &self.task_retention)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            listen_tls: SocketAddr::from(([127, 0, 0, 1], 8443)),
            allow_plain_http: false,
            tls_cert: None,
            tls_key: None,
            tls_handshake_timeout: Duration::from_secs(10),
            nbd_listen: Some(SocketAddr::from(([127, 0, 0, 1], 10809))),
            nbd_max_connections: 64,
            state_dir: PathBuf::from("xapid-state"),
            srs: Vec::new(),
            root_password: None,
            session_idle_timeout: Duration::from_secs(24 * 3600),
            max_sessions_per_originator: 500,
            task_retention: Duration::from_secs(3 * 24 * 3600),
            gc_interval: Duration::from_secs(30),
            login_failure_delay: Duration::from_secs(2),
            login_failure_max_delay: Duration::from_secs(30),
            max_connections: 1024,
            max_waiting_connections: 1024,
            connection_wait: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(60),
            body_idle_timeout: Duration::from_secs(60),
            write_stall_timeout: Duration::from_secs(60),
            max_body_bytes: 1 << 20,
            limits: Limits::default(),
            shutdown_grace: Duration::from_secs(10),
            fault_injection: false,
            event_log_capacity: crate::registry::events::CAPACITY,
            audit_log_max_bytes: 16 << 20,
            audit_log_keep: 4,
        }
    }
}

/// The config file (TOML). Every key is optional.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `fault_injection = true`: honour `VDI.other_config:xapid-fault`
    /// (tests of error policies only).
    pub fault_injection: Option<bool>,
    /// `event_log_capacity = 1048576`
    pub event_log_capacity: Option<usize>,
    /// `listen = "127.0.0.1:8080"`
    pub listen: Option<SocketAddr>,
    /// `listen_tls = "127.0.0.1:8443"`
    pub listen_tls: Option<SocketAddr>,
    /// `allow_plain_http = true`: plain HTTP on a non-loopback address.
    pub allow_plain_http: Option<bool>,
    /// `tls_cert = "/etc/xapid/cert.pem"`
    pub tls_cert: Option<PathBuf>,
    /// `tls_key = "/etc/xapid/key.pem"`
    pub tls_key: Option<PathBuf>,
    /// seconds
    pub tls_handshake_timeout_secs: Option<f64>,
    /// `nbd_listen = "127.0.0.1:10809"` or `"off"`
    pub nbd_listen: Option<String>,
    /// count
    pub nbd_max_connections: Option<usize>,
    /// `state_dir = "/var/lib/xapid"`
    pub state_dir: Option<PathBuf>,
    /// `[sr] name = "/dir"`
    #[serde(default)]
    pub sr: std::collections::BTreeMap<String, PathBuf>,
    /// `root_password = "..."`
    pub root_password: Option<String>,
    /// seconds
    pub session_idle_timeout_secs: Option<f64>,
    /// count
    pub max_sessions_per_originator: Option<usize>,
    /// seconds
    pub task_retention_secs: Option<f64>,
    /// seconds
    pub gc_interval_secs: Option<f64>,
    /// seconds
    pub login_failure_delay_secs: Option<f64>,
    /// seconds
    pub login_failure_max_delay_secs: Option<f64>,
    /// count
    pub max_connections: Option<usize>,
    /// count
    pub max_waiting_connections: Option<usize>,
    /// seconds
    pub connection_wait_secs: Option<f64>,
    /// seconds
    pub header_read_timeout_secs: Option<f64>,
    /// seconds
    pub body_idle_timeout_secs: Option<f64>,
    /// seconds
    pub write_stall_timeout_secs: Option<f64>,
    /// bytes
    pub max_body_bytes: Option<usize>,
    /// levels
    pub max_xml_depth: Option<usize>,
    /// count
    pub max_xml_elements: Option<usize>,
    /// seconds
    pub shutdown_grace_secs: Option<f64>,
    /// bytes
    pub audit_log_max_bytes: Option<u64>,
    /// count
    pub audit_log_keep: Option<usize>,
}

fn secs(v: f64, key: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| anyhow::anyhow!("{key}: not a valid number of seconds"))
}

impl Config {
    /// Applies a config file on top of `self`.
    pub fn apply_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        let f: FileConfig = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("config file {}: {}", path.display(), e.message()))?;
        self.apply(f)
    }

    /// Applies parsed config-file values.
    pub fn apply(&mut self, f: FileConfig) -> anyhow::Result<()> {
        if let Some(v) = f.listen {
            self.listen = v;
        }
        if let Some(v) = f.listen_tls {
            self.listen_tls = v;
        }
        if let Some(v) = f.allow_plain_http {
            self.allow_plain_http = v;
        }
        if f.tls_cert.is_some() {
            self.tls_cert = f.tls_cert;
        }
        if let Some(v) = f.nbd_listen {
            self.nbd_listen = Config::parse_nbd_listen(&v).map_err(anyhow::Error::msg)?;
        }
        if let Some(v) = f.nbd_max_connections {
            anyhow::ensure!(v > 0, "nbd_max_connections must be at least 1");
            self.nbd_max_connections = v;
        }
        if f.tls_key.is_some() {
            self.tls_key = f.tls_key;
        }
        if let Some(v) = f.tls_handshake_timeout_secs {
            self.tls_handshake_timeout = secs(v, "tls_handshake_timeout_secs")?;
            anyhow::ensure!(
                !self.tls_handshake_timeout.is_zero(),
                "tls_handshake_timeout_secs must be positive"
            );
        }
        if let Some(v) = f.state_dir {
            self.state_dir = v;
        }
        self.srs.extend(f.sr);
        if f.root_password.is_some() {
            self.root_password = f.root_password;
        }
        if let Some(v) = f.session_idle_timeout_secs {
            self.session_idle_timeout = secs(v, "session_idle_timeout_secs")?;
        }
        if let Some(v) = f.max_sessions_per_originator {
            anyhow::ensure!(v > 0, "max_sessions_per_originator must be at least 1");
            self.max_sessions_per_originator = v;
        }
        if let Some(v) = f.task_retention_secs {
            self.task_retention = secs(v, "task_retention_secs")?;
        }
        if let Some(v) = f.gc_interval_secs {
            self.gc_interval = secs(v, "gc_interval_secs")?;
            anyhow::ensure!(
                !self.gc_interval.is_zero(),
                "gc_interval_secs must be positive"
            );
        }
        if let Some(v) = f.login_failure_delay_secs {
            self.login_failure_delay = secs(v, "login_failure_delay_secs")?;
        }
        if let Some(v) = f.login_failure_max_delay_secs {
            self.login_failure_max_delay = secs(v, "login_failure_max_delay_secs")?;
        }
        if let Some(v) = f.max_connections {
            anyhow::ensure!(v > 0, "max_connections must be at least 1");
            self.max_connections = v;
        }
        if let Some(v) = f.max_waiting_connections {
            self.max_waiting_connections = v;
        }
        if let Some(v) = f.connection_wait_secs {
            self.connection_wait = secs(v, "connection_wait_secs")?;
        }
        for (v, key, field) in [
            (
                f.header_read_timeout_secs,
                "header_read_timeout_secs",
                &mut self.header_read_timeout,
            ),
            (
                f.body_idle_timeout_secs,
                "body_idle_timeout_secs",
                &mut self.body_idle_timeout,
            ),
            (
                f.write_stall_timeout_secs,
                "write_stall_timeout_secs",
                &mut self.write_stall_timeout,
            ),
        ] {
            if let Some(v) = v {
                *field = secs(v, key)?;
                anyhow::ensure!(!field.is_zero(), "{key} must be positive");
            }
        }
        if let Some(v) = f.max_body_bytes {
            self.max_body_bytes = v;
        }
        if let Some(v) = f.max_xml_depth {
            self.limits.max_depth = v;
        }
        if let Some(v) = f.max_xml_elements {
            self.limits.max_elements = v;
        }
        if let Some(v) = f.fault_injection {
            self.fault_injection = v;
        }
        if let Some(v) = f.event_log_capacity {
            anyhow::ensure!(v > 0, "event_log_capacity must be at least 1");
            self.event_log_capacity = v;
        }
        if let Some(v) = f.audit_log_max_bytes {
            anyhow::ensure!(v >= 4096, "audit_log_max_bytes must be at least 4096");
            self.audit_log_max_bytes = v;
        }
        if let Some(v) = f.audit_log_keep {
            self.audit_log_keep = v;
        }
        if let Some(v) = f.shutdown_grace_secs {
            self.shutdown_grace = secs(v, "shutdown_grace_secs")?;
        }
        Ok(())
    }

    /// Refuses what must not start: plain HTTP on an address other than
    /// loopback without `allow_plain_http` (passwords and session refs
    /// would cross the network in clear), half of a certificate and key.
    pub fn check(&self) -> anyhow::Result<()> {
        if !self.listen.ip().is_loopback() && !self.allow_plain_http {
            anyhow::bail!(
                "refusing to serve plain HTTP on {}, which is not a loopback address: passwords \
                 and session references would cross the network in clear. Clients can use \
                 https://{}/; to serve plain HTTP there anyway, pass --allow-plain-http \
                 (config file: allow_plain_http = true)",
                self.listen,
                self.listen_tls
            );
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => anyhow::bail!("--tls-cert needs --tls-key (config: tls_key)"),
            (None, Some(_)) => anyhow::bail!("--tls-key needs --tls-cert (config: tls_cert)"),
            _ => {}
        }
        anyhow::ensure!(
            self.listen != self.listen_tls || self.listen.port() == 0,
            "--listen and --listen-tls are the same address ({})",
            self.listen
        );
        Ok(())
    }

    /// Parses the NBD server's address: `ADDR` or `off`.
    pub fn parse_nbd_listen(s: &str) -> Result<Option<SocketAddr>, String> {
        if s == "off" {
            return Ok(None);
        }
        s.parse()
            .map(Some)
            .map_err(|_| format!("expected ADDR:PORT or off, got {s:?}"))
    }

    /// Parses `NAME=DIR`.
    pub fn parse_sr(s: &str) -> Result<(String, PathBuf), String> {
        let (name, dir) = s
            .split_once('=')
            .ok_or_else(|| format!("expected NAME=DIR, got {s:?}"))?;
        if name.is_empty() || dir.is_empty() {
            return Err(format!("expected NAME=DIR, got {s:?}"));
        }
        Ok((name.to_owned(), PathBuf::from(dir)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_apply() {
        let mut c = Config::default();
        let f: FileConfig = toml::from_str(
            "listen = \"127.0.0.1:0\"\nsession_idle_timeout_secs = 5\n[sr]\nlocal = \"/srv\"\n",
        )
        .unwrap();
        c.apply(f).unwrap();
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.session_idle_timeout, Duration::from_secs(5));
        assert_eq!(c.srs, vec![("local".to_string(), PathBuf::from("/srv"))]);
        assert!(toml::from_str::<FileConfig>("nope = 1").is_err());
    }

    #[test]
    fn plain_http_off_loopback_must_be_asked_for() {
        let mut c = Config::default();
        assert!(c.check().is_ok());
        c.listen = "0.0.0.0:8080".parse().unwrap();
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("--allow-plain-http"), "{e}");
        c.allow_plain_http = true;
        assert!(c.check().is_ok());
        c.listen = "[::1]:0".parse().unwrap();
        c.allow_plain_http = false;
        c.listen_tls = "0.0.0.0:443".parse().unwrap();
        assert!(c.check().is_ok());
        c.tls_cert = Some("c.pem".into());
        assert!(c.check().unwrap_err().to_string().contains("--tls-key"));
        let f: FileConfig = toml::from_str(
            "listen_tls = \"127.0.0.1:0\"\nallow_plain_http = true\ntls_handshake_timeout_secs = 0.5\ntls_key = \"k.pem\"\n",
        )
        .unwrap();
        c.apply(f).unwrap();
        assert!(c.allow_plain_http && c.check().is_ok());
        assert_eq!(c.tls_handshake_timeout, Duration::from_millis(500));
        let f: FileConfig = toml::from_str("tls_handshake_timeout_secs = 0\n").unwrap();
        assert!(c.apply(f).is_err());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = Config {
            root_password: Some("hunter2".into()),
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
