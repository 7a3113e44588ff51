//! One server per data directory, as PostgreSQL's `postmaster.pid`: the file
//! `ember.pid` holds the server's process id under an exclusive OS lock (`flock`). The
//! lock dies with the process, so a server killed with `kill -9` never blocks the next
//! start; a second server on a directory in use stops at once and names the holder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use crate::error::{Result, ServerError};

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Take the lock of `data_dir` (created if missing) and write this process's id.
    pub fn acquire(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| ServerError::io(format!("cannot create data directory {}", data_dir.display()), e))?;
        let path = data_dir.join("ember.pid");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| ServerError::io(format!("cannot open {}", path.display()), e))?;
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.lines().next().unwrap_or("").trim().to_string();
            return Err(ServerError::DataDirInUse {
                dir: data_dir.display().to_string(),
                pid: if holder.is_empty() { "unknown".to_string() } else { holder },
            });
        }
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())?;
            writeln!(file, "{}", data_dir.display())?;
            file.sync_all()
        };
        write(&mut file).map_err(|e| ServerError::io(format!("cannot write {}", path.display()), e))?;
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("ember-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = DataDirLock::acquire(&dir).unwrap();
        let second = DataDirLock::acquire(&dir).unwrap_err();
        let message = second.message();
        assert!(message.contains(&std::process::id().to_string()), "{message}");
        assert!(message.contains(&dir.display().to_string()), "{message}");
        drop(first);
        let again = DataDirLock::acquire(&dir).unwrap();
        assert!(again.path().ends_with("ember.pid"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
