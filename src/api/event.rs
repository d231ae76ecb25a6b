//! `event`: `from` (coalesced changes since a token, blocking until there
//! is one or the timeout), `get_current_id`, `inject`, and the legacy
//! `register`/`unregister`/`next` queue, over the registry's change log
//! ([`crate::registry::events`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::implicit::record;
use super::{Api, ApiError, ApiResult, Ctx};
use crate::model::schema::args::{
    EventFrom, EventGetCurrentId, EventInject, EventNext, EventRegister, EventUnregister,
};
use crate::model::schema::session;
use crate::model::ClassId;
use crate::registry::events::{Change, Op};
use crate::registry::Write;
use crate::wire::records::{EventBatch, Format, RecordMap};
use crate::wire::value::ValueStream;
use crate::wire::{Ref, Value};

/// A negative or NaN timeout waits this long (as xapi).
const FOREVER: Duration = Duration::from_secs(24 * 3600);

/// What a set of subscriptions selects.
#[derive(Debug, Default, Clone)]
struct Subs {
    all: bool,
    classes: Vec<ClassId>,
    objects: Vec<(ClassId, Ref)>,
}

impl Subs {
    fn parse(server: &Api, subs: &[String]) -> ApiResult<Subs> {
        let mut out = Subs::default();
        for s in subs {
            let bad = || ApiError::event_subscription_parse_failure(s);
            if s == "*" {
                out.all = true;
                continue;
            }
            let (cname, r) = match s.split_once('/') {
                Some((c, r)) => (c, Some(Ref::parse(r).ok_or_else(bad)?)),
                None => (s.as_str(), None),
            };
            let class = class_by_name(server, cname).ok_or_else(bad)?;
            match r {
                Some(r) => out.objects.push((class, r)),
                None => out.classes.push(class),
            }
        }
        Ok(out)
    }

    fn class(&self, server: &Api, c: ClassId) -> bool {
        server.domain.model.classes[c].events && (self.all || self.classes.contains(&c))
    }

    fn matches(&self, server: &Api, c: ClassId, r: Ref) -> bool {
        self.class(server, c)
            || (server.domain.model.classes[c].events && self.objects.contains(&(c, r)))
    }

    fn any_class(&self, server: &Api, c: ClassId) -> bool {
        self.class(server, c) || self.objects.iter().any(|(x, _)| *x == c)
    }
}

/// A class by its name, case-insensitively.
fn class_by_name(server: &Api, name: &str) -> Option<ClassId> {
    server
        .domain
        .model
        .classes
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(name))
}

fn token(gen: u64) -> String {
    format!("{gen:020},{:020}", 0)
}

fn parse_token(t: &str) -> ApiResult<Option<u64>> {
    if t.is_empty() {
        return Ok(None);
    }
    let bad = || ApiError::event_from_token_parse_failure(t);
    let (a, b) = t.split_once(',').ok_or_else(bad)?;
    let a = a.trim().parse::<u64>().map_err(|_| bad())?;
    b.trim().parse::<u64>().map_err(|_| bad())?;
    Ok(Some(a))
}

fn event(server: &Api, gen: u64, class: ClassId, r: Ref, op: Op, timestamp: &str) -> Option<Value> {
    let c = &server.domain.model.classes[class];
    let mut ev = vec![
        ("id".to_string(), Value::from(gen.to_string())),
        ("timestamp".to_string(), Value::from(timestamp)),
        (
            "class".to_string(),
            Value::from(c.name.to_ascii_lowercase()),
        ),
        ("operation".to_string(), Value::from(op.name())),
        ("ref".to_string(), Value::Ref(r)),
    ];
    if op != Op::Del {
        let snap = server
            .domain
            .registry
            .read(class, r, |row| record(server, class, row))?;
        ev.push(("snapshot".to_string(), snap));
    }
    Some(Value::Struct(ev))
}

/// The coalesced events after `since` (everything alive for `None`).
fn collect(server: &Api, subs: &Subs, since: Option<u64>) -> Vec<Value> {
    let reg = &server.domain.registry;
    let scan = |since: u64| {
        let mut out = Vec::new();
        for (c, _) in server.domain.model.classes.iter().enumerate() {
            if !subs.any_class(server, c) {
                continue;
            }
            let mut rows = Vec::new();
            reg.for_each(c, |r, row| {
                if row.modified > since && subs.matches(server, c, r) {
                    let op = if row.created > since {
                        Op::Add
                    } else {
                        Op::Mod
                    };
                    rows.push((row.modified, r, op));
                }
            });
            rows.sort_by_key(|x| x.0);
            out.extend(
                rows.into_iter()
                    .filter_map(|(g, r, op)| event(server, g, c, r, op, "0.0")),
            );
        }
        out
    };
    let Some(since) = since else {
        return scan(0);
    };
    let Some(changes) = reg
        .events()
        .since(since, |c| subs.matches(server, c.class, c.r))
    else {
        // The log no longer reaches back that far: what is alive and
        // changed (deletions older than the log are not known).
        return scan(since);
    };
    coalesce(server, since, &changes)
}

/// One event per object: its last change, as add (created after the
/// token), mod, or del (only if it existed at the token).
fn coalesce(server: &Api, since: u64, changes: &[Change]) -> Vec<Value> {
    let mut last: HashMap<(ClassId, Ref), usize> = HashMap::new();
    for (i, c) in changes.iter().enumerate() {
        last.insert((c.class, c.r), i);
    }
    let mut order: Vec<usize> = last.into_values().collect();
    order.sort_unstable();
    order
        .into_iter()
        .filter_map(|i| {
            let c = &changes[i];
            let op = match c.op {
                Op::Del if c.created <= since => Op::Del,
                Op::Del => return None,
                _ if c.created > since => Op::Add,
                _ => Op::Mod,
            };
            let alive = server.domain.registry.exists(c.class, c.r);
            match (op, alive) {
                (Op::Del, _) => event(server, c.gen, c.class, c.r, op, "0.0"),
                (_, true) => event(server, c.gen, c.class, c.r, op, "0.0"),
                // Gone since: its del comes later in the log.
                (_, false) => None,
            }
        })
        .collect()
}

fn valid_ref_counts(server: &Api) -> Value {
    Value::Struct(
        server
            .domain
            .model
            .classes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.name != "event")
            .map(|(i, c)| {
                let n = server.domain.registry.count(i).min(i32::MAX as usize) as i32;
                (c.name.to_ascii_lowercase(), Value::I4(n))
            })
            .collect(),
    )
}

fn session_alive(server: &Api, session: Ref) -> ApiResult<()> {
    if server.domain.registry.exists(session::CLASS, session) {
        Ok(())
    } else {
        Err(ApiError::session_invalid(session))
    }
}

/// Waits for the generation to move past `seen`, at most until `deadline`.
/// Returns false at the deadline or when the server is stopping (answer
/// now); `SESSION_INVALID` once the session is gone. One registration per
/// waiter: changes, logouts and shutdown all wake the same watch.
async fn wait_change(server: &Api, session: Ref, seen: u64, deadline: Instant) -> ApiResult<bool> {
    let log = server.domain.registry.events();
    let mut rx = log.subscribe();
    let timer = tokio::time::sleep_until(deadline.into());
    tokio::pin!(timer);
    loop {
        // Marked seen before the checks, so a change or logout in between
        // wakes the wait below at once.
        rx.borrow_and_update();
        session_alive(server, session)?;
        if log.generation() > seen {
            return Ok(true);
        }
        if log.is_closed() || Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::select! {
            r = rx.changed() => { if r.is_err() { return Ok(false); } }
            _ = &mut timer => {}
        }
    }
}

/// `event.from(classes, token, timeout)`.
pub async fn from(cx: Ctx, a: EventFrom) -> ApiResult<Value> {
    let EventFrom {
        classes: sub_names,
        token: from_token,
        timeout: t,
    } = a;
    let s = &cx.api;
    let subs = Subs::parse(s, &sub_names)?;
    let mut since = parse_token(&from_token)?;
    let timeout = if t.is_finite() && t >= 0.0 {
        Duration::from_secs_f64(t.min(FOREVER.as_secs_f64()))
    } else {
        FOREVER
    };
    let mut deadline = Instant::now() + timeout;
    if since.is_none() && any_alive(s, &subs) {
        // Everything: streamed straight from the rows.
        let cur = s.domain.registry.generation();
        return Ok(stream_all(s.clone(), subs, cur, cx.format));
    }
    let mut subs_key = sub_names;
    subs_key.sort();
    let subs_key = subs_key.join("\n");
    loop {
        let cur = s.domain.registry.generation();
        // Many watchers of one object wake at the same change with the
        // same token: the first encodes the answer, the others share it.
        let key = (subs_key.clone(), since, cur, cx.format == Format::Json);
        if let Some(bytes) = s.event_cache.get(&key) {
            return Ok(shared(bytes));
        }
        let events = collect(s, &subs, since);
        if !events.is_empty() || Instant::now() >= deadline {
            // (An empty answer at a deadline is this waiter's alone.)
            let share = !events.is_empty();
            let batch = Value::Struct(vec![
                ("events".to_string(), Value::Array(events)),
                ("valid_ref_counts".to_string(), valid_ref_counts(s)),
                ("token".to_string(), Value::from(token(cur))),
            ]);
            let mut out = Vec::new();
            match cx.format {
                Format::Xml => crate::wire::xmlrpc::encode_value(&batch, &mut out),
                Format::Json => crate::wire::jsonrpc::write_value(&batch, &mut out),
            }
            let bytes = bytes::Bytes::from(out);
            if share {
                s.event_cache.put(key, bytes.clone());
            }
            return Ok(shared(bytes));
        }
        since = Some(cur);
        if !wait_change(s, cx.session, cur, deadline).await? {
            // The deadline (or shutdown): one last look, then answer.
            deadline = Instant::now();
            continue;
        }
    }
}

/// An answer already encoded, handed to the HTTP layer as a stream of one
/// chunk.
fn shared(bytes: bytes::Bytes) -> Value {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let _ = tx.try_send(bytes);
    Value::Stream(ValueStream::new(rx))
}

/// The last encoded `event.from` answers, by (subscriptions, token, the
/// generation they were computed at, JSON?). Small: a few keys are enough
/// for a crowd of watchers of the same thing.
#[derive(Default)]
pub struct EventCache {
    entries: std::sync::Mutex<std::collections::VecDeque<(CacheKey, bytes::Bytes)>>,
}

type CacheKey = (String, Option<u64>, u64, bool);

impl std::fmt::Debug for EventCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventCache").finish_non_exhaustive()
    }
}

impl EventCache {
    const SIZE: usize = 16;

    fn get(&self, key: &CacheKey) -> Option<bytes::Bytes> {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.iter().find(|(k, _)| k == key).map(|(_, b)| b.clone())
    }

    fn put(&self, key: CacheKey, bytes: bytes::Bytes) {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if e.len() == Self::SIZE {
            e.pop_front();
        }
        e.push_back((key, bytes));
    }
}

fn any_alive(server: &Api, subs: &Subs) -> bool {
    server
        .domain
        .model
        .classes
        .iter()
        .enumerate()
        .any(|(c, _)| {
            (subs.class(server, c) && server.domain.registry.count(c) > 0)
                || subs
                    .objects
                    .iter()
                    .any(|(x, r)| *x == c && server.domain.registry.exists(c, *r))
        })
}

/// A piece of `stream_all`'s answer: a class, its lower-case name, its
/// pre-encoded member names, and rows in the order they were made.
type Piece<'a> = (usize, &'a str, &'a Vec<Vec<u8>>, &'a [(u64, Ref)]);

/// `event.from` with token "": an `add` for every live object, encoded from
/// the rows on blocking threads, in pieces on every core, and streamed in
/// order in chunks (100k objects make a reply of 180 MB, which is never
/// held whole).
fn stream_all(server: std::sync::Arc<Api>, subs: Subs, cur: u64, format: Format) -> Value {
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
    tokio::task::spawn_blocking(move || {
        let s = &*server;
        let reg = &s.domain.registry;
        // Each class's matching rows, in the order they were made (see
        // `implicit::stream_records`).
        let mut classes = Vec::new();
        for (c, class) in s.domain.model.classes.iter().enumerate() {
            if !subs.any_class(s, c) {
                continue;
            }
            let names = EventBatch::new(format).names(class.fields.iter().map(|f| f.name.as_str()));
            let mut order: Vec<(u64, Ref)> = Vec::with_capacity(reg.count(c));
            reg.for_each(c, |r, row| {
                if subs.matches(s, c, r) {
                    order.push((row.created, r));
                }
            });
            order.sort_unstable();
            classes.push((c, class.name.to_ascii_lowercase(), names, order));
        }
        let pieces: Vec<_> = classes
            .iter()
            .flat_map(|(c, lower, names, order)| {
                order
                    .chunks(super::pieces::PIECE_ROWS)
                    .map(move |rows| (*c, lower.as_str(), names, rows))
            })
            .collect();
        let encode = |_: usize, &(c, lower, names, rows): &Piece<'_>| {
            let fields = &s.domain.model.classes[c].fields;
            let mut batch = EventBatch::part(format);
            let mut chunks = Vec::new();
            for (_, r) in rows {
                reg.read(c, *r, |row| {
                    let visible = fields
                        .iter()
                        .zip(names.iter())
                        .zip(row.fields.iter())
                        .filter(|((f, _), _)| !f.internal)
                        .map(|((_, n), v)| (n.as_slice(), v));
                    batch.event(row.modified, lower, "add", *r, Some(visible));
                });
                chunks.extend(batch.take_chunk());
            }
            let rest = batch.into_rest();
            if !rest.is_empty() {
                chunks.push(rest);
            }
            chunks
        };
        super::pieces::stream_joined(
            &tx,
            EventBatch::new(format).into_rest(),
            &pieces,
            RecordMap::separator(format),
            encode,
            || EventBatch::part(format).finish(&valid_ref_counts(s), &token(cur)),
        );
    });
    Value::Stream(ValueStream::new(rx))
}

/// `event.get_current_id()`.
pub async fn get_current_id(cx: Ctx, _: EventGetCurrentId) -> ApiResult<Value> {
    Ok(Value::Int(cx.api.domain.registry.generation() as i64))
}

/// `event.inject(class, ref)`.
pub async fn inject(cx: Ctx, a: EventInject) -> ApiResult<Value> {
    let EventInject {
        class: cname,
        ref_: rs,
    } = a;
    let s = &cx.api;
    let class = class_by_name(s, &cname)
        .filter(|c| s.domain.model.classes[*c].events)
        .ok_or_else(|| ApiError::handle_invalid(&cname, &rs))?;
    let r = Ref::parse(&rs)
        .ok_or_else(|| ApiError::handle_invalid(&s.domain.model.classes[class].name, &rs))?;
    let ((), _volatile) = s
        .domain
        .registry
        .update(class, r, Write::Volatile, |_| Ok(()))?;
    let g = s.domain.registry.read_or(class, r, |row| row.modified)?;
    Ok(Value::from(token(g.saturating_sub(1))))
}

/// Legacy registrations, by session.
#[derive(Default)]
pub struct Registrations {
    by_session: DashMap<Ref, (Vec<String>, u64)>,
}

impl std::fmt::Debug for Registrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrations").finish_non_exhaustive()
    }
}

/// `event.register(classes)`.
pub async fn register(cx: Ctx, a: EventRegister) -> ApiResult<Value> {
    let EventRegister { classes: new } = a;
    let s = &cx.api;
    Subs::parse(s, &new)?;
    let cur = s.domain.registry.generation();
    let mut e = s
        .registrations
        .by_session
        .entry(cx.session)
        .or_insert((Vec::new(), cur));
    for c in new {
        if !e.0.contains(&c) {
            e.0.push(c);
        }
    }
    Ok(Value::void())
}

/// `event.unregister(classes)`.
pub async fn unregister(cx: Ctx, a: EventUnregister) -> ApiResult<Value> {
    let EventUnregister { classes: gone } = a;
    let s = &cx.api;
    Subs::parse(s, &gone)?;
    if let Some(mut e) = s.registrations.by_session.get_mut(&cx.session) {
        e.0.retain(|c| !gone.contains(c));
    }
    s.registrations
        .by_session
        .remove_if(&cx.session, |_, e| e.0.is_empty());
    Ok(Value::void())
}

fn session_hash(r: Ref) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in r.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `event.next()`.
pub async fn next(cx: Ctx, _: EventNext) -> ApiResult<Value> {
    let s = &cx.api;
    loop {
        let (classes, cursor) = s
            .registrations
            .by_session
            .get(&cx.session)
            .map(|e| e.clone())
            .ok_or_else(|| ApiError::session_not_registered(session_hash(cx.session)))?;
        let subs = Subs::parse(s, &classes)?;
        let cur = s.domain.registry.generation();
        let Some(changes) = s
            .domain
            .registry
            .events()
            .since(cursor, |c| subs.matches(s, c.class, c.r))
        else {
            s.registrations.by_session.remove(&cx.session);
            return Err(ApiError::events_lost());
        };
        if let Some(last) = changes.last() {
            let now = format!("{:.6}", crate::wire::DateTime::now().0 as f64);
            let events: Vec<Value> = changes
                .iter()
                .filter_map(|c| event(s, c.gen, c.class, c.r, c.op, &now))
                .collect();
            let upto = last.gen;
            if let Some(mut e) = s.registrations.by_session.get_mut(&cx.session) {
                e.1 = e.1.max(upto);
            }
            if !events.is_empty() {
                return Ok(Value::Array(events));
            }
            continue;
        }
        if let Some(mut e) = s.registrations.by_session.get_mut(&cx.session) {
            e.1 = e.1.max(cur);
        }
        if !wait_change(s, cx.session, cur, Instant::now() + FOREVER).await? {
            // The server is stopping: nothing more to tell.
            return Ok(Value::Array(Vec::new()));
        }
    }
}
