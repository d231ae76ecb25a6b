//! Property tests: garbage never panics the parsers or a negotiation.

use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::consts::*;
use super::super::{parse_option, parse_option_data, parse_request, Tls};
use super::support::*;

/// Options that are mostly well framed, with random codes and data.
fn options() -> impl Strategy<Value = Vec<u8>> {
    let one = (
        prop_oneof![0u32..12, any::<u32>()],
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(|(code, data, framed)| {
            let mut b = if framed {
                IHAVEOPT.to_be_bytes().to_vec()
            } else {
                vec![]
            };
            b.extend_from_slice(&code.to_be_bytes());
            b.extend_from_slice(&(data.len() as u32).to_be_bytes());
            b.extend_from_slice(&data);
            b
        });
    proptest::collection::vec(one, 0..8).prop_map(|v| v.concat())
}

fn run(mut input: Vec<u8>, after: Vec<u8>) {
    input.extend_from_slice(&after);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (c, h) = start(Mem::new("disk", 2, &[0]), Tls::Off);
        let (mut r, mut w) = tokio::io::split(c.io);
        let writer = async move {
            let _ = w.write_all(&1u32.to_be_bytes()).await;
            let _ = w.write_all(&input).await;
            let _ = w.shutdown().await;
        };
        let drain = async move {
            let mut sink = Vec::new();
            let _ = r.read_to_end(&mut sink).await;
        };
        let (_, _, res) = tokio::join!(writer, drain, h);
        // Any outcome but a panic.
        let _ = res.unwrap();
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300), code in any::<u32>()) {
        let _ = parse_option(&b);
        let _ = parse_request(&b);
        let _ = parse_option_data(code, &b);
        let _ = parse_option_data(code % 12, &b);
    }

    #[test]
    fn negotiation_never_panics(opts in options(), tail in proptest::collection::vec(any::<u8>(), 0..200)) {
        run(opts, tail);
    }

    #[test]
    fn transmission_never_panics(reqs in proptest::collection::vec(
        (any::<u16>(), 0u16..10, any::<u64>(), prop_oneof![0u64..200_000, any::<u64>()], prop_oneof![0u32..70_000, any::<u32>()]),
        0..12)) {
        // GO with structured replies and a context, then random requests.
        let mut b = Vec::new();
        for (code, data) in [
            (OPT_STRUCTURED_REPLY, vec![]),
            (OPT_SET_META_CONTEXT, meta_data("disk", &["base:allocation"])),
            (OPT_GO, info_data("disk", &[])),
        ] {
            b.extend_from_slice(&IHAVEOPT.to_be_bytes());
            b.extend_from_slice(&code.to_be_bytes());
            b.extend_from_slice(&(data.len() as u32).to_be_bytes());
            b.extend_from_slice(&data);
        }
        let mut t = Vec::new();
        for (flags, cmd, cookie, off, len) in reqs {
            t.extend_from_slice(&REQUEST_MAGIC.to_be_bytes());
            t.extend_from_slice(&flags.to_be_bytes());
            t.extend_from_slice(&cmd.to_be_bytes());
            t.extend_from_slice(&cookie.to_be_bytes());
            t.extend_from_slice(&off.to_be_bytes());
            t.extend_from_slice(&len.to_be_bytes());
        }
        run(b, t);
    }
}
