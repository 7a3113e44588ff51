//! Byte-level protocol checks a driver would hide: ParameterStatus on startup and on SET,
//! and malformed input that must not take the server down.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{TestServer, temp_dir};

fn startup(stream: &mut TcpStream) {
    let mut body = Vec::new();
    body.extend_from_slice(&196608i32.to_be_bytes()); // protocol 3.0
    for (k, v) in [("user", "ember"), ("database", "ember"), ("application_name", "raw-test")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    stream.write_all(&msg).unwrap();
}

/// Read backend messages until ReadyForQuery; returns (type, payload) pairs.
fn read_until_ready(stream: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut messages = Vec::new();
    loop {
        let mut header = [0u8; 5];
        stream.read_exact(&mut header).unwrap();
        let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut payload = vec![0u8; len - 4];
        stream.read_exact(&mut payload).unwrap();
        let kind = header[0];
        messages.push((kind, payload));
        if kind == b'Z' {
            return messages;
        }
    }
}

fn query(stream: &mut TcpStream, sql: &str) {
    let mut msg = vec![b'Q'];
    msg.extend_from_slice(&((sql.len() + 5) as i32).to_be_bytes());
    msg.extend_from_slice(sql.as_bytes());
    msg.push(0);
    stream.write_all(&msg).unwrap();
}

fn parameter_status(messages: &[(u8, Vec<u8>)]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter(|(k, _)| *k == b'S')
        .map(|(_, p)| {
            let parts: Vec<String> = p.split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect();
            (parts[0].clone(), parts[1].clone())
        })
        .collect()
}

#[test]
fn parameter_status_at_startup_and_on_set() {
    let dir = temp_dir("raw-params");
    let server = TestServer::start(&dir);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    startup(&mut stream);
    let params = parameter_status(&read_until_ready(&mut stream));
    for key in ["server_version", "server_encoding", "client_encoding", "DateStyle", "TimeZone", "integer_datetimes", "standard_conforming_strings"] {
        assert!(params.iter().any(|(k, _)| k == key), "{key} missing from {params:?}");
    }
    assert!(params.contains(&("application_name".to_string(), "raw-test".to_string())), "{params:?}");
    query(&mut stream, "SET DateStyle = 'ISO, DMY'; SET application_name = 'renamed'");
    let params = parameter_status(&read_until_ready(&mut stream));
    assert!(params.contains(&("DateStyle".to_string(), "ISO, DMY".to_string())), "{params:?}");
    assert!(params.contains(&("application_name".to_string(), "renamed".to_string())), "{params:?}");
}

#[test]
fn malformed_messages_do_not_take_the_server_down() {
    let dir = temp_dir("raw-garbage");
    let server = TestServer::start(&dir);
    // Garbage instead of a startup packet.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let _ = stream.write_all(&[0xff; 64]);
    drop(stream);
    // A valid startup, then a message with an absurd length, then an unknown type.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    startup(&mut stream);
    read_until_ready(&mut stream);
    let _ = stream.write_all(&[b'Q', 0x7f, 0xff, 0xff, 0xff, b'x']);
    drop(stream);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    startup(&mut stream);
    read_until_ready(&mut stream);
    let _ = stream.write_all(&[b'!', 0, 0, 0, 4]);
    drop(stream);
    // The server still answers a well-formed client.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    startup(&mut stream);
    read_until_ready(&mut stream);
    query(&mut stream, "SELECT 1");
    let messages = read_until_ready(&mut stream);
    assert!(messages.iter().any(|(k, _)| *k == b'D'), "no DataRow: {messages:?}");
}
