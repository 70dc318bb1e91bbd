//! Proxies from the environment, read as curl reads them. Environment
//! variables are process-wide, so this binary holds one test that sets them
//! scenario by scenario; no other test shares the process.

mod loopback;

use loopback::{post, Server};
use posemesh_registration::{ReqwestTransport, Transport};
use std::time::Duration;

const VARS: [&str; 10] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUEST_METHOD",
    "SSL_CERT_FILE",
];

fn environment(vars: &[(&str, &str)]) {
    for name in VARS {
        std::env::remove_var(name);
    }
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
}

/// The body the DDS at `url` answered, through whatever the environment says.
async fn body_from(url: &str) -> String {
    let transport = ReqwestTransport::new().expect("transport");
    let answer = transport
        .send(post(url), Duration::from_secs(5))
        .await
        .expect("a response");
    String::from_utf8(answer.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_come_from_the_environment_as_curl_reads_them() {
    let proxy = Server::answering(200, "via proxy");
    let dds = Server::answering(200, "direct");
    let proxy_url = proxy.url();
    let proxy_bare = proxy.addr.to_string();
    let url = format!("{}/internal/v1/nodes/register", dds.url());
    let by_name = format!("http://localhost:{}/internal/v1/nodes/register", dds.port());

    environment(&[]);
    assert_eq!(body_from(&url).await, "direct", "nothing set");

    environment(&[("http_proxy", &proxy_url)]);
    assert_eq!(body_from(&url).await, "via proxy", "http_proxy");
    assert_eq!(
        proxy.requests().last().unwrap(),
        &format!("POST {url} HTTP/1.1")
    );

    environment(&[("http_proxy", &proxy_bare)]);
    assert_eq!(
        body_from(&url).await,
        "via proxy",
        "http_proxy without a scheme"
    );

    // curl ignores upper case HTTP_PROXY (a CGI host sets it from a request header).
    environment(&[("HTTP_PROXY", &proxy_url)]);
    assert_eq!(body_from(&url).await, "direct", "HTTP_PROXY");

    environment(&[("ALL_PROXY", &proxy_url)]);
    assert_eq!(body_from(&url).await, "via proxy", "ALL_PROXY");
    environment(&[("all_proxy", &proxy_url)]);
    assert_eq!(body_from(&url).await, "via proxy", "all_proxy");

    // An https proxy is not used for http.
    environment(&[("https_proxy", &proxy_url), ("HTTPS_PROXY", &proxy_url)]);
    assert_eq!(body_from(&url).await, "direct", "https_proxy for http");

    // http_proxy set but empty: no proxy for http, even with all_proxy (curl).
    environment(&[("http_proxy", ""), ("all_proxy", &proxy_url)]);
    assert_eq!(body_from(&url).await, "direct", "empty http_proxy");

    // NO_PROXY / no_proxy: by address and by name, upper or lower case.
    for no in ["NO_PROXY", "no_proxy"] {
        environment(&[("http_proxy", &proxy_url), (no, "example.com,127.0.0.1")]);
        assert_eq!(body_from(&url).await, "direct", "{no}=127.0.0.1");
        assert_eq!(
            body_from(&by_name).await,
            "via proxy",
            "{no}: localhost is not listed"
        );
        environment(&[("http_proxy", &proxy_url), (no, ".localhost")]);
        assert_eq!(body_from(&by_name).await, "direct", "{no}=.localhost");
        environment(&[("http_proxy", &proxy_url), (no, "*")]);
        assert_eq!(body_from(&url).await, "direct", "{no}=*");
    }

    // The environment's NO_PROXY applies to an explicit proxy too.
    environment(&[("NO_PROXY", "127.0.0.1")]);
    let transport = ReqwestTransport::builder()
        .proxy(&proxy_url)
        .build()
        .unwrap();
    let answer = transport
        .send(post(&url), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer.body, b"direct", "NO_PROXY with an explicit proxy");

    // use_env_proxy(false): the environment is not read.
    environment(&[("http_proxy", &proxy_url), ("ALL_PROXY", &proxy_url)]);
    let transport = ReqwestTransport::builder()
        .use_env_proxy(false)
        .build()
        .unwrap();
    let answer = transport
        .send(post(&url), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer.body, b"direct", "use_env_proxy(false)");

    // https goes through https_proxy as a CONNECT tunnel (refused here, so the
    // request fails; what matters is where it went).
    environment(&[("https_proxy", &proxy_url)]);
    let before = proxy.requests().len();
    let _ = ReqwestTransport::new()
        .unwrap()
        .send(
            post(&format!("https://{}/x", dds.addr)),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(
        proxy.requests()[before..],
        [format!("CONNECT {} HTTP/1.1", dds.addr)],
        "https_proxy"
    );

    // A proxy variable that is not a usable URL fails the build, naming the
    // variable but not the value (it may hold credentials).
    environment(&[("https_proxy", "ftp://user:hunter2hunter2@proxy.example")]);
    let message = ReqwestTransport::new().expect_err("ftp proxy").to_string();
    assert!(message.contains("https_proxy"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");

    // SSL_CERT_FILE: extra roots, and a missing file is a clear error.
    environment(&[("SSL_CERT_FILE", "/nonexistent/ca.pem")]);
    let message = ReqwestTransport::new()
        .expect_err("missing bundle")
        .to_string();
    assert!(
        message.contains("SSL_CERT_FILE=/nonexistent/ca.pem"),
        "{message}"
    );
    let transport = ReqwestTransport::builder().use_env_ca_bundle(false).build();
    assert!(
        transport.is_ok(),
        "use_env_ca_bundle(false) ignores SSL_CERT_FILE"
    );

    environment(&[]);
}
