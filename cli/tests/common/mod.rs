//! The conformance DDS as a child process, and a tiny HTTP client for its
//! control API (raw HTTP/1.1, so the tests pull in no client).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_posemesh-registration");

/// A loopback port nothing listens on now, for a worker to bind later.
///
/// Taken below Linux's ephemeral range (32768–60999), where neither an
/// outgoing connection nor a port-0 bind (the DDS's, another test's) can be
/// handed it in the meantime; each test process walks its own stretch.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let start = std::process::id() % SPAN;
    (0..SPAN)
        .map(|_| (LOW + (start + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) % SPAN) as u16)
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free loopback port below 32768")
}

/// The conformance DDS; it exits when its stdin closes (when this is dropped).
pub struct Mock {
    child: Child,
    pub url: String,
}

impl Mock {
    pub fn start() -> Mock {
        Mock::start_with(&[])
    }

    /// With more `mock-dds` options.
    pub fn start_with(options: &[&str]) -> Mock {
        let mut child = Command::new(BIN)
            .args(["mock-dds", "--exit-on-stdin-eof"])
            .args(options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("http://127.0.0.1:"),
            "first line is the URL: {line:?}"
        );
        Mock {
            child,
            url: line.trim().to_owned(),
        }
    }

    /// Sends a request to the mock; returns status and body.
    pub fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let authority = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(authority).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    pub fn faults(&self, json: &str) {
        let (status, _) = self.http(
            "POST",
            "/_control/faults",
            &format!(r#"{{"faults":{json}}}"#),
        );
        assert_eq!(status, 200);
    }

    /// The control read-out's text (chunked encoding is not used for it).
    pub fn readout(&self) -> String {
        self.http("GET", "/_control/registrations", "").1
    }

    /// How many registrations on `path` the mock accepted.
    pub fn accepted(&self, path: &str) -> usize {
        let readout: serde_json::Value =
            serde_json::from_str(&self.readout()).expect("the read-out is JSON");
        readout["received"].as_array().map_or(0, |received| {
            received
                .iter()
                .filter(|entry| entry["path"] == path && entry["accepted"] == true)
                .count()
        })
    }

    /// The most requests the mock had in flight at once.
    pub fn max_concurrent(&self) -> u64 {
        let readout = self.readout();
        let after = readout.split("\"max_concurrent\":").nth(1).unwrap_or("");
        after
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
