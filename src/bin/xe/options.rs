//! Options as xapi's `xe` reads them (`newcli.ml`): `-s`, `-p`, `-u`,
//! `-pw`, `-pwf`, `--nossl`, `--debug`, `--minimal`, the same keys as
//! `key=value` arguments, `XE_EXTRA_ARGS` (comma-separated, `\,` for a
//! comma) and `~/.xe` (`key=value` lines). Later sources override earlier
//! ones: `~/.xe`, then `XE_EXTRA_ARGS`, then the command line.

/// The connection and output options, and the command with its
/// parameters.
#[derive(Debug, Clone)]
pub struct Options {
    /// `-s` / `server=`.
    pub server: String,
    /// `-p` / `port=` (default 8443, or 8080 with `--nossl`).
    pub port: Option<u16>,
    /// `-u` / `username=`.
    pub username: String,
    /// `-pw` / `password=`.
    pub password: String,
    /// `-pwf` / `passwordfile=`.
    pub password_file: String,
    /// Use TLS (unless `--nossl` / `nossl=true`).
    pub tls: bool,
    /// `--debug`: log each call on stderr.
    pub debug: bool,
    /// `--minimal`.
    pub minimal: bool,
    /// `--help`, `-help` or no command.
    pub help: bool,
    /// The command name (`vdi-list`).
    pub command: Option<String>,
    /// `key=value` parameters, in order (a later one wins in lookups).
    pub params: Vec<(String, String)>,
    /// `--flag` arguments other than the known options (`--force`, ...).
    pub flags: Vec<String>,
    /// Bare words after the command (a syntax error).
    pub stray: Vec<String>,
}

/// Why the options could not be used: the message for stderr.
#[derive(Debug)]
pub struct OptError(pub String);

impl Options {
    fn defaults() -> Options {
        Options {
            server: "127.0.0.1".into(),
            port: None,
            username: "root".into(),
            password: "null".into(),
            password_file: String::new(),
            tls: true,
            debug: false,
            minimal: false,
            help: false,
            command: None,
            params: Vec::new(),
            flags: Vec::new(),
            stray: Vec::new(),
        }
    }

    /// The port to use: the given one, or xapid's defaults.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls { 8443 } else { 8080 })
    }

    /// A parameter by name (the last one given).
    pub fn param(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter (`true`/`yes`/`1`, or a `--k` flag).
    pub fn flag(&self, k: &str) -> bool {
        self.flags.iter().any(|f| f == k)
            || self.param(k).is_some_and(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "1" | "on")
            })
    }

    /// Sets a known key; false for a key xe does not know.
    fn set(&mut self, k: &str, v: &str) -> Result<bool, OptError> {
        match k {
            "server" => self.server = v.to_string(),
            "port" => {
                self.port = Some(
                    v.trim()
                        .parse()
                        .map_err(|_| OptError("Port number must be an integer (0-65535)".into()))?,
                )
            }
            "username" => self.username = v.to_string(),
            "password" => self.password = v.to_string(),
            "passwordfile" => self.password_file = v.to_string(),
            "nossl" => self.tls = !parse_bool(v),
            "debug" => self.debug = parse_bool(v),
            "debugonfail" => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Applies a list of arguments (the command line, or `XE_EXTRA_ARGS`'s
    /// items); returns those that are not connection options.
    fn process(&mut self, args: &[String]) -> Result<Vec<String>, OptError> {
        let mut rest = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_str();
            let next = args.get(i + 1);
            let key = match a {
                "-s" | "-h" => Some("server"),
                "-p" => Some("port"),
                "-u" => Some("username"),
                "-pw" => Some("password"),
                "-pwf" => Some("passwordfile"),
                "--traceparent" => Some(""),
                _ => None,
            };
            if let (Some(k), Some(v)) = (key, next) {
                if !k.is_empty() {
                    self.set(k, v)?;
                }
                i += 2;
                continue;
            }
            match a {
                "--nossl" => self.tls = false,
                "--debug" => self.debug = true,
                "--debug-on-fail" => {}
                "--help" | "-help" => self.help = true,
                _ => match a.split_once('=') {
                    Some((k, v)) if self.set(k, v)? => {}
                    _ => rest.push(a.to_string()),
                },
            }
            i += 1;
        }
        Ok(rest)
    }
}

fn parse_bool(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "yes" | "1" | "on"
    )
}

/// Splits `XE_EXTRA_ARGS`: items separated by commas, `\,` keeps a comma
/// (backslashes are then dropped, as xe does), empty items skipped.
pub fn split_extra(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_backslash = false;
    for c in s.chars() {
        if c == ',' && !prev_backslash {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
        prev_backslash = c == '\\';
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter()
        .map(|s| s.replace('\\', ""))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Reads `~/.xe`'s `key=value` lines (blank lines skipped); a line with
/// no `=` makes xe ignore the whole file with a message.
pub fn parse_rc(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for l in text.lines() {
        if l.is_empty() {
            continue;
        }
        match l.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), v.to_string())),
            None => {
                eprintln!("Error parsing rc file. No defaults loaded");
                return Vec::new();
            }
        }
    }
    out
}

/// Parses everything: `rc` (the text of `~/.xe`), `extra`
/// (`XE_EXTRA_ARGS`) and the command line `args` (without the program
/// name); then reads the password file if one was named.
pub fn parse(args: &[String], extra: Option<&str>, rc: Option<&str>) -> Result<Options, OptError> {
    let mut o = Options::defaults();
    let mut rc_rest = Vec::new();
    for (k, v) in rc.map(parse_rc).unwrap_or_default() {
        if !o.set(&k, &v)? {
            rc_rest.push(format!("{k}={v}"));
        }
    }
    let extra_rest = o.process(&split_extra(extra.unwrap_or("")))?;
    let args_rest = o.process(args)?;
    for a in args_rest.into_iter().chain(extra_rest).chain(rc_rest) {
        if a == "--minimal" {
            o.minimal = true;
        } else if let Some(f) = a.strip_prefix("--") {
            o.flags.push(f.to_string());
        } else if let Some((k, v)) = a.split_once('=') {
            if k == "minimal" {
                o.minimal = parse_bool(v);
            } else {
                o.params.push((k.to_string(), v.to_string()));
            }
        } else if o.command.is_none() {
            o.command = Some(a);
        } else {
            o.stray.push(a);
        }
    }
    if !o.password_file.is_empty() {
        let text = std::fs::read_to_string(&o.password_file)
            .map_err(|_| OptError(format!("Error opening password file '{}'", o.password_file)))?;
        let mut lines = text.lines();
        match (lines.next(), lines.next()) {
            (Some(u), Some(p)) => {
                o.username = u.to_string();
                o.password = p.to_string();
            }
            _ => {
                return Err(OptError(
                    "Error: password file format: expecting username on the first line, password on the second line".into(),
                ))
            }
        }
    }
    Ok(o)
}

/// The usage text (xe's, with xapid's default ports).
pub fn usage(prog: &str) -> String {
    format!(
        "Usage:
  {prog} <command>
    [ -s <server> ]            xapid host (default 127.0.0.1)
    [ -p <port> ]              port number (default 8443, or 8080 with --nossl)
    [ -u <username> -pw <password> | -pwf <password file> ]
                               User authentication (password or file)
    [ --nossl ]                Disable SSL/TLS
    [ --debug ]                Enable debug output
    [ --minimal ]              Output only values in a comma-separated lists
    [ <other arguments> ... ]  Command-specific options

A full list of commands can be obtained by running
  {prog} help
"
    )
}
