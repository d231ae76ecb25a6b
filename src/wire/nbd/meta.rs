//! Metadata context queries. A context is `namespace:leaf`, e.g.
//! `base:allocation`, `qemu:allocation-depth`, `qemu:dirty-bitmap:b1`.
//!
//! - A query ending in `:` (`base:`, `qemu:`, `qemu:dirty-bitmap:`) is a
//!   prefix wildcard when listing, and selects nothing when setting (as
//!   the spec says of `base:` and QEMU of its namespace).
//! - Any other query names one context exactly.
//! - A query of an unknown namespace matches nothing (never an error); a
//!   query without a colon is invalid.
//! - Listing with no query lists every context offered.

/// Whether a query has the `namespace:` shape (a nonempty namespace
/// without whitespace, then a colon).
pub fn well_formed(query: &str) -> bool {
    match query.split_once(':') {
        Some((ns, _)) => !ns.is_empty() && !ns.chars().any(char::is_whitespace),
        None => false,
    }
}

/// The offered contexts that `NBD_OPT_LIST_META_CONTEXT` with `queries`
/// answers, in offered order.
pub fn list<'a>(offered: &'a [String], queries: &[String]) -> Vec<&'a str> {
    offered
        .iter()
        .filter(|c| {
            queries.is_empty()
                || queries.iter().any(|q| {
                    if q.ends_with(':') {
                        c.starts_with(q.as_str())
                    } else {
                        c.as_str() == q.as_str()
                    }
                })
        })
        .map(String::as_str)
        .collect()
}

/// The offered contexts that `NBD_OPT_SET_META_CONTEXT` with `queries`
/// selects, in query order, each once.
pub fn select<'a>(offered: &'a [String], queries: &[String]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for q in queries {
        if q.ends_with(':') {
            continue;
        }
        if let Some(c) = offered.iter().find(|c| c.as_str() == q.as_str()) {
            if !out.contains(&c.as_str()) {
                out.push(c.as_str());
            }
        }
    }
    out
}
