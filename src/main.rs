//! The `xapid` binary: parse the command line, run the server until SIGTERM
//! or Ctrl-C.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use xapid::Config;

// mimalloc: fewer and cheaper allocator calls on the hot paths (an
// event.from fan-out, a 100k-object reply) and less memory per task and per
// waiting connection than glibc's malloc (docs/performance.md).
#[global_allocator]
static ALLOC: Alloc = Alloc;

/// mimalloc, asked through its plain `malloc` where the layout needs no
/// more than it always gives (16-byte alignment, and natural alignment for
/// smaller sizes), as Rust's own `System` allocator does with glibc; the
/// `mimalloc` crate's allocator passes every request through
/// `mi_malloc_aligned`, whose generic path costs about 100 instructions
/// more for any block over 1 KiB (a fifth of xapid's allocator time per
/// RPC call, by callgrind).
struct Alloc;

/// The alignment `mi_malloc` guarantees for blocks of at least this size.
const MIN_ALIGN: usize = 16;

fn plain(align: usize, size: usize) -> bool {
    align <= MIN_ALIGN && align <= size
}

// SAFETY: every block comes from mimalloc and goes back to it (`mi_free`
// takes blocks from every entry point); the plain entry points are used
// only where their alignment is enough for the layout.
unsafe impl std::alloc::GlobalAlloc for Alloc {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_malloc, mi_malloc_aligned};
        if plain(layout.align(), layout.size()) {
            // SAFETY: see the impl.
            unsafe { mi_malloc(layout.size()) }.cast()
        } else {
            // SAFETY: see the impl.
            unsafe { mi_malloc_aligned(layout.size(), layout.align()) }.cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_zalloc, mi_zalloc_aligned};
        if plain(layout.align(), layout.size()) {
            // SAFETY: see the impl.
            unsafe { mi_zalloc(layout.size()) }.cast()
        } else {
            // SAFETY: see the impl.
            unsafe { mi_zalloc_aligned(layout.size(), layout.align()) }.cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from this allocator.
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) };
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        use libmimalloc_sys::{mi_realloc, mi_realloc_aligned};
        if plain(layout.align(), new_size) {
            // SAFETY: `ptr` came from this allocator.
            unsafe { mi_realloc(ptr.cast(), new_size) }.cast()
        } else {
            // SAFETY: `ptr` came from this allocator.
            unsafe { mi_realloc_aligned(ptr.cast(), new_size, layout.align()) }.cast()
        }
    }
}

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
