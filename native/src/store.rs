//! Where the registration snapshot lives between runs.
//!
//! [`FileStore`] writes atomically (temporary file in the same folder, fsync,
//! rename, fsync of the folder: a crash leaves the old or the new snapshot,
//! never a torn one) and coordinates processes with an OS advisory lock on a
//! sibling `.lock` file, which the OS releases when its holder dies.
//!
//! The snapshot holds the node's DDS credentials, so on unix every file
//! [`FileStore`] creates (the snapshot, its temporary file, the `.lock` file,
//! a `.corrupt` file) is mode 0600 and every folder it creates 0700; a
//! snapshot found readable by group or others is reported (see
//! [`FileStore::permission_warning`]) and rewritten 0600 at the next save. The
//! lock and temporary files are never opened through a symbolic link.

use posemesh_registration_driver::{BoxFuture, SnapshotStore, StoreError};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A failed [`FileStore`] operation: what, on which path, and the OS error.
/// Never contains the stored bytes.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct FileStoreError {
    action: &'static str,
    path: String,
    #[source]
    source: io::Error,
}

impl From<FileStoreError> for StoreError {
    fn from(err: FileStoreError) -> StoreError {
        StoreError(err.to_string())
    }
}

/// Keeps the snapshot in memory only. Its `Debug` shows the stored length,
/// never the bytes (they hold the DDS-issued secret).
#[derive(Default)]
pub struct MemoryStore {
    bytes: Mutex<Option<Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stored = self
            .bytes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(Vec::len);
        f.debug_struct("MemoryStore")
            .field("stored_bytes", &stored)
            .finish()
    }
}

impl SnapshotStore for MemoryStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        let bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Box::pin(std::future::ready(Ok(bytes)))
    }

    fn save(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        *self.bytes.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The snapshot in a file, written atomically, with a cross-process lock.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    lock_path: PathBuf,
    held: Mutex<Option<File>>,
}

fn err_at(action: &'static str, path: &Path, source: io::Error) -> FileStoreError {
    FileStoreError {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// Creates `folder` and any missing parents, each new one mode 0700.
fn create_private_dir_all(folder: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(folder).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            io::Error::new(
                e.kind(),
                format!("something that is not a folder is in the way ({e})"),
            )
        } else {
            e
        }
    })
}

/// Options for a file only this user may read or write (mode 0600 on unix),
/// never opened through a symbolic link.
fn private_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options
}

/// O_NOFOLLOW's refusal reads "Too many levels of symbolic links"; say what it means.
fn explain_symlink(err: io::Error, path: &Path) -> io::Error {
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link {
        io::Error::new(
            err.kind(),
            format!("it is a symbolic link, which is refused ({err})"),
        )
    } else {
        err
    }
}

/// The mode bits of `metadata` if group or others may read or write it.
#[cfg(unix)]
fn loose_mode(metadata: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o7777;
    (mode & 0o066 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn loose_mode(_metadata: &fs::Metadata) -> Option<u32> {
    None
}

/// A snapshot is at most core's `MAX_SNAPSHOT_BYTES`; one byte more is read, so a
/// larger file is reported as too large instead of being cut into a corrupt one,
/// and every snapshot the registrar may write loads whole.
const MAX_FILE_BYTES: u64 = posemesh_registration_core::snapshot::MAX_SNAPSHOT_BYTES as u64 + 1;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FileStore {
    /// A store at `path`; the lock is `path` + `.lock`. Nothing is touched yet.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".lock");
        FileStore {
            path,
            lock_path: lock_path.into(),
            held: Mutex::new(None),
        }
    }

    /// The snapshot file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks, before the first attempt, that this store can ever work: the
    /// path names a file, not a folder, and the lock file beside it can be opened (made
    /// if missing, never through a symbolic link). Otherwise a path such as
    /// `/proc/version` fails every attempt to take the lock and the loop
    /// retries for ever. A missing folder is fine: the first save makes it.
    pub fn check_usable(&self) -> Result<(), FileStoreError> {
        let name = self.path.file_name().map(|name| name.to_string_lossy());
        if name.is_none_or(|name| name.trim().is_empty()) {
            // "" would put the lock file (".lock") in the working folder; " " is a slip.
            let nameless = io::Error::other("the path names no file");
            return Err(self.err("cannot use state file", nameless));
        }
        if self.path.is_dir() {
            let folder = io::Error::other("it is a folder, not a file");
            return Err(self.err("cannot use state file", folder));
        }
        if !self.folder().exists() {
            return Ok(());
        }
        private_file_options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock_path)
            .map(drop)
            .map_err(|e| {
                self.lock_err(
                    "cannot create lock file",
                    explain_symlink(e, &self.lock_path),
                )
            })
    }

    fn err(&self, action: &'static str, source: io::Error) -> FileStoreError {
        err_at(action, &self.path, source)
    }

    fn lock_err(&self, action: &'static str, source: io::Error) -> FileStoreError {
        err_at(action, &self.lock_path, source)
    }

    /// The `.corrupt` file a snapshot that cannot be read is moved to.
    fn corrupt_path(&self) -> PathBuf {
        let mut aside = self.path.clone().into_os_string();
        aside.push(".corrupt");
        aside.into()
    }

    fn folder(&self) -> &Path {
        folder_of(&self.path)
    }
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The file operations, blocking; [`SnapshotStore`] runs them.
impl FileStore {
    fn read(&self) -> Result<Option<Vec<u8>>, FileStoreError> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err("cannot read state file", e)),
        };
        if let Some(mode) = file.metadata().ok().as_ref().and_then(loose_mode) {
            tracing::warn!(
                event = "state.permissions",
                path = %self.path.display(),
                mode = %format_args!("{mode:04o}"),
                "state file readable or writable by group or others; it holds the node's DDS credentials (rewritten 0600 at the next save)"
            );
        }
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| self.err("cannot read state file", e))?;
        Ok(Some(bytes))
    }

    fn write(path: &Path, bytes: &[u8]) -> Result<(), FileStoreError> {
        let folder = folder_of(path);
        create_private_dir_all(folder).map_err(|e| err_at("cannot create folder", folder, e))?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = folder.join(format!(
            ".{file_name}.{}.{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> io::Result<()> {
            let mut file = private_file_options()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&temp, path)?;
            // The rename is durable only once the folder entry is.
            File::open(folder)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&temp);
            err_at("cannot write state file", path, e)
        })
    }

    fn lock_now(&self) -> Result<bool, FileStoreError> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_some() {
            return Ok(true);
        }
        if let Some(parent) = self
            .lock_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            create_private_dir_all(parent)
                .map_err(|e| err_at("cannot create folder", parent, e))?;
        }
        let file = private_file_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock_path)
            .map_err(|e| {
                self.lock_err("cannot open lock file", explain_symlink(e, &self.lock_path))
            })?;
        match file.try_lock() {
            Ok(()) => {
                *held = Some(file);
                Ok(true)
            }
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => Err(self.lock_err("cannot lock", e)),
        }
    }

    fn release(&self) {
        // Closing the file releases the lock.
        self.held.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Where the file went, if the rename worked.
    fn set_aside(&self) -> Option<PathBuf> {
        let aside = self.corrupt_path();
        fs::rename(&self.path, &aside).ok()?;
        // A rename keeps the old mode, which may predate 0600 state files.
        // Through the opened file, so a symbolic link's target is never changed.
        #[cfg(unix)]
        if let Ok(file) = private_file_options().read(true).open(&aside) {
            use std::os::unix::fs::PermissionsExt;
            let _ = file.set_permissions(fs::Permissions::from_mode(0o600));
        }
        Some(aside)
    }

    /// Why the stored snapshot is less private than it should be (a state
    /// file readable or writable by group or others), for the host to report.
    /// Never fails: `None` when there is nothing to say or it cannot be known.
    pub fn permission_warning(&self) -> Option<String> {
        let mode = loose_mode(&fs::metadata(&self.path).ok()?)?;
        Some(format!(
            "state file {} has mode {mode:04o}: group or others may read or write the node's DDS credentials (chmod 600 it; the next save writes it 0600)",
            self.path.display()
        ))
    }
}

/// Loads, locks and sets aside in place (quick); saves (two fsyncs) off the
/// async workers ([`crate::off_async_workers`]).
impl SnapshotStore for FileStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(std::future::ready(self.read().map_err(StoreError::from)))
    }

    fn check_usable(&self) -> Result<(), StoreError> {
        FileStore::check_usable(self).map_err(StoreError::from)
    }

    fn save(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        let path = self.path.clone();
        let saving = crate::off_async_workers(move || FileStore::write(&path, &bytes));
        Box::pin(async move {
            match saving.await {
                Some(saved) => saved.map_err(StoreError::from),
                None => Err(StoreError("the state file's save panicked".into())),
            }
        })
    }

    fn uses_lock(&self) -> bool {
        true
    }

    fn try_lock(&self) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(std::future::ready(
            self.lock_now().map_err(StoreError::from),
        ))
    }

    fn unlock(&self) -> BoxFuture<'_, ()> {
        self.release();
        Box::pin(std::future::ready(()))
    }

    fn set_aside_corrupt(&self) -> BoxFuture<'_, Option<String>> {
        let aside = self.set_aside().map(|path| path.display().to_string());
        Box::pin(std::future::ready(aside))
    }
}
