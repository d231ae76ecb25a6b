//! The `xapid` binary: parse the command line, run the server until SIGTERM
//! or Ctrl-C.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use xapid::Config;

// mimalloc: fewer and cheaper allocator calls on the hot paths (an
// event.from fan-out, a 100k-object reply) and less memory per task and per
// waiting connection than glibc's malloc (docs/performance.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "xapid",
    version,
    about = "A XenAPI-compatible server for disk images and block jobs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve XenAPI over XML-RPC and JSON-RPC.
    Serve {
        /// Address of the plain-HTTP listener [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Address of the HTTPS listener [default: 127.0.0.1:8443].
        #[arg(long)]
        listen_tls: Option<std::net::SocketAddr>,
        /// Address of the NBD server, or `off` [default: 127.0.0.1:10809].
        #[arg(long, value_name = "ADDR")]
        nbd_listen: Option<String>,
        /// Serve plain HTTP on an address that is not loopback (refused
        /// without this flag).
        #[arg(long)]
        allow_plain_http: bool,
        /// The server certificate (PEM, the leaf then its chain) instead of
        /// the one generated into the state directory; with --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Directory for the durable store and generated secrets
        /// [default: ./xapid-state].
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// A storage repository: NAME=DIR (repeatable).
        #[arg(long = "sr", value_parser = Config::parse_sr)]
        srs: Vec<(String, PathBuf)>,
        /// A TOML config file (see docs/configuration.md).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    // No transparent huge pages for this process: with them, the few KiB
    // an idle connection (a client waiting in event.from) touches are
    // backed by shares of 2 MiB pages, and resident memory per waiting
    // client goes from ~16 to ~33 KiB (docs/performance.md).
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let Command::Serve {
        listen,
        listen_tls,
        nbd_listen,
        allow_plain_http,
        tls_cert,
        tls_key,
        state_dir,
        srs,
        config: file,
    } = cli.command;
    let mut config = Config::default();
    if let Some(f) = file {
        config.apply_file(&f)?;
    }
    if let Some(l) = listen {
        config.listen = l;
    }
    if let Some(l) = listen_tls {
        config.listen_tls = l;
    }
    if let Some(l) = nbd_listen {
        config.nbd_listen = Config::parse_nbd_listen(&l).map_err(anyhow::Error::msg)?;
    }
    config.allow_plain_http |= allow_plain_http;
    if tls_cert.is_some() {
        config.tls_cert = tls_cert;
        config.tls_key = tls_key;
    }
    if let Some(d) = state_dir {
        config.state_dir = d;
    }
    config.srs.extend(srs);
    if let Ok(pw) = std::env::var("XAPID_ROOT_PASSWORD") {
        if !pw.is_empty() {
            config.root_password = Some(pw);
        }
    }
    // One CPU to run on (e.g. under taskset): a single-threaded runtime
    // avoids the work-stealing scheduler's cross-thread wake-ups. Image I/O
    // never runs on these threads either way (it uses blocking threads).
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("xapid-rpc")
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("xapid-rpc")
            .build()?
    };
    rt.block_on(async move {
        // Handled from before the log says "listening": a SIGTERM sent as
        // soon as that line appears stops the server cleanly.
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let running = xapid::start(config).await?;
        wait_for_signal(term).await;
        tracing::info!("shutting down");
        running.shutdown().await;
        anyhow::Ok(())
    })
}

async fn wait_for_signal(term: Option<tokio::signal::unix::Signal>) {
    let Some(mut term) = term else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
