//! Struct members as both codecs decode them.

use std::collections::HashMap;

use super::value::Value;

/// Struct members in order of first appearance; a repeated name replaces
/// the earlier value in place (last wins). Small structs are searched
/// linearly; large ones get a hash index so hostile input stays linear.
#[derive(Default)]
pub(crate) struct Members {
    items: Vec<(String, Value)>,
    index: Option<HashMap<String, usize>>,
}

const LINEAR_MEMBERS: usize = 16;

impl Members {
    pub(crate) fn insert(&mut self, name: String, v: Value) {
        if let Some(index) = &mut self.index {
            match index.get(&name) {
                Some(&i) => self.items[i].1 = v,
                None => {
                    index.insert(name.clone(), self.items.len());
                    self.items.push((name, v));
                }
            }
            return;
        }
        if let Some(slot) = self.items.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = v;
            return;
        }
        self.items.push((name, v));
        if self.items.len() > LINEAR_MEMBERS {
            self.index = Some(
                self.items
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.clone(), i))
                    .collect(),
            );
        }
    }

    pub(crate) fn into_vec(self) -> Vec<(String, Value)> {
        self.items
    }
}
