//! Typed handles on the fields of a row, and the conversions between stored
//! [`Value`]s and Rust types that they use.
//!
//! A row is a `Box<[Value]>` in the model's field order. The generated
//! [`schema`](super::schema) names every field as a [`Field<T>`] constant:
//! the class, the index in the row and the wire name, with `T` the Rust
//! type of the datamodel type. Code that reads or writes a row through
//! these handles stops compiling when the datamodel changes a field's
//! type, instead of reading a default at run time.
//!
//! ```
//! use xapid::model::schema::{vdi, VdiType};
//! use xapid::model::{self, RowExt};
//! use xapid::wire::Ref;
//!
//! let m = model::load_sources(model::embedded()).unwrap();
//! let mut row = m.default_row(vdi::CLASS);
//! row.set(vdi::SR, Ref::NULL);
//! row.set(vdi::VIRTUAL_SIZE, 1 << 30);
//! assert_eq!(row.field(vdi::TYPE), VdiType::User);
//! // Maps and other large values can be borrowed rather than cloned.
//! row[vdi::SM_CONFIG].map_set("image-format", Some("qcow2"));
//! assert_eq!(row[vdi::SM_CONFIG].map_get("image-format"), Some("qcow2"));
//! ```
//!
//! The typed read is `field`, not `get`: `[T]::get` is an inherent method
//! of slices, and Rust would pick it (and fail on the bound) before any
//! trait method of that name.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

use super::ClassId;
use crate::wire::{DateTime, Ref, Value};

/// A field of a class whose values convert to and from `T`.
///
/// Copied freely and built in `const` context; the generated schema has one
/// per field of the datamodel. The handle does not know which row it is
/// used on: using a `vdi::` handle on a task row reads the wrong field (a
/// debug assertion catches indices beyond the row).
pub struct Field<T> {
    class: ClassId,
    index: usize,
    name: &'static str,
    // `fn() -> T`: the handle neither owns a `T` nor cares whether `T` is
    // `Send`/`Sync`; it only names the type.
    ty: PhantomData<fn() -> T>,
}

impl<T> Field<T> {
    /// A handle on field `index` (wire name `name`) of `class`.
    pub const fn new(class: ClassId, index: usize, name: &'static str) -> Field<T> {
        Field {
            class,
            index,
            name,
            ty: PhantomData,
        }
    }

    /// The class the field belongs to.
    pub const fn class(self) -> ClassId {
        self.class
    }

    /// The index of the field in a row of its class.
    pub const fn index(self) -> usize {
        self.index
    }

    /// The field's wire name, e.g. `virtual_size`.
    pub const fn name(self) -> &'static str {
        self.name
    }
}

// Written out rather than derived: a derive would demand `T: Copy`.
impl<T> Clone for Field<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Field<T> {}

impl<T> PartialEq for Field<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.class, self.index) == (other.class, other.index)
    }
}

impl<T> Eq for Field<T> {}

impl<T> fmt::Debug for Field<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Field({}#{} {})", self.class, self.index, self.name)
    }
}

/// A Rust type that stands for a datamodel type in a row.
///
/// Rows are checked against the model when they are loaded and every write
/// goes through [`model::convert`](super::convert) or a typed setter, so a
/// value of the wrong shape is a server bug: it reads as the type's default
/// (`Value::Nil` reads as the default of every type but `Value`) rather
/// than panicking.
pub trait FieldValue: Sized {
    /// The value as `Self`, cloning what it must.
    fn from_value(v: &Value) -> Self;

    /// The stored form.
    fn into_value(self) -> Value;

    /// The value as `Self`, moving rather than cloning where the type owns
    /// heap data (strings, sets, maps).
    fn take_value(v: Value) -> Self {
        Self::from_value(&v)
    }
}

impl FieldValue for Value {
    fn from_value(v: &Value) -> Self {
        v.clone()
    }

    fn into_value(self) -> Value {
        self
    }

    fn take_value(v: Value) -> Self {
        v
    }
}

impl FieldValue for Ref {
    fn from_value(v: &Value) -> Self {
        v.as_ref_or_null()
    }

    fn into_value(self) -> Value {
        Value::Ref(self)
    }
}

impl FieldValue for i64 {
    fn from_value(v: &Value) -> Self {
        match v {
            Value::Int(i) => *i,
            Value::I4(i) => (*i).into(),
            _ => 0,
        }
    }

    fn into_value(self) -> Value {
        Value::Int(self)
    }
}

impl FieldValue for f64 {
    fn from_value(v: &Value) -> Self {
        match v {
            Value::Double(d) => *d,
            _ => 0.0,
        }
    }

    fn into_value(self) -> Value {
        Value::Double(self)
    }
}

impl FieldValue for bool {
    fn from_value(v: &Value) -> Self {
        matches!(v, Value::Bool(true))
    }

    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}

impl FieldValue for String {
    fn from_value(v: &Value) -> Self {
        v.as_str().unwrap_or_default().to_owned()
    }

    fn into_value(self) -> Value {
        Value::from(self)
    }

    fn take_value(v: Value) -> Self {
        match v {
            Value::String(s) => s.into_string(),
            _ => String::new(),
        }
    }
}

impl FieldValue for DateTime {
    fn from_value(v: &Value) -> Self {
        match v {
            Value::DateTime(d) => *d,
            _ => DateTime::EPOCH,
        }
    }

    fn into_value(self) -> Value {
        Value::DateTime(self)
    }
}

/// `<t> set`: refs, strings, enums, structs.
impl<T: FieldValue> FieldValue for Vec<T> {
    fn from_value(v: &Value) -> Self {
        match v {
            Value::Array(a) => a.iter().map(T::from_value).collect(),
            _ => Vec::new(),
        }
    }

    fn into_value(self) -> Value {
        Value::Array(self.into_iter().map(T::into_value).collect())
    }

    fn take_value(v: Value) -> Self {
        match v {
            Value::Array(a) => a.into_iter().map(T::take_value).collect(),
            _ => Vec::new(),
        }
    }
}

/// A `(string -> V) map`: its members in order, keys unique.
///
/// Maps are small (a handful of `other_config` keys), so a vector beats a
/// hash map, and it keeps the order clients see.
#[derive(Clone, Debug, PartialEq)]
pub struct Map<V>(pub Vec<(String, V)>);

impl<V> Default for Map<V> {
    fn default() -> Self {
        Map(Vec::new())
    }
}

impl<V> Map<V> {
    /// An empty map.
    pub fn new() -> Map<V> {
        Map(Vec::new())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key`, returning its old value.
    pub fn insert(&mut self, key: impl Into<String>, value: V) -> Option<V> {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => Some(std::mem::replace(&mut slot.1, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// The members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V> FromIterator<(K, V)> for Map<V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl<V: FieldValue> FieldValue for Map<V> {
    fn from_value(v: &Value) -> Self {
        match v {
            Value::Struct(m) => Map(m
                .iter()
                .map(|(k, x)| (k.clone(), V::from_value(x)))
                .collect()),
            _ => Map::new(),
        }
    }

    fn into_value(self) -> Value {
        Value::Struct(
            self.0
                .into_iter()
                .map(|(k, v)| (k, v.into_value()))
                .collect(),
        )
    }

    fn take_value(v: Value) -> Self {
        match v {
            Value::Struct(m) => Map(m.into_iter().map(|(k, x)| (k, V::take_value(x))).collect()),
            _ => Map::new(),
        }
    }
}

/// Typed access to the fields of a row: works on `Box<[Value]>`, on the
/// `&mut [Value]` that [`Registry::update`](crate::registry::Registry::update)
/// hands out, and on [`Row::fields`](crate::registry::Row::fields).
///
/// To borrow a field's value without cloning it, index the row with the
/// handle: `&row[vdi::SM_CONFIG]`, `&mut row[vdi::SM_CONFIG]`.
pub trait RowExt {
    /// The field's value as `T` (a copy or a clone).
    fn field<T: FieldValue>(&self, f: Field<T>) -> T;

    /// Stores `v` in the field.
    fn set<T: FieldValue>(&mut self, f: Field<T>, v: impl Into<T>);

    /// Takes the field's value out as `T`, leaving `Value::Nil` behind: for
    /// a row that is about to be dropped or rewritten.
    fn take<T: FieldValue>(&mut self, f: Field<T>) -> T;
}

impl RowExt for [Value] {
    fn field<T: FieldValue>(&self, f: Field<T>) -> T {
        T::from_value(&self[f])
    }

    fn set<T: FieldValue>(&mut self, f: Field<T>, v: impl Into<T>) {
        self[f] = v.into().into_value();
    }

    fn take<T: FieldValue>(&mut self, f: Field<T>) -> T {
        T::take_value(std::mem::replace(&mut self[f], Value::Nil))
    }
}

impl<T> Index<Field<T>> for [Value] {
    type Output = Value;

    fn index(&self, f: Field<T>) -> &Value {
        debug_assert!(f.index < self.len(), "{f:?} used on a shorter row");
        &self[f.index]
    }
}

impl<T> IndexMut<Field<T>> for [Value] {
    fn index_mut(&mut self, f: Field<T>) -> &mut Value {
        debug_assert!(f.index < self.len(), "{f:?} used on a shorter row");
        &mut self[f.index]
    }
}

/// The next parameter of a checked parameter list as `T`: what generated
/// argument structs are built with. A missing parameter (a server bug:
/// dispatch checked the count) reads as the default.
pub fn next_arg<T: FieldValue>(it: &mut impl Iterator<Item = Value>) -> T {
    T::take_value(it.next().unwrap_or(Value::Nil))
}

/// The next optional trailing parameter: `None` when the client left it
/// out.
pub fn next_opt_arg<T: FieldValue>(it: &mut impl Iterator<Item = Value>) -> Option<T> {
    it.next().map(T::take_value)
}

/// A field handle with its type erased, for the tests that hold the
/// generated schema against the model.
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
pub struct Erased {
    /// The class.
    pub class: ClassId,
    /// The index in the row.
    pub index: usize,
    /// The wire name.
    pub name: &'static str,
    /// A value read as `T` and stored back.
    pub round_trip: fn(&Value) -> Value,
}

#[cfg(test)]
fn round_trip<T: FieldValue>(v: &Value) -> Value {
    T::from_value(v).into_value()
}

#[cfg(test)]
impl<T: FieldValue> Field<T> {
    /// The handle without its type.
    pub fn erased(self) -> Erased {
        Erased {
            class: self.class,
            index: self.index,
            name: self.name,
            round_trip: round_trip::<T>,
        }
    }
}

/// A generated enum with its type erased, for the same tests.
#[cfg(test)]
#[derive(Debug)]
pub struct ErasedEnum {
    /// The datamodel name.
    pub name: &'static str,
    /// The wire spellings of `ALL`, in order.
    pub values: Vec<&'static str>,
    /// Whether every value survives `name`/`from_name` and a stored value.
    pub round_trips: bool,
    /// Whether `Default` is the first value.
    pub default_is_first: bool,
}

/// Erases a generated enum given its `ALL`, `name` and `from_name`.
#[cfg(test)]
pub fn erase_enum<E>(
    name: &'static str,
    all: &[E],
    to_name: fn(E) -> &'static str,
    from_name: fn(&str) -> Option<E>,
) -> ErasedEnum
where
    E: FieldValue + Copy + Default + PartialEq + Into<Value>,
{
    ErasedEnum {
        name,
        values: all.iter().map(|&e| to_name(e)).collect(),
        round_trips: all
            .iter()
            .all(|&e| from_name(to_name(e)) == Some(e) && E::from_value(&e.into()) == e),
        default_is_first: all.first() == Some(&E::default()),
    }
}

/// What every generated enum (`model::schema`) has besides its own `ALL`,
/// `name` and `from_name`: `Display` as its wire spelling, `From<_> for
/// Value`, and `FieldValue` (an unknown spelling reads as the default).
macro_rules! enum_impls {
    ($ty:ident) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl From<$ty> for $crate::wire::Value {
            fn from(e: $ty) -> $crate::wire::Value {
                $crate::wire::Value::from(e.name())
            }
        }

        impl $crate::model::field::FieldValue for $ty {
            fn from_value(v: &$crate::wire::Value) -> Self {
                v.as_str().and_then($ty::from_name).unwrap_or_default()
            }

            fn into_value(self) -> $crate::wire::Value {
                self.into()
            }
        }
    };
}
pub(crate) use enum_impls;

#[cfg(test)]
mod tests {
    use super::*;

    const N: Field<i64> = Field::new(0, 0, "n");
    const S: Field<String> = Field::new(0, 1, "s");
    const R: Field<Vec<Ref>> = Field::new(0, 2, "r");
    const M: Field<Map<String>> = Field::new(0, 3, "m");

    fn row() -> Box<[Value]> {
        vec![
            Value::Int(0),
            Value::from(""),
            Value::Array(vec![]),
            Value::Struct(vec![]),
        ]
        .into()
    }

    #[test]
    fn typed_get_and_set() {
        let mut row = row();
        row.set(N, 42);
        row.set(S, "hello");
        let r = Ref::new();
        row.set(R, vec![r]);
        row.set(M, [("k", "v".to_owned())].into_iter().collect::<Map<_>>());
        assert_eq!(row.field(N), 42);
        assert_eq!(row.field(S), "hello");
        assert_eq!(row.field(R), vec![r]);
        assert_eq!(row.field(M).get("k").map(String::as_str), Some("v"));
        assert_eq!(row[M].map_get("k"), Some("v"));
        let fields: &mut [Value] = &mut row;
        fields[M].map_set("k", None);
        assert!(fields.field(M).is_empty());
        assert_eq!(fields.take(S), "hello");
        assert_eq!(fields[S], Value::Nil);
    }

    #[test]
    fn a_mismatched_value_reads_as_the_default() {
        let row: Box<[Value]> = vec![Value::from("x"), Value::Int(1)].into();
        assert_eq!(row.field(N), 0);
        assert_eq!(row.field(S), "");
    }

    #[test]
    fn map_keeps_keys_unique_and_in_order() {
        let mut m = Map::new();
        assert_eq!(m.insert("a", 1i64), None);
        assert_eq!(m.insert("b", 2), None);
        assert_eq!(m.insert("a", 3), Some(1));
        assert_eq!(m.iter().collect::<Vec<_>>(), [("a", &3), ("b", &2)]);
        assert_eq!(m.remove("a"), Some(3));
        assert_eq!(m.len(), 1);
        let v = m.clone().into_value();
        assert_eq!(Map::<i64>::take_value(v), m);
    }

    #[test]
    fn arguments_are_taken_in_order() {
        let mut it = vec![Value::from("a"), Value::Int(2)].into_iter();
        assert_eq!(next_arg::<String>(&mut it), "a");
        assert_eq!(next_opt_arg::<i64>(&mut it), Some(2));
        assert_eq!(next_opt_arg::<i64>(&mut it), None);
        assert_eq!(next_arg::<i64>(&mut it), 0);
    }
}
