//! `task`: the messages of the class. The life of tasks (creation,
//! progress, completion, recovery, retention) is in
//! [`crate::domain::tasks`].

use super::{ApiResult, Args, Ctx, Handler};
use crate::domain::{task_objects, tasks};
use crate::model::schema::args::{
    TaskCancel, TaskCreate, TaskDestroy, TaskSetErrorInfo, TaskSetProgress, TaskSetResult,
    TaskSetStatus,
};
use crate::model::schema::task;
use crate::wire::{Ref, Value};

/// Runs an explicit message as an `Async.` call: the task exists (durably)
/// before this returns; the work goes on in the background.
pub async fn spawn_async(
    mut cx: Ctx,
    label: String,
    handler: Handler,
    args: Args,
) -> ApiResult<Ref> {
    let d = cx.domain().clone();
    let objects = task_objects::of_params(&d, &args.0);
    let r = tasks::create_managed(&d, &label, cx.subtask_of, &cx.identity.sid, &objects).await?;
    cx.task = Some(r);
    d.tracker.clone().spawn(async move {
        let out = handler(cx, args).await;
        tasks::finish(&d, r, out).await;
    });
    Ok(r)
}

/// `task.create(label, description)`.
pub async fn create(cx: Ctx, a: TaskCreate) -> ApiResult<Value> {
    let TaskCreate { label, description } = a;
    tasks::create_client(
        cx.domain(),
        &label,
        &description,
        cx.subtask_of,
        &cx.identity.sid,
    )
    .await
    .map(Value::Ref)
}

/// `task.destroy(self)`.
pub async fn destroy(cx: Ctx, a: TaskDestroy) -> ApiResult<Value> {
    let TaskDestroy { self_ } = a;
    tasks::assert_can_modify(cx.domain(), self_, &cx.identity)?;
    tasks::destroy(cx.domain(), self_).await?;
    Ok(Value::void())
}

/// `task.cancel(task)`.
pub async fn cancel(cx: Ctx, a: TaskCancel) -> ApiResult<Value> {
    let TaskCancel { task } = a;
    tasks::assert_can_modify(cx.domain(), task, &cx.identity)?;
    tasks::cancel(cx.domain(), task, cx.owner()).await?;
    Ok(Value::void())
}

/// `task.set_status(self, value)`.
pub async fn set_status(cx: Ctx, a: TaskSetStatus) -> ApiResult<Value> {
    let TaskSetStatus { self_, value } = a;
    tasks::assert_can_modify(cx.domain(), self_, &cx.identity)?;
    tasks::set_status(cx.domain(), self_, value).await?;
    Ok(Value::void())
}

/// `task.set_progress(self, value)`.
pub async fn set_progress(cx: Ctx, a: TaskSetProgress) -> ApiResult<Value> {
    let TaskSetProgress { self_, value } = a;
    tasks::assert_can_modify(cx.domain(), self_, &cx.identity)?;
    tasks::set_progress(cx.domain(), self_, value).await?;
    Ok(Value::void())
}

/// `task.set_result(self, value)`.
pub async fn set_result(cx: Ctx, a: TaskSetResult) -> ApiResult<Value> {
    let TaskSetResult { self_, value } = a;
    tasks::assert_can_modify(cx.domain(), self_, &cx.identity)?;
    tasks::set_client_field(cx.domain(), self_, task::RESULT, value).await?;
    Ok(Value::void())
}

/// `task.set_error_info(self, value)`.
pub async fn set_error_info(cx: Ctx, a: TaskSetErrorInfo) -> ApiResult<Value> {
    let TaskSetErrorInfo { self_, value } = a;
    tasks::assert_can_modify(cx.domain(), self_, &cx.identity)?;
    tasks::set_client_field(cx.domain(), self_, task::ERROR_INFO, value).await?;
    Ok(Value::void())
}
