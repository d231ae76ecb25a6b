//! The pure parsers.

use super::super::consts::*;
use super::super::option::{ClientOption, InfoRequest, MetaRequest, OptionError};
use super::super::{parse_option, parse_option_data, parse_request, Command, RequestError};
use super::support::*;

fn whole(code: u32, data: &[u8]) -> Vec<u8> {
    let mut b = IHAVEOPT.to_be_bytes().to_vec();
    b.extend_from_slice(&code.to_be_bytes());
    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
    b.extend_from_slice(data);
    b
}

#[test]
fn options_parse() {
    let go = whole(OPT_GO, &info_data("d", &[3, 1]));
    assert_eq!(
        parse_option(&go),
        Ok((
            ClientOption::Go(InfoRequest {
                name: "d".into(),
                requests: vec![3, 1]
            }),
            go.len()
        ))
    );
    assert_eq!(
        parse_option(&go[..20]),
        Err(OptionError::Incomplete(go.len() - 20))
    );
    assert_eq!(parse_option(&go[..3]), Err(OptionError::Incomplete(13)));
    let mut bad = go.clone();
    bad[0] = 0;
    assert_eq!(parse_option(&bad), Err(OptionError::BadMagic));
    assert_eq!(
        parse_option_data(OPT_SET_META_CONTEXT, &meta_data("d", &["base:allocation"])),
        Ok(ClientOption::SetMetaContext(MetaRequest {
            export: "d".into(),
            queries: vec!["base:allocation".into()]
        }))
    );
    assert_eq!(
        parse_option_data(OPT_EXPORT_NAME, b"x"),
        Ok(ClientOption::ExportName("x".into()))
    );
    assert!(parse_option_data(OPT_EXPORT_NAME, b"a\0b").is_err());
    assert!(parse_option_data(OPT_EXPORT_NAME, &[0xff]).is_err());
    assert!(parse_option_data(OPT_STRUCTURED_REPLY, b"x").is_err());
    assert_eq!(parse_option_data(OPT_ABORT, b"x"), Ok(ClientOption::Abort));
    assert_eq!(parse_option_data(42, b"x"), Ok(ClientOption::Unknown(42)));
    // A query count far beyond the data.
    let mut d = meta_data("d", &[]);
    let n = d.len() - 4;
    d[n..].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(parse_option_data(OPT_LIST_META_CONTEXT, &d).is_err());
    // Trailing bytes.
    let mut d = info_data("d", &[]);
    d.push(0);
    assert!(parse_option_data(OPT_INFO, &d).is_err());
}

#[test]
fn requests_parse() {
    let mut b = REQUEST_MAGIC.to_be_bytes().to_vec();
    b.extend_from_slice(&[0, 8, 0, 7]);
    b.extend_from_slice(&5u64.to_be_bytes());
    b.extend_from_slice(&4096u64.to_be_bytes());
    b.extend_from_slice(&512u32.to_be_bytes());
    let r = parse_request(&b).unwrap();
    assert_eq!(
        (r.flags, r.command, r.cookie, r.offset, r.length),
        (8, Command::BlockStatus, 5, 4096, 512)
    );
    assert_eq!(parse_request(&b[..27]), Err(RequestError::Short(27)));
    b[0] = 0x21;
    assert!(matches!(parse_request(&b), Err(RequestError::BadMagic(_))));
}
