//! `task`: A long-running asynchronous operation: clients poll it, watch it with event.from, cancel it and destroy it.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The class `task`.
pub const CLASS: ClassId = 1;

/// The wire name of the class.
pub const NAME: &str = "task";

/// `uuid` (`string`, RO): Unique identifier/object reference.
pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

/// `name_label` (`string`, RO): A human-readable name; for API calls the full wire name, e.g. Async.VDI.copy.
pub const NAME_LABEL: Field<String> = Field::new(CLASS, 1, "name_label");

/// `name_description` (`string`, RO): A notes field containing human-readable description.
pub const NAME_DESCRIPTION: Field<String> = Field::new(CLASS, 2, "name_description");

/// `allowed_operations` (`task_allowed_operations set`, RO): List of the operations allowed in this state: \[cancel\] while the server runs cancellable work for the task; empty once it has finished and for tasks a client drives.
pub const ALLOWED_OPERATIONS: Field<Vec<TaskAllowedOperations>> = Field::new(CLASS, 3, "allowed_operations");

/// `current_operations` (`(string -> task_allowed_operations) map`, RO): Links each of the running tasks using this object (by reference) to a current_operation enum which describes the nature of the task.
pub const CURRENT_OPERATIONS: Field<Map<TaskAllowedOperations>> = Field::new(CLASS, 4, "current_operations");

/// `created` (`datetime`, RO): Time task was created.
pub const CREATED: Field<DateTime> = Field::new(CLASS, 5, "created");

/// `finished` (`datetime`, RO): Time task finished (i.e. succeeded or failed); 19700101T00:00:00Z while pending.
pub const FINISHED: Field<DateTime> = Field::new(CLASS, 6, "finished");

/// `status` (`task_status_type`, RO): Current status of the task.
pub const STATUS: Field<TaskStatusType> = Field::new(CLASS, 7, "status");

/// `resident_on` (`host ref`, RO): The host on which the task is running.
pub const RESIDENT_ON: Field<Ref> = Field::new(CLASS, 8, "resident_on");

/// `progress` (`float`, RO): This field contains the estimated fraction of the task which is complete (0.0 to 1.0). It never decreases, and is 1.0 once the task has finished.
pub const PROGRESS: Field<f64> = Field::new(CLASS, 9, "progress");

/// `eta` (`datetime`, RO): While pending: the estimated completion time, from a smoothed rate of observed progress (19700101T00:00:00Z until the rate is known). Once finished: the finish time.
pub const ETA: Field<DateTime> = Field::new(CLASS, 10, "eta");

/// `type` (`string`, RO): If the task has completed successfully, this field contains the type of the encoded result (i.e. name of the class whose reference is in the result field). Undefined otherwise.
pub const TYPE: Field<String> = Field::new(CLASS, 11, "type");

/// `result` (`string`, RO): If the task has completed successfully, this field contains the result value as the XML-RPC \<value> fragment of the return value (e.g. \<value>OpaqueRef:...\</value>). Undefined otherwise.
pub const RESULT: Field<String> = Field::new(CLASS, 12, "result");

/// `error_info` (`string set`, RO): If the task has failed, this field contains the set of associated error strings: the code, then its parameters. Undefined otherwise.
pub const ERROR_INFO: Field<Vec<String>> = Field::new(CLASS, 13, "error_info");

/// `other_config` (`(string -> string) map`, RW): Additional configuration. A task that tracks a block job has other_config:block_job = the job's reference.
pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 14, "other_config");

/// `subtask_of` (`task ref`, RO): Ref pointing to the task this is a substask of.
pub const SUBTASK_OF: Field<Ref> = Field::new(CLASS, 15, "subtask_of");

/// `subtasks` (`task ref set`, RO): List pointing to all the substasks.
pub const SUBTASKS: Field<Vec<Ref>> = Field::new(CLASS, 16, "subtasks");

/// `objects` (`string set`, RO): xapid extension: the references of the VDIs, VMs and SRs the task acts on: those named in its call (arguments, the VDIs of an import or export, the VDI of a block job, the disks of a VM copy), then the object its result names once it has succeeded. Each of them lists the task in its jobs field while the task exists.
pub const OBJECTS: Field<Vec<String>> = Field::new(CLASS, 17, "objects");

/// `created_by` (`string`, RO): xapid extension: the name of the user whose session started the task (root for the root user; a subtask names its parent's user).
pub const CREATED_BY: Field<String> = Field::new(CLASS, 18, "created_by");

/// `backtrace` (`string`, RO): Function call trace for debugging.
pub const BACKTRACE: Field<String> = Field::new(CLASS, 19, "backtrace");

/// `managed` (`bool`, internal): True if the server runs the work of this task (an Async call or a job); false for tasks a client created with task.create and drives itself (internal).
pub const MANAGED: Field<bool> = Field::new(CLASS, 20, "managed");

/// `owner` (`string`, internal): The subject identifier of the user whose call created the task ("" for root, as xapi's auth_user_sid): that user may cancel, destroy and update it; others need task.destroy/any.
pub const OWNER: Field<String> = Field::new(CLASS, 21, "owner");
