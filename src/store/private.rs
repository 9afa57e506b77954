//! The data folder holds notes, drafts and the audit trail: readable by crmbot's user only.
//! The folder is made (or tightened to) 0700 and what is in it to 0600 / 0700, at start-up
//! and on the housekeeping timer, which catches the files sled adds later.

use std::io;
use std::path::Path;

/// Creates `dir` when missing and makes it and everything in it private.
pub fn make_private(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    tighten(dir)
}

#[cfg(unix)]
fn tighten(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let set = |path: &Path, mode: u32| -> io::Result<()> {
        let now = std::fs::symlink_metadata(path)?.permissions().mode() & 0o777;
        if now != mode {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    };
    set(dir, 0o700)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            tighten(&entry.path())?;
        } else if kind.is_file() {
            set(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_dir: &Path) -> io::Result<()> {
    Ok(())
}
