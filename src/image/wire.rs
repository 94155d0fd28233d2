//! Bodies on the wire for the registry client: a request sent with its answer's body left unread
//! (a blob streams on from there), and a body read whole.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A request or answer body: whole bytes or a stream (a blob on its way from one registry to
/// another).
pub(super) type Body = BoxBody<Bytes, BoxError>;
pub(super) type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// An error with its sources (hyper's say "client error (Connect)" and keep the cause below).
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

/// A body read whole, up to `limit` bytes, within `timeout`.
pub(super) async fn collect(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, String> {
    tokio::time::timeout(timeout, http_body_util::Limited::new(body, limit).collect())
        .await
        .map_err(|_| format!("no body in {}s", timeout.as_secs()))?
        .map(|b| b.to_bytes())
        .map_err(|e| e.to_string())
}

/// One request, no auth handling, no timeout: the answer with its body unread. Without a
/// `length` the body goes out in chunked transfer encoding, as it comes.
#[allow(clippy::too_many_arguments)]
pub(super) async fn send_raw(
    client: &HttpsClient,
    method: &Method,
    url: &str,
    accept: Option<&str>,
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: Body,
    length: Option<u64>,
) -> Result<(StatusCode, HeaderMap, Body), String> {
    let mut req = Request::builder().method(method.clone()).uri(url).header(
        header::USER_AGENT,
        concat!("deckhand/", env!("CARGO_PKG_VERSION")),
    );
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    if let Some(a) = authorization {
        req = req.header(header::AUTHORIZATION, a);
    }
    if let Some(t) = content_type {
        req = req.header(header::CONTENT_TYPE, t);
    }
    if let Some(n) = length {
        req = req.header(header::CONTENT_LENGTH, n);
    }
    let req = req.body(body).map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| chain(&e))?;
    let (parts, body) = resp.into_parts();
    Ok((
        parts.status,
        parts.headers,
        body.map_err(|e| Box::new(e) as BoxError).boxed(),
    ))
}
