//! Every error code of the datamodel (`datamodel/errors.toml`), and a
//! constructor on `ApiError` for each.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// `BLOCK_DIRTY_BITMAP_BUSY [bitmap]`: The dirty bitmap is in use by a job or an export (QEMU: Bitmap is busy).
pub const BLOCK_DIRTY_BITMAP_BUSY: &str = "BLOCK_DIRTY_BITMAP_BUSY";

/// `BLOCK_DIRTY_BITMAP_EXISTS [vdi, name]`: The VDI has a dirty bitmap of this name already (QEMU: Bitmap already exists).
pub const BLOCK_DIRTY_BITMAP_EXISTS: &str = "BLOCK_DIRTY_BITMAP_EXISTS";

/// `BLOCK_DIRTY_BITMAP_INCONSISTENT [bitmap]`: The dirty bitmap is inconsistent: only removing it is allowed (QEMU: Bitmap is inconsistent).
pub const BLOCK_DIRTY_BITMAP_INCONSISTENT: &str = "BLOCK_DIRTY_BITMAP_INCONSISTENT";

/// `EVENTS_LOST []`: Some events have been lost from the queue and cannot be retrieved: register again and read everything anew.
pub const EVENTS_LOST: &str = "EVENTS_LOST";

/// `EVENT_FROM_TOKEN_PARSE_FAILURE [token]`: The event.from token could not be parsed.
pub const EVENT_FROM_TOKEN_PARSE_FAILURE: &str = "EVENT_FROM_TOKEN_PARSE_FAILURE";

/// `EVENT_SUBSCRIPTION_PARSE_FAILURE [subscription]`: The server failed to parse your event subscription.
pub const EVENT_SUBSCRIPTION_PARSE_FAILURE: &str = "EVENT_SUBSCRIPTION_PARSE_FAILURE";

/// `FIELD_TYPE_ERROR [field]`: The value specified is of the wrong type. The parameter or field name is returned.
pub const FIELD_TYPE_ERROR: &str = "FIELD_TYPE_ERROR";

/// `HANDLE_INVALID [class, handle]`: You gave an invalid object reference. The object may have recently been deleted. The class parameter gives the type of reference given, and the handle parameter echoes the bad value given.
pub const HANDLE_INVALID: &str = "HANDLE_INVALID";

/// `INTERNAL_ERROR [message]`: The server failed to handle your request, due to an internal error (never for anything a client can cause; the server log has the details).
pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";

/// `INVALID_VALUE [field, value]`: The value given is invalid (an unknown enum value, an out-of-range number, an unparseable datetime).
pub const INVALID_VALUE: &str = "INVALID_VALUE";

/// `MAP_DUPLICATE_KEY [type, param_name, ref, key]`: You tried to add a key-value pair to a map, but that key is already there.
pub const MAP_DUPLICATE_KEY: &str = "MAP_DUPLICATE_KEY";

/// `MESSAGE_METHOD_UNKNOWN [method]`: You tried to call a method that does not exist. The method name that you used is echoed.
pub const MESSAGE_METHOD_UNKNOWN: &str = "MESSAGE_METHOD_UNKNOWN";

/// `MESSAGE_PARAMETER_COUNT_MISMATCH [method, expected, received]`: You tried to call a method with the incorrect number of parameters. The fully-qualified method name that you used, and the number of received and expected parameters are returned; the counts do not include the session.
pub const MESSAGE_PARAMETER_COUNT_MISMATCH: &str = "MESSAGE_PARAMETER_COUNT_MISMATCH";

/// `NOT_IMPLEMENTED [function]`: The function is not implemented.
pub const NOT_IMPLEMENTED: &str = "NOT_IMPLEMENTED";

/// `OPERATION_NOT_ALLOWED [reason]`: You attempted an operation that was not allowed.
pub const OPERATION_NOT_ALLOWED: &str = "OPERATION_NOT_ALLOWED";

/// `OTHER_OPERATION_IN_PROGRESS [class, object, operation_type, operation_ref]`: Another operation involving the object is currently in progress.
pub const OTHER_OPERATION_IN_PROGRESS: &str = "OTHER_OPERATION_IN_PROGRESS";

/// `RBAC_PERMISSION_DENIED [permission, message]`: RBAC permission denied: the session's roles do not hold the permission the call needs. The message names the roles that do: "No permission in user session. (Roles with this permission: ...)". Raised before the call does anything.
pub const RBAC_PERMISSION_DENIED: &str = "RBAC_PERMISSION_DENIED";

/// `ROLE_ALREADY_EXISTS []`: Role already exists.
pub const ROLE_ALREADY_EXISTS: &str = "ROLE_ALREADY_EXISTS";

/// `ROLE_NOT_FOUND []`: Role cannot be found.
pub const ROLE_NOT_FOUND: &str = "ROLE_NOT_FOUND";

/// `SERVER_CERTIFICATE_CHAIN_INVALID []`: The provided intermediate certificates are not in a PEM-encoded X509 format.
pub const SERVER_CERTIFICATE_CHAIN_INVALID: &str = "SERVER_CERTIFICATE_CHAIN_INVALID";

/// `SERVER_CERTIFICATE_EXPIRED [now, not_after]`: The provided certificate has expired. Both times are RFC 3339, in UTC.
pub const SERVER_CERTIFICATE_EXPIRED: &str = "SERVER_CERTIFICATE_EXPIRED";

/// `SERVER_CERTIFICATE_INVALID []`: The provided certificate is not in a PEM-encoded X509 format.
pub const SERVER_CERTIFICATE_INVALID: &str = "SERVER_CERTIFICATE_INVALID";

/// `SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED [algorithm_oid]`: The provided key uses an unsupported algorithm (xapid takes RSA and ECDSA on P-256 or P-384). The parameter names the key type (e.g. ED25519, P521) or, when unknown, its algorithm's OID.
pub const SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED: &str = "SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED";

/// `SERVER_CERTIFICATE_KEY_INVALID []`: The provided key is not a PEM-encoded private key (PKCS#8, or xapid also takes PKCS#1 RSA and SEC1 EC keys).
pub const SERVER_CERTIFICATE_KEY_INVALID: &str = "SERVER_CERTIFICATE_KEY_INVALID";

/// `SERVER_CERTIFICATE_KEY_MISMATCH []`: The provided key does not match the provided certificate's public key.
pub const SERVER_CERTIFICATE_KEY_MISMATCH: &str = "SERVER_CERTIFICATE_KEY_MISMATCH";

/// `SERVER_CERTIFICATE_KEY_RSA_LENGTH_NOT_SUPPORTED [length]`: The provided RSA key does not have a length between 2048 and 4096.
pub const SERVER_CERTIFICATE_KEY_RSA_LENGTH_NOT_SUPPORTED: &str = "SERVER_CERTIFICATE_KEY_RSA_LENGTH_NOT_SUPPORTED";

/// `SERVER_CERTIFICATE_KEY_RSA_MULTI_NOT_SUPPORTED []`: The provided RSA key is using more than 2 primes, expecting only 2.
pub const SERVER_CERTIFICATE_KEY_RSA_MULTI_NOT_SUPPORTED: &str = "SERVER_CERTIFICATE_KEY_RSA_MULTI_NOT_SUPPORTED";

/// `SERVER_CERTIFICATE_NOT_VALID_YET [now, not_before]`: The provided certificate is not valid yet. Both times are RFC 3339, in UTC.
pub const SERVER_CERTIFICATE_NOT_VALID_YET: &str = "SERVER_CERTIFICATE_NOT_VALID_YET";

/// `SERVER_CERTIFICATE_SIGNATURE_NOT_SUPPORTED []`: The provided certificate is not signed with SHA-256 or better (xapid takes RSA PKCS#1 v1.5 or PSS and ECDSA with SHA-256, SHA-384 or SHA-512, and Ed25519).
pub const SERVER_CERTIFICATE_SIGNATURE_NOT_SUPPORTED: &str = "SERVER_CERTIFICATE_SIGNATURE_NOT_SUPPORTED";

/// `SESSION_AUTHENTICATION_FAILED [username, message]`: The credentials given by the user are incorrect. Sent after a delay that grows with repeated failures for the same user.
pub const SESSION_AUTHENTICATION_FAILED: &str = "SESSION_AUTHENTICATION_FAILED";

/// `SESSION_INVALID [handle]`: You gave an invalid or expired session reference. The Python SDK logs in again when it sees this code.
pub const SESSION_INVALID: &str = "SESSION_INVALID";

/// `SESSION_NOT_REGISTERED [handle]`: This session is not registered to receive events (event.next without event.register).
pub const SESSION_NOT_REGISTERED: &str = "SESSION_NOT_REGISTERED";

/// `SR_BACKEND_FAILURE [status, stdout, stderr]`: The SR's directory could not be read or written.
pub const SR_BACKEND_FAILURE: &str = "SR_BACKEND_FAILURE";

/// `SR_BACKEND_FAILURE_460 [status, stdout, stderr]`: SM's CBTChangedBlocksError: the changed blocks of two VDIs could not be computed (the same VDI twice, or VDIs not in one chain: "Source and target VDI are unrelated").
pub const SR_BACKEND_FAILURE_460: &str = "SR_BACKEND_FAILURE_460";

/// `SR_FULL [requested, maximum]`: The storage repository has no room for the request.
pub const SR_FULL: &str = "SR_FULL";

/// `SUBJECT_ALREADY_EXISTS []`: Subject already exists.
pub const SUBJECT_ALREADY_EXISTS: &str = "SUBJECT_ALREADY_EXISTS";

/// `TASK_CANCELLED [task]`: The request was asynchronously cancelled.
pub const TASK_CANCELLED: &str = "TASK_CANCELLED";

/// `TASK_INTERRUPTED [task, reason]`: The server stopped while this task was running (a crash, kill -9 or power loss); the work it was doing did not complete. Its partial results have been removed.
pub const TASK_INTERRUPTED: &str = "TASK_INTERRUPTED";

/// `UUID_INVALID [class, uuid]`: The uuid you supplied was invalid.
pub const UUID_INVALID: &str = "UUID_INVALID";

/// `VDI_CBT_ENABLED [vdi]`: The requested operation is not allowed for VDIs with CBT enabled or VMs having such VDIs, and CBT is enabled for the specified VDI.
pub const VDI_CBT_ENABLED: &str = "VDI_CBT_ENABLED";

/// `VDI_INCOMPATIBLE_TYPE [vdi, type]`: This operation cannot be performed because the specified VDI is of an incompatible type (eg: an HA statefile cannot be attached to a guest)
pub const VDI_INCOMPATIBLE_TYPE: &str = "VDI_INCOMPATIBLE_TYPE";

/// `VDI_IN_USE [vdi, operation]`: This operation cannot be performed because this VDI is in use (list_changed_blocks: vdi_to is being written).
pub const VDI_IN_USE: &str = "VDI_IN_USE";

/// `VDI_IO_ERROR [reason]`: Disk I/O failed while reading or writing a disk image.
pub const VDI_IO_ERROR: &str = "VDI_IO_ERROR";

/// `VDI_MISSING [sr, vdi]`: The VDI's file is missing from its SR.
pub const VDI_MISSING: &str = "VDI_MISSING";

/// `VDI_NO_CBT_METADATA [vdi]`: The requested operation is not allowed because the specified VDI does not have changed block tracking metadata.
pub const VDI_NO_CBT_METADATA: &str = "VDI_NO_CBT_METADATA";

/// `VDI_READ_ONLY [vdi]`: The operation required write access but this VDI is read-only.
pub const VDI_READ_ONLY: &str = "VDI_READ_ONLY";

/// `VDI_TOO_SMALL [vdi, minimum_size]`: The VDI is too small: it cannot shrink, and a copy target must be at least as large as its source.
pub const VDI_TOO_SMALL: &str = "VDI_TOO_SMALL";

/// A constructor per error code, a parameter per listed parameter.
impl ApiError {
    /// `BLOCK_DIRTY_BITMAP_BUSY [bitmap]`: The dirty bitmap is in use by a job or an export (QEMU: Bitmap is busy).
    pub fn block_dirty_bitmap_busy(bitmap: impl fmt::Display) -> ApiError {
        ApiError {
            code: BLOCK_DIRTY_BITMAP_BUSY,
            params: vec![bitmap.to_string()],
        }
    }

    /// `BLOCK_DIRTY_BITMAP_EXISTS [vdi, name]`: The VDI has a dirty bitmap of this name already (QEMU: Bitmap already exists).
    pub fn block_dirty_bitmap_exists(vdi: impl fmt::Display, name: impl fmt::Display) -> ApiError {
        ApiError {
            code: BLOCK_DIRTY_BITMAP_EXISTS,
            params: vec![vdi.to_string(), name.to_string()],
        }
    }

    /// `BLOCK_DIRTY_BITMAP_INCONSISTENT [bitmap]`: The dirty bitmap is inconsistent: only removing it is allowed (QEMU: Bitmap is inconsistent).
    pub fn block_dirty_bitmap_inconsistent(bitmap: impl fmt::Display) -> ApiError {
        ApiError {
            code: BLOCK_DIRTY_BITMAP_INCONSISTENT,
            params: vec![bitmap.to_string()],
        }
    }

    /// `EVENTS_LOST []`: Some events have been lost from the queue and cannot be retrieved: register again and read everything anew.
    pub fn events_lost() -> ApiError {
        ApiError {
            code: EVENTS_LOST,
            params: vec![],
        }
    }

    /// `EVENT_FROM_TOKEN_PARSE_FAILURE [token]`: The event.from token could not be parsed.
    pub fn event_from_token_parse_failure(token: impl fmt::Display) -> ApiError {
        ApiError {
            code: EVENT_FROM_TOKEN_PARSE_FAILURE,
            params: vec![token.to_string()],
        }
    }

    /// `EVENT_SUBSCRIPTION_PARSE_FAILURE [subscription]`: The server failed to parse your event subscription.
    pub fn event_subscription_parse_failure(subscription: impl fmt::Display) -> ApiError {
        ApiError {
            code: EVENT_SUBSCRIPTION_PARSE_FAILURE,
            params: vec![subscription.to_string()],
        }
    }

    /// `FIELD_TYPE_ERROR [field]`: The value specified is of the wrong type. The parameter or field name is returned.
    pub fn field_type_error(field: impl fmt::Display) -> ApiError {
        ApiError {
            code: FIELD_TYPE_ERROR,
            params: vec![field.to_string()],
        }
    }

    /// `HANDLE_INVALID [class, handle]`: You gave an invalid object reference. The object may have recently been deleted. The class parameter gives the type of reference given, and the handle parameter echoes the bad value given.
    pub fn handle_invalid(class: impl fmt::Display, handle: impl fmt::Display) -> ApiError {
        ApiError {
            code: HANDLE_INVALID,
            params: vec![class.to_string(), handle.to_string()],
        }
    }

    /// `INVALID_VALUE [field, value]`: The value given is invalid (an unknown enum value, an out-of-range number, an unparseable datetime).
    pub fn invalid_value(field: impl fmt::Display, value: impl fmt::Display) -> ApiError {
        ApiError {
            code: INVALID_VALUE,
            params: vec![field.to_string(), value.to_string()],
        }
    }

    /// `MAP_DUPLICATE_KEY [type, param_name, ref, key]`: You tried to add a key-value pair to a map, but that key is already there.
    pub fn map_duplicate_key(type_: impl fmt::Display, param_name: impl fmt::Display, ref_: impl fmt::Display, key: impl fmt::Display) -> ApiError {
        ApiError {
            code: MAP_DUPLICATE_KEY,
            params: vec![type_.to_string(), param_name.to_string(), ref_.to_string(), key.to_string()],
        }
    }

    /// `MESSAGE_METHOD_UNKNOWN [method]`: You tried to call a method that does not exist. The method name that you used is echoed.
    pub fn message_method_unknown(method: impl fmt::Display) -> ApiError {
        ApiError {
            code: MESSAGE_METHOD_UNKNOWN,
            params: vec![method.to_string()],
        }
    }

    /// `MESSAGE_PARAMETER_COUNT_MISMATCH [method, expected, received]`: You tried to call a method with the incorrect number of parameters. The fully-qualified method name that you used, and the number of received and expected parameters are returned; the counts do not include the session.
    pub fn message_parameter_count_mismatch(method: impl fmt::Display, expected: impl fmt::Display, received: impl fmt::Display) -> ApiError {
        ApiError {
            code: MESSAGE_PARAMETER_COUNT_MISMATCH,
            params: vec![method.to_string(), expected.to_string(), received.to_string()],
        }
    }

    /// `NOT_IMPLEMENTED [function]`: The function is not implemented.
    pub fn not_implemented(function: impl fmt::Display) -> ApiError {
        ApiError {
            code: NOT_IMPLEMENTED,
            params: vec![function.to_string()],
        }
    }

    /// `OPERATION_NOT_ALLOWED [reason]`: You attempted an operation that was not allowed.
    pub fn operation_not_allowed(reason: impl fmt::Display) -> ApiError {
        ApiError {
            code: OPERATION_NOT_ALLOWED,
            params: vec![reason.to_string()],
        }
    }

    /// `OTHER_OPERATION_IN_PROGRESS [class, object, operation_type, operation_ref]`: Another operation involving the object is currently in progress.
    pub fn other_operation_in_progress(class: impl fmt::Display, object: impl fmt::Display, operation_type: impl fmt::Display, operation_ref: impl fmt::Display) -> ApiError {
        ApiError {
            code: OTHER_OPERATION_IN_PROGRESS,
            params: vec![class.to_string(), object.to_string(), operation_type.to_string(), operation_ref.to_string()],
        }
    }

    /// `RBAC_PERMISSION_DENIED [permission, message]`: RBAC permission denied: the session's roles do not hold the permission the call needs. The message names the roles that do: "No permission in user session. (Roles with this permission: ...)". Raised before the call does anything.
    pub fn rbac_permission_denied(permission: impl fmt::Display, message: impl fmt::Display) -> ApiError {
        ApiError {
            code: RBAC_PERMISSION_DENIED,
            params: vec![permission.to_string(), message.to_string()],
        }
    }

    /// `ROLE_ALREADY_EXISTS []`: Role already exists.
    pub fn role_already_exists() -> ApiError {
        ApiError {
            code: ROLE_ALREADY_EXISTS,
            params: vec![],
        }
    }

    /// `ROLE_NOT_FOUND []`: Role cannot be found.
    pub fn role_not_found() -> ApiError {
        ApiError {
            code: ROLE_NOT_FOUND,
            params: vec![],
        }
    }

    /// `SERVER_CERTIFICATE_CHAIN_INVALID []`: The provided intermediate certificates are not in a PEM-encoded X509 format.
    pub fn server_certificate_chain_invalid() -> ApiError {
        ApiError {
            code: SERVER_CERTIFICATE_CHAIN_INVALID,
            params: vec![],
        }
    }

    /// `SERVER_CERTIFICATE_EXPIRED [now, not_after]`: The provided certificate has expired. Both times are RFC 3339, in UTC.
    pub fn server_certificate_expired(now: impl fmt::Display, not_after: impl fmt::Display) -> ApiError {
        ApiError {
            code: SERVER_CERTIFICATE_EXPIRED,
            params: vec![now.to_string(), not_after.to_string()],
        }
    }

    /// `SERVER_CERTIFICATE_INVALID []`: The provided certificate is not in a PEM-encoded X509 format.
    pub fn server_certificate_invalid() -> ApiError {
        ApiError {
            code: SERVER_CERTIFICATE_INVALID,
            params: vec![],
        }
    }

    /// `SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED [algorithm_oid]`: The provided key uses an unsupported algorithm (xapid takes RSA and ECDSA on P-256 or P-384). The parameter names the key type (e.g. ED25519, P521) or, when unknown, its algorithm's OID.
    pub fn server_certificate_key_algorithm_not_supported(algorithm_oid: impl fmt::Display) -> ApiError {
        ApiError {
            code: SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED,
            params: vec![algorithm_oid.to_string()],
        }
    }

    /// `SERVER_CERTIFICATE_KEY_INVALID []`: The provided key is not a PEM-encoded private key (PKCS#8, or xapid also takes PKCS#1 RSA and SEC1 EC keys).
    pub fn server_certificate_key_invalid() -> ApiError {
        ApiError {
            code: SERVER_CERTIFICATE_KEY_INVALID,
            params: vec![],
        }
    }

    /// `SERVER_CERTIFICATE_KEY_MISMATCH []`: The provided key does not match the provided certificate's public key.
    pub fn server_certificate_key_mismatch() -> ApiError {
        ApiError {
            code: SERVER_CERTIFICATE_KEY_MISMATCH,
            params: vec![],
        }
    }

    /// `SERVER_CERTIFICATE_KEY_RSA_LENGTH_NOT_SUPPORTED [length]`: The provided RSA key does not have a length between 2048 and 4096.
    pub fn server_certificate_key_rsa_length_not_supported(length: impl fmt::Display) -> ApiError {
        ApiError {
            code: SERVER_CERTIFICATE_KEY_RSA_LENGTH_NOT_SUPPORTED,
            params: vec![length.to_string()],
        }
    }

    /// `SERVER_CERTIFICATE_KEY_RSA_MULTI_NOT_SUPPORTED []`: The provided RSA key is using more than 2 primes, expecting only 2.
    pub fn server_certificate_key_rsa_multi_not_supported() -> ApiError {
        ApiError {
            code: SERVER_CERTIFICATE_KEY_RSA_MULTI_NOT_SUPPORTED,
            params: vec![],
        }
    }

    /// `SERVER_CERTIFICATE_NOT_VALID_YET [now, not_before]`: The provided certificate is not valid yet. Both times are RFC 3339, in UTC.
    pub fn server_certificate_not_valid_yet(now: impl fmt::Display, not_before: impl fmt::Display) -> ApiError {
        ApiError {
            code: SERVER_CERTIFICATE_NOT_VALID_YET,
            params: vec![now.to_string(), not_before.to_string()],
        }
    }

    /// `SERVER_CERTIFICATE_SIGNATURE_NOT_SUPPORTED []`: The provided certificate is not signed with SHA-256 or better (xapid takes RSA PKCS#1 v1.5 or PSS and ECDSA with SHA-256, SHA-384 or SHA-512, and Ed25519).
    pub fn server_certificate_signature_not_supported() -> ApiError {
        ApiError {
            code: SERVER_CERTIFICATE_SIGNATURE_NOT_SUPPORTED,
            params: vec![],
        }
    }

    /// `SESSION_AUTHENTICATION_FAILED [username, message]`: The credentials given by the user are incorrect. Sent after a delay that grows with repeated failures for the same user.
    pub fn session_authentication_failed(username: impl fmt::Display, message: impl fmt::Display) -> ApiError {
        ApiError {
            code: SESSION_AUTHENTICATION_FAILED,
            params: vec![username.to_string(), message.to_string()],
        }
    }

    /// `SESSION_INVALID [handle]`: You gave an invalid or expired session reference. The Python SDK logs in again when it sees this code.
    pub fn session_invalid(handle: impl fmt::Display) -> ApiError {
        ApiError {
            code: SESSION_INVALID,
            params: vec![handle.to_string()],
        }
    }

    /// `SESSION_NOT_REGISTERED [handle]`: This session is not registered to receive events (event.next without event.register).
    pub fn session_not_registered(handle: impl fmt::Display) -> ApiError {
        ApiError {
            code: SESSION_NOT_REGISTERED,
            params: vec![handle.to_string()],
        }
    }

    /// `SR_BACKEND_FAILURE [status, stdout, stderr]`: The SR's directory could not be read or written.
    pub fn sr_backend_failure(status: impl fmt::Display, stdout: impl fmt::Display, stderr: impl fmt::Display) -> ApiError {
        ApiError {
            code: SR_BACKEND_FAILURE,
            params: vec![status.to_string(), stdout.to_string(), stderr.to_string()],
        }
    }

    /// `SR_BACKEND_FAILURE_460 [status, stdout, stderr]`: SM's CBTChangedBlocksError: the changed blocks of two VDIs could not be computed (the same VDI twice, or VDIs not in one chain: "Source and target VDI are unrelated").
    pub fn sr_backend_failure_460(status: impl fmt::Display, stdout: impl fmt::Display, stderr: impl fmt::Display) -> ApiError {
        ApiError {
            code: SR_BACKEND_FAILURE_460,
            params: vec![status.to_string(), stdout.to_string(), stderr.to_string()],
        }
    }

    /// `SR_FULL [requested, maximum]`: The storage repository has no room for the request.
    pub fn sr_full(requested: impl fmt::Display, maximum: impl fmt::Display) -> ApiError {
        ApiError {
            code: SR_FULL,
            params: vec![requested.to_string(), maximum.to_string()],
        }
    }

    /// `SUBJECT_ALREADY_EXISTS []`: Subject already exists.
    pub fn subject_already_exists() -> ApiError {
        ApiError {
            code: SUBJECT_ALREADY_EXISTS,
            params: vec![],
        }
    }

    /// `TASK_CANCELLED [task]`: The request was asynchronously cancelled.
    pub fn task_cancelled(task: impl fmt::Display) -> ApiError {
        ApiError {
            code: TASK_CANCELLED,
            params: vec![task.to_string()],
        }
    }

    /// `TASK_INTERRUPTED [task, reason]`: The server stopped while this task was running (a crash, kill -9 or power loss); the work it was doing did not complete. Its partial results have been removed.
    pub fn task_interrupted(task: impl fmt::Display, reason: impl fmt::Display) -> ApiError {
        ApiError {
            code: TASK_INTERRUPTED,
            params: vec![task.to_string(), reason.to_string()],
        }
    }

    /// `UUID_INVALID [class, uuid]`: The uuid you supplied was invalid.
    pub fn uuid_invalid(class: impl fmt::Display, uuid: impl fmt::Display) -> ApiError {
        ApiError {
            code: UUID_INVALID,
            params: vec![class.to_string(), uuid.to_string()],
        }
    }

    /// `VDI_CBT_ENABLED [vdi]`: The requested operation is not allowed for VDIs with CBT enabled or VMs having such VDIs, and CBT is enabled for the specified VDI.
    pub fn vdi_cbt_enabled(vdi: impl fmt::Display) -> ApiError {
        ApiError {
            code: VDI_CBT_ENABLED,
            params: vec![vdi.to_string()],
        }
    }

    /// `VDI_INCOMPATIBLE_TYPE [vdi, type]`: This operation cannot be performed because the specified VDI is of an incompatible type (eg: an HA statefile cannot be attached to a guest)
    pub fn vdi_incompatible_type(vdi: impl fmt::Display, type_: impl fmt::Display) -> ApiError {
        ApiError {
            code: VDI_INCOMPATIBLE_TYPE,
            params: vec![vdi.to_string(), type_.to_string()],
        }
    }

    /// `VDI_IN_USE [vdi, operation]`: This operation cannot be performed because this VDI is in use (list_changed_blocks: vdi_to is being written).
    pub fn vdi_in_use(vdi: impl fmt::Display, operation: impl fmt::Display) -> ApiError {
        ApiError {
            code: VDI_IN_USE,
            params: vec![vdi.to_string(), operation.to_string()],
        }
    }

    /// `VDI_IO_ERROR [reason]`: Disk I/O failed while reading or writing a disk image.
    pub fn vdi_io_error(reason: impl fmt::Display) -> ApiError {
        ApiError {
            code: VDI_IO_ERROR,
            params: vec![reason.to_string()],
        }
    }

    /// `VDI_MISSING [sr, vdi]`: The VDI's file is missing from its SR.
    pub fn vdi_missing(sr: impl fmt::Display, vdi: impl fmt::Display) -> ApiError {
        ApiError {
            code: VDI_MISSING,
            params: vec![sr.to_string(), vdi.to_string()],
        }
    }

    /// `VDI_NO_CBT_METADATA [vdi]`: The requested operation is not allowed because the specified VDI does not have changed block tracking metadata.
    pub fn vdi_no_cbt_metadata(vdi: impl fmt::Display) -> ApiError {
        ApiError {
            code: VDI_NO_CBT_METADATA,
            params: vec![vdi.to_string()],
        }
    }

    /// `VDI_READ_ONLY [vdi]`: The operation required write access but this VDI is read-only.
    pub fn vdi_read_only(vdi: impl fmt::Display) -> ApiError {
        ApiError {
            code: VDI_READ_ONLY,
            params: vec![vdi.to_string()],
        }
    }

    /// `VDI_TOO_SMALL [vdi, minimum_size]`: The VDI is too small: it cannot shrink, and a copy target must be at least as large as its source.
    pub fn vdi_too_small(vdi: impl fmt::Display, minimum_size: impl fmt::Display) -> ApiError {
        ApiError {
            code: VDI_TOO_SMALL,
            params: vec![vdi.to_string(), minimum_size.to_string()],
        }
    }
}
