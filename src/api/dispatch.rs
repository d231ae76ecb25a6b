//! From a decoded call to a reply, in xapi's order: find the method, check
//! the parameter count, check the parameter types, check the session, run.
//! `Async.` calls get a task at once and run in the background.

use std::sync::Arc;

use super::{implicit, task, Api, ApiError, ApiResult, Args, Ctx};
use crate::domain::sessions;
use crate::model::schema::codes;
use crate::model::{convert, Method, MethodKind};
use crate::wire::records::Format;
use crate::wire::{MethodCall, Ref, Reply, Value};

/// What the HTTP layer knows about a call beyond its body.
#[derive(Clone, Debug, Default)]
pub struct CallMeta {
    /// The `subtask-of` request header, when it names a reference.
    pub subtask_of: Option<Ref>,
    /// The wire format the reply will be encoded in.
    pub format: Format,
}

/// Answers one call.
pub async fn dispatch(server: &Arc<Api>, call: MethodCall, meta: &CallMeta) -> Reply {
    match run(server, call, meta).await {
        Ok(Answer::Value(v)) => Reply::Success(v),
        Ok(Answer::Bare(v)) => Reply::Bare(v),
        Err(e) => Reply::Failure(e.to_vec()),
    }
}

enum Answer {
    Value(Value),
    Bare(Value),
}

async fn run(server: &Arc<Api>, call: MethodCall, meta: &CallMeta) -> ApiResult<Answer> {
    let MethodCall {
        method: name,
        params,
    } = call;
    let Some((method, async_form)) = server.methods.lookup(&name) else {
        let bare = name
            .strip_prefix("Async.")
            .or_else(|| name.strip_prefix("InternalAsync."))
            .unwrap_or(&name);
        return Err(ApiError::message_method_unknown(bare));
    };
    if async_form && !method.is_async {
        // xapi answers "No async mode for this operation"; there is no such
        // method, so say so with the name as called.
        return Err(ApiError::message_method_unknown(&name));
    }
    if method.kind == MethodKind::ListMethods {
        return Ok(Answer::Bare(list_methods(server)));
    }
    let mut params = params;
    let session_arg = if method.session {
        if params.is_empty() {
            return Err(ApiError::session_invalid(""));
        }
        Some(params.remove(0))
    } else {
        None
    };
    check_count(method, params.len())?;
    let (args, bad_ref) = convert_params(server, method, params)?;
    let session = match session_arg {
        Some(v) => sessions::check(&server.domain, &v)?,
        None => Ref::NULL,
    };
    // A reference that does not parse is, as in xapi, only found out by the
    // implementation, i.e. after the session check.
    if let Some(e) = bad_ref {
        return Err(e);
    }
    let class = method.class.unwrap_or_default();
    match method.kind {
        MethodKind::Explicit(mi) => {
            let handler = server.handler(class, mi);
            let cx = Ctx {
                api: server.clone(),
                session,
                task: None,
                subtask_of: meta.subtask_of,
                format: meta.format,
            };
            if async_form {
                let label = if name.starts_with("InternalAsync.") {
                    format!("Async.{}", method.wire)
                } else {
                    name.clone()
                };
                let t = task::spawn_async(cx, label, handler, args).await?;
                Ok(Answer::Value(Value::Ref(t)))
            } else {
                handler(cx, args).await.map(Answer::Value)
            }
        }
        kind => implicit::run(server, class, kind, args, meta.format)
            .await
            .map(Answer::Value),
    }
}

fn check_count(method: &Method, received: usize) -> ApiResult<()> {
    let max = method.params.len();
    if received < method.min_params || received > max {
        let expected = if received < method.min_params {
            method.min_params
        } else {
            max
        };
        return Err(ApiError::message_parameter_count_mismatch(
            &method.wire,
            expected,
            received,
        ));
    }
    Ok(())
}

/// Checks and converts the parameters. A `HANDLE_INVALID` (a string that
/// is not a reference) is returned aside, to be raised after the session
/// check; other errors are raised at once.
fn convert_params(
    server: &Api,
    method: &Method,
    mut params: Vec<Value>,
) -> ApiResult<(Args, Option<ApiError>)> {
    let mut bad_ref = None;
    for (p, v) in method.params.iter().zip(params.iter_mut()) {
        let given = std::mem::replace(v, Value::Nil);
        match convert::from_wire(&server.domain.model, &p.ty, &p.name, given) {
            Ok(x) => *v = x,
            Err(e) if e.code == codes::HANDLE_INVALID => {
                bad_ref.get_or_insert(e);
                *v = Value::Ref(Ref::NULL);
            }
            Err(e) => return Err(e),
        }
    }
    Ok((Args(params), bad_ref))
}

fn list_methods(server: &Api) -> Value {
    Value::Array(
        server
            .methods
            .all()
            .iter()
            .map(|m| Value::from(m.wire.as_str()))
            .collect(),
    )
}
