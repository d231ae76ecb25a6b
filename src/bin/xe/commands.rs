//! The command context (connection, session, options) and the commands
//! every class has: `<class>-list`, `-param-list`, `-param-get`,
//! `-param-set`, `-param-add`, `-param-remove`.

use xapid::wire::Value;

use crate::connection::{task_result_text, value_text, CallError, Conn};
use crate::errors::XeError;
use crate::options::Options;
use crate::progress;
use crate::records::{self, ClassDef, Record, Resolver};

/// Everything a command needs.
pub struct Ctx {
    /// The connection.
    pub conn: Conn,
    /// The session ref.
    pub session: String,
    /// The options and parameters.
    pub opts: Options,
    /// The ref resolver (uuids and names).
    pub res: Resolver,
}

/// A command's outcome.
pub type Res = Result<(), XeError>;

impl Ctx {
    /// Calls `method` with the session and `params`.
    pub fn call(&mut self, method: &str, params: Vec<Value>) -> Result<Value, CallError> {
        let mut all = Vec::with_capacity(params.len() + 1);
        all.push(Value::from(self.session.as_str()));
        all.extend(params);
        if self.opts.debug {
            eprintln!("xe: calling {method}");
        }
        self.conn.call(method, &all)
    }

    /// Like [`Ctx::call`], the result as text.
    pub fn call_text(&mut self, method: &str, params: Vec<Value>) -> Result<String, CallError> {
        self.call(method, params).map(|v| value_text(&v))
    }

    /// A required parameter.
    pub fn need(&self, k: &str) -> Result<String, XeError> {
        self.opts
            .param(k)
            .map(str::to_string)
            .ok_or_else(|| XeError::Usage(format!("Required parameter not found: {k}")))
    }

    /// An optional parameter.
    pub fn opt(&self, k: &str) -> Option<String> {
        self.opts.param(k).map(str::to_string)
    }

    /// The ref of the object of `api` class whose uuid is in parameter
    /// `k`.
    pub fn by_uuid(&mut self, api: &str, k: &str) -> Result<String, XeError> {
        let u = self.need(k)?;
        Ok(self.call_text(&format!("{api}.get_by_uuid"), vec![Value::from(u)])?)
    }

    /// The uuid of `r`, an object of `api` class.
    pub fn uuid_of(&mut self, api: &str, r: &str) -> Result<String, XeError> {
        Ok(self.call_text(&format!("{api}.get_uuid"), vec![Value::from(r)])?)
    }

    /// Whether to draw progress (a terminal on stderr, no `--minimal`).
    pub fn interactive(&self) -> bool {
        progress::interactive(self.opts.minimal)
    }

    /// Calls `Async.<method>` and follows its task to the end (with bars
    /// on a terminal); the result as text (a ref for most).
    pub fn run_async(&mut self, method: &str, params: Vec<Value>) -> Result<String, XeError> {
        let task = self.call_text(&format!("Async.{method}"), params)?;
        self.finish_task(&task)
    }

    /// Follows `task` to its end: its result, or its error; destroys it.
    pub fn finish_task(&mut self, task: &str) -> Result<String, XeError> {
        let show = self.interactive();
        let end = progress::follow(&mut self.conn, &self.session, task, show)?;
        let _ = self.call("task.destroy", vec![Value::from(task)]);
        match end.status.as_str() {
            "success" => Ok(task_result_text(&end.result)),
            _ => {
                let mut info = end.error_info;
                if info.is_empty() {
                    info.push("INTERNAL_ERROR".into());
                    info.push(format!("task ended {}", end.status));
                }
                Err(XeError::Call(CallError::Api(info)))
            }
        }
    }

    /// All records of a class, as `(ref, xe record)`.
    pub fn all_records(&mut self, class: &ClassDef) -> Result<Vec<(String, Record)>, XeError> {
        let all = self.call(&format!("{}.get_all_records", class.api), vec![])?;
        let Value::Struct(m) = all else {
            return Ok(Vec::new());
        };
        for (r, rec) in &m {
            self.res.seed(r, rec);
        }
        let mut out = Vec::with_capacity(m.len());
        for (r, rec) in &m {
            let x = records::build(&mut self.conn, &self.session, &mut self.res, class, rec);
            out.push((r.clone(), x));
        }
        Ok(out)
    }

    /// One object's xe record, by the `uuid=` parameter.
    pub fn record_by_uuid(&mut self, class: &ClassDef) -> Result<(String, Record), XeError> {
        let r = self.by_uuid(class.api, "uuid")?;
        let rec = self.call(
            &format!("{}.get_record", class.api),
            vec![Value::from(r.as_str())],
        )?;
        self.res.seed(&r, &rec);
        let x = records::build(&mut self.conn, &self.session, &mut self.res, class, &rec);
        Ok((r, x))
    }

    /// Prints records: `--minimal` as the first field of each,
    /// comma-joined; otherwise xe's layout.
    pub fn print_records(&self, recs: &[Vec<(String, String)>]) {
        if self.opts.minimal {
            let firsts: Vec<String> = recs
                .iter()
                .filter_map(|r| r.first().map(|(_, v)| v.clone()))
                .collect();
            println!("{}", records::minimal(&firsts));
        } else {
            print!("{}", records::format_table(recs));
        }
    }

    /// Prints one value (a uuid, say) as xe prints a `PList`.
    pub fn print_value(&self, v: &str) {
        if self.opts.minimal {
            println!("{}", records::minimal(&[v.to_string()]));
        } else {
            println!("{v}");
        }
    }
}

/// Parameters that are options, not filters.
const STD: &[&str] = &[
    "params",
    "server",
    "password",
    "port",
    "username",
    "minimal",
    "force",
    "multiple",
    "all",
    "message-priority",
    "trace",
];

/// `<class>-list [params=...] [field=value...]`.
pub fn list(ctx: &mut Ctx, class: &ClassDef, default_filters: &[(&str, &str)]) -> Res {
    let mut recs = ctx.all_records(class)?;
    let filters: Vec<(String, String)> = default_filters
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(
            ctx.opts
                .params
                .iter()
                .filter(|(k, _)| !STD.contains(&k.as_str()) && !k.starts_with("database:"))
                .cloned(),
        )
        .collect();
    for (k, v) in &filters {
        recs = records::filter(recs, k, v)?;
    }
    let params = ctx.opts.param("params").map(str::to_string);
    let shown: Vec<Vec<(String, String)>> = recs
        .iter()
        .map(|(_, r)| records::select(r, params.as_deref(), class.defaults))
        .collect();
    ctx.print_records(&shown);
    Ok(())
}

/// `<class>-param-list uuid=`.
pub fn param_list(ctx: &mut Ctx, class: &ClassDef) -> Res {
    let (_, rec) = ctx.record_by_uuid(class)?;
    let shown = records::select(&rec, Some("all"), class.defaults);
    ctx.print_records(&[shown]);
    Ok(())
}

fn field<'a>(rec: &'a Record, name: &str) -> Result<&'a records::Field, XeError> {
    rec.iter()
        .find(|f| f.name == name)
        .ok_or_else(|| XeError::Call(records::failure(&format!("Unknown field '{name}'"))))
}

/// `<class>-param-get uuid= param-name= [param-key=]`.
pub fn param_get(ctx: &mut Ctx, class: &ClassDef) -> Res {
    let name = ctx.need("param-name")?;
    let (_, rec) = ctx.record_by_uuid(class)?;
    let f = field(&rec, &name)?;
    let v = match (ctx.opts.param("param-key"), &f.map) {
        (Some(k), Some(m)) => m
            .iter()
            .find(|(mk, _)| mk == k)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| XeError::Call(records::failure(&format!("Key {k} not found in map"))))?,
        _ => f.value.clone(),
    };
    ctx.print_value(&v);
    Ok(())
}

/// The API field of an xe column name.
fn api_field(class: &ClassDef, name: &str) -> Option<&'static str> {
    class.cols.iter().find(|c| c.name == name).map(|c| c.api)
}

/// Sets `key` of map field `map` (its xe name) to `v`.
fn map_set(
    ctx: &mut Ctx,
    class: &ClassDef,
    r: &str,
    rec: &Record,
    map: &str,
    key: &str,
    v: Option<&str>,
) -> Res {
    let f = field(rec, map)?;
    if f.qual != " (MRW)" {
        return Err(XeError::Call(records::failure(&format!(
            "Map field '{map}' is read-only."
        ))));
    }
    let api = api_field(class, map).unwrap_or(map);
    let has = f
        .map
        .as_ref()
        .is_some_and(|m| m.iter().any(|(k, _)| k == key));
    if has {
        ctx.call(
            &format!("{}.remove_from_{api}", class.api),
            vec![Value::from(r), Value::from(key)],
        )?;
    }
    if let Some(v) = v {
        ctx.call(
            &format!("{}.add_to_{api}", class.api),
            vec![Value::from(r), Value::from(key), Value::from(v)],
        )?;
    }
    Ok(())
}

/// `<class>-param-set uuid= field=value... map:key=value...`.
pub fn param_set(ctx: &mut Ctx, class: &ClassDef) -> Res {
    let (r, rec) = ctx.record_by_uuid(class)?;
    let sets: Vec<(String, String)> = ctx
        .opts
        .params
        .iter()
        .filter(|(k, _)| k != "uuid" && !STD.contains(&k.as_str()))
        .cloned()
        .collect();
    for (k, v) in sets {
        if let Some(f) = rec.iter().find(|f| f.name == k) {
            if f.map.is_some() || f.set.is_some() {
                return Err(XeError::Call(records::failure(&format!(
                    "Field '{k}' is a map or set. use the 'name:key=value' syntax."
                ))));
            }
            if f.qual != " ( RW)" {
                return Err(XeError::Call(records::failure(&format!(
                    "Field '{k}' is read-only."
                ))));
            }
            let api = api_field(class, &k).unwrap_or(&k);
            let value = match v.as_str() {
                "true" | "false" if matches!(api, "bootable") => Value::Bool(v == "true"),
                _ => Value::from(v.as_str()),
            };
            ctx.call(
                &format!("{}.set_{api}", class.api),
                vec![Value::from(r.as_str()), value],
            )?;
            continue;
        }
        let (map, key) = match k.split_once(':') {
            Some((m, key)) => (m.to_string(), key.to_string()),
            None => {
                let mut maps: Vec<&records::Field> =
                    rec.iter().filter(|f| f.map.is_some()).collect();
                maps.sort_by_key(|f| std::cmp::Reverse(f.name.len()));
                match maps.iter().find(|f| k.starts_with(&format!("{}-", f.name))) {
                    Some(f) => (f.name.to_string(), k[f.name.len() + 1..].to_string()),
                    None => {
                        return Err(XeError::Call(records::failure(&format!(
                            "Unknown field '{k}'"
                        ))))
                    }
                }
            }
        };
        map_set(ctx, class, &r, &rec, &map, &key, Some(&v))?;
    }
    Ok(())
}

/// `<class>-param-add uuid= param-name=<map> key=value...`.
pub fn param_add(ctx: &mut Ctx, class: &ClassDef) -> Res {
    let map = ctx.need("param-name")?;
    let (r, rec) = ctx.record_by_uuid(class)?;
    let kvs: Vec<(String, String)> = ctx
        .opts
        .params
        .iter()
        .filter(|(k, _)| {
            !matches!(k.as_str(), "uuid" | "param-name" | "param-key") && !STD.contains(&k.as_str())
        })
        .cloned()
        .collect();
    for (k, v) in kvs {
        map_set(ctx, class, &r, &rec, &map, &k, Some(&v))?;
    }
    Ok(())
}

/// `<class>-param-remove uuid= param-name=<map> param-key=`.
pub fn param_remove(ctx: &mut Ctx, class: &ClassDef) -> Res {
    let map = ctx.need("param-name")?;
    let key = ctx.need("param-key")?;
    let (r, rec) = ctx.record_by_uuid(class)?;
    map_set(ctx, class, &r, &rec, &map, &key, None)
}
