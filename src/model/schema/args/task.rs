//! The parameters of the messages of `task`, typed and in order (the
//! session excluded). Built with `from_values` from the list dispatch
//! checked against the datamodel and converted (`model::convert`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::super::*;

/// `task.create(label, description)`: Create a new task object which must be manually destroyed. The caller drives it with set_status, set_progress, set_result and set_error_info. With the HTTP header subtask-of: \<task ref>, the new task is a subtask of that task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskCreate {
    /// `label` (`string`): Short label for the new task.
    pub label: String,
    /// `description` (`string`): Longer description for the new task.
    pub description: String,
}

impl TaskCreate {
    /// The wire name.
    pub const WIRE: &str = "task.create";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        TaskCreate {
            label: next_arg(&mut it),
            description: next_arg(&mut it),
        }
    }
}

/// `task.destroy(self)`: Destroy the task object. A finished task is deleted at once; a pending task is marked (destroy in current_operations) and deleted as soon as it finishes.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskDestroy {
    /// `self` (`task ref`): Reference to the task object.
    pub self_: Ref,
}

impl TaskDestroy {
    /// The wire name.
    pub const WIRE: &str = "task.destroy";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        TaskDestroy {
            self_: next_arg(&mut it),
        }
    }
}

/// `task.cancel(task)`: Request that a task be cancelled: current_operations becomes {\<caller>: cancel}. The work of a server-run task stops at its next check and the task ends cancelled with error_info \[TASK_CANCELLED, task\]; a task a client created is left to that client, which sees the request in current_operations and finishes the task itself (as in xapi). Cancelling a finished task does nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskCancel {
    /// `task` (`task ref`): The task.
    pub task: Ref,
}

impl TaskCancel {
    /// The wire name.
    pub const WIRE: &str = "task.cancel";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        TaskCancel {
            task: next_arg(&mut it),
        }
    }
}

/// `task.set_status(self, value)`: Set the task status (for tasks a client created). A final status finishes the task: progress 1.0, finished and eta now.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSetStatus {
    /// `self` (`task ref`): Reference to the task object.
    pub self_: Ref,
    /// `value` (`task_status_type`): task status value to be set.
    pub value: TaskStatusType,
}

impl TaskSetStatus {
    /// The wire name.
    pub const WIRE: &str = "task.set_status";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        TaskSetStatus {
            self_: next_arg(&mut it),
            value: next_arg(&mut it),
        }
    }
}

/// `task.set_progress(self, value)`: Set the task progress (for tasks a client created): a fraction from 0.0 to 1.0. Progress never decreases: a value below the current one leaves it unchanged. The eta is re-estimated from the observed rate.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSetProgress {
    /// `self` (`task ref`): Reference to the task object.
    pub self_: Ref,
    /// `value` (`float`): Task progress value to be set.
    pub value: f64,
}

impl TaskSetProgress {
    /// The wire name.
    pub const WIRE: &str = "task.set_progress";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        TaskSetProgress {
            self_: next_arg(&mut it),
            value: next_arg(&mut it),
        }
    }
}

/// `task.set_result(self, value)`: Set the task result (for tasks a client created).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSetResult {
    /// `self` (`task ref`): Reference to the task object.
    pub self_: Ref,
    /// `value` (`string`): Task result to be set.
    pub value: String,
}

impl TaskSetResult {
    /// The wire name.
    pub const WIRE: &str = "task.set_result";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        TaskSetResult {
            self_: next_arg(&mut it),
            value: next_arg(&mut it),
        }
    }
}

/// `task.set_error_info(self, value)`: Set the task error info (for tasks a client created).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSetErrorInfo {
    /// `self` (`task ref`): Reference to the task object.
    pub self_: Ref,
    /// `value` (`string set`): Task error info to be set.
    pub value: Vec<String>,
}

impl TaskSetErrorInfo {
    /// The wire name.
    pub const WIRE: &str = "task.set_error_info";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        TaskSetErrorInfo {
            self_: next_arg(&mut it),
            value: next_arg(&mut it),
        }
    }
}
