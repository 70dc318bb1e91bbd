//! `uniffi-bindgen`: generates the Kotlin and Swift bindings of
//! `posemesh-registration-uniffi` from the built library (library mode).
//!
//! ```sh
//! uniffi-bindgen generate target/debug/libposemesh_registration_uniffi.so \
//!     --language kotlin --out-dir bindings-uniffi/generated/kotlin
//! ```
//!
//! Run it from inside the workspace: it reads `cargo metadata` to find the
//! crate's `uniffi.toml`. `bindings-uniffi/generate.sh` does all of this.

fn main() {
    uniffi::uniffi_bindgen_main()
}
