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

const BASE: [&str; 6] = [
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
            args(
                "http://127.0.0.1:9",
                &["--once", "--key-file", "/nonexistent/key"],
            ),
            None,
            "cannot read key file",
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

#[test]
fn an_unreadable_state_file_exits_two() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let state = state.to_str().unwrap();
    let output = register(
        &args("http://127.0.0.1:9", &["--once", "--state-file", state]),
        Some(KEY),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("cannot read state file"));
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
