//! `event`: Asynchronous event registration and handling: watch objects change instead of polling them. Every class but session and event emits add, mod and del events.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The class `event`.
pub const CLASS: ClassId = 7;

/// The wire name of the class.
pub const NAME: &str = "event";

/// `uuid` (`string`, internal): Events are not stored objects; the field only keeps the model uniform (internal).
pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

/// `id` (`int`, RO): An ID, monotonically increasing, and local to the current session.
pub const ID: Field<i64> = Field::new(CLASS, 1, "id");

/// `timestamp` (`datetime`, RO): The time at which the event occurred.
pub const TIMESTAMP: Field<DateTime> = Field::new(CLASS, 2, "timestamp");

/// `class` (`string`, RO): The name of the class of the object that changed (lower case).
pub const CLASS_: Field<String> = Field::new(CLASS, 3, "class");

/// `operation` (`event_operation`, RO): The operation that was performed.
pub const OPERATION: Field<EventOperation> = Field::new(CLASS, 4, "operation");

/// `ref` (`string`, RO): A reference to the object that changed.
pub const REF: Field<String> = Field::new(CLASS, 5, "ref");

/// `obj_uuid` (`string`, RO): The uuid of the object that changed (deprecated; not sent by event.from).
pub const OBJ_UUID: Field<String> = Field::new(CLASS, 6, "obj_uuid");
