//! The wire: the value tree, XenAPI datetimes, numbers as xapi prints them
//! (`float`), and the XML-RPC and JSON-RPC codecs (which share `members`).
//! Only this module and `model` know what a request looks like on the wire;
//! everything after dispatch works on [`Value`]s.

pub mod base64;
pub mod datetime;
pub mod float;
pub mod jsonrpc;
mod members;
pub mod nbd;
pub mod records;
pub mod value;
pub mod xmlrpc;

pub use datetime::DateTime;
pub use value::{Ref, Str, Value};

/// A decoded call: the method name as sent and its positional parameters
/// (the session ref, when there is one, is the first).
#[derive(Clone, Debug, PartialEq)]
pub struct MethodCall {
    /// `class.message`, `class_message`, possibly with `Async.`.
    pub method: String,
    /// Positional parameters.
    pub params: Vec<Value>,
}

/// What the server answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `{Status: "Success", Value: v}`.
    Success(Value),
    /// `{Status: "Failure", ErrorDescription: [code, params...]}`.
    Failure(Vec<String>),
    /// A bare value with no Status wrapper (only `system.listMethods`).
    Bare(Value),
}

/// Bounds on what the decoders accept, beyond the HTTP body-size limit.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Deepest nesting of arrays/structs inside one parameter.
    pub max_depth: usize,
    /// Most XML elements (or JSON values) in one request.
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_elements: 200_000,
        }
    }
}

/// Why a request body could not be decoded. The reason is short and never
/// quotes the body (which may hold a password).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub &'static str);
