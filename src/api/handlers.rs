//! The explicit messages and their handlers, laid out for dispatch. The
//! table is generated from the datamodel ([`super::table`]), so a message
//! without its handler does not compile; start-up (and a test) still
//! fails if the model loaded differs from the one the table was generated
//! from (a message without handler, or a handler without message).

use super::table::TABLE;
use super::Handler;
use crate::model::Model;

/// Lays the handlers out by class and message index.
pub fn resolve(model: &Model) -> anyhow::Result<Vec<Vec<Handler>>> {
    let mut out = Vec::with_capacity(model.classes.len());
    let mut used = vec![false; TABLE.len()];
    for c in &model.classes {
        let mut row = Vec::with_capacity(c.messages.len());
        for m in &c.messages {
            let wire = format!("{}.{}", c.name, m.name);
            let i = TABLE
                .iter()
                .position(|(n, _)| *n == wire)
                .ok_or_else(|| anyhow::anyhow!("datamodel message {wire} has no handler"))?;
            used[i] = true;
            row.push(TABLE[i].1);
        }
        out.push(row);
    }
    if let Some(i) = used.iter().position(|u| !u) {
        anyhow::bail!("handler {} has no datamodel message", TABLE[i].0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::model;

    #[test]
    fn every_message_has_exactly_one_handler() {
        let m = model::load_sources(model::embedded()).unwrap();
        super::resolve(&m).unwrap();
    }
}
