//! Issues 12 and 13: the state at rest is private (file and folder modes,
//! no symbolic links for the lock), lock failures say what and where, and the
//! transport never follows a redirect and honours an explicit proxy.

mod common;
mod loopback;

use loopback::{post, response, Server};
mod sync_store;

use posemesh_registration::{DriverError, FileStore, ReqwestTransport, Transport};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use sync_store::SyncStore;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

// ---- state at rest -------------------------------------------------------

#[test]
fn save_creates_the_state_file_0600_and_missing_folders_0700() {
    let dir = tempfile::tempdir().unwrap();
    let outer = dir.path().join("var");
    let inner = outer.join("node");
    let path = inner.join("state.json");
    let store = FileStore::new(&path);
    store.save_now(b"{}").unwrap();
    assert_eq!(mode(&path), 0o600, "state file");
    assert_eq!(mode(&inner), 0o700, "created folder");
    assert_eq!(mode(&outer), 0o700, "created parent folder");
    // No temporary file is left behind either.
    let names: Vec<_> = fs::read_dir(&inner)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["state.json"]);
}

#[test]
fn save_over_a_world_readable_state_file_leaves_it_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    fs::write(&path, b"old").unwrap();
    set_mode(&path, 0o644);
    FileStore::new(&path).save_now(b"new").unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(fs::read(&path).unwrap(), b"new");
}

#[test]
fn the_lock_file_is_created_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh").join("state.json");
    let store = FileStore::new(&path);
    assert!(store.try_lock_now().unwrap());
    assert_eq!(mode(&dir.path().join("fresh/state.json.lock")), 0o600);
    assert_eq!(mode(&dir.path().join("fresh")), 0o700);
    store.unlock_now();
}

#[test]
fn a_corrupt_file_set_aside_is_0600_whatever_its_old_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    fs::write(&path, b"not a snapshot").unwrap();
    set_mode(&path, 0o664);
    let moved_to = FileStore::new(&path).set_aside_corrupt_now();
    let aside = dir.path().join("state.json.corrupt");
    assert_eq!(moved_to, Some(aside.display().to_string()));
    assert_eq!(fs::read(&aside).unwrap(), b"not a snapshot");
    assert_eq!(mode(&aside), 0o600);
    assert!(!path.exists());
    // A move that fails (here: nothing left to move, as for a second worker
    // that read the same bytes) names no file, and the first copy is kept.
    assert_eq!(FileStore::new(&path).set_aside_corrupt_now(), None);
    assert_eq!(fs::read(&aside).unwrap(), b"not a snapshot");
}

#[test]
fn a_state_file_open_to_group_or_others_is_reported_and_still_loads() {
    common::capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    fs::write(&path, b"{}").unwrap();
    let store = FileStore::new(&path);

    set_mode(&path, 0o600);
    assert_eq!(store.permission_warning(), None);

    for loose in [0o644, 0o604, 0o620] {
        set_mode(&path, loose);
        let warning = store.permission_warning().expect("a warning");
        assert!(
            warning.contains(&path.display().to_string())
                && warning.contains(&format!("{loose:04o}")),
            "{warning}"
        );
    }
    // Loading is not refused, and says so in the log.
    set_mode(&path, 0o644);
    assert_eq!(store.load_now().unwrap().as_deref(), Some(&b"{}"[..]));
    let logs = common::logs();
    let line = logs
        .lines()
        .find(|l| l.contains("state.permissions"))
        .unwrap_or_else(|| panic!("no state.permissions warning in:\n{logs}"));
    assert!(line.contains("WARN") && line.contains("0644"), "{line}");
    assert!(line.contains(&path.display().to_string()), "{line}");
}

#[test]
fn a_missing_state_file_has_no_permission_warning() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        FileStore::new(dir.path().join("state.json")).permission_warning(),
        None
    );
}

// ---- lock errors ---------------------------------------------------------

#[test]
fn a_lock_file_that_is_a_symbolic_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    fs::write(&elsewhere, b"someone else's file").unwrap();
    set_mode(&elsewhere, 0o644);
    let path = dir.path().join("state.json");
    let lock = dir.path().join("state.json.lock");
    std::os::unix::fs::symlink(&elsewhere, &lock).unwrap();

    let err = FileStore::new(&path)
        .try_lock_now()
        .expect_err("must not lock through a link");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot open lock file {}: ", lock.display())),
        "{message}"
    );
    assert!(message.contains("symbolic link"), "{message}");
    // The link's target is untouched.
    assert_eq!(fs::read(&elsewhere).unwrap(), b"someone else's file");
    assert_eq!(mode(&elsewhere), 0o644);
}

#[test]
fn a_lock_path_that_is_a_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("state.json.lock");
    fs::create_dir(&lock).unwrap();
    let err = FileStore::new(dir.path().join("state.json"))
        .try_lock_now()
        .expect_err("a directory is no lock file");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot open lock file {}: ", lock.display())),
        "{message}"
    );
    assert!(message.contains("Is a directory"), "{message}");
}

/// Every host builds through the driver, which checks the store after the
/// configuration: a refused configuration touches no file, and a file store
/// that can never work fails the build, not every attempt.
#[tokio::test]
async fn the_build_checks_the_store_after_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("registration.json");
    let build = |config: posemesh_registration::RegistrarConfig, path: &Path| {
        posemesh_registration::builder(config, common::fresh_key().0)
            .unwrap()
            .store(std::sync::Arc::new(FileStore::new(path)))
            .build()
    };
    let mut refused = common::wallet_config("http://127.0.0.1:9");
    refused.request_timeout = Duration::ZERO;
    let err = build(refused, &state).await.err().unwrap();
    assert!(matches!(err, DriverError::Config(_)), "{err}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "no lock file");
    let err = build(common::wallet_config("http://127.0.0.1:9"), dir.path())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DriverError::Store(_)), "{err}");
    assert!(err.to_string().contains("it is a folder"), "{err}");
    build(common::wallet_config("http://127.0.0.1:9"), &state)
        .await
        .unwrap();
    assert!(dir.path().join("registration.json.lock").exists());
}

#[test]
fn a_state_path_that_can_never_work_is_refused_before_the_first_attempt() {
    let dir = tempfile::tempdir().unwrap();
    // A folder.
    let err = FileStore::new(dir.path()).check_usable().unwrap_err();
    assert!(err.to_string().contains("it is a folder"), "{err}");
    // No file name: "" would make ".lock" in the working folder.
    for nameless in ["", " ", "/", ".."] {
        let err = FileStore::new(nameless).check_usable().unwrap_err();
        assert!(
            err.to_string().contains("names no file"),
            "{nameless:?}: {err}"
        );
    }
    assert!(!Path::new(".lock").exists());
    // A file beside which no lock file can be made.
    if Path::new("/proc/version").exists() {
        let err = FileStore::new("/proc/version").check_usable().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot create lock file /proc/version.lock: "),
            "{err}"
        );
    }
    // A lock file that is a symbolic link, whose target stays untouched.
    let elsewhere = dir.path().join("elsewhere");
    fs::write(&elsewhere, b"someone else's file").unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.path().join("linked.json.lock")).unwrap();
    let err = FileStore::new(dir.path().join("linked.json"))
        .check_usable()
        .unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(fs::read(&elsewhere).unwrap(), b"someone else's file");
    // Usable: a new file in a folder that exists (its lock file is made, 0600),
    // or in one that does not exist yet (made by the first save).
    let path = dir.path().join("state.json");
    FileStore::new(&path).check_usable().unwrap();
    assert_eq!(mode(&dir.path().join("state.json.lock")), 0o600);
    let later = dir.path().join("not").join("yet").join("state.json");
    FileStore::new(&later).check_usable().unwrap();
    assert!(
        !later.parent().unwrap().exists(),
        "nothing made before the first save"
    );
}

#[test]
fn a_lock_held_elsewhere_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let first = FileStore::new(&path);
    let second = FileStore::new(&path);
    assert!(first.try_lock_now().unwrap());
    assert!(!second.try_lock_now().unwrap(), "held by the first");
    first.unlock_now();
    assert!(second.try_lock_now().unwrap());
}

#[test]
fn a_folder_that_cannot_be_created_names_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    fs::write(&blocker, b"").unwrap();
    let store = FileStore::new(blocker.join("state.json"));
    let message = store
        .try_lock_now()
        .expect_err("a file is in the way")
        .to_string();
    assert!(
        message.starts_with(&format!("cannot create folder {}: ", blocker.display())),
        "{message}"
    );
    let message = store
        .save_now(b"{}")
        .expect_err("a file is in the way")
        .to_string();
    assert!(
        message.starts_with(&format!("cannot create folder {}: ", blocker.display())),
        "{message}"
    );
}

// ---- transport: redirects --------------------------------------------------

async fn send(
    transport: &ReqwestTransport,
    url: &str,
) -> posemesh_registration::core::HttpResponse {
    transport
        .send(post(url), Duration::from_secs(5))
        .await
        .expect("a response")
}

/// A server redirecting every request to `target` with `status`.
fn redirecting_to(target: &Server, status: u16) -> Server {
    let location = format!("{}/internal/v1/nodes/register", target.url());
    Server::start(move |_| response(status, &[("Location", &location)], ""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_comes_back_as_a_response_and_is_never_followed() {
    let transport = ReqwestTransport::builder()
        .use_env_proxy(false)
        .build()
        .unwrap();
    for status in [301, 302, 303, 307, 308] {
        let target = Server::answering(200, "{}");
        let redirect = redirecting_to(&target, status);
        let answer = send(
            &transport,
            &format!("{}/internal/v1/nodes/register", redirect.url()),
        )
        .await;
        assert_eq!(answer.status, status);
        let location = answer
            .headers
            .iter()
            .find(|(name, _)| name == "location")
            .map(|(_, value)| value.as_str());
        assert_eq!(
            location,
            Some(format!("{}/internal/v1/nodes/register", target.url()).as_str())
        );
        assert_eq!(redirect.requests().len(), 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(target.connections(), 0, "{status} was followed");
    }
    // The default transport too.
    let target = Server::answering(200, "{}");
    let redirect = redirecting_to(&target, 307);
    let transport = ReqwestTransport::new().unwrap();
    assert_eq!(send(&transport, &redirect.url()).await.status, 307);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(target.connections(), 0);
}

/// The check above can fail: a client that follows redirects does reach the
/// second server through the same harness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redirect_check_sees_a_client_that_follows() {
    let target = Server::answering(200, "{}");
    let redirect = redirecting_to(&target, 307);
    let following =
        ReqwestTransport::with_client(reqwest::Client::builder().no_proxy().build().unwrap());
    assert_eq!(send(&following, &redirect.url()).await.status, 200);
    assert_eq!(
        target.requests(),
        ["POST /internal/v1/nodes/register HTTP/1.1"]
    );
}

// ---- transport: explicit proxy ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_proxy_carries_the_requests() {
    let proxy = Server::answering(200, "via proxy");
    let dds = Server::answering(200, "direct");
    let transport = ReqwestTransport::builder()
        .use_env_proxy(false)
        .proxy(proxy.url())
        .build()
        .unwrap();
    let url = format!("{}/internal/v1/nodes/register", dds.url());
    let answer = send(&transport, &url).await;
    assert_eq!(answer.body, b"via proxy");
    assert_eq!(proxy.requests(), [format!("POST {url} HTTP/1.1")]);
    assert_eq!(dds.connections(), 0);

    // Without a scheme, as curl takes it: http://
    let transport = ReqwestTransport::builder()
        .use_env_proxy(false)
        .proxy(proxy.addr.to_string())
        .build()
        .unwrap();
    assert_eq!(send(&transport, &url).await.body, b"via proxy");

    // A host on the no-proxy list goes direct.
    let transport = ReqwestTransport::builder()
        .use_env_proxy(false)
        .proxy(proxy.url())
        .no_proxy("example.com, 127.0.0.1")
        .build()
        .unwrap();
    assert_eq!(send(&transport, &url).await.body, b"direct");
    assert_eq!(proxy.requests().len(), 2);

    // And without a proxy, nothing goes near it.
    let transport = ReqwestTransport::builder()
        .use_env_proxy(false)
        .build()
        .unwrap();
    assert_eq!(send(&transport, &url).await.body, b"direct");
    assert_eq!(proxy.requests().len(), 2);
}

#[test]
fn a_bad_proxy_url_is_an_error_that_does_not_repeat_it() {
    for bad in [
        "ftp://user:hunter2hunter2@proxy.example",
        "http://",
        "socks9://user:hunter2hunter2@x",
    ] {
        let err = ReqwestTransport::builder()
            .use_env_proxy(false)
            .proxy(bad)
            .build()
            .expect_err(bad);
        let message = err.to_string();
        assert!(
            message.contains("invalid proxy URL in the proxy option"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }
}

// ---- transport: extra roots -------------------------------------------------

#[test]
fn extra_roots_must_hold_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let message = ReqwestTransport::builder()
        .use_env_ca_bundle(false)
        .ca_bundle_file(&missing)
        .build()
        .expect_err("missing file")
        .to_string();
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );

    let message = ReqwestTransport::builder()
        .use_env_ca_bundle(false)
        .ca_bundle_pem(b"no certificate here".to_vec())
        .build()
        .expect_err("no certificate")
        .to_string();
    assert!(message.contains("no usable PEM certificate"), "{message}");

    // Base64 that is no certificate: refused when the client is built, naming where it came from.
    let message = ReqwestTransport::builder()
        .use_env_ca_bundle(false)
        .ca_bundle_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec())
        .build()
        .expect_err("not a certificate")
        .to_string();
    assert!(message.contains("PEM bytes"), "{message}");
}

#[test]
fn a_system_bundle_is_accepted_as_extra_roots() {
    let Some(bundle) = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.exists()) else {
        eprintln!("no system CA bundle on this machine; skipped");
        return;
    };
    ReqwestTransport::builder()
        .use_env_ca_bundle(false)
        .ca_bundle_file(bundle)
        .build()
        .unwrap();
    let pem = fs::read(bundle).unwrap();
    ReqwestTransport::builder()
        .use_env_ca_bundle(false)
        .ca_bundle_pem(pem)
        .build()
        .unwrap();
}

#[test]
fn a_memory_store_never_shows_what_it_holds() {
    let store = posemesh_registration::MemoryStore::new();
    let secret = br#"{"credentials":{"id":"n1","secret":"memory-store-secret"}}"#;
    store.save_now(secret).unwrap();
    let shown = format!("{store:?} {store:#?}");
    assert!(!shown.contains("memory-store-secret"), "{shown}");
    // Nor as the bytes' numbers: "109, 101, 109" would be "mem".
    assert!(!shown.contains("109, 101, 109"), "{shown}");
    assert!(shown.contains(&secret.len().to_string()), "{shown}");
}

/// Every snapshot the core accepts loads whole: a store that read less would cut a large
/// one into a "corrupt" state, set it aside and make the node register again.
#[test]
fn a_snapshot_of_the_largest_size_loads_whole_and_a_larger_file_is_not_cut() {
    use posemesh_registration_core::snapshot::MAX_SNAPSHOT_BYTES;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = FileStore::new(&path);
    let largest = vec![b' '; MAX_SNAPSHOT_BYTES];
    store.save_now(&largest).unwrap();
    assert_eq!(
        store.load_now().unwrap().map(|b| b.len()),
        Some(MAX_SNAPSHOT_BYTES)
    );
    // One byte more is read, so the decoder sees the file is too large (and says so)
    // rather than decoding a prefix.
    store
        .save_now(&vec![b' '; MAX_SNAPSHOT_BYTES + 10])
        .unwrap();
    assert_eq!(
        store.load_now().unwrap().map(|b| b.len()),
        Some(MAX_SNAPSHOT_BYTES + 1)
    );
}
