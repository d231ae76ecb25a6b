//! Typed access to a call's parameters once dispatch has checked them
//! against the datamodel (so a mismatch here is a server bug, answered with
//! a default rather than a panic).

use crate::wire::{Ref, Value};

/// The checked parameters of a call (the session excluded).
#[derive(Debug, Default)]
pub struct Args(pub Vec<Value>);

impl Args {
    /// A reference parameter.
    pub fn r(&self, i: usize) -> Ref {
        match self.0.get(i) {
            Some(Value::Ref(r)) => *r,
            _ => Ref::NULL,
        }
    }

    /// A string parameter.
    pub fn str(&self, i: usize) -> &str {
        self.0.get(i).and_then(Value::as_str).unwrap_or("")
    }

    /// An optional trailing string parameter.
    pub fn opt_str(&self, i: usize) -> Option<&str> {
        self.0.get(i).and_then(Value::as_str)
    }

    /// A float parameter.
    pub fn f64(&self, i: usize) -> f64 {
        match self.0.get(i) {
            Some(Value::Double(d)) => *d,
            _ => 0.0,
        }
    }

    /// An int parameter.
    pub fn i64(&self, i: usize) -> i64 {
        match self.0.get(i) {
            Some(Value::Int(v)) => *v,
            _ => 0,
        }
    }

    /// A bool parameter.
    pub fn bool(&self, i: usize) -> bool {
        matches!(self.0.get(i), Some(Value::Bool(true)))
    }

    /// Takes a parameter out.
    pub fn take(&mut self, i: usize) -> Value {
        self.0
            .get_mut(i)
            .map(|v| std::mem::replace(v, Value::Nil))
            .unwrap_or(Value::Nil)
    }
}
