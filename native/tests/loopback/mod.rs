//! Tiny blocking HTTP/1.1 servers on loopback for the transport tests: each
//! records the request line of every request it receives and answers with a
//! fixed response chosen from that line.

#![allow(dead_code)]

use posemesh_registration::core::{HttpRequest, Method};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Respond = dyn Fn(&str) -> String + Send + Sync;

/// A running server; it stops with the test process.
#[derive(Clone)]
pub struct Server {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Answers every request with `respond(request_line)` (a whole HTTP response).
    pub fn start(respond: impl Fn(&str) -> String + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = Server {
            addr: listener.local_addr().unwrap(),
            connections: Arc::default(),
            requests: Arc::default(),
        };
        let respond: Arc<Respond> = Arc::new(respond);
        let shared = server.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let (shared, respond) = (shared.clone(), respond.clone());
                std::thread::spawn(move || shared.serve(stream, &*respond));
            }
        });
        server
    }

    /// Answers every request with `status` and a short text body.
    pub fn answering(status: u16, body: &'static str) -> Server {
        Server::start(move |_| response(status, &[], body))
    }

    fn serve(&self, mut stream: TcpStream, respond: &Respond) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        loop {
            let Some((line, body_len)) = read_head(&mut stream) else {
                return;
            };
            let mut body = vec![0; body_len];
            if stream.read_exact(&mut body).is_err() {
                return;
            }
            self.requests.lock().unwrap().push(line.clone());
            let answer = respond(&line);
            if stream.write_all(answer.as_bytes()).is_err() || line.starts_with("CONNECT ") {
                return;
            }
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Request lines received so far, e.g. `POST /x HTTP/1.1`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// A whole HTTP/1.1 response with `Content-Length`.
pub fn response(status: u16, headers: &[(&str, &str)], body: &str) -> String {
    let mut text = format!("HTTP/1.1 {status} Status\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text
}

/// The request line and the `Content-Length` of the next request, if any.
fn read_head(stream: &mut TcpStream) -> Option<(String, usize)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next()?.to_owned();
    let body_len = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    Some((line, body_len))
}

/// A POST like a registration: a JSON body that must not travel further.
pub fn post(url: &str) -> HttpRequest {
    HttpRequest {
        method: Method::Post,
        url: url.to_owned(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"secret":"registration-credentials-must-stay-here"}"#.to_vec(),
    }
}
