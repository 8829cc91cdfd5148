//! Files only the server's user may read: the data dir holds signing secrets (in the
//! database) and the outbox's emails, so the directories are created `0700` and the files
//! `0600`, whatever the umask. (On systems without Unix permissions these are plain creates.)

use std::io;
use std::path::Path;

/// Creates `dir` (and missing parents) readable by this user only; an existing directory is
/// left as it is (it may be one the operator chose and shares on purpose).
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates `path` empty with mode `0600` if it does not exist (SQLite then gives its WAL and
/// shared-memory files the same mode as the database file).
pub fn create_file(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Writes `contents` to a new file at `path` with mode `0600` (replacing an existing file).
pub fn write(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
