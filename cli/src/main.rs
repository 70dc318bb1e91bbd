//! `posemesh-registration`: register a node with a DDS, run the conformance
//! DDS, or watch a whole registration happen on loopback (`demo`).

use clap::{Parser, Subcommand, ValueEnum};
use posemesh_registration::core::callback::CALLBACK_PATH;
use posemesh_registration::core::registrar::{Event, Options};
use posemesh_registration::{
    AttemptOutcome, Driver, FileStore, Flow, PrivateKey, RegisterOnceError, RegistrarConfig,
    ReqwestTransport, Secret, Status, TracingSink,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Parser)]
#[command(
    name = "posemesh-registration",
    version,
    about = "Register a posemesh node with the Domain Discovery Service (DDS) and keep it registered."
)]
struct Cli {
    /// Log lines as text (coloured only on a terminal, never with NO_COLOR)
    /// or as one JSON object a line, for log shippers.
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Start the embedded conformance DDS and a node with a fresh key on
    /// loopback, register, and exit once registered and health-checked.
    Demo {
        /// Stay running (re-registering as needed) until Ctrl-C.
        #[arg(long)]
        keep_running: bool,
    },
    /// Register a node with a DDS and keep it registered (until Ctrl-C).
    ///
    /// The private key comes from POSEMESH_PRIVATE_KEY or --key-file, the
    /// registration secret from POSEMESH_REGISTRATION_SECRET or --secret-file,
    /// never from a flag value.
    Register(Box<RegisterArgs>),
    /// Run the conformance DDS on its own. Prints its URL as the first line.
    MockDds(MockDdsArgs),
}

#[derive(clap::Args)]
struct MockDdsArgs {
    /// Loopback address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Require exactly the registration credentials in this file.
    #[arg(long)]
    credentials_file: Option<PathBuf>,
    /// Interval between health probes of registered nodes, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    probe_interval_ms: u64,
    /// Exit when standard input closes (lets a test harness own the process).
    #[arg(long)]
    exit_on_stdin_eof: bool,
    /// Serve at most this many registrations a second; answer the rest 503
    /// with a Retry-After naming a booked second.
    #[arg(long)]
    capacity: Option<u32>,
    /// Call legacy nodes back this many milliseconds after answering them.
    #[arg(long, default_value_t = 0)]
    callback_delay_ms: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum FlowArg {
    /// SIWE: nonce, EIP-191 signature, `nodes/register-wallet` (what today's DDS speaks).
    Wallet,
    /// The retired `nodes/register`, signed over the node URL; the DDS calls the node back.
    Legacy,
}

#[derive(clap::Args)]
struct RegisterArgs {
    /// DDS base URL: https, or http to a loopback host (localhost, 127.0.0.0/8, ::1).
    #[arg(long)]
    dds_url: String,
    /// Allow an http:// DDS URL whose host is not loopback: the signed
    /// registration request and the registration secret then travel unencrypted.
    #[arg(long)]
    allow_plaintext_dds: bool,
    /// The node's public URL (legacy flow only).
    #[arg(long)]
    node_url: Option<String>,
    /// The node's version.
    #[arg(long)]
    node_version: String,
    /// A capability path such as /reconstruction/global-refinement/v1; repeat for several.
    #[arg(long = "capability")]
    capabilities: Vec<String>,
    /// Also sign SIWE challenges that name this domain (host or host:port),
    /// for a DDS reached by a private URL that names its public one; repeat
    /// for several. The DDS URL's own host is always trusted.
    #[arg(long = "siwe-domain")]
    siwe_domains: Vec<String>,
    /// Make one attempt and exit: 0 on success, 1 with the error otherwise.
    #[arg(long)]
    once: bool,
    /// Where to keep registration state (default: in memory only).
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Which registration protocol.
    #[arg(long, value_enum, default_value = "wallet")]
    flow: FlowArg,
    /// Serve the DDS callbacks (`/internal/v1/registrations`, `/health`) here.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Share the --listen port with other processes of this node (SO_REUSEPORT,
    /// as gunicorn and uvicorn workers do); give them the same --state-file.
    #[cfg(unix)]
    #[arg(long, requires_all = ["listen", "state_file"])]
    reuse_port: bool,
    /// Seconds between health-check TTL checks.
    #[arg(long, default_value_t = 60)]
    interval: u64,
    /// Consecutive fast failures before pausing a full interval (default: never pause).
    #[arg(long)]
    max_retry: Option<u32>,
    /// File holding the private key as hex (instead of POSEMESH_PRIVATE_KEY).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// File holding the registration secret (instead of POSEMESH_REGISTRATION_SECRET).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Send DDS requests through this proxy (default: HTTPS_PROXY, HTTP_PROXY,
    /// ALL_PROXY and NO_PROXY from the environment, as curl reads them).
    #[arg(long)]
    proxy: Option<String>,
    /// Ignore proxy variables in the environment.
    #[arg(long)]
    no_env_proxy: bool,
    /// Also trust the CA certificates in this PEM file (default: SSL_CERT_FILE, if set).
    #[arg(long)]
    ca_bundle: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (attempts, failures,
    /// time since the last success, health checks, callbacks, sign-ins).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
}

/// A user error: one line on stderr, exit code 2.
struct UsageError(String);

impl<E: std::fmt::Display> From<E> for UsageError {
    fn from(err: E) -> Self {
        UsageError(err.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter(&cli.command)));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.log_format {
        LogFormat::Json => logs.json().flatten_event(true).init(),
        LogFormat::Text => {
            use std::io::IsTerminal;
            let colour = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            logs.with_ansi(colour).init()
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo { keep_running } => demo(keep_running).await,
            Command::Register(args) => register(*args).await,
            Command::MockDds(args) => mock_dds(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(UsageError(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn default_filter(command: &Command) -> &'static str {
    match command {
        // The demo prints its own human lines; keep the log to problems.
        Command::Demo { .. } => "warn",
        _ => "info",
    }
}

async fn mock_dds(args: MockDdsArgs) -> Result<ExitCode, UsageError> {
    let credentials = args
        .credentials_file
        .map(|path| read_secret_file(&path, "credentials file"))
        .transpose()?;
    let mock = posemesh_dds_mock::start(posemesh_dds_mock::MockConfig {
        listen: args.listen,
        credentials: credentials.map(|c| c.expose().to_owned()),
        probe_interval: Duration::from_millis(args.probe_interval_ms.max(10)),
        capacity: args.capacity,
        callback_delay: Duration::from_millis(args.callback_delay_ms),
        ..Default::default()
    })
    .await?;
    println!("{}", mock.url());
    use std::io::Write;
    std::io::stdout().flush()?;
    if args.exit_on_stdin_eof {
        let mut stdin = tokio::io::stdin();
        let mut sink = tokio::io::sink();
        tokio::select! {
            _ = tokio::io::copy(&mut stdin, &mut sink) => {}
            _ = shutdown_signal() => {}
        }
    } else {
        shutdown_signal().await;
    }
    mock.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM (what `docker stop`, systemd and Kubernetes send): either
/// ends the loop cleanly, the lock released and the last state saved.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// A secret as given, less the surrounding whitespace a file or a secret
/// mounted into the environment brings (a trailing newline, most often).
fn trimmed_secret(text: &str) -> Secret {
    Secret::new(text.trim().to_owned())
}

fn read_secret_file(path: &PathBuf, what: &str) -> Result<Secret, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| UsageError(format!("cannot read {what} {}: {err}", path.display())))?;
    Ok(trimmed_secret(&text))
}

fn load_key(key_file: Option<&PathBuf>) -> Result<PrivateKey, UsageError> {
    let text = match key_file {
        Some(path) => read_secret_file(path, "key file")?,
        None => Secret::new(std::env::var("POSEMESH_PRIVATE_KEY").map_err(|_| {
            UsageError("no private key: set POSEMESH_PRIVATE_KEY or pass --key-file".into())
        })?),
    };
    Ok(PrivateKey::from_hex(text.expose())?)
}

fn load_secret(secret_file: Option<&PathBuf>) -> Result<Secret, UsageError> {
    match secret_file {
        Some(path) => read_secret_file(path, "secret file"),
        None => std::env::var("POSEMESH_REGISTRATION_SECRET").map(|text| trimmed_secret(&text)).map_err(|_| {
            UsageError("no registration secret: set POSEMESH_REGISTRATION_SECRET or pass --secret-file".into())
        }),
    }
}

async fn register(args: RegisterArgs) -> Result<ExitCode, UsageError> {
    let key = load_key(args.key_file.as_ref())?;
    let secret = load_secret(args.secret_file.as_ref())?;
    let reuse_port = reuse_port(&args);
    let flow_name = match args.flow {
        FlowArg::Legacy => "legacy",
        FlowArg::Wallet => "wallet",
    };
    let config = Options {
        dds_url: args.dds_url.clone(),
        flow: Some(flow_name.to_owned()),
        node_url: args.node_url.clone(),
        version: args.node_version.clone(),
        capabilities: args.capabilities,
        credentials: secret,
        register_interval: Some(Duration::from_secs(args.interval)),
        request_timeout: None,
        max_retry: args.max_retry,
        siwe_domains: args.siwe_domains,
        allow_plaintext_dds: args.allow_plaintext_dds,
    }
    .config()?;
    let mut transport = ReqwestTransport::builder().use_env_proxy(!args.no_env_proxy);
    if let Some(proxy) = &args.proxy {
        transport = transport.proxy(proxy.clone());
    }
    if let Some(path) = &args.ca_bundle {
        transport = transport.ca_bundle_file(path.clone());
    }
    let transport = transport.build()?;
    let mut builder = posemesh_registration::builder(config, key)?.transport(Arc::new(transport));
    if let Some(path) = &args.state_file {
        // Checked by the build, before anything is loaded or sent.
        builder = builder.store(Arc::new(FileStore::new(path)));
    }
    let driver = builder.build().await?;
    if let Some(err) = driver.recovered_from() {
        eprintln!("warning: stored state was unusable ({err}); it was set aside and the node registers afresh");
    }
    // Counts the callbacks answered 200 (after what they changed was saved).
    let (callbacks_tx, mut callbacks) = tokio::sync::watch::channel(0u64);
    let server = match args.listen {
        Some(addr) => Some(serve_callbacks(addr, reuse_port, driver.clone(), callbacks_tx).await?),
        None => None,
    };
    let metrics = match args.metrics_listen {
        Some(addr) => Some(serve_metrics(addr, driver.clone()).await?),
        None => None,
    };
    let code = if args.once {
        match driver.register_once().await {
            Ok(outcome) => {
                // Legacy: the DDS hands over the node's id and secret in a
                // callback, often after its answer. Wait for it (within the
                // window the registrar accepts one in), so that it is kept.
                let legacy = matches!(args.flow, FlowArg::Legacy);
                if legacy && server.is_some() && outcome == AttemptOutcome::Registered {
                    let grace = posemesh_registration::core::registrar::CALLBACK_GRACE;
                    let called = *callbacks.borrow_and_update() > 0
                        || tokio::time::timeout(grace, callbacks.changed())
                            .await
                            .is_ok();
                    if !called {
                        eprintln!(
                            "warning: the DDS did not call back within {} s: the node's id and secret were not received",
                            grace.as_secs()
                        );
                    }
                }
                let how = match outcome {
                    AttemptOutcome::Registered => "registered",
                    AttemptOutcome::Adopted => {
                        "already registered (a fresh registration of this exact configuration was stored)"
                    }
                };
                println!(
                    "{how} with {} as {}",
                    args.dds_url.trim_end_matches('/'),
                    driver.address()
                );
                ExitCode::SUCCESS
            }
            Err(RegisterOnceError::Failed(failure)) => {
                eprintln!("error: {failure}");
                ExitCode::from(1)
            }
            Err(err) => return Err(err.into()),
        }
    } else {
        tokio::select! {
            ran = driver.run() => ran?,
            () = shutdown_signal() => {}
        }
        ExitCode::SUCCESS
    };
    for (_, task) in server.into_iter().chain(metrics) {
        task.abort();
    }
    Ok(code)
}

/// Serves `GET /metrics` (Prometheus text) on `addr`; returns the bound
/// address (also printed on stderr) and the task.
async fn serve_metrics(
    addr: SocketAddr,
    driver: Driver,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), UsageError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|err| UsageError(format!("cannot listen on {addr}: {err}")))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = driver.metrics().to_prometheus();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                    text,
                )
            }
        }),
    );
    eprintln!("metrics at http://{bound}/metrics");
    let task = tokio::spawn(async move {
        if let Err(err) = posemesh_registration::server::serve(listener, app).await {
            tracing::warn!(error = %err, "metrics server stopped");
        }
    });
    Ok((bound, task))
}

#[cfg(unix)]
fn reuse_port(args: &RegisterArgs) -> bool {
    args.reuse_port
}

#[cfg(not(unix))]
fn reuse_port(_: &RegisterArgs) -> bool {
    false
}

/// Serves the DDS callbacks on `addr`; returns the bound address and the task.
async fn serve_callbacks(
    addr: SocketAddr,
    reuse_port: bool,
    driver: Driver,
    callbacks: tokio::sync::watch::Sender<u64>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), UsageError> {
    let cannot = |err: std::io::Error| UsageError(format!("cannot listen on {addr}: {err}"));
    let listener = if reuse_port {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(cannot)?;
        #[cfg(unix)]
        socket.set_reuseport(true).map_err(cannot)?;
        socket.bind(addr).map_err(cannot)?;
        socket.listen(1024).map_err(cannot)?
    } else {
        tokio::net::TcpListener::bind(addr).await.map_err(cannot)?
    };
    let bound = listener.local_addr()?;
    let callbacks = Arc::new(callbacks);
    let app = posemesh_registration::server::router(driver).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let callbacks = callbacks.clone();
            async move {
                let callback = request.uri().path() == CALLBACK_PATH;
                let response = next.run(request).await;
                if callback && response.status() == axum::http::StatusCode::OK {
                    callbacks.send_modify(|count| *count += 1);
                }
                response
            }
        },
    ));
    let task = tokio::spawn(async move {
        if let Err(err) = posemesh_registration::server::serve(listener, app).await {
            tracing::warn!(error = %err, "callback server stopped");
        }
    });
    Ok((bound, task))
}

/// What the demo waits for before it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Milestone {
    Registered,
    HealthChecked,
}

async fn demo(keep_running: bool) -> Result<ExitCode, UsageError> {
    let mock = posemesh_dds_mock::start(posemesh_dds_mock::MockConfig {
        probe_interval: Duration::from_millis(500),
        ..Default::default()
    })
    .await?;
    println!("conformance DDS listening at {}", mock.url());

    let key = posemesh_registration::generate_key()?;
    let secret = Secret::new(format!(
        "demo-{:016x}",
        u64::from_le_bytes(random_bytes::<8>()?)
    ));
    // Bind first: the node URL must name the real port.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let node_url = format!("http://{}", listener.local_addr()?);
    println!("node {} at {node_url}", key.eth_address());

    let mut config = RegistrarConfig::new(
        mock.url(),
        Flow::Legacy { node_url },
        env!("CARGO_PKG_VERSION"),
        vec!["/reconstruction/global-refinement/v1".into()],
        secret,
    )?;
    config.register_interval = Duration::from_secs(5);
    config.request_timeout = Duration::from_secs(10);

    let (milestones, mut reached) = mpsc::unbounded_channel();
    let driver = posemesh_registration::builder(config, key)?
        .events(Arc::new(TracingSink::with_handler(move |event: &Event| {
            match event {
                Event::StatusChanged { .. }
                | Event::Registered { .. }
                | Event::RegistrationFailed { .. } => {
                    println!("{:<24} {event}", event.name());
                }
                Event::CallbackAccepted { .. } => println!("{:<24} {event}", event.name()),
                _ => {}
            }
            let milestone = match event {
                Event::Registered { .. } => Some(Milestone::Registered),
                Event::HealthCheckReceived => Some(Milestone::HealthChecked),
                _ => None,
            };
            if let Some(m) = milestone {
                let _ = milestones.send(m);
            }
        })))
        .build()
        .await?;
    let app = posemesh_registration::server::router(driver.clone());
    let server = tokio::spawn(async move {
        let _ = posemesh_registration::server::serve(listener, app).await;
    });
    let looping = driver.clone();
    let registrar = tokio::spawn(async move { looping.run().await });

    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        let (mut registered, mut checked) = (false, false);
        while let Some(milestone) = reached.recv().await {
            registered |= milestone == Milestone::Registered;
            checked |= milestone == Milestone::HealthChecked && registered;
            if registered && checked {
                return true;
            }
        }
        false
    })
    .await;
    let ok = matches!(waited, Ok(true)) && driver.status() == Status::Registered;
    if ok {
        println!("health check received from the DDS: node is registered and alive");
    } else {
        eprintln!("error: the node did not register within 60 s");
    }
    if ok && keep_running {
        println!("running until Ctrl-C");
        shutdown_signal().await;
    }
    registrar.abort();
    server.abort();
    mock.shutdown().await;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn random_bytes<const N: usize>() -> Result<[u8; N], UsageError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|err| UsageError(format!("no OS randomness: {err}")))?;
    Ok(bytes)
}
