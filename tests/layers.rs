//! The house has one-way layers:
//!
//! ```text
//! error <- wire <- model <- registry <- config <- domain <- jobs <- api <- http <- server
//! storage, auth and metrics are leaves: they use nothing of the crate.
//! ```
//!
//! A module may name (`crate::x`) only modules to its left, the leaves and
//! itself. This test reads every source file under `src/` (comments and
//! the test modules at the end of a file excepted) and fails on a name
//! that points the wrong way, so the import circle between the API and the
//! jobs cannot come back.

use std::path::{Path, PathBuf};

/// Each top-level module and its rank; a module may use ranks below its own.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("wire", 1),
    ("model", 2),
    ("registry", 3),
    // The configuration names the registry's defaults.
    ("config", 4),
    ("domain", 5),
    ("jobs", 6),
    ("api", 7),
    ("http", 8),
    ("server", 9),
];

/// Modules that use nothing of the crate and that every layer may use.
const LEAVES: &[&str] = &["storage", "auth", "metrics"];

fn rank(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file that counts: no comment lines, nothing from the
/// first `#[cfg(test)]` on, and no test files.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The crate modules a piece of code names (`crate::x`).
fn named(code: &str) -> Vec<String> {
    code.match_indices("crate::")
        .map(|(i, _)| {
            code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

fn is_test_file(rel: &Path) -> bool {
    rel.components().any(|c| c.as_os_str() == "tests")
        || rel.file_stem().is_some_and(|s| s == "tests")
}

#[test]
fn layers_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for path in files {
        let rel = path.strip_prefix(&src).unwrap().to_path_buf();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        // `src/bin/*` are crates of their own (the `xe` CLI): their
        // `crate::` is themselves, and they reach the library as `xapid::`.
        if module == "lib" || module == "main" || module == "bin" || is_test_file(&rel) {
            continue;
        }
        checked += 1;
        let code = code(&path);
        for used in named(&code) {
            if used == module {
                continue;
            }
            let ok = if LEAVES.contains(&module.as_str()) {
                false
            } else if LEAVES.contains(&used.as_str()) {
                true
            } else {
                match (rank(&module), rank(&used)) {
                    (Some(a), Some(b)) => b < a,
                    _ => false,
                }
            };
            if !ok {
                wrong.push(format!("{} names crate::{used}", rel.display()));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(checked > 50, "only {checked} source files were found");
    assert!(
        wrong.is_empty(),
        "layers must point one way (see tests/layers.rs):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_rule_catches_a_wrong_way_name() {
    // The check itself: a jobs file naming the API is caught, a domain
    // file naming jobs too, and names in comments are not.
    let bad = "use crate::api::Server;\n// crate::http in a comment\n";
    assert_eq!(
        named(
            &bad.lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<String>()
        ),
        ["api"]
    );
    assert!(rank("api").unwrap() > rank("jobs").unwrap());
    assert!(rank("jobs").unwrap() > rank("domain").unwrap());
    assert!(rank("domain").unwrap() > rank("registry").unwrap());
}
