//! `xe`: xapi's command-line client, for xapid. Scripts written for
//! XenServer/XCP-ng's `xe` run unchanged: the same options (`-s -p -u -pw
//! -pwf --nossl --minimal`, `~/.xe`, `XE_EXTRA_ARGS`), the same commands
//! and parameters, the same record layout and errors. It talks XML-RPC to
//! xapid (over https by default, without verifying the certificate, as
//! xe does), logging in and out around each command.
//!
//! The parts: `options` (arguments and their sources), `connection`
//! (HTTP/1.1, TLS, XML-RPC through `xapid::wire`), `records` (classes as xe
//! shows them, layout, filters), `errors` (xe's messages), `commands` (the
//! context and the generic `<class>-*` commands), `ops`, `data` and `jobs`
//! (the other commands), `progress` (following tasks; bars).

mod commands;
mod connection;
mod data;
mod errors;
mod jobs;
mod ops;
mod options;
mod progress;
mod records;

use xapid::wire::Value;

use commands::{Ctx, Res};
use connection::{value_text, Conn, Target};
use errors::XeError;
use records::{class, CLASSES};

/// Commands beyond the generic `<class>-*` ones, with a line of help.
const COMMANDS: &[(&str, &str)] = &[
    ("task-cancel", "uuid="),
    ("sr-scan", "uuid="),
    ("vdi-create", "sr-uuid= name-label= virtual-size= [type=] [sharable=] [read-only=] [sm-config:image-format=raw|qcow2]"),
    ("vdi-destroy", "uuid="),
    ("vdi-copy", "uuid= sr-uuid="),
    ("vdi-clone", "uuid= [new-name-label=] [new-name-description=]"),
    ("vdi-snapshot", "uuid= [new-name-label=]"),
    ("vdi-resize", "uuid= disk-size="),
    ("vdi-import", "uuid= filename= [format=raw] [progress=true]"),
    ("vdi-export", "uuid= filename= [format=raw] [progress=true]"),
    ("vdi-enable-cbt", "uuid="),
    ("vdi-disable-cbt", "uuid="),
    ("vdi-data-destroy", "uuid="),
    ("vdi-list-changed-blocks", "vdi-from-uuid= vdi-to-uuid="),
    ("vm-clone", "(vm= | uuid=) new-name-label="),
    ("vm-copy", "(vm= | uuid=) new-name-label= sr-uuid="),
    ("subject-add", "subject-name= [password=]"),
    ("subject-remove", "subject-uuid="),
    ("subject-role-add", "uuid= (role-name= | role-uuid=)"),
    ("subject-role-remove", "uuid= (role-name= | role-uuid=)"),
    ("subject-set-password", "uuid= new-password="),
    ("event-wait", "class= [field=value | field=/=value]... [timeout=SECONDS]"),
    ("block-job-backup", "device-uuid= target-uuid= [sync=full|top|none] [speed=] [job-id=] [progress=true]"),
    ("block-job-mirror", "device-uuid= target-uuid= [sync=] [speed=] [granularity=]"),
    ("block-job-stream", "device-uuid= [base-uuid=] [speed=] [progress=true]"),
    ("block-job-commit", "device-uuid= [top-uuid=] [base-uuid=] [speed=] [progress=true]"),
    ("block-job-pause", "uuid="),
    ("block-job-resume", "uuid="),
    ("block-job-cancel", "uuid= [force=true]"),
    ("block-job-complete", "uuid="),
    ("block-job-finalize", "uuid="),
    ("block-job-dismiss", "uuid="),
    ("block-job-set-speed", "uuid= speed="),
];

/// The generic commands of every class.
const GENERIC: &[&str] = &[
    "list",
    "param-list",
    "param-get",
    "param-set",
    "param-add",
    "param-remove",
];

fn help() {
    println!("Commands (xapid's xe):");
    let mut all: Vec<String> = Vec::new();
    for c in CLASSES {
        for g in GENERIC {
            all.push(format!("  {}-{g}", c.xe));
        }
    }
    for (c, p) in COMMANDS {
        all.push(format!("  {c} {p}"));
    }
    all.sort();
    for l in all {
        println!("{l}");
    }
}

/// Runs a command in a logged-in context.
fn dispatch(ctx: &mut Ctx, cmd: &str) -> Res {
    match cmd {
        "task-cancel" => ops::task_cancel(ctx),
        "sr-scan" => ops::sr_scan(ctx),
        "vdi-create" => ops::vdi_create(ctx),
        "vdi-destroy" => ops::vdi_destroy(ctx),
        "vdi-copy" => ops::vdi_copy(ctx),
        "vdi-clone" => ops::vdi_clone(ctx),
        "vdi-snapshot" => ops::vdi_snapshot(ctx),
        "vdi-resize" => ops::vdi_resize(ctx),
        "vdi-import" => data::vdi_import(ctx),
        "vdi-export" => data::vdi_export(ctx),
        "vdi-enable-cbt" => ops::vdi_enable_cbt(ctx),
        "vdi-disable-cbt" => ops::vdi_disable_cbt(ctx),
        "vdi-data-destroy" => ops::vdi_data_destroy(ctx),
        "vdi-list-changed-blocks" => ops::vdi_list_changed_blocks(ctx),
        "vm-clone" => ops::vm_clone(ctx),
        "vm-copy" => ops::vm_copy(ctx),
        "subject-add" => ops::subject_add(ctx),
        "subject-remove" => ops::subject_remove(ctx),
        "subject-role-add" => ops::subject_role_add(ctx),
        "subject-role-remove" => ops::subject_role_remove(ctx),
        "subject-set-password" => ops::subject_set_password(ctx),
        "event-wait" => ops::event_wait(ctx),
        "block-job-list" => jobs::list(ctx),
        "block-job-backup" => jobs::backup(ctx),
        "block-job-mirror" => jobs::mirror(ctx),
        "block-job-stream" => jobs::stream(ctx),
        "block-job-commit" => jobs::commit(ctx),
        "block-job-pause" => jobs::verb(ctx, "pause"),
        "block-job-resume" => jobs::verb(ctx, "resume"),
        "block-job-cancel" => jobs::verb(ctx, "cancel"),
        "block-job-complete" => jobs::verb(ctx, "complete"),
        "block-job-finalize" => jobs::verb(ctx, "finalize"),
        "block-job-dismiss" => jobs::verb(ctx, "dismiss"),
        "block-job-set-speed" => jobs::verb(ctx, "set_speed"),
        _ => generic(ctx, cmd),
    }
}

/// `<class>-list`, `-param-list`, `-param-get`, `-param-set`,
/// `-param-add`, `-param-remove`.
fn generic(ctx: &mut Ctx, cmd: &str) -> Res {
    for g in GENERIC {
        let Some(prefix) = cmd.strip_suffix(g).and_then(|p| p.strip_suffix('-')) else {
            continue;
        };
        let Some(c) = class(prefix) else {
            continue;
        };
        return match *g {
            "list" if c.xe == "role" => {
                // xe lists the roles (with subroles), not the permissions.
                let all = ctx.all_records(c)?;
                let has_roles = all.iter().any(|(_, r)| {
                    r.iter()
                        .any(|f| f.name == "subroles" && !f.value.is_empty())
                });
                let filter: &[(&str, &str)] = &[];
                if has_roles {
                    list_roles(ctx, all)
                } else {
                    commands::list(ctx, c, filter)
                }
            }
            "list" => commands::list(ctx, c, &[]),
            "param-list" => commands::param_list(ctx, c),
            "param-get" => commands::param_get(ctx, c),
            "param-set" => commands::param_set(ctx, c),
            "param-add" => commands::param_add(ctx, c),
            _ => commands::param_remove(ctx, c),
        };
    }
    Err(XeError::Usage(format!("Unknown command: {cmd}")))
}

/// `role-list` over the roles that have subroles (as xapi's).
fn list_roles(ctx: &mut Ctx, all: Vec<(String, records::Record)>) -> Res {
    let c = class("role").expect("role class");
    let mut recs: Vec<(String, records::Record)> = all
        .into_iter()
        .filter(|(_, r)| {
            r.iter()
                .any(|f| f.name == "subroles" && !f.value.is_empty())
        })
        .collect();
    for (k, v) in ctx.opts.params.clone() {
        if k != "params" {
            recs = records::filter(recs, &k, &v)?;
        }
    }
    let params = ctx.opt("params");
    let shown: Vec<_> = recs
        .iter()
        .map(|(_, r)| records::select(r, params.as_deref(), c.defaults))
        .collect();
    ctx.print_records(&shown);
    Ok(())
}

fn known(cmd: &str) -> bool {
    COMMANDS.iter().any(|(c, _)| *c == cmd)
        || cmd == "block-job-list"
        || GENERIC.iter().any(|g| {
            cmd.strip_suffix(g)
                .and_then(|p| p.strip_suffix('-'))
                .is_some_and(|p| class(p).is_some())
        })
}

fn run() -> Result<(), XeError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prog = "xe";
    if args.iter().any(|a| a == "-version") {
        println!("xe (xapid) {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let extra = std::env::var("XE_EXTRA_ARGS").ok();
    let rc = std::env::var("HOME")
        .ok()
        .and_then(|h| std::fs::read_to_string(format!("{h}/.xe")).ok());
    let opts = match options::parse(&args, extra.as_deref(), rc.as_deref()) {
        Ok(o) => o,
        Err(e) => {
            return Err(XeError::Message(e.0));
        }
    };
    let Some(cmd) = opts.command.clone().filter(|_| !opts.help) else {
        eprint!("{}", options::usage(prog));
        return Ok(());
    };
    if cmd == "help" {
        help();
        return Ok(());
    }
    if !known(&cmd) {
        return Err(XeError::Usage(format!("Unknown command: {cmd}")));
    }
    if let Some(s) = opts.stray.first() {
        return Err(XeError::Usage(format!("Syntax error: {s}")));
    }
    let target = Target {
        host: opts.server.clone(),
        port: opts.port(),
        tls: opts.tls,
    };
    let mut conn = Conn::new(target);
    let login = conn.call(
        "session.login_with_password",
        &[
            Value::from(opts.username.as_str()),
            Value::from(opts.password.as_str()),
            Value::from("1.0"),
            Value::from("cli"),
        ],
    );
    let session = match login {
        Ok(s) => value_text(&s),
        Err(connection::CallError::Api(e))
            if e.first().map(String::as_str) == Some("SESSION_AUTHENTICATION_FAILED") =>
        {
            let msg = if opts.username.is_empty() {
                "Username/password must be specified"
            } else {
                "Authentication failed"
            };
            return Err(XeError::Usage(msg.into()));
        }
        Err(e) => return Err(e.into()),
    };
    let mut ctx = Ctx {
        conn,
        session,
        opts,
        res: records::Resolver::default(),
    };
    let r = dispatch(&mut ctx, &cmd);
    let s = Value::from(ctx.session.as_str());
    let _ = ctx.conn.call("session.logout", &[s]);
    r
}

fn main() {
    match run() {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            errors::print(&e);
            std::process::exit(1);
        }
    }
}
