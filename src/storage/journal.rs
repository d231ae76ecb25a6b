//! An append-only file of lines with size-based rotation (the audit log).
//!
//! Each line goes to the file in one `write(2)` on a descriptor opened with
//! `O_APPEND`, before the caller goes on: once [`Journal::append`]
//! returns, the line is in the kernel's page cache, and a `kill -9` of the
//! server cannot take it back. A kill can only cut the line being written,
//! and a line is short enough that the kernel writes it whole. (A power
//! cut is another matter: lines are not fsync'ed one by one.)
//!
//! Rotation: when a line would take the file past `max_bytes`, `log.N-1`
//! becomes `log.N` (the oldest beyond `keep` goes), ..., `log` becomes
//! `log.1`, and a new `log` is started. A kill in the middle of a rotation
//! loses no line: each step is one rename (crash points `journal.shifted`
//! and `journal.rotated` test it).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// An append-only line file.
pub struct Journal {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    out: Mutex<Out>,
}

struct Out {
    file: File,
    size: u64,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

impl Journal {
    /// Opens (or creates, mode 0600) the journal at `path`. A last line cut
    /// by a crash is ended with a newline, so the next line starts clean.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<Journal> {
        let mut file = open_append(path)?;
        let mut size = file.metadata()?.len();
        if size > 0 {
            let mut last = [0u8; 1];
            let mut r = File::open(path)?;
            std::io::Seek::seek(&mut r, std::io::SeekFrom::End(-1))?;
            r.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
                size += 1;
            }
        }
        Ok(Journal {
            path: path.to_owned(),
            max_bytes: max_bytes.max(1),
            keep,
            out: Mutex::new(Out { file, size }),
        })
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    /// Appends one line (`line` must not contain a newline; one is added).
    pub fn append(&self, line: &[u8]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        let mut out = self
            .out
            .lock()
            .map_err(|_| io::Error::other("journal lock poisoned"))?;
        if out.size > 0 && out.size + buf.len() as u64 > self.max_bytes {
            self.rotate(&mut out)?;
        }
        // One write for the whole line: O_APPEND places it at the end.
        out.file.write_all(&buf)?;
        out.size += buf.len() as u64;
        Ok(())
    }

    fn rotate(&self, out: &mut Out) -> io::Result<()> {
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            super::crash::point("journal.shifted");
            std::fs::rename(&self.path, self.rotated(1))?;
        }
        super::crash::point("journal.rotated");
        out.file = open_append(&self.path)?;
        out.size = 0;
        Ok(())
    }

    /// The files that hold the journal, oldest first.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = (1..=self.keep)
            .rev()
            .map(|n| self.rotated(n))
            .filter(|p| p.exists())
            .collect();
        v.push(self.path.clone());
        v
    }

    /// Reads one file of the journal whole (it is at most `max_bytes`).
    pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
        match std::fs::read(path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(j: &Journal) -> String {
        j.files()
            .iter()
            .map(|p| String::from_utf8(Journal::read_file(p).unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn appends_and_rotates_keeping_the_newest() {
        let dir = tempdir();
        let path = dir.join("audit.log");
        let j = Journal::open(&path, 40, 2).unwrap();
        for i in 0..10 {
            j.append(format!("line {i:02} ......").as_bytes()).unwrap();
        }
        let text = all(&j);
        let lines: Vec<&str> = text.lines().collect();
        // 17 bytes a line, two per file, three files.
        assert_eq!(lines.len(), 6, "{text}");
        assert_eq!(lines.last().unwrap(), &"line 09 ......");
        assert_eq!(lines.first().unwrap(), &"line 04 ......");
        assert_eq!(j.files().len(), 3);
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_cut_last_line_is_ended_on_open() {
        let dir = tempdir();
        let path = dir.join("audit.log");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":").unwrap();
        let j = Journal::open(&path, 1 << 20, 1).unwrap();
        j.append(b"{\"c\":3}").unwrap();
        assert_eq!(all(&j), "{\"a\":1}\n{\"b\":\n{\"c\":3}\n");
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("xapid-journal-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
