//! The binary as users run it: exit codes, messages, and no secret in output.

mod common;

use common::{Mock, BIN};
use std::process::{Command, Output};

const KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";
const SECRET: &str = "cli-test-registration-secret";

fn register(args: &[&str], key: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("register")
        .args(args)
        .env_remove("POSEMESH_PRIVATE_KEY")
        .env("POSEMESH_REGISTRATION_SECRET", SECRET);
    if let Some(key) = key {
        command.env("POSEMESH_PRIVATE_KEY", key);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_clean(output: &Output) {
    let all = text(output);
    assert!(
        !all.contains(KEY) && !all.contains(SECRET),
        "a secret reached the output:\n{all}"
    );
    assert!(
        !all.contains("panicked") && !all.contains("RUST_BACKTRACE"),
        "{all}"
    );
}

const BASE: [&str; 8] = [
    "--flow",
    "legacy",
    "--node-url",
    "http://127.0.0.1:9",
    "--node-version",
    "1.0.0",
    "--capability",
    "/cap/v1",
];

fn args<'a>(dds: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--dds-url", dds];
    all.extend(BASE);
    all.extend(extra);
    all
}

#[test]
fn once_registers_and_exits_zero() {
    let mock = Mock::start();
    let output = register(&args(&mock.url, &["--once"]), Some(KEY));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("registered with"));
    assert_clean(&output);
}

/// A DDS reached by a private URL may name its public domain in its SIWE
/// challenges: refused unless `--siwe-domain` names it. Loopback names are
/// one machine: reached as `localhost`, a DDS naming itself `127.0.0.1` is
/// signed for without any option.
#[test]
fn siwe_domain_trusts_the_name_a_dds_gives_itself() {
    let mock = Mock::start();
    let own_name = mock.url.trim_start_matches("http://").to_owned();
    let by_localhost = format!("http://localhost:{}", own_name.rsplit(':').next().unwrap());
    let wallet = |url: &str, extra: &[&str]| {
        let mut all = vec!["--dds-url", url, "--node-version", "1.0.0"];
        all.extend(["--capability", "/cap/v1", "--once"]);
        all.extend(extra);
        register(&all, Some(KEY))
    };
    let aliased = wallet(&by_localhost, &[]);
    assert_eq!(aliased.status.code(), Some(0), "{}", text(&aliased));

    let (status, _) = mock.http(
        "POST",
        "/_control/session",
        r#"{"siwe_domain":"dds.public.example"}"#,
    );
    assert_eq!(status, 200);
    let refused = wallet(&mock.url, &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("not the DDS"), "{}", text(&refused));
    let trusted = wallet(&mock.url, &["--siwe-domain", "dds.public.example"]);
    assert_eq!(trusted.status.code(), Some(0), "{}", text(&trusted));
    assert_clean(&trusted);
}

/// The conformance DDS, like a real one, calls a legacy node back after it
/// has answered: `--once --listen` waits for that callback, so the id and
/// secret it carries are in the state file when the command exits.
#[test]
fn legacy_once_with_listen_keeps_the_callback_that_follows_the_answer() {
    let mock = Mock::start_with(&["--callback-delay-ms", "1500"]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let listen = format!("127.0.0.1:{}", common::free_port());
    let node_url = format!("http://{listen}");
    let mut all = vec![
        "--dds-url",
        &mock.url,
        "--flow",
        "legacy",
        "--node-url",
        &node_url,
    ];
    all.extend([
        "--node-version",
        "1.0.0",
        "--capability",
        "/cap/v1",
        "--once",
    ]);
    all.extend(["--listen", &listen, "--state-file", state.to_str().unwrap()]);
    let output = register(&all, Some(KEY));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        !text(&output).contains("did not call back"),
        "{}",
        text(&output)
    );
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(stored["credentials"]["id"], "node-1", "{stored}");
    assert_clean(&output);
}

#[test]
fn once_reports_a_refusal_in_one_line_and_exits_one() {
    let mock = Mock::start();
    mock.faults(r#"[{"status":503,"body":"down\nfor maintenance"}]"#);
    let output = register(&args(&mock.url, &["--once"]), Some(KEY));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("an error line");
    assert!(
        error.contains("status 503") && error.contains("/internal/v1/nodes/register"),
        "{error}"
    );
    assert!(
        error.contains("down for maintenance"),
        "newlines become spaces: {error}"
    );
    assert_clean(&output);
}

#[test]
fn once_says_what_to_do_about_a_conflict_or_missing_stake() {
    let mock = Mock::start();
    for (status, hint) in [(409, "same wallet"), (402, "lacks the stake")] {
        mock.faults(&format!(r#"[{{"status":{status},"body":"refused"}}]"#));
        let output = register(&args(&mock.url, &["--once"]), Some(KEY));
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let error = stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .expect("an error line");
        // The reference's message first, then the advice.
        assert!(
            error.contains(&format!("status {status}, endpoint"))
                && error.contains("body_snippet: refused (hint: ")
                && error.contains(hint),
            "{error}"
        );
        assert_clean(&output);
    }
}

/// A plaintext DDS that is not loopback is refused before any request;
/// `--allow-plaintext-dds` lets the user take that risk (here through a
/// proxy on loopback, the conformance DDS, so no request leaves the machine).
#[test]
fn a_plaintext_dds_needs_allow_plaintext_dds_unless_loopback() {
    let refused = register(&args("http://dds.example.com", &["--once"]), Some(KEY));
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let all = text(&refused);
    assert!(
        all.contains("unencrypted") && all.contains("--allow-plaintext-dds"),
        "{all}"
    );
    assert_clean(&refused);
    let mock = Mock::start();
    let extra = [
        "--once",
        "--allow-plaintext-dds",
        "--no-env-proxy",
        "--proxy",
        &mock.url,
    ];
    let allowed = register(&args("http://dds.example.com", &extra), Some(KEY));
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed));
    assert!(
        text(&allowed).contains("registered with http://dds.example.com"),
        "{}",
        text(&allowed)
    );
    assert_eq!(mock.accepted("/internal/v1/nodes/register"), 1);
    assert_clean(&allowed);
}

#[test]
fn bad_input_exits_two_with_a_clear_message() {
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            args("http://127.0.0.1:9", &["--once"]),
            None,
            "no private key",
        ),
        (
            args("http://127.0.0.1:9", &["--once"]),
            Some("0xnot-a-key-but-long-enough-to-notice"),
            "not valid hex",
        ),
        (
            args("http://127.0.0.1:9", &["--once"]),
            Some(&KEY[..62]),
            "64 hex digits",
        ),
        (
            args("ftp://dds.example.com", &["--once"]),
            Some(KEY),
            "http:// or https://",
        ),
        (
            args("http://user:pw@dds.example.com", &["--once"]),
            Some(KEY),
            "credentials",
        ),
        (
            args("https://dds.example.com?v=1", &["--once"]),
            Some(KEY),
            "query or fragment",
        ),
        (
            args("https://dds.example.com#here", &["--once"]),
            Some(KEY),
            "query or fragment",
        ),
        (
            args("http://127.0.0.1:9", &["--once", "--capability", "c"]),
            Some(KEY),
            "capability \"c\" is not a path",
        ),
        (
            args("http://127.0.0.1:9", &["--once", "--capability", "/a b"]),
            Some(KEY),
            "whitespace or a control character",
        ),
        (
            args(
                "http://127.0.0.1:9",
                &["--once", "--key-file", "/nonexistent/key"],
            ),
            None,
            "cannot read key file",
        ),
        (
            args(
                "http://127.0.0.1:9",
                &["--once", "--siwe-domain", "https://dds.example.com"],
            ),
            Some(KEY),
            "SIWE domain",
        ),
        (
            // Workers sharing a port must share the state that says who registered.
            args(
                "http://127.0.0.1:9",
                &["--once", "--listen", "127.0.0.1:0", "--reuse-port"],
            ),
            Some(KEY),
            "--state-file",
        ),
    ];
    for (arguments, key, expected) in cases {
        let output = register(&arguments, key);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{arguments:?}: {}",
            text(&output)
        );
        assert!(
            text(&output).contains(expected),
            "{arguments:?}: {}",
            text(&output)
        );
        assert!(
            !text(&output).contains("not-a-key-but-long"),
            "the bad key was echoed"
        );
        assert_clean(&output);
    }
}

/// A secret mounted into the environment from a file keeps its trailing
/// newline; it is read as the file would be, without it.
#[test]
fn a_secret_from_the_environment_loses_its_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let expected = dir.path().join("credentials");
    std::fs::write(&expected, SECRET).unwrap();
    let mock = Mock::start_with(&["--credentials-file", expected.to_str().unwrap()]);
    let output = Command::new(BIN)
        .arg("register")
        .args(args(&mock.url, &["--once"]))
        .env("POSEMESH_PRIVATE_KEY", KEY)
        .env("POSEMESH_REGISTRATION_SECRET", format!("{SECRET}\n"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_clean(&output);
}

/// `docker stop`, systemd and Kubernetes stop a node with SIGTERM: the loop
/// ends as on Ctrl-C, and the process exits 0.
#[cfg(unix)]
#[test]
fn sigterm_stops_the_loop_cleanly_and_exits_zero() {
    use std::process::Stdio;
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("node.log");
    let mut child = Command::new(BIN)
        .arg("register")
        .args(["--dds-url", &mock.url, "--node-version", "1.0.0"])
        .args(["--capability", "/cap/v1", "--interval", "60"])
        .env("POSEMESH_PRIVATE_KEY", KEY)
        .env("POSEMESH_REGISTRATION_SECRET", SECRET)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let registered = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("registration.success")
    });
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = (0..100)
        .find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            child.try_wait().unwrap()
        })
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!("still running 10 s after SIGTERM")
        });
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(registered, "{logs}");
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(!logs.contains(KEY) && !logs.contains(SECRET), "{logs}");
}

#[test]
fn a_state_file_that_is_a_folder_exits_two_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let state = state.to_str().unwrap();
    let started = std::time::Instant::now();
    let output = register(
        &args("http://127.0.0.1:9", &["--once", "--state-file", state]),
        Some(KEY),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let all = text(&output);
    assert!(
        all.contains(&format!("cannot use state file {state}: it is a folder")),
        "{all}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "no attempt was made"
    );
    assert_clean(&output);
}

#[test]
fn a_corrupt_state_file_is_reported_and_recovered() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, b"{\"version\":1,\"status\":").unwrap();
    let output = register(
        &args(
            &mock.url,
            &["--once", "--state-file", state.to_str().unwrap()],
        ),
        Some(KEY),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("set aside"));
    assert!(dir.path().join("state.json.corrupt").exists());
}

#[test]
fn demo_registers_and_exits_zero() {
    let output = Command::new(BIN).arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(stdout.contains("disconnected -> registering"), "{stdout}");
    assert!(stdout.contains("registering -> registered"), "{stdout}");
    assert!(stdout.contains("health check received"), "{stdout}");
}

#[test]
fn every_command_has_help() {
    for command in [
        vec!["--help"],
        vec!["demo", "--help"],
        vec!["register", "--help"],
        vec!["mock-dds", "--help"],
    ] {
        let output = Command::new(BIN).args(&command).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{command:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("Usage:"));
    }
}

fn wallet_args<'a>(dds: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![
        "--dds-url",
        dds,
        "--node-version",
        "1.0.0",
        "--capability",
        "/cap/v1",
    ];
    all.extend(extra);
    all
}

#[test]
fn wallet_is_the_default_flow() {
    let mock = Mock::start();
    let output = register(&wallet_args(&mock.url, &["--once"]), Some(KEY));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(mock.accepted("/internal/v1/nodes/register-wallet"), 1);
    assert_eq!(mock.accepted("/internal/v1/nodes/register"), 0);
    // A node URL belongs to the legacy flow only: refused, never ignored.
    let output = register(
        &wallet_args(&mock.url, &["--once", "--node-url", "http://127.0.0.1:9"]),
        Some(KEY),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("wallet flow takes no node URL"),
        "{}",
        text(&output)
    );
    assert_clean(&output);
}

#[test]
fn once_with_stored_state_adopts_or_announces_an_upgrade_and_always_exits() {
    for flow in [
        &["--flow", "wallet"][..],
        &["--flow", "legacy", "--node-url", "http://127.0.0.1:9"],
    ] {
        let mock = Mock::start();
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let state = state.to_str().unwrap();
        let run = |version: &str| {
            let mut all = vec!["--dds-url", mock.url.as_str(), "--node-version", version];
            all.extend(["--capability", "/cap/v1", "--once", "--state-file", state]);
            all.extend(flow);
            register(&all, Some(KEY))
        };
        let first = run("1.0.0");
        assert_eq!(first.status.code(), Some(0), "{}", text(&first));
        // Restarted with the same configuration: nothing sent, and it ends.
        let again = run("1.0.0");
        assert_eq!(again.status.code(), Some(0), "{}", text(&again));
        assert!(
            text(&again).contains("already registered"),
            "{}",
            text(&again)
        );
        let path = if flow[1] == "wallet" {
            "/internal/v1/nodes/register-wallet"
        } else {
            "/internal/v1/nodes/register"
        };
        assert_eq!(mock.accepted(path), 1, "{flow:?}");
        // Upgraded in place: the DDS hears the new version at once.
        let upgraded = run("2.0.0");
        assert_eq!(upgraded.status.code(), Some(0), "{}", text(&upgraded));
        assert_eq!(
            mock.accepted(path),
            2,
            "{flow:?} {} {}",
            text(&upgraded),
            mock.readout()
        );
        assert!(
            mock.readout().contains("\"version\":\"2.0.0\""),
            "{}",
            mock.readout()
        );
        assert_clean(&upgraded);
    }
}

#[test]
fn a_lock_file_that_cannot_be_made_exits_two_with_its_path() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let lock = dir.path().join("state.json.lock");
    std::fs::create_dir(&lock).unwrap();
    let output = register(
        &wallet_args(
            &mock.url,
            &["--once", "--state-file", state.to_str().unwrap()],
        ),
        Some(KEY),
    );
    // A state path that can never work is bad input, found before any attempt.
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let all = text(&output);
    assert!(
        all.contains(&format!("cannot create lock file {}: ", lock.display())),
        "{all}"
    );
    assert_eq!(mock.accepted("/internal/v1/nodes/register-wallet"), 0);
}

#[test]
fn log_format_json_prints_one_object_a_line_with_upstreams_fields() {
    let mock = Mock::start();
    let mut all = vec!["--log-format", "json"];
    all.extend(wallet_args(&mock.url, &["--once"]));
    let output = register(&all, Some(KEY));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let attempt = lines
        .iter()
        .find(|l| l["event"] == "registration.attempt")
        .expect("a registration.attempt line");
    assert_eq!(attempt["attempt"], 1);
    assert!(attempt["message"]
        .as_str()
        .unwrap()
        .starts_with("Registering node with DDS"));
    let success = lines
        .iter()
        .find(|l| l["event"] == "registration.success")
        .expect("a registration.success line");
    assert!(success["elapsed_ms"].is_u64(), "{success}");
    assert!(!stderr.contains('\u{1b}'), "no colour when not a terminal");
    assert_clean(&output);
}

/// `GET path` on 127.0.0.1:`port`: the body, if it answered 200.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

#[test]
fn metrics_are_served_as_prometheus_text() {
    use prometheus_parse::{Scrape, Value};
    use std::process::Stdio;
    let dds = Mock::start();
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args([
            "register",
            "--dds-url",
            &dds.url,
            "--node-version",
            "1.0.0",
            "--capability",
            "/cap/v1",
            "--metrics-listen",
            &listen,
        ])
        .env("POSEMESH_PRIVATE_KEY", KEY)
        .env("POSEMESH_REGISTRATION_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sample = |scrape: &Scrape, name: &str, label: Option<(&str, &str)>| {
        scrape.samples.iter().find_map(|s| {
            let labelled = label.is_none_or(|(k, v)| s.labels.get(k) == Some(v));
            match (&s.value, s.metric == name && labelled) {
                (Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v), true) => Some(*v),
                _ => None,
            }
        })
    };
    let mut registered = None;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let Some(body) = http_get(port, "/metrics") else {
            continue;
        };
        let scrape =
            Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
        if sample(
            &scrape,
            "posemesh_registration_status",
            Some(("status", "registered")),
        ) == Some(1.0)
        {
            registered = Some((scrape, body));
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let (scrape, body) = registered.expect("the scrape shows the node registered");
    let attempts = sample(
        &scrape,
        "posemesh_registration_attempts_total",
        Some(("result", "registered")),
    );
    assert_eq!(attempts, Some(1.0), "{body}");
    assert_eq!(
        sample(&scrape, "posemesh_registration_consecutive_failures", None),
        Some(0.0)
    );
    let since = sample(
        &scrape,
        "posemesh_registration_seconds_since_last_success",
        None,
    );
    assert!(since.is_some_and(|s| (0.0..30.0).contains(&s)), "{body}");
    assert!(sample(
        &scrape,
        "posemesh_registration_time_to_registered_seconds",
        None
    )
    .is_some());
    for family in [
        "status",
        "attempts_total",
        "sign_ins_total",
        "health_checks_total",
    ] {
        let name = format!("posemesh_registration_{family}");
        assert!(scrape.docs.contains_key(&name), "HELP for {name}: {body}");
    }
    assert!(!body.contains(KEY) && !body.contains(SECRET));
    assert_eq!(http_get(port, "/"), None, "only /metrics");
}
