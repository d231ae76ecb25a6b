//! Tests of the NBD codec: parsers, handshake and transmission over an
//! in-memory stream, property tests, and real clients (`clients`).

mod clients;
mod fuzz;
mod handshake;
mod parse;
mod support;
mod tls;
mod transmission;
