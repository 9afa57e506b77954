//! The audit chain's copy outside sled: `audit.jsonl` in the data dir, one record per line
//! exactly as `crmbot audit export` writes it, appended and fsync'd with every record. sled
//! can lose the tail of its file (a crash at the wrong moment) or be replaced by an older
//! copy; both roll back the actions and the audit head together, so the chain alone still
//! verifies. The mirror does not roll back with them: a database behind its mirror is
//! detected at start-up and by `crmbot audit verify`, and `crmbot audit recover` puts the
//! missing records back.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{AuditError, AuditRecord};

/// The mirror's file name in the data dir.
pub const MIRROR_FILE: &str = "audit.jsonl";

/// The mirror file, open for appending.
#[derive(Debug)]
pub struct Mirror {
    pub(super) path: PathBuf,
    pub(super) file: File,
}

/// The last complete record of a mirror.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorTail {
    pub seq: u64,
    pub hash: String,
}

impl Mirror {
    /// Opens (creating) the mirror at `path`. A torn last line — a crash while it was being
    /// written — is cut off: that record was never acknowledged.
    pub fn open(path: &Path) -> Result<Mirror, AuditError> {
        cut_torn_line(path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| mirror_error(path, e))?;
        Ok(Mirror {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and waits until it is on disk.
    pub fn append(&mut self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| mirror_error(&self.path, e))
    }

    /// The last record, if any (read from the end: the file can be large).
    pub fn tail(&self) -> Result<Option<MirrorTail>, AuditError> {
        tail(&self.path)
    }
}

/// The last complete record of the mirror at `path`.
pub fn tail(path: &Path) -> Result<Option<MirrorTail>, AuditError> {
    let Some(line) = last_line(path)? else {
        return Ok(None);
    };
    let record: AuditRecord = serde_json::from_slice(&line).map_err(|e| {
        AuditError::Inconsistent(format!(
            "the last line of {} is not an audit record: {e}",
            path.display()
        ))
    })?;
    Ok(Some(MirrorTail {
        seq: record.seq,
        hash: record.hash,
    }))
}

/// Every record of the mirror at `path`, in file order (a torn last line left out).
pub fn read_all(path: &Path) -> Result<Vec<AuditRecord>, AuditError> {
    read_complete(path)
}

/// Every complete record of the mirror: a last line without its newline is one being
/// written right now (or torn by a crash) and is left out.
pub fn read_complete(path: &Path) -> Result<Vec<AuditRecord>, AuditError> {
    let bytes = std::fs::read(path).map_err(|e| mirror_error(path, e))?;
    let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut out = Vec::new();
    for (n, line) in bytes[..end].split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: AuditRecord = serde_json::from_slice(line).map_err(|e| {
            AuditError::Inconsistent(format!(
                "line {} of {} is not an audit record: {e}",
                n + 1,
                path.display()
            ))
        })?;
        out.push(record);
    }
    Ok(out)
}

/// The last newline-terminated line, read backwards in growing chunks.
fn last_line(path: &Path) -> Result<Option<Vec<u8>>, AuditError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(mirror_error(path, e)),
    };
    let len = file.metadata().map_err(|e| mirror_error(path, e))?.len();
    let mut chunk: u64 = 64 * 1024;
    loop {
        let start = len.saturating_sub(chunk);
        file.seek(SeekFrom::Start(start))
            .map_err(|e| mirror_error(path, e))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)
            .map_err(|e| mirror_error(path, e))?;
        // Complete lines end with '\n'; anything after the last one is torn.
        let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
            if start == 0 {
                return Ok(None);
            }
            chunk *= 4;
            continue;
        };
        match buf[..end].iter().rposition(|b| *b == b'\n') {
            Some(begin) => return Ok(Some(buf[begin + 1..end].to_vec())),
            None if start == 0 => return Ok(Some(buf[..end].to_vec())),
            None => chunk *= 4,
        }
    }
}

/// Cuts an unterminated last line off the file.
fn cut_torn_line(path: &Path) -> Result<(), AuditError> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(mirror_error(path, e)),
    };
    let len = file.metadata().map_err(|e| mirror_error(path, e))?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))
        .and_then(|_| file.read_exact(&mut last))
        .map_err(|e| mirror_error(path, e))?;
    if last[0] == b'\n' {
        return Ok(());
    }
    let keep = match last_line(path)? {
        // Where the last complete line ends.
        Some(_) => {
            let mut all = Vec::new();
            file.seek(SeekFrom::Start(0))
                .and_then(|_| file.read_to_end(&mut all))
                .map_err(|e| mirror_error(path, e))?;
            all.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) as u64
        }
        None => 0,
    };
    tracing::warn!(path = %path.display(), "audit mirror: a torn last line was cut off");
    file.set_len(keep)
        .and_then(|()| file.sync_data())
        .map_err(|e| mirror_error(path, e))
}

fn mirror_error(path: &Path, e: std::io::Error) -> AuditError {
    AuditError::Mirror(format!("{}: {e}", path.display()))
}
