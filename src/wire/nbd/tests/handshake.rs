//! The handshake over an in-memory stream, byte by byte.

use std::future::Future;
use std::pin::Pin;

use tokio::io::{AsyncReadExt, DuplexStream};

use super::super::consts::*;
use super::super::{SessionError, Tls, TlsUpgrade};
use super::support::*;

fn img() -> std::sync::Arc<Mem> {
    Mem::new("disk", 4, &[1])
}

/// An "upgrade" that keeps the stream as it is.
fn identity() -> TlsUpgrade<DuplexStream> {
    Box::new(|s| {
        Box::pin(async move { Ok(Box::new(s) as super::super::BoxStream) })
            as Pin<Box<dyn Future<Output = _> + Send>>
    })
}

#[tokio::test]
async fn export_name_sends_124_zeroes_unless_no_zeroes() {
    for (flags, zeroes) in [(FLAG_C_FIXED_NEWSTYLE, 124), (3, 0), (0, 124)] {
        let (mut c, h) = start(img(), Tls::Off);
        c.greet(flags).await;
        c.opt(OPT_EXPORT_NAME, b"disk").await;
        assert_eq!(c.io.read_u64().await.unwrap(), 4 * BLOCK as u64);
        let f = c.io.read_u16().await.unwrap();
        assert_eq!(f, TF_HAS_FLAGS | TF_READ_ONLY | TF_CAN_MULTI_CONN);
        let mut z = vec![1u8; zeroes];
        c.io.read_exact(&mut z).await.unwrap();
        assert!(z.iter().all(|&b| b == 0));
        // Then transmission, simple replies: a read of 4 bytes.
        c.request(0, 0, 9, BLOCK as u64, 4).await;
        assert_eq!(c.simple().await, (0, 9));
        let mut d = [0u8; 4];
        c.io.read_exact(&mut d).await.unwrap();
        assert_ne!(d, [0; 4]);
        c.request(0, 2, 10, 0, 0).await;
        h.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn export_name_of_an_unknown_export_closes() {
    let (mut c, h) = start(img(), Tls::Off);
    c.greet(1).await;
    c.opt(OPT_EXPORT_NAME, b"nope").await;
    assert!(matches!(h.await.unwrap(), Err(SessionError::Refused(_))));
    let mut b = [0u8; 1];
    assert_eq!(c.io.read(&mut b).await.unwrap(), 0);
}

#[tokio::test]
async fn unknown_options_are_unsup_and_negotiation_goes_on() {
    let (mut c, _h) = start(img(), Tls::Off);
    c.greet(1).await;
    for code in [4, OPT_EXTENDED_HEADERS, 99, u32::MAX] {
        c.opt(code, b"xyz").await;
        let (o, k, _) = c.reply().await;
        assert_eq!((o, k), (code, REP_ERR_UNSUP));
    }
    c.opt(OPT_INFO, &info_data("disk", &[])).await;
    let (v, k) = c.replies().await;
    assert_eq!((v.len(), k), (1, REP_ACK));
}

#[tokio::test]
async fn abort_is_acked() {
    let (mut c, h) = start(img(), Tls::Off);
    c.greet(1).await;
    c.opt(OPT_ABORT, b"ignored").await;
    assert_eq!(c.reply().await.1, REP_ACK);
    assert!(matches!(h.await.unwrap(), Err(SessionError::Aborted)));
}

#[tokio::test]
async fn list_names_the_exports_and_rejects_data() {
    let (mut c, _h) = start(img(), Tls::Off);
    c.greet(1).await;
    c.opt(OPT_LIST, &[]).await;
    let (v, k) = c.replies().await;
    assert_eq!(k, REP_ACK);
    assert_eq!(v, vec![(REP_SERVER, b"\0\0\0\x04disk".to_vec())]);
    c.opt(OPT_LIST, b"x").await;
    assert_eq!(c.reply().await.1, REP_ERR_INVALID);
}

#[tokio::test]
async fn info_answers_what_is_asked() {
    let (mut c, _h) = start(img(), Tls::Off);
    c.greet(1).await;
    c.opt(
        OPT_INFO,
        &info_data("", &[INFO_NAME, INFO_BLOCK_SIZE, INFO_DESCRIPTION, 77]),
    )
    .await;
    let (v, k) = c.replies().await;
    assert_eq!(k, REP_ACK);
    let mut export = 4u16.to_be_bytes().to_vec(); // placeholder replaced below
    export.clear();
    export.extend_from_slice(&INFO_EXPORT.to_be_bytes());
    export.extend_from_slice(&(4 * BLOCK as u64).to_be_bytes());
    export.extend_from_slice(&(TF_HAS_FLAGS | TF_READ_ONLY | TF_CAN_MULTI_CONN).to_be_bytes());
    let mut bs = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
    for x in [1u32, 4096, 32 << 20] {
        bs.extend_from_slice(&x.to_be_bytes());
    }
    assert_eq!(
        v,
        vec![
            (REP_INFO, export),
            (REP_INFO, b"\0\x01disk".to_vec()),
            (REP_INFO, b"\0\x02test image".to_vec()),
            (REP_INFO, bs),
        ]
    );
    // Unknown export: ERR_UNKNOWN, and negotiation goes on.
    c.opt(OPT_GO, &info_data("nope", &[])).await;
    assert_eq!(c.replies().await, (vec![], REP_ERR_UNKNOWN));
    // Malformed: name longer than the data.
    c.opt(OPT_GO, &[0, 0, 0, 9, b'd']).await;
    assert_eq!(c.reply().await.1, REP_ERR_INVALID);
    c.opt(OPT_GO, &info_data("disk", &[])).await;
    assert_eq!(c.replies().await.1, REP_ACK);
}

#[tokio::test]
async fn meta_contexts_list_and_set() {
    let (mut c, _h) = start(img(), Tls::Off);
    c.greet(1).await;
    c.opt(
        OPT_SET_META_CONTEXT,
        &meta_data("disk", &["base:allocation"]),
    )
    .await;
    assert_eq!(
        c.reply().await.1,
        REP_ERR_INVALID,
        "before structured replies"
    );
    c.opt(OPT_STRUCTURED_REPLY, &[]).await;
    assert_eq!(c.reply().await.1, REP_ACK);
    let names = |v: Vec<(u32, Vec<u8>)>| -> Vec<(u32, String)> {
        v.into_iter()
            .map(|(_, d)| {
                let id = u32::from_be_bytes(d[..4].try_into().unwrap());
                (id, String::from_utf8(d[4..].to_vec()).unwrap())
            })
            .collect()
    };
    let all = [
        "base:allocation",
        "qemu:dirty-bitmap:b1",
        "qemu:allocation-depth",
    ];
    c.opt(OPT_LIST_META_CONTEXT, &meta_data("disk", &[])).await;
    let (v, k) = c.replies().await;
    assert_eq!(k, REP_ACK);
    assert_eq!(
        names(v),
        all.iter().map(|s| (0, s.to_string())).collect::<Vec<_>>()
    );
    c.opt(
        OPT_LIST_META_CONTEXT,
        &meta_data("disk", &["qemu:", "x-other:foo"]),
    )
    .await;
    let (v, _) = c.replies().await;
    assert_eq!(names(v), vec![(0, all[1].into()), (0, all[2].into())]);
    c.opt(OPT_LIST_META_CONTEXT, &meta_data("disk", &["base:"]))
        .await;
    assert_eq!(names(c.replies().await.0), vec![(0, all[0].into())]);
    c.opt(OPT_LIST_META_CONTEXT, &meta_data("disk", &["nocolon"]))
        .await;
    assert_eq!(c.reply().await.1, REP_ERR_INVALID);
    c.opt(OPT_LIST_META_CONTEXT, &meta_data("nope", &[])).await;
    assert_eq!(c.reply().await.1, REP_ERR_UNKNOWN);
    let q = [
        "qemu:",
        "qemu:dirty-bitmap:b1",
        "base:allocation",
        "base:other",
        "qemu:dirty-bitmap:b1",
    ];
    c.opt(OPT_SET_META_CONTEXT, &meta_data("disk", &q)).await;
    let (v, k) = c.replies().await;
    assert_eq!(k, REP_ACK);
    assert_eq!(names(v), vec![(1, all[1].into()), (2, all[0].into())]);
}

#[tokio::test]
async fn starttls_without_an_upgrade_is_policy() {
    let (mut c, _h) = start(img(), Tls::Off);
    c.greet(1).await;
    c.opt(OPT_STARTTLS, &[]).await;
    assert_eq!(c.reply().await.1, REP_ERR_POLICY);
    c.opt(OPT_LIST, &[]).await;
    assert_eq!(c.replies().await.1, REP_ACK);
}

#[tokio::test]
async fn starttls_upgrades_and_forgets_state() {
    let (mut c, _h) = start(img(), Tls::Optional(identity()));
    c.greet(1).await;
    c.opt(OPT_STRUCTURED_REPLY, &[]).await;
    assert_eq!(c.reply().await.1, REP_ACK);
    c.opt(OPT_STARTTLS, b"x").await;
    assert_eq!(c.reply().await.1, REP_ERR_INVALID);
    c.opt(OPT_STARTTLS, &[]).await;
    assert_eq!(c.reply().await.1, REP_ACK);
    // Structured replies were forgotten.
    c.opt(
        OPT_SET_META_CONTEXT,
        &meta_data("disk", &["base:allocation"]),
    )
    .await;
    assert_eq!(c.reply().await.1, REP_ERR_INVALID);
    c.opt(OPT_STARTTLS, &[]).await;
    assert_eq!(c.reply().await.1, REP_ERR_INVALID, "second STARTTLS");
}

#[tokio::test]
async fn forced_tls_refuses_options_until_the_upgrade() {
    let (mut c, _h) = start(img(), Tls::Required(identity()));
    c.greet(1).await;
    for code in [OPT_LIST, OPT_GO, 99] {
        c.opt(code, &[]).await;
        assert_eq!(c.reply().await.1, REP_ERR_TLS_REQD);
    }
    c.opt(OPT_STARTTLS, &[]).await;
    assert_eq!(c.reply().await.1, REP_ACK);
    c.opt(OPT_LIST, &[]).await;
    assert_eq!(c.replies().await.1, REP_ACK);

    let (mut c, h) = start(img(), Tls::Required(identity()));
    c.greet(1).await;
    c.opt(OPT_EXPORT_NAME, b"disk").await;
    assert!(matches!(h.await.unwrap(), Err(SessionError::Refused(_))));
}

#[tokio::test]
async fn long_options_are_skipped_absurd_ones_close() {
    let (mut c, h) = start(img(), Tls::Off);
    c.greet(1).await;
    c.opt(OPT_LIST, &vec![7u8; 100_000]).await;
    assert_eq!(c.reply().await.1, REP_ERR_TOO_BIG);
    c.opt(OPT_LIST, &[]).await;
    assert_eq!(c.replies().await.1, REP_ACK);
    // A header announcing 1 GiB closes the connection at once.
    let mut b = IHAVEOPT.to_be_bytes().to_vec();
    b.extend_from_slice(&OPT_LIST.to_be_bytes());
    b.extend_from_slice(&(1u32 << 30).to_be_bytes());
    tokio::io::AsyncWriteExt::write_all(&mut c.io, &b)
        .await
        .unwrap();
    assert!(matches!(h.await.unwrap(), Err(SessionError::Protocol(_))));
}

#[tokio::test]
async fn bad_magic_and_unknown_client_flags_close() {
    let (mut c, h) = start(img(), Tls::Off);
    c.greet(1 << 5).await;
    assert!(matches!(h.await.unwrap(), Err(SessionError::Protocol(_))));
    let (mut c, h) = start(img(), Tls::Off);
    c.greet(1).await;
    tokio::io::AsyncWriteExt::write_all(&mut c.io, &[0u8; 16])
        .await
        .unwrap();
    assert!(matches!(h.await.unwrap(), Err(SessionError::Protocol(_))));
}
