//! Errors as xe prints them: a known XenAPI error as its description and
//! its named parameters (`The uuid you supplied was invalid.` / `type:
//! VDI` / `uuid: ...`), an unknown one as `Error code: X` / `Error
//! parameters: a, b`; the CLI's own complaints (`Unknown command: x`,
//! `Required parameter not found: uuid`) followed by `For usage run: 'xe
//! help'`. Every error exits 1.

use crate::connection::CallError;

/// The description and parameter names of the XenAPI errors xapid raises
/// (from xapi's `datamodel_errors.ml`).
const KNOWN: &[(&str, &str, &[&str])] = &[
    ("UUID_INVALID", "The uuid you supplied was invalid.", &["type", "uuid"]),
    ("HANDLE_INVALID", "You gave an invalid object reference. The object may have recently been deleted. The class parameter gives the type of reference given, and the handle parameter echoes the bad value given.", &["class", "handle"]),
    ("SESSION_INVALID", "You gave an invalid session reference. It may have been invalidated by a server restart, or timed out. You should get a new session handle, using one of the session.login_ calls. This error does not invalidate the current connection. The handle parameter echoes the bad value given.", &["handle"]),
    ("INTERNAL_ERROR", "The server failed to handle your request, due to an internal error. The given message may give details useful for debugging the problem.", &["message"]),
    ("MESSAGE_METHOD_UNKNOWN", "You tried to call a method that does not exist. The method name that you used is echoed.", &["method"]),
    ("MESSAGE_PARAMETER_COUNT_MISMATCH", "You tried to call a method with the incorrect number of parameters. The fully-qualified method name that you used, and the number of received and expected parameters are returned.", &["method", "expected", "received"]),
    ("INVALID_VALUE", "The value given is invalid", &["field", "value"]),
    ("FIELD_TYPE_ERROR", "The value specified is of the wrong type", &["field"]),
    ("OPERATION_NOT_ALLOWED", "You attempted an operation that was not allowed.", &["reason"]),
    ("OTHER_OPERATION_IN_PROGRESS", "Another operation involving the object is currently in progress", &["class", "object", "operation_type", "operation_ref"]),
    ("TASK_CANCELLED", "The request was asynchronously canceled.", &["task"]),
    ("SR_FULL", "The SR is full. Requested new size exceeds the maximum size", &["requested", "maximum"]),
    ("EVENTS_LOST", "Some events have been lost from the queue and cannot be retrieved.", &[]),
    ("EVENT_FROM_TOKEN_PARSE_FAILURE", "The event.from token could not be parsed. Valid values include: '', and a value returned from a previous event.from call.", &["token"]),
    ("RBAC_PERMISSION_DENIED", "RBAC permission denied.", &["permission", "message"]),
    ("VDI_READONLY", "The operation required write access but this VDI is read-only", &["vdi"]),
    ("VDI_IN_USE", "This operation cannot be performed because this VDI is in use by some other operation", &["vdi", "operation"]),
];

/// How many parameters a known error has.
pub fn param_count(code: &str) -> Option<usize> {
    KNOWN
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, _, n)| n.len())
}

/// The lines xe prints on stderr for a XenAPI error.
pub fn api_error_lines(desc: &[String]) -> Vec<String> {
    let (code, params) = match desc.split_first() {
        Some((c, p)) => (c.as_str(), p),
        None => ("INTERNAL_ERROR", &[][..]),
    };
    match KNOWN.iter().find(|(c, _, _)| *c == code) {
        Some((_, doc, names)) => {
            let mut out = vec![doc.to_string()];
            let n = names.len().max(params.len());
            for i in 0..n {
                let name = names.get(i).copied().unwrap_or("<extra>");
                let v = params.get(i).map(String::as_str).unwrap_or("<unknown>");
                out.push(format!("{name}: {v}"));
            }
            out
        }
        None => vec![
            format!("Error code: {code}"),
            format!("Error parameters: {}", params.join(", ")),
        ],
    }
}

/// An error that ends the command.
#[derive(Debug)]
pub enum XeError {
    /// A failed call.
    Call(CallError),
    /// The CLI's own complaint, printed with `For usage run: 'xe help'`
    /// (`Unknown command: x`).
    Usage(String),
    /// A message printed as it is (`Error: ...`).
    Message(String),
}

impl From<CallError> for XeError {
    fn from(e: CallError) -> Self {
        XeError::Call(e)
    }
}

impl From<std::io::Error> for XeError {
    fn from(e: std::io::Error) -> Self {
        XeError::Call(CallError::Connect(e.to_string()))
    }
}

/// Prints `e` on stderr as xe does.
pub fn print(e: &XeError) {
    match e {
        XeError::Call(CallError::Api(desc)) => {
            if desc.first().map(String::as_str) == Some("SESSION_AUTHENTICATION_FAILED") {
                eprintln!("Authentication failed");
                eprintln!("For usage run: 'xe help'");
                return;
            }
            for l in api_error_lines(desc) {
                eprintln!("{l}");
            }
        }
        XeError::Call(CallError::Connect(m)) => {
            eprintln!("Unable to contact server. Please check server and port settings.");
            if !m.is_empty() {
                eprintln!("({m})");
            }
        }
        XeError::Call(CallError::Protocol(m)) => eprintln!("Unexpected message from server: {m}"),
        XeError::Usage(m) => {
            eprintln!("{m}");
            eprintln!("For usage run: 'xe help'");
        }
        XeError::Message(m) => eprintln!("{m}"),
    }
}
