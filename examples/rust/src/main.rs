//! A node that registers with the DDS named by `POSEMESH_DDS_URL`, serves the
//! DDS's callbacks, and exits once registered.
//!
//! ```sh
//! POSEMESH_DDS_URL=http://127.0.0.1:8080 cargo run -p posemesh-registration-example
//! ```
//! The key comes from `POSEMESH_PRIVATE_KEY` (hex); without it a throwaway
//! key is made for the run.

use posemesh_registration::{FileStore, Flow, PrivateKey, RegistrarConfig, Status};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let dds_url = std::env::var("POSEMESH_DDS_URL")?;
    let key = match std::env::var("POSEMESH_PRIVATE_KEY") {
        Ok(hex) => PrivateKey::from_hex(&hex)?,
        Err(_) => posemesh_registration::generate_key()?,
    };

    // The DDS calls the node back on its public URL: serve those routes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let node_url = format!("http://{}", listener.local_addr()?);
    let config = RegistrarConfig::new(
        &dds_url,
        Flow::Legacy { node_url },
        "1.0.0",
        vec!["/reconstruction/global-refinement/v1".into()],
        std::env::var("POSEMESH_REGISTRATION_SECRET")
            .unwrap_or_else(|_| "example-secret".into())
            .into(),
    )?;
    let state = std::env::temp_dir().join(format!("posemesh-example-{}.json", std::process::id()));
    let driver = posemesh_registration::builder(config, key)?
        .store(Arc::new(FileStore::new(&state)))
        .build()
        .await?;
    let app = posemesh_registration::server::router(driver.clone());
    // `serve` closes connections whose headers do not arrive in time (axum::serve never does).
    tokio::spawn(posemesh_registration::server::serve(listener, app));

    // Run the loop until the node is registered (30 s at most), then stop.
    let limit = Some(Duration::from_secs(30));
    tokio::select! {
        ran = driver.run() => ran?,
        registered = driver.wait_for_status(Status::Registered, limit) => {
            if !registered {
                return Err("not registered within 30 s".into());
            }
        }
    }
    println!(
        "registered as {} (state in {})",
        driver.address(),
        state.display()
    );
    // A demo: leave nothing behind (a real node keeps its state file, and the
    // `.lock` beside it, across restarts).
    let lock = state.with_extension("json.lock");
    for file in [&state, &lock] {
        let _ = std::fs::remove_file(file);
    }
    Ok(())
}
