//! The one error type of the API surface: a XenAPI error code from the
//! datamodel's table and its parameters, which the codecs turn into an
//! `ErrorDescription`.
//!
//! The codes and a constructor per code, with one parameter per listed
//! parameter (`ApiError::vdi_in_use(vdi, operation)`), are generated from
//! `datamodel/errors.toml` into `model::schema` (`codes::*` and an `impl
//! ApiError` block there). Only constructors that do more than build the
//! error are written here.

use std::fmt;

/// A XenAPI failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The code, from `datamodel/errors.toml` (checked by a test).
    pub code: &'static str,
    /// Its parameters, as strings.
    pub params: Vec<String>,
}

impl ApiError {
    /// An error with parameters.
    pub fn new<I, S>(code: &'static str, params: I) -> ApiError
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ApiError {
            code,
            params: params.into_iter().map(Into::into).collect(),
        }
    }

    /// `INTERNAL_ERROR [message]`: a genuine server fault. The message goes
    /// to the log too.
    pub fn internal(message: impl fmt::Display) -> ApiError {
        let message = message.to_string();
        tracing::error!(%message, "internal error");
        ApiError::new("INTERNAL_ERROR", [message])
    }

    /// `OPERATION_NOT_ALLOWED [reason]`: the generated
    /// [`operation_not_allowed`](ApiError::operation_not_allowed) under the
    /// shorter name its callers use.
    pub fn not_allowed(reason: impl Into<String>) -> ApiError {
        ApiError::operation_not_allowed(reason.into())
    }

    /// The code followed by the parameters: the wire's ErrorDescription.
    pub fn to_vec(&self) -> Vec<String> {
        let mut v = Vec::with_capacity(self.params.len() + 1);
        v.push(self.code.to_owned());
        v.extend(self.params.iter().cloned());
        v
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        for p in &self.params {
            write!(f, " {p:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Every API result.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::model;

    /// Every error is built by a constructor generated from
    /// `datamodel/errors.toml` (`ApiError::vdi_in_use(..)`), so a code that
    /// is not in the table, or a wrong number of parameters, does not
    /// compile. This test keeps it so: no source file but this one and the
    /// generated schema (`src/model/schema/`) spells a code by hand, and no comparison names a
    /// code as a string literal instead of `schema::codes`.
    #[test]
    fn every_error_comes_from_the_datamodel() {
        let m = model::load_sources(model::embedded()).unwrap();
        let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut files = 0;
        let mut wrong = Vec::new();
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.ends_with("error.rs")
                    || path.components().any(|c| c.as_os_str() == "schema")
                {
                    continue;
                }
                files += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("ApiError::new(") {
                    wrong.push(format!("{}: ApiError::new", path.display()));
                }
                for code in m.errors.keys() {
                    let quoted = format!("\"{code}\"");
                    if text.contains(&format!("== {quoted}"))
                        || text.contains(&format!("!= {quoted}"))
                    {
                        wrong.push(format!("{}: compares with \"{code}\"", path.display()));
                    }
                }
            }
        }
        assert!(files > 50, "only {files} files were read");
        assert!(
            wrong.is_empty(),
            "use the generated constructors and codes:\n{}",
            wrong.join("\n")
        );
    }
}
