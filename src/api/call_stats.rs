//! RPC calls by method and outcome, and how long they took: the
//! instruments of `xapid_rpc_calls_total` and
//! `xapid_rpc_call_duration_seconds`. One slot per method and form (plain
//! or `Async.`), found by index (no hashing, no lock); a slot's histogram
//! is made on the method's first call, so a scrape lists only methods that
//! were called.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::metrics::{Histogram, MetricType, Page, LATENCY_BOUNDS};
use crate::model::MethodTable;

#[derive(Default)]
struct Slot {
    success: AtomicU64,
    failure: AtomicU64,
    latency: OnceLock<Histogram>,
}

/// The counters of every method.
pub struct CallStats {
    /// Two per method (plain, `Async.`), in method-table order.
    slots: Box<[Slot]>,
    /// Calls to names the server does not know.
    unknown: Slot,
}

impl std::fmt::Debug for CallStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallStats").finish_non_exhaustive()
    }
}

/// Counter names and help of the page.
const CALLS: &str = "xapid_rpc_calls";
const CALLS_HELP: &str = "XML-RPC and JSON-RPC calls answered, by method and outcome (success or failure: a XenAPI error).";
const LATENCY: &str = "xapid_rpc_call_duration_seconds";
const LATENCY_HELP: &str = "Time from a call's decoded request to its answer, by method (an Async call ends once its task exists; event.from and event.next wait up to their timeout).";

impl CallStats {
    /// Slots for the methods of `table`.
    pub fn new(table: &MethodTable) -> CallStats {
        CallStats {
            slots: (0..table.all().len() * 2)
                .map(|_| Slot::default())
                .collect(),
            unknown: Slot::default(),
        }
    }

    fn slot(&self, method: Option<(usize, bool)>) -> &Slot {
        method
            .and_then(|(i, is_async)| self.slots.get(i * 2 + usize::from(is_async)))
            .unwrap_or(&self.unknown)
    }

    /// Records one call of `method` (its index and whether the `Async.`
    /// form was called; `None` for an unknown name).
    pub fn record(&self, method: Option<(usize, bool)>, ok: bool, took: Duration) {
        let s = self.slot(method);
        if ok {
            s.success.fetch_add(1, Ordering::Relaxed);
        } else {
            s.failure.fetch_add(1, Ordering::Relaxed);
        }
        s.latency
            .get_or_init(|| Histogram::new(LATENCY_BOUNDS))
            .observe(took);
    }

    /// Writes the counters of every method called so far.
    pub fn write(&self, table: &MethodTable, page: &mut Page) {
        page.declare(CALLS, CALLS_HELP, MetricType::Counter);
        page.declare(LATENCY, LATENCY_HELP, MetricType::Histogram);
        let named = table
            .all()
            .iter()
            .flat_map(|m| [m.wire.clone(), format!("Async.{}", m.wire)]);
        let all = self
            .slots
            .iter()
            .zip(named)
            .chain([(&self.unknown, "(unknown)".to_owned())]);
        for (slot, name) in all {
            let Some(h) = slot.latency.get() else {
                continue;
            };
            for (outcome, n) in [("success", &slot.success), ("failure", &slot.failure)] {
                let labels = vec![("method", name.clone()), ("outcome", outcome.to_owned())];
                page.counter(CALLS, CALLS_HELP, labels, n.load(Ordering::Relaxed));
            }
            page.histogram(LATENCY, LATENCY_HELP, vec![("method", name)], h.snapshot());
        }
    }
}
