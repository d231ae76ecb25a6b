//! Transmission over an in-memory stream.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::consts::*;
use super::super::transmission::clip;
use super::super::{Extent, SessionError, Tls};
use super::support::*;

fn img() -> std::sync::Arc<Mem> {
    Mem::new("disk", 4, &[1])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().unwrap())
}

#[tokio::test]
async fn structured_read_block_status_and_errors() {
    let mem = img();
    let (mut c, h) = start(mem.clone(), Tls::Off);
    c.go("disk", true).await;
    let b = BLOCK as u64;
    // READ: one OFFSET_DATA chunk with DONE.
    c.request(0, 0, 1, b + 10, 100).await;
    let (f, t, ck, d) = c.chunk().await;
    assert_eq!((f, t, ck), (REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, 1));
    assert_eq!(&d[..8], &(b + 10).to_be_bytes());
    assert_eq!(&d[8..], &mem.bytes[BLOCK + 10..BLOCK + 110]);
    // READ with DF (SEND_DF was offered).
    c.request(CMD_FLAG_DF, 0, 2, 0, 8).await;
    assert_eq!(c.chunk().await.1, REPLY_TYPE_OFFSET_DATA);
    // Past the end: an error chunk EINVAL.
    c.request(0, 0, 3, 4 * b - 1, 2).await;
    let (f, t, ck, d) = c.chunk().await;
    assert_eq!(
        (f, t, ck, be32(&d)),
        (REPLY_FLAG_DONE, REPLY_TYPE_ERROR, 3, EINVAL)
    );
    // Too long.
    c.request(0, 0, 4, 0, MAX_PAYLOAD + 1).await;
    assert_eq!(be32(&c.chunk().await.3), EINVAL);
    // BLOCK_STATUS: hole, data, hole (merged to the end of the request).
    c.request(0, 7, 5, 0, (4 * b) as u32).await;
    let (f, t, ck, d) = c.chunk().await;
    assert_eq!((f, t, ck), (REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, 5));
    let words: Vec<u32> = d.chunks(4).map(be32).collect();
    let b32 = b as u32;
    assert_eq!(words, vec![1, b32, 3, b32, 0, 2 * b32, 3]);
    // REQ_ONE: one extent, not longer than asked.
    c.request(CMD_FLAG_REQ_ONE, 7, 6, 10, 100).await;
    let words: Vec<u32> = c.chunk().await.3.chunks(4).map(be32).collect();
    assert_eq!(words, vec![1, 100, 3]);
    // Writes: EPERM, a write's payload is skipped.
    c.request(0, 1, 7, 0, 5).await;
    c.io.write_all(b"hello").await.unwrap();
    assert_eq!(be32(&c.chunk().await.3), EPERM);
    for cmd in [4u16, 6] {
        c.request(0, cmd, 8, 0, 5).await;
        assert_eq!(be32(&c.chunk().await.3), EPERM);
    }
    // CACHE, unknown commands, unknown flags: EINVAL.
    for (flags, cmd) in [(0u16, 5u16), (0, 42), (1 << 9, 0), (CMD_FLAG_REQ_ONE, 0)] {
        c.request(flags, cmd, 9, 0, 5).await;
        let (_, t, _, d) = c.chunk().await;
        assert_eq!((t, be32(&d)), (REPLY_TYPE_ERROR, EINVAL));
    }
    // FLUSH: success.
    c.request(0, 3, 10, 0, 0).await;
    assert_eq!(c.chunk().await.1, REPLY_TYPE_NONE);
    // Pipelined reads are answered in order.
    for ck in 20..30 {
        c.request(0, 0, ck, 0, 16).await;
    }
    for ck in 20..30 {
        assert_eq!(c.chunk().await.2, ck);
    }
    c.request(0, 2, 11, 0, 0).await;
    h.await.unwrap().unwrap();
}

#[tokio::test]
async fn simple_replies_and_no_contexts() {
    let (mut c, h) = start(img(), Tls::Off);
    c.go("disk", false).await;
    c.request(0, 0, 1, 4 * BLOCK as u64, 1).await;
    assert_eq!(c.simple().await, (EINVAL, 1));
    c.request(0, 7, 2, 0, 512).await;
    assert_eq!(
        c.simple().await,
        (EINVAL, 2),
        "block status without contexts"
    );
    c.request(CMD_FLAG_DF, 0, 3, 0, 512).await;
    assert_eq!(
        c.simple().await,
        (EINVAL, 3),
        "DF without structured replies"
    );
    c.request(0, 0, 4, 0, 0).await;
    assert_eq!(c.simple().await, (0, 4));
    c.request(0, 0, 5, 0, 3).await;
    assert_eq!(c.simple().await, (0, 5));
    let mut d = [9u8; 3];
    c.io.read_exact(&mut d).await.unwrap();
    assert_eq!(d, [0, 0, 0]);
    drop(c);
    h.await.unwrap().unwrap();
}

#[tokio::test]
async fn bad_request_magic_closes() {
    let (mut c, h) = start(img(), Tls::Off);
    c.go("disk", false).await;
    c.io.write_all(&[0x21, 0xe4, 0x1c, 0x71]).await.unwrap();
    c.io.write_all(&[0u8; 24]).await.unwrap();
    assert!(matches!(h.await.unwrap(), Err(SessionError::Protocol(_))));
}

#[tokio::test]
async fn huge_write_closes() {
    let (mut c, h) = start(img(), Tls::Off);
    c.go("disk", false).await;
    c.request(0, 1, 1, 0, u32::MAX).await;
    assert!(matches!(h.await.unwrap(), Err(SessionError::Protocol(_))));
}

#[test]
fn clip_makes_extents_valid() {
    let e = |length, flags| Extent { length, flags };
    // Empty extents dropped; stops once the request is covered; the last
    // one cut at the end of the export.
    let v = vec![e(0, 1), e(10, 0), e(100, 3), e(5, 0)];
    assert_eq!(
        clip(v.clone(), 50, 60, false),
        Some(vec![e(10, 0), e(50, 3)])
    );
    assert_eq!(
        clip(v.clone(), 50, 1000, false),
        Some(vec![e(10, 0), e(100, 3)])
    );
    assert_eq!(clip(v.clone(), 5, 1000, true), Some(vec![e(5, 0)]));
    assert_eq!(clip(vec![e(0, 0)], 5, 10, false), None);
    assert_eq!(clip(vec![], 5, 10, false), None);
}
