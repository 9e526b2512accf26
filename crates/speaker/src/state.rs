//! The allocation state file: which Service has which IPs, so a restart
//! (or any config edit) never moves anyone's address. Written atomically
//! (temporary file, fsync, rename), read leniently: a missing file is an
//! empty state; a corrupt one is an error naming the file.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One Service's addresses, as a Service status would hold them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub ips: Vec<IpAddr>,
    pub pool: String,
}

/// `namespace/name` -> allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Format version, for future migrations.
    pub version: u32,
    pub services: BTreeMap<String, Allocation>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path}: not a valid oxlb state file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl State {
    pub fn load(path: &Path) -> Result<State, StateError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
                path: path.to_path_buf(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(StateError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes the state so that a crash leaves either the old or the new
    /// file, never a torn one.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: path.to_path_buf(),
            source,
        };
        let tmp = path.with_extension("tmp");
        let body = serde_json::to_vec_pretty(&State {
            version: 1,
            ..self.clone()
        })
        .map_err(|e| io(std::io::Error::other(e)))?;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_state_file_is_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            State::load(&dir.path().join("none.json")).unwrap(),
            State::default()
        );
    }

    #[test]
    fn a_saved_state_loads_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let mut s = State::default();
        s.services.insert(
            "default/web".into(),
            Allocation {
                ips: vec!["192.0.2.10".parse().unwrap()],
                pool: "default".into(),
            },
        );
        s.save(&p).unwrap();
        let back = State::load(&p).unwrap();
        assert_eq!(back.services, s.services);
        assert!(!p.with_extension("tmp").exists());
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(&p, b"{ not json").unwrap();
        let e = State::load(&p).unwrap_err().to_string();
        assert!(e.contains("state.json") && e.contains("not a valid"), "{e}");
    }
}
