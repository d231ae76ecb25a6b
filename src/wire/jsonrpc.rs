//! TEMPORARY: replaced by the real codec.
use super::{DecodeError, Limits, MethodCall, Reply};
/// x
pub enum Version {
    /// x
    V1,
    /// x
    V2,
}
/// x
pub struct JsonCall {
    /// x
    pub call: MethodCall,
    /// x
    pub id: serde_json::Value,
    /// x
    pub version: Version,
}
/// x
pub fn decode_call(_body: &[u8], _limits: &Limits) -> Result<JsonCall, DecodeError> {
    Err(DecodeError("todo"))
}
/// x
pub fn encode_reply(_reply: &Reply, _id: &serde_json::Value, _v: Version, _out: &mut Vec<u8>) {}
/// x
pub fn encode_error(
    _id: Option<&serde_json::Value>,
    _v: Version,
    _code: i64,
    _m: &str,
    _out: &mut Vec<u8>,
) {
}
