//! The web view: `GET /` and its assets, built into the binary from `web/`
//! (no CDN, no build step; the same on both listeners).
//!
//! The page is static: it logs in and talks to the server over JSON-RPC on
//! `POST /jsonrpc` like any other client (`event.from` in a loop for live
//! updates), so this module only hands out files. Every answer carries a
//! strict Content-Security-Policy (`default-src 'self'`, no inline script),
//! and an `ETag` (a hash of the file, fixed at build time) so that a
//! browser revalidates with `If-None-Match` and gets a 304.

use hyper::header::{
    HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{HeaderMap, Response, StatusCode};

use super::rpc::Body;

/// One file of the page.
struct Asset {
    /// Its path, as requested.
    path: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its bytes.
    body: &'static [u8],
    /// Its `ETag` value (quoted), a hash of `body`.
    etag: &'static str,
}

/// FNV-1a, 64 bits: the ETag of an asset (computed at compile time).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// `"` + 16 hex digits of `h` + `"`.
const fn etag_bytes(h: u64) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = HEX[((h >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

/// Declares the assets: each a file of `web/`, its content type, and its
/// ETag computed from its bytes at compile time.
macro_rules! assets {
    ($(($path:literal, $file:literal, $ctype:literal)),* $(,)?) => {
        &[$({
            const BODY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $file));
            const TAG: [u8; 18] = etag_bytes(fnv1a(BODY));
            Asset {
                path: $path,
                content_type: $ctype,
                body: BODY,
                etag: match std::str::from_utf8(&TAG) {
                    Ok(s) => s,
                    Err(_) => panic!("an ETag is ASCII"),
                },
            }
        }),*]
    };
}

/// Every file the page is made of.
static ASSETS: &[Asset] = assets![
    ("/", "index.html", "text/html; charset=utf-8"),
    ("/index.html", "index.html", "text/html; charset=utf-8"),
    ("/app.js", "app.js", "text/javascript; charset=utf-8"),
    ("/tasks.js", "tasks.js", "text/javascript; charset=utf-8"),
    ("/views.js", "views.js", "text/javascript; charset=utf-8"),
    ("/app.css", "app.css", "text/css; charset=utf-8"),
    ("/favicon.svg", "favicon.svg", "image/svg+xml"),
];

/// The page's Content-Security-Policy: its own files only, no inline
/// script or style, no framing, no form posts elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether `path` is one of the page's files (`/`, `/app.js`, ...).
pub fn is_asset(path: &str) -> bool {
    find(path).is_some()
}

/// Answers `GET`/`HEAD` of an asset: 200 with the file, or 304 when the
/// client's `If-None-Match` names its ETag; 404 for any other path.
pub fn serve(path: &str, headers: &HeaderMap) -> Response<Body> {
    let Some(a) = find(path) else {
        return super::rpc::plain(StatusCode::NOT_FOUND, "not found");
    };
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag || t.trim() == "*"));
    let mut r = if fresh {
        let mut r = Response::new(Body::full(Vec::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::full(a.body));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(a.content_type));
        r
    };
    let h = r.headers_mut();
    h.insert(ETAG, HeaderValue::from_static(a.etag));
    // Revalidated on every load: an upgraded server serves its new page.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_with_its_type_and_etag() {
        for a in ASSETS {
            assert!(is_asset(a.path));
            assert!(!a.body.is_empty(), "{}", a.path);
            let r = serve(a.path, &HeaderMap::new());
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()[CONTENT_TYPE], a.content_type);
            assert_eq!(r.headers()[ETAG], a.etag);
            assert!(r.headers()[CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("default-src 'self'"));
            let mut h = HeaderMap::new();
            h.insert(IF_NONE_MATCH, HeaderValue::from_static(a.etag));
            assert_eq!(serve(a.path, &h).status(), StatusCode::NOT_MODIFIED);
        }
        assert!(!is_asset("/nope"));
        assert_eq!(
            serve("/nope", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn the_page_has_no_inline_script_and_no_remote_resource() {
        let html = std::str::from_utf8(find("/").unwrap().body).unwrap();
        assert!(html.contains("<script src=\"app.js\""));
        assert!(!html.contains("<script>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains(" style="));
        for handler in ["onclick=", "onload=", "onsubmit=", "onerror=", "oninput="] {
            assert!(!html.contains(handler), "{handler}");
        }
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(&etag_bytes(0x0123_4567_89ab_cdef), b"\"0123456789abcdef\"");
    }
}
