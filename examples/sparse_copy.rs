//! `cargo run --release --example sparse_copy SRC DST`: copies a raw image
//! with xapid's sparse-aware copier, for timing against
//! `qemu-img convert -t writeback -O raw SRC DST`.

use std::fs::File;
use std::ops::ControlFlow;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (src, dst) = (&args[1], &args[2]);
    let src = File::open(src)?;
    let len = src.metadata()?.len();
    let dst = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dst)?;
    let t = std::time::Instant::now();
    let end = xapid::storage::sparse::copy(&src, &dst, len, |_, _| ControlFlow::Continue(()))?;
    eprintln!("{end:?} in {:?}", t.elapsed());
    Ok(())
}
