//! Writing a `(ref -> record) map` straight from registry rows into the
//! reply's wire format, in chunks, without building a value tree:
//! `get_all_records` over 100k objects is a 150 MB XML reply, and cloning
//! every field first would cost more than encoding it, and holding it whole
//! would cost 150 MB.

use super::{jsonrpc, xmlrpc, Ref, Value};

/// The wire format of the call being answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// XML-RPC.
    #[default]
    Xml,
    /// JSON-RPC.
    Json,
}

/// Chunks are cut at about this size: large enough that handing them to
/// the HTTP side costs few thread switches, small enough that memory stays
/// bounded (the channel holds at most a few).
pub const CHUNK: usize = 256 * 1024;

/// Writes a record's fields ((pre-encoded name, value) pairs) as the body
/// of a struct: XML members, or JSON `name:value` pairs joined by commas.
fn write_fields<'a>(
    format: Format,
    out: &mut Vec<u8>,
    fields: impl Iterator<Item = (&'a [u8], &'a Value)>,
) {
    match format {
        Format::Xml => {
            for (name, v) in fields {
                out.extend_from_slice(name);
                xmlrpc::encode_value(v, out);
                out.extend_from_slice(b"</member>");
            }
        }
        Format::Json => {
            for (i, (name, v)) in fields.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(name);
                jsonrpc::write_value(v, out);
            }
        }
    }
}

/// Builds an encoded `(ref -> record) map`, chunk by chunk.
#[derive(Debug)]
pub struct RecordMap {
    format: Format,
    out: Vec<u8>,
    count: usize,
}

impl RecordMap {
    /// Starts a map.
    pub fn new(format: Format) -> RecordMap {
        let mut out = Vec::with_capacity(CHUNK + CHUNK / 4);
        out.extend_from_slice(match format {
            Format::Xml => b"<value><struct>".as_slice(),
            Format::Json => b"{".as_slice(),
        });
        RecordMap {
            format,
            out,
            count: 0,
        }
    }

    /// A piece of a map encoded apart (on another thread): entries only,
    /// without the map's opening or closing bytes. Its bytes come from
    /// [`take_chunk`](Self::take_chunk) and [`into_rest`](Self::into_rest);
    /// pieces are joined by [`separator`](Self::separator), and an empty
    /// piece's [`finish`](Self::finish) is the map's closing bytes.
    pub fn part(format: Format) -> RecordMap {
        RecordMap {
            format,
            out: Vec::with_capacity(CHUNK + CHUNK / 4),
            count: 0,
        }
    }

    /// What goes between two non-empty pieces.
    pub fn separator(format: Format) -> &'static [u8] {
        match format {
            Format::Xml => b"",
            Format::Json => b",",
        }
    }

    /// What is left of a piece, without the map's closing bytes.
    pub fn into_rest(self) -> Vec<u8> {
        self.out
    }

    /// The member names of a record's fields, pre-encoded for this format
    /// (`<member><name>uuid</name>` / `"uuid":`), to pass to [`entry`].
    ///
    /// [`entry`]: RecordMap::entry
    pub fn names<'a>(&self, names: impl Iterator<Item = &'a str>) -> Vec<Vec<u8>> {
        names
            .map(|n| {
                let mut b = Vec::new();
                match self.format {
                    Format::Xml => {
                        b.extend_from_slice(b"<member><name>");
                        xmlrpc::escape_into(n, &mut b);
                        b.extend_from_slice(b"</name>");
                    }
                    Format::Json => {
                        jsonrpc::write_str(n, &mut b);
                        b.push(b':');
                    }
                }
                b
            })
            .collect()
    }

    /// Adds one record: its fields as (pre-encoded name, value) pairs.
    pub fn entry<'a>(&mut self, key: Ref, fields: impl Iterator<Item = (&'a [u8], &'a Value)>) {
        let out = &mut self.out;
        match self.format {
            Format::Xml => {
                out.extend_from_slice(b"<member><name>");
                key.write_to(out);
                out.extend_from_slice(b"</name><value><struct>");
                write_fields(Format::Xml, out, fields);
                out.extend_from_slice(b"</struct></value></member>");
            }
            Format::Json => {
                if self.count > 0 {
                    out.push(b',');
                }
                out.push(b'"');
                key.write_to(out);
                out.extend_from_slice(b"\":{");
                write_fields(Format::Json, out, fields);
                out.push(b'}');
            }
        }
        self.count += 1;
    }

    /// The bytes written so far, if they make a full chunk.
    pub fn take_chunk(&mut self) -> Option<Vec<u8>> {
        (self.out.len() >= CHUNK)
            .then(|| std::mem::replace(&mut self.out, Vec::with_capacity(CHUNK + CHUNK / 4)))
    }

    /// The last bytes of the map.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(match self.format {
            Format::Xml => b"</struct></value>".as_slice(),
            Format::Json => b"}".as_slice(),
        });
        self.out
    }
}

/// Builds an encoded `event.from` batch, chunk by chunk: the struct
/// `{events, valid_ref_counts, token}` whose events (with their snapshots)
/// are written straight from registry rows.
#[derive(Debug)]
pub struct EventBatch {
    format: Format,
    out: Vec<u8>,
    count: usize,
}

impl EventBatch {
    /// Starts a batch.
    pub fn new(format: Format) -> EventBatch {
        let mut out = Vec::with_capacity(CHUNK + CHUNK / 4);
        out.extend_from_slice(match format {
            Format::Xml => {
                b"<value><struct><member><name>events</name><value><array><data>".as_slice()
            }
            Format::Json => b"{\"events\":[".as_slice(),
        });
        EventBatch {
            format,
            out,
            count: 0,
        }
    }

    /// A piece of a batch encoded apart, as [`RecordMap::part`] (joined by
    /// [`RecordMap::separator`]); an empty one's [`finish`](Self::finish)
    /// is the batch's closing bytes.
    pub fn part(format: Format) -> EventBatch {
        EventBatch {
            format,
            out: Vec::with_capacity(CHUNK + CHUNK / 4),
            count: 0,
        }
    }

    /// What is left of a piece, without the batch's closing bytes.
    pub fn into_rest(self) -> Vec<u8> {
        self.out
    }

    /// Pre-encoded member names, as [`RecordMap::names`].
    pub fn names<'a>(&self, names: impl Iterator<Item = &'a str>) -> Vec<Vec<u8>> {
        RecordMap {
            format: self.format,
            out: Vec::new(),
            count: 0,
        }
        .names(names)
    }

    fn member(&mut self, name: &str, v: &Value) {
        let out = &mut self.out;
        match self.format {
            Format::Xml => {
                out.extend_from_slice(b"<member><name>");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"</name>");
                xmlrpc::encode_value(v, out);
                out.extend_from_slice(b"</member>");
            }
            Format::Json => {
                jsonrpc::write_str(name, out);
                out.push(b':');
                jsonrpc::write_value(v, out);
                out.push(b',');
            }
        }
    }

    /// Adds one event; `snapshot` is the object's fields as (pre-encoded
    /// name, value) pairs, or `None` for a `del`.
    pub fn event<'a>(
        &mut self,
        id: u64,
        class: &str,
        operation: &str,
        r: Ref,
        snapshot: Option<impl Iterator<Item = (&'a [u8], &'a Value)>>,
    ) {
        match self.format {
            Format::Xml => self.out.extend_from_slice(b"<value><struct>"),
            Format::Json => {
                if self.count > 0 {
                    self.out.push(b',');
                }
                self.out.push(b'{');
            }
        }
        self.member("id", &Value::from(id.to_string()));
        self.member("timestamp", &Value::from("0.0"));
        self.member("class", &Value::from(class));
        self.member("operation", &Value::from(operation));
        self.member("ref", &Value::Ref(r));
        let out = &mut self.out;
        match (self.format, snapshot) {
            (Format::Xml, Some(fields)) => {
                out.extend_from_slice(b"<member><name>snapshot</name><value><struct>");
                write_fields(Format::Xml, out, fields);
                out.extend_from_slice(b"</struct></value></member></struct></value>");
            }
            (Format::Xml, None) => out.extend_from_slice(b"</struct></value>"),
            (Format::Json, Some(fields)) => {
                out.extend_from_slice(b"\"snapshot\":{");
                write_fields(Format::Json, out, fields);
                out.extend_from_slice(b"}}");
            }
            (Format::Json, None) => {
                // Drop the trailing comma of the last member.
                out.pop();
                out.push(b'}');
            }
        }
        self.count += 1;
    }

    /// The bytes written so far, if they make a full chunk.
    pub fn take_chunk(&mut self) -> Option<Vec<u8>> {
        (self.out.len() >= CHUNK)
            .then(|| std::mem::replace(&mut self.out, Vec::with_capacity(CHUNK + CHUNK / 4)))
    }

    /// The end of the batch: the events array closes, then the counts and
    /// the token.
    pub fn finish(mut self, valid_ref_counts: &Value, token: &str) -> Vec<u8> {
        match self.format {
            Format::Xml => {
                self.out
                    .extend_from_slice(b"</data></array></value></member>");
                self.member("valid_ref_counts", valid_ref_counts);
                self.member("token", &Value::from(token));
                self.out.extend_from_slice(b"</struct></value>");
            }
            Format::Json => {
                self.out.extend_from_slice(b"],");
                self.member("valid_ref_counts", valid_ref_counts);
                self.member("token", &Value::from(token));
                self.out.pop();
                self.out.push(b'}');
            }
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Limits;

    fn sample() -> Vec<(Ref, Vec<(String, Value)>)> {
        (0..3)
            .map(|i| {
                (
                    Ref::new(),
                    vec![
                        ("uuid".to_string(), Value::from(format!("u{i}").as_str())),
                        ("progress".to_string(), Value::Double(0.5)),
                        ("n".to_string(), Value::Int(i)),
                        ("tags".to_string(), Value::Array(vec![Value::from("<&>")])),
                    ],
                )
            })
            .collect()
    }

    fn tree(rows: &[(Ref, Vec<(String, Value)>)]) -> Value {
        Value::Struct(
            rows.iter()
                .map(|(r, f)| (r.to_string(), Value::Struct(f.clone())))
                .collect(),
        )
    }

    /// The map's bytes, from its chunks.
    fn encoded(format: Format, rows: &[(Ref, Vec<(String, Value)>)]) -> Vec<u8> {
        let mut m = RecordMap::new(format);
        let mut all = Vec::new();
        for (r, f) in rows {
            let names = m.names(f.iter().map(|(k, _)| k.as_str()));
            m.entry(
                *r,
                names
                    .iter()
                    .map(Vec::as_slice)
                    .zip(f.iter().map(|(_, v)| v)),
            );
            if let Some(c) = m.take_chunk() {
                all.extend(c);
            }
        }
        all.extend(m.finish());
        all
    }

    #[test]
    fn xml_matches_the_tree_encoding() {
        let rows = sample();
        let mut b = Vec::new();
        xmlrpc::encode_value(&tree(&rows), &mut b);
        assert_eq!(encoded(Format::Xml, &rows), b);
        assert!(xmlrpc::decode_value(&b, &Limits::default()).is_ok());
    }

    #[test]
    fn json_matches_the_tree_encoding() {
        for rows in [sample(), Vec::new()] {
            let mut b = Vec::new();
            jsonrpc::write_value(&tree(&rows), &mut b);
            let a: serde_json::Value =
                serde_json::from_slice(&encoded(Format::Json, &rows)).unwrap();
            let b: serde_json::Value = serde_json::from_slice(&b).unwrap();
            assert_eq!(a, b);
        }
    }
}

#[cfg(test)]
mod piece_tests {
    use super::*;

    /// A map's bytes from pieces encoded apart (some empty), joined as
    /// `api::pieces::stream_joined` joins them.
    fn joined(format: Format, pieces: &[&[(Ref, Value)]]) -> Vec<u8> {
        let names = RecordMap::new(format).names(["v"].into_iter());
        let mut all = RecordMap::new(format).into_rest();
        let mut any = false;
        for piece in pieces {
            let mut m = RecordMap::part(format);
            for (r, v) in piece.iter() {
                m.entry(*r, names.iter().map(Vec::as_slice).zip([v]));
            }
            let bytes = m.into_rest();
            if !bytes.is_empty() {
                if any {
                    all.extend_from_slice(RecordMap::separator(format));
                }
                any = true;
                all.extend(bytes);
            }
        }
        all.extend(RecordMap::part(format).finish());
        all
    }

    #[test]
    fn pieces_joined_are_the_whole_map() {
        let rows: Vec<(Ref, Value)> = (0..5).map(|i| (Ref::new(), Value::Int(i))).collect();
        for format in [Format::Xml, Format::Json] {
            let names = RecordMap::new(format).names(["v"].into_iter());
            let mut whole = RecordMap::new(format);
            for (r, v) in &rows {
                whole.entry(*r, names.iter().map(Vec::as_slice).zip([v]));
            }
            let whole = whole.finish();
            let cuts: [&[&[(Ref, Value)]]; 4] = [
                &[&rows[..]],
                &[&[], &rows[..2], &[], &rows[2..], &[]],
                &[&rows[..1], &rows[1..2], &rows[2..]],
                &[&[], &[]],
            ];
            for (k, cut) in cuts.iter().enumerate() {
                let got = joined(format, cut);
                if k == 3 {
                    let empty = RecordMap::new(format).finish();
                    assert_eq!(got, empty, "{format:?}");
                } else {
                    assert_eq!(got, whole, "{format:?} cut {k}");
                }
            }
        }
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::*;

    #[test]
    fn big_maps_come_in_bounded_chunks() {
        let mut m = RecordMap::new(Format::Xml);
        let names = m.names(["name_label"].into_iter());
        let v = Value::from("x".repeat(1000).as_str());
        let mut chunks = Vec::new();
        for _ in 0..2000 {
            m.entry(Ref::new(), names.iter().map(Vec::as_slice).zip([&v]));
            if let Some(c) = m.take_chunk() {
                assert!(c.len() < CHUNK + 2048);
                chunks.push(c);
            }
        }
        assert!(chunks.len() >= 7);
    }
}
