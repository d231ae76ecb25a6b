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
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
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
        let running = xapid::start(config).await?;
        wait_for_signal().await;
        tracing::info!("shutting down");
        running.shutdown().await;
        anyhow::Ok(())
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
