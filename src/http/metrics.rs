//! `GET /metrics`: the server's metrics in Prometheus' text format, for a
//! user holding at least `read-only` (`http/get_metrics`). A scraper names
//! itself by `?session_id=`, `Authorization: Bearer <session ref>`, or
//! HTTP basic auth of a user's name and password (checked without making a
//! session; a success is remembered a minute, so a scrape each second does
//! not pay the password hash each time). No credentials: 401 with a
//! `WWW-Authenticate` challenge; wrong ones: 401; a user without the
//! permission: 403.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};

use super::data::{query, refuse};
use super::rpc::{plain, Body};
use crate::api::Api;
use crate::domain::audit::Entry;
use crate::domain::sessions::{self, Identity};
use crate::domain::{roles, scrape};
use crate::error::ApiError;
use crate::metrics::Page;
use crate::wire::{base64, Value};

/// Prometheus' text exposition format, version 0.0.4.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How a request says who it is.
enum Credentials {
    Session(String),
    Basic(String, String),
    None,
}

fn credentials(req: &Request<Incoming>) -> Result<Credentials, &'static str> {
    if let Some(s) = query(req).session_id {
        return Ok(Credentials::Session(s));
    }
    let Some(h) = req.headers().get(AUTHORIZATION) else {
        return Ok(Credentials::None);
    };
    let h = h.to_str().map_err(|_| "unreadable Authorization header")?;
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Credentials::Session(rest.to_owned()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::decode(rest.as_bytes()).ok_or("Authorization: Basic is not base64")?;
        let text = String::from_utf8(raw).map_err(|_| "Authorization: Basic is not UTF-8")?;
        let (user, pw) = text
            .split_once(':')
            .ok_or("Authorization: Basic has no user:password")?;
        return Ok(Credentials::Basic(user.to_owned(), pw.to_owned()));
    }
    Err("Authorization must be Basic or Bearer")
}

fn challenge(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"xapid\", charset=\"UTF-8\""),
    );
    r
}

/// The handler.
pub async fn get(server: &Arc<Api>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let d = server.domain.clone();
    let who: Arc<Identity> = match credentials(&req) {
        Err(why) => return challenge(plain(StatusCode::UNAUTHORIZED, why)),
        Ok(Credentials::None) => {
            return challenge(plain(
                StatusCode::UNAUTHORIZED,
                "log in: ?session_id=, Authorization: Bearer <session ref>, or basic auth",
            ))
        }
        Ok(Credentials::Session(s)) => match sessions::check(&d, &Value::from(s.as_str())) {
            Ok(w) => w,
            Err(e) => return challenge(refuse(StatusCode::UNAUTHORIZED, &e)),
        },
        Ok(Credentials::Basic(user, pw)) => match sessions::verify(&d, &user, &pw).await {
            Ok(w) => Arc::new(w),
            Err(e) => {
                let named = Identity::named(&user);
                let mut entry = Entry::by("http/get_metrics", &named, Some(peer));
                entry.failed(&e);
                d.audit.record(&entry);
                return challenge(refuse(StatusCode::UNAUTHORIZED, &e));
            }
        },
    };
    if let Err(e) = roles::check_http(&d, &who, "get_metrics") {
        let mut entry = Entry::by("http/get_metrics", &who, Some(peer));
        entry.failed(&e);
        d.audit.record(&entry);
        return refuse(StatusCode::FORBIDDEN, &e);
    }
    // The tables are walked (and the SRs' file systems asked for their
    // space) off the RPC threads.
    let s = server.clone();
    let text = tokio::task::spawn_blocking(move || {
        let mut page = Page::new();
        s.calls.write(&s.methods, &mut page);
        scrape::write(&s.domain, &mut page);
        page.render()
    })
    .await;
    match text {
        Ok(text) => {
            let mut r = plain(StatusCode::OK, "");
            *r.body_mut() = Body::full(text);
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
            r
        }
        Err(e) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            &ApiError::internal(e.to_string()),
        ),
    }
}
