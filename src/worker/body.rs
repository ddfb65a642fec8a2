//! Request bodies read with a size limit, for the routes that take a body from the outside.

use ::worker::{Error, Request, Result};
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::ReadableStreamDefaultReader;

/// A request body read up to a limit.
pub enum Body {
    /// The whole body, at most the limit.
    Complete(Vec<u8>),
    /// Over the limit: the declared length, or how much had arrived when reading stopped.
    TooLarge(usize),
}

/// Reads the body, refusing early when `Content-Length` is over `limit` and stopping (and
/// cancelling the stream) as soon as more than `limit` bytes have arrived, so an
/// unauthenticated sender cannot make the isolate buffer megabytes.
pub async fn read_limited(req: &Request, limit: usize) -> Result<Body> {
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|value| value.trim().parse::<u64>().ok());
    if let Some(len) = declared {
        if len > u64::try_from(limit).unwrap_or(u64::MAX) {
            return Ok(Body::TooLarge(usize::try_from(len).unwrap_or(usize::MAX)));
        }
    }
    let Some(stream) = req.inner().body() else {
        return Ok(Body::Complete(Vec::new()));
    };
    let reader = ReadableStreamDefaultReader::new(&stream)?;
    let mut body = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await?;
        if Reflect::get(&chunk, &JsValue::from_str("done"))?.is_truthy() {
            return Ok(Body::Complete(body));
        }
        let bytes = Reflect::get(&chunk, &JsValue::from_str("value"))?
            .dyn_into::<Uint8Array>()
            .map_err(|_| Error::RustError("request body chunk is not bytes".into()))?;
        let total = body
            .len()
            .saturating_add(usize::try_from(bytes.length()).unwrap_or(usize::MAX));
        if total > limit {
            // Best effort: the answer does not depend on the stream closing cleanly.
            let _ = JsFuture::from(reader.cancel()).await;
            return Ok(Body::TooLarge(total));
        }
        body.append(&mut bytes.to_vec());
    }
}
