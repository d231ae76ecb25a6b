//! The parameters of the messages of `event`, typed and in order (the
//! session excluded). Built with `from_values` from the list dispatch
//! checked against the datamodel and converted (`model::convert`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::super::*;

/// `event.register(classes)`: Registers this session with the event system for a set of given classes (legacy; use event.from). A subscription is *, a class name, or class/ref.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRegister {
    /// `classes` (`string set`): The classes for which the session will register with the event system.
    pub classes: Vec<String>,
}

impl EventRegister {
    /// The wire name.
    pub const WIRE: &str = "event.register";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        EventRegister {
            classes: next_arg(&mut it),
        }
    }
}

/// `event.unregister(classes)`: Removes this session's registration with the event system for a set of given classes (legacy).
#[derive(Clone, Debug, PartialEq)]
pub struct EventUnregister {
    /// `classes` (`string set`): The classes for which the session's registration with the event system will be removed.
    pub classes: Vec<String>,
}

impl EventUnregister {
    /// The wire name.
    pub const WIRE: &str = "event.unregister";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        EventUnregister {
            classes: next_arg(&mut it),
        }
    }
}

/// `event.next()`: Blocking call which returns a (possibly empty) batch of events for the classes this session registered for (legacy; use event.from). EVENTS_LOST if the server's queue no longer holds events this session has not read: register again and read everything anew.
#[derive(Clone, Debug, PartialEq)]
pub struct EventNext;

impl EventNext {
    /// The wire name.
    pub const WIRE: &str = "event.next";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(_: Vec<Value>) -> Self {
        EventNext
    }
}

/// `event.from(classes, token, timeout)`: Blocking call which returns the events for the given subscriptions since the token, coalesced to one per object (add, mod with its current snapshot, or del without one), as a struct {events, valid_ref_counts, token}. Token "" gives an add for every live object. Blocks until there is at least one event or the timeout (seconds; 0 returns at once, a negative timeout waits 24 h) has passed. Also answered as event_from.
#[derive(Clone, Debug, PartialEq)]
pub struct EventFrom {
    /// `classes` (`string set`): Register for events for the indicated classes: *, a class name, or class/ref.
    pub classes: Vec<String>,
    /// `token` (`string`): A token representing the point from which to generate database events; "" for everything.
    pub token: String,
    /// `timeout` (`float`): Return after this many seconds if no events match.
    pub timeout: f64,
}

impl EventFrom {
    /// The wire name.
    pub const WIRE: &str = "event.from";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        EventFrom {
            classes: next_arg(&mut it),
            token: next_arg(&mut it),
            timeout: next_arg(&mut it),
        }
    }
}

/// `event.get_current_id()`: Return the ID of the most recent event (the current database generation).
#[derive(Clone, Debug, PartialEq)]
pub struct EventGetCurrentId;

impl EventGetCurrentId {
    /// The wire name.
    pub const WIRE: &str = "event.get_current_id";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(_: Vec<Value>) -> Self {
        EventGetCurrentId
    }
}

/// `event.inject(class, ref)`: Injects an artificial mod event on the given object and returns a token just before it, so that event.from with that token returns at once with the object.
#[derive(Clone, Debug, PartialEq)]
pub struct EventInject {
    /// `class` (`string`): The class of the object.
    pub class: String,
    /// `ref` (`string`): A reference to the object that will be changed.
    pub ref_: String,
}

impl EventInject {
    /// The wire name.
    pub const WIRE: &str = "event.inject";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        EventInject {
            class: next_arg(&mut it),
            ref_: next_arg(&mut it),
        }
    }
}
