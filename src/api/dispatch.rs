//! From a decoded call to a reply, in xapi's order: find the method, check
//! the parameter count, check the parameter types, check the session,
//! check the session's permission (RBAC), run. `Async.` calls get a task
//! at once and run in the background. Calls that change something, logins
//! and denied calls are written to the audit log before the answer goes.

use std::sync::Arc;
use std::time::Instant;

use super::{implicit, task, Api, ApiError, ApiResult, Args, Ctx};
use crate::domain::audit::Entry;
use crate::domain::roles;
use crate::domain::sessions::{self, Identity};
use crate::model::schema::codes;
use crate::model::{convert, Method, MethodKind, Type};
use crate::wire::records::Format;
use crate::wire::{MethodCall, Ref, Reply, Value};

/// What the HTTP layer knows about a call beyond its body.
#[derive(Clone, Debug, Default)]
pub struct CallMeta {
    /// The `subtask-of` request header, when it names a reference.
    pub subtask_of: Option<Ref>,
    /// The wire format the reply will be encoded in.
    pub format: Format,
    /// The client's address.
    pub peer: Option<std::net::SocketAddr>,
}

/// Answers one call.
pub async fn dispatch(server: &Arc<Api>, call: MethodCall, meta: &CallMeta) -> Reply {
    let started = Instant::now();
    let id = server.methods.lookup_id(&call.method);
    let out = run(server, call, meta).await;
    server.calls.record(id, out.is_ok(), started.elapsed());
    match out {
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
    let identity = match session_arg {
        Some(v) => {
            let who = sessions::check(&server.domain, &v)?;
            if !who.allows(method.roles) {
                let e = roles::denied(&server.domain, &method.permission, method.roles);
                audit(server, meta, &name, method, &who, &args.0, &Err(e.clone()));
                return Err(e);
            }
            who
        }
        None => Arc::new(Identity::anonymous()),
    };
    // A reference that does not parse is, as in xapi, only found out by the
    // implementation, i.e. after the session check.
    if let Some(e) = bad_ref {
        return Err(e);
    }
    let kept = if audited(server, method) {
        Some(args.0.clone())
    } else {
        None
    };
    let out = execute(
        server,
        meta,
        &name,
        method,
        async_form,
        identity.clone(),
        args,
    )
    .await;
    if let Some(params) = kept {
        let login = !method.session;
        let who = if login {
            // The name the login tried (never the password).
            let user = params.first().and_then(Value::as_str).unwrap_or("");
            Arc::new(Identity::named(user))
        } else {
            identity
        };
        let params = if login { &[][..] } else { &params[..] };
        // A login's result is a session ref: a bearer secret.
        let shown = out.as_ref().map(|a| match a {
            Answer::Value(Value::Ref(r)) if !login => Value::Ref(*r),
            _ => Value::Nil,
        });
        let shown = shown.map_err(|e| e.clone());
        audit(server, meta, &name, method, &who, params, &shown);
    }
    out
}

/// Whether a call is written to the audit log when allowed: everything
/// that can change something (explicit messages but readers and events,
/// setters and map updates) and every login.
fn audited(server: &Api, method: &Method) -> bool {
    match method.kind {
        MethodKind::SetField(_) | MethodKind::AddToMap(_) | MethodKind::RemoveFromMap(_) => true,
        MethodKind::Explicit(_) => {
            let class = method
                .class
                .map(|c| server.domain.model.classes[c].name.as_str());
            let name = method.wire.split_once('.').map_or("", |x| x.1);
            class != Some("event") && !name.starts_with("get_")
        }
        _ => false,
    }
}

/// Writes the audit line of a call. Session refs among the parameters are
/// left out (they are bearer secrets), as is every non-ref parameter.
fn audit(
    server: &Api,
    meta: &CallMeta,
    name: &str,
    method: &Method,
    who: &Identity,
    params: &[Value],
    out: &ApiResult<Value>,
) {
    let refs: Vec<Value> = method
        .params
        .iter()
        .zip(params)
        .filter(|(p, _)| !mentions_session(&p.ty))
        .map(|(_, v)| v.clone())
        .collect();
    let mut e = Entry::by(name, who, meta.peer).refs_of(&refs);
    match out {
        Ok(Value::Ref(r)) => e.returned = Some(r.to_string()),
        Ok(_) => {}
        Err(err) => e.failed(err),
    }
    server.domain.audit.record(&e);
}

fn mentions_session(ty: &Type) -> bool {
    match ty {
        Type::Ref(c) => c == "session",
        Type::Set(t) => mentions_session(t),
        Type::Map(k, v) => mentions_session(k) || mentions_session(v),
        _ => false,
    }
}

/// Runs an allowed call.
async fn execute(
    server: &Arc<Api>,
    meta: &CallMeta,
    name: &str,
    method: &Method,
    async_form: bool,
    identity: Arc<Identity>,
    args: Args,
) -> ApiResult<Answer> {
    let class = method.class.unwrap_or_default();
    match method.kind {
        MethodKind::Explicit(mi) => {
            let handler = server.handler(class, mi);
            let cx = Ctx {
                api: server.clone(),
                session: identity.session,
                identity,
                task: None,
                subtask_of: meta.subtask_of,
                format: meta.format,
            };
            if async_form {
                let label = if name.starts_with("InternalAsync.") {
                    format!("Async.{}", method.wire)
                } else {
                    name.to_owned()
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
