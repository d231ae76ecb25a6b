//! XenAPI's type notation, as its reference documentation writes it:
//! `string`, `int`, `task ref`, `string set`, `(string -> string) map`.

use std::fmt;

/// A datamodel type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    /// `string`
    String,
    /// `int` (64-bit)
    Int,
    /// `float`
    Float,
    /// `bool`
    Bool,
    /// `datetime`
    DateTime,
    /// `void` (results only)
    Void,
    /// `<class> ref`
    Ref(String),
    /// `<class> record` (results only)
    Record(String),
    /// An enum by name.
    Enum(String),
    /// `<t> set`
    Set(Box<Type>),
    /// `(<k> -> <v>) map`
    Map(Box<Type>, Box<Type>),
    /// `struct`: a free-form struct (results only, e.g. event.from's batch).
    Struct,
}

impl Type {
    /// Parses the notation. Enum names are any other identifier; whether
    /// they exist is checked when the model is validated.
    pub fn parse(s: &str) -> Result<Type, String> {
        let s = s.trim();
        if let Some(rest) = s.strip_suffix(" map") {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("bad map type {s:?}"))?;
            let (k, v) = inner
                .split_once("->")
                .ok_or_else(|| format!("bad map type {s:?}"))?;
            return Ok(Type::Map(
                Box::new(Type::parse(k)?),
                Box::new(Type::parse(v)?),
            ));
        }
        if let Some(rest) = s.strip_suffix(" set") {
            return Ok(Type::Set(Box::new(Type::parse(rest)?)));
        }
        if let Some(rest) = s.strip_suffix(" ref") {
            return Ok(Type::Ref(ident(rest)?));
        }
        if let Some(rest) = s.strip_suffix(" record") {
            return Ok(Type::Record(ident(rest)?));
        }
        Ok(match s {
            "string" => Type::String,
            "int" => Type::Int,
            "float" => Type::Float,
            "bool" => Type::Bool,
            "datetime" => Type::DateTime,
            "void" => Type::Void,
            "struct" => Type::Struct,
            other => Type::Enum(ident(other)?),
        })
    }

    /// Types a map key may have on the wire (struct member names).
    pub fn is_valid_map_key(&self) -> bool {
        matches!(
            self,
            Type::String | Type::Int | Type::Ref(_) | Type::Enum(_)
        )
    }
}

fn ident(s: &str) -> Result<String, String> {
    let s = s.trim();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(s.to_owned())
    } else {
        Err(format!("bad type name {s:?}"))
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Int => f.write_str("int"),
            Type::Float => f.write_str("float"),
            Type::Bool => f.write_str("bool"),
            Type::DateTime => f.write_str("datetime"),
            Type::Void => f.write_str("void"),
            Type::Struct => f.write_str("struct"),
            Type::Ref(c) => write!(f, "{c} ref"),
            Type::Record(c) => write!(f, "{c} record"),
            Type::Enum(e) => f.write_str(e),
            Type::Set(t) => write!(f, "{t} set"),
            Type::Map(k, v) => write!(f, "({k} -> {v}) map"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_notation() {
        for s in [
            "string",
            "int",
            "task ref",
            "string set",
            "task ref set",
            "(string -> string) map",
            "(string -> task_allowed_operations) map",
            "(task ref -> task record) map",
            "task_status_type",
            "void",
        ] {
            assert_eq!(Type::parse(s).unwrap().to_string(), s);
        }
        assert!(Type::parse("(string string) map").is_err());
        assert!(Type::parse("ta sk ref").is_err());
        assert!(Type::parse("").is_err());
    }
}
