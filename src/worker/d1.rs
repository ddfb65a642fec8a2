//! What every D1 user of the Worker shares: the binding, and the few conversions between
//! D1's JavaScript values and the core's plain data.

use ::worker::{D1PreparedStatement, D1Result, Result};
use wasm_bindgen::JsValue;

/// The D1 binding of the users table, the delivery log and the sync jobs.
pub const D1_BINDING: &str = "CLERK_DB";

/// D1 takes numbers, not BigInts; Unix milliseconds stay exact far below 2^53.
pub fn integer(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// The text of the first column of the first row: the statements that build their answer
/// as one JSON text (`json_object`, `json_group_array`), so that one value crosses into
/// wasm instead of a JavaScript object per row.
pub async fn single_text(statement: D1PreparedStatement) -> Result<String> {
    let rows = statement.raw_js_value().await?;
    let row = rows
        .first()
        .map(|row| js_sys::Array::from(row).get(0))
        .and_then(|value| value.as_string());
    row.ok_or_else(|| ::worker::Error::RustError("D1 answered no row".into()))
}

/// Rows a statement changed, from its metadata.
pub fn changes(result: &D1Result) -> u64 {
    result
        .meta()
        .ok()
        .flatten()
        .and_then(|meta| meta.changes)
        .map_or(0, |n| n as u64)
}
