//! Checking a wire value against a datamodel type and turning it into the
//! canonical stored form (refs as [`Ref`], enums in the model's spelling,
//! ints given as strings as ints).

use super::{Model, Type};
use crate::error::ApiError;
use crate::wire::{DateTime, Ref, Value};

/// Converts `v` to `ty` for the parameter or field `name`.
///
/// Errors: `FIELD_TYPE_ERROR [name]` when the XML-RPC type cannot hold a
/// `ty`; `INVALID_VALUE [name, v]` when it can but the content is wrong (an
/// unknown enum value, a non-numeric int string, a bad datetime);
/// `HANDLE_INVALID [class, v]` for a string that is not a reference.
pub fn from_wire(model: &Model, ty: &Type, name: &str, v: Value) -> Result<Value, ApiError> {
    let type_error = || ApiError::field_type_error(name);
    match ty {
        Type::String => match v {
            Value::String(_) => Ok(v),
            Value::Ref(r) => Ok(Value::from(r.to_string())),
            _ => Err(type_error()),
        },
        Type::Int => match v {
            Value::Int(_) => Ok(v),
            Value::I4(i) => Ok(Value::Int(i.into())),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| ApiError::invalid_value(name, s.as_str())),
            _ => Err(type_error()),
        },
        Type::Float => match v {
            Value::Double(_) => Ok(v),
            Value::Int(i) => Ok(Value::Double(i as f64)),
            Value::I4(i) => Ok(Value::Double(i.into())),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .map(Value::Double)
                .map_err(|_| ApiError::invalid_value(name, s.as_str())),
            _ => Err(type_error()),
        },
        Type::Bool => match v {
            Value::Bool(_) => Ok(v),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Value::Bool(true)),
                "false" | "0" => Ok(Value::Bool(false)),
                _ => Err(ApiError::invalid_value(name, s.as_str())),
            },
            _ => Err(type_error()),
        },
        Type::DateTime => match v {
            Value::DateTime(_) => Ok(v),
            Value::String(s) => DateTime::parse(&s)
                .map(Value::DateTime)
                .ok_or_else(|| ApiError::invalid_value(name, s.as_str())),
            _ => Err(type_error()),
        },
        Type::Ref(class) => match v {
            Value::Ref(_) => Ok(v),
            Value::String(s) => Ref::parse(&s)
                .map(Value::Ref)
                .ok_or_else(|| ApiError::handle_invalid(class.as_str(), s.as_str())),
            _ => Err(type_error()),
        },
        Type::Enum(e) => match v {
            Value::String(s) => model.enums[e]
                .values
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(s.trim()))
                .map(|(n, _)| Value::from(n.as_str()))
                .ok_or_else(|| ApiError::invalid_value(name, s.as_str())),
            _ => Err(type_error()),
        },
        Type::Set(t) => match v {
            Value::Array(items) => items
                .into_iter()
                .map(|x| from_wire(model, t, name, x))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Err(type_error()),
        },
        Type::Map(k, t) => match v {
            Value::Struct(members) => {
                let mut out: Vec<(String, Value)> = Vec::with_capacity(members.len());
                for (key, x) in members {
                    let key = match from_wire(model, k, name, Value::from(key))? {
                        Value::String(s) => s.to_string(),
                        other => key_string(&other),
                    };
                    let x = from_wire(model, t, name, x)?;
                    match out.iter_mut().find(|(k2, _)| *k2 == key) {
                        Some(slot) => slot.1 = x,
                        None => out.push((key, x)),
                    }
                }
                Ok(Value::Struct(out))
            }
            _ => Err(type_error()),
        },
        Type::Record(_) | Type::Struct => match v {
            Value::Struct(_) => Ok(v),
            _ => Err(type_error()),
        },
        Type::Void => Err(type_error()),
    }
}

/// A map key as its struct member name.
pub fn key_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::I4(i) => i.to_string(),
        Value::Ref(r) => r.to_string(),
        other => format!("{other:?}"),
    }
}

/// Converts a default written in the datamodel.
pub fn from_toml(model: &Model, ty: &Type, v: &toml::Value) -> Result<Value, String> {
    let wire = toml_to_wire(v);
    from_wire(model, ty, "default", wire).map_err(|e| e.to_string())
}

fn toml_to_wire(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::from(s.as_str()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Double(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::from(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_wire).collect()),
        toml::Value::Table(t) => Value::Struct(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_wire(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    fn m() -> Model {
        model::load_sources(model::embedded()).unwrap()
    }

    #[test]
    fn tolerant_input() {
        let m = m();
        let conv = |ty: &str, v: Value| from_wire(&m, &Type::parse(ty).unwrap(), "p", v);
        assert_eq!(conv("int", Value::from("42")).unwrap(), Value::Int(42));
        assert_eq!(conv("int", Value::I4(7)).unwrap(), Value::Int(7));
        assert_eq!(conv("float", Value::Int(1)).unwrap(), Value::Double(1.0));
        assert_eq!(
            conv("task_status_type", Value::from("SUCCESS")).unwrap(),
            Value::from("success")
        );
        let r = Ref::new();
        assert_eq!(
            conv("task ref", Value::from(r.to_string())).unwrap(),
            Value::Ref(r)
        );
    }

    #[test]
    fn errors_name_the_parameter() {
        let m = m();
        let conv = |ty: &str, v: Value| from_wire(&m, &Type::parse(ty).unwrap(), "p", v);
        assert_eq!(
            conv("int", Value::from("x")).unwrap_err().to_vec(),
            ["INVALID_VALUE", "p", "x"]
        );
        assert_eq!(
            conv("string", Value::Int(1)).unwrap_err().to_vec(),
            ["FIELD_TYPE_ERROR", "p"]
        );
        assert_eq!(
            conv("task_status_type", Value::from("nope"))
                .unwrap_err()
                .to_vec(),
            ["INVALID_VALUE", "p", "nope"]
        );
        assert_eq!(
            conv("task ref", Value::from("junk")).unwrap_err().to_vec(),
            ["HANDLE_INVALID", "task", "junk"]
        );
        assert_eq!(
            conv("(string -> string) map", Value::Array(vec![]))
                .unwrap_err()
                .to_vec(),
            ["FIELD_TYPE_ERROR", "p"]
        );
    }
}
