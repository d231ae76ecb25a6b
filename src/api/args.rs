//! The parameters of a call as dispatch hands them on.

use crate::wire::Value;

/// The parameters of a call (the session excluded), counted, checked and
/// converted against the datamodel by dispatch. Explicit messages turn
/// them into their argument struct (`schema::args`, in the generated
/// [`table`](super::table)); implicit ones take them apart by count.
#[derive(Debug, Default)]
pub struct Args(pub Vec<Value>);
