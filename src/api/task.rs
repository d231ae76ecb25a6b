//! `task`: the messages of the class. The life of tasks (creation,
//! progress, completion, recovery, retention) is in
//! [`crate::domain::tasks`].

use super::{ApiResult, Args, BoxFuture, Ctx, Handler};
use crate::domain::tasks;
use crate::model::schema::{task, TaskStatusType};
use crate::model::FieldValue;
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
    let r = tasks::create_managed(&d, &label, cx.subtask_of).await?;
    cx.task = Some(r);
    d.tracker.clone().spawn(async move {
        let out = handler(cx, args).await;
        tasks::finish(&d, r, out).await;
    });
    Ok(r)
}

/// `task.create(label, description)`.
pub fn create(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        tasks::create_client(cx.domain(), a.str(0), a.str(1), cx.subtask_of)
            .await
            .map(Value::Ref)
    })
}

/// `task.destroy(self)`.
pub fn destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        tasks::destroy(cx.domain(), a.r(0)).await?;
        Ok(Value::void())
    })
}

/// `task.cancel(task)`.
pub fn cancel(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        tasks::cancel(cx.domain(), a.r(0), cx.owner()).await?;
        Ok(Value::void())
    })
}

/// `task.set_status(self, value)`.
pub fn set_status(cx: Ctx, mut a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let status = TaskStatusType::take_value(a.take(1));
        tasks::set_status(cx.domain(), a.r(0), status).await?;
        Ok(Value::void())
    })
}

/// `task.set_progress(self, value)`.
pub fn set_progress(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        tasks::set_progress(cx.domain(), a.r(0), a.f64(1)).await?;
        Ok(Value::void())
    })
}

/// `task.set_result(self, value)`.
pub fn set_result(cx: Ctx, mut a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let d = cx.domain();
        let v = String::take_value(a.take(1));
        tasks::set_client_field(d, a.r(0), task::RESULT, v).await?;
        Ok(Value::void())
    })
}

/// `task.set_error_info(self, value)`.
pub fn set_error_info(cx: Ctx, mut a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let d = cx.domain();
        let v = Vec::<String>::take_value(a.take(1));
        tasks::set_client_field(d, a.r(0), task::ERROR_INFO, v).await?;
        Ok(Value::void())
    })
}
