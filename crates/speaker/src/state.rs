//! The allocation state file: which Service has which IPs, so a restart
//! (or any config edit) never moves anyone's address. Written atomically
//! (a temporary file unique to this process and write, fsync, rename, fsync
//! of the directory), read strictly: a missing file is an empty state; a
//! corrupt one or one of an unknown `version` is an error naming the file.
//! One process at a time owns a state file: [`StateLock`] holds an exclusive
//! advisory lock on `<file>.lock` for the process lifetime.

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The only format version this build reads and writes.
pub const VERSION: u32 = 1;

/// One Service's addresses, as a Service status would hold them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub ips: Vec<IpAddr>,
    pub pool: String,
}

/// `namespace/name` -> allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationState {
    /// Format version, for future migrations.
    pub version: u32,
    pub services: BTreeMap<String, Allocation>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
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
    #[error(
        "state file {path}: field `version` is {value}, this build reads only version {VERSION}"
    )]
    Version { path: PathBuf, value: String },
    #[error("state file {path}: locked by another process ({holder}) through {lock}; only one speaker may own a state file")]
    Locked {
        path: PathBuf,
        lock: PathBuf,
        holder: String,
    },
}

/// Makes every temporary file name unique within the process.
static WRITES: AtomicU64 = AtomicU64::new(0);

impl AllocationState {
    pub fn load(path: &Path) -> Result<AllocationState, StateFileError> {
        let parse = |source| StateFileError::Parse {
            path: path.to_path_buf(),
            source,
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(AllocationState::default())
            }
            Err(source) => {
                return Err(StateFileError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        // The version is checked before the rest, so a file of a newer
        // format is refused as such rather than as "invalid". A document
        // that is an object is read twice, its version alone (the rest
        // skipped), then as the state: no tree of the whole file is built
        // (at 100k Services that tree was the largest transient of a
        // restart). Anything else goes through the tree, as before.
        #[derive(Deserialize)]
        struct Head {
            version: Option<serde_json::Value>,
        }
        let version = if bytes.trim_ascii_start().first() == Some(&b'{') {
            serde_json::from_slice::<Head>(&bytes)
                .map_err(parse)?
                .version
        } else {
            let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(parse)?;
            value.get("version").cloned()
        };
        match version {
            Some(v) if v.as_u64() == Some(u64::from(VERSION)) => {}
            v => {
                return Err(StateFileError::Version {
                    path: path.to_path_buf(),
                    value: v.map_or_else(|| "missing".to_string(), |v| v.to_string()),
                })
            }
        }
        serde_json::from_slice(&bytes).map_err(parse)
    }

    /// Writes the state so that a crash leaves either the old or the new
    /// file, never a torn one, and returns only once the rename is durable.
    /// (A running speaker writes from its allocator instead,
    /// `LiveAllocator::save_state`, the same document.)
    #[cfg(test)]
    pub fn save(&self, path: &Path) -> Result<(), StateFileError> {
        // The same document as the struct, with the current version,
        // serialized from a borrow (no copy of the allocations).
        #[derive(Serialize)]
        struct Body<'a> {
            version: u32,
            services: &'a BTreeMap<String, Allocation>,
        }
        write_document(
            path,
            &Body {
                version: VERSION,
                services: &self.services,
            },
        )
    }

    /// How many Services have an allocation.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// No Service has an allocation.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

/// Read access to allocations in force, whatever holds them: a loaded
/// [`AllocationState`] or the running speaker's allocator
/// (`LiveAllocator`), which keeps no second copy.
pub trait Allocations {
    /// The allocation of the Service `namespace`/`name`, if it has one.
    fn allocation(&self, namespace: &str, name: &str) -> Option<Allocation>;
}

impl Allocations for AllocationState {
    fn allocation(&self, namespace: &str, name: &str) -> Option<Allocation> {
        // Keys are `namespace/name`: the map is searched by the two parts
        // without building the key.
        let key = format!("{namespace}/{name}");
        self.services.get(key.as_str()).cloned()
    }
}

/// Writes `body` as the state file's pretty JSON straight into a temporary
/// file through a 64 KiB buffer (at 100k Services the document is ~17 MB,
/// which as one in-memory body was the largest transient of an apply),
/// then fsync, rename over `path`, fsync of the directory.
pub(crate) fn write_document(path: &Path, body: &impl Serialize) -> Result<(), StateFileError> {
    let io = |source| StateFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}.{n}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, f);
        serde_json::to_writer_pretty(&mut w, body).map_err(std::io::Error::from)?;
        let f = w
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    // The rename is only durable once the directory entry is on disk.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}

/// The exclusive lock on a state file, released when dropped (or when the
/// process dies, which is what makes it safe during a rolling update).
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
}

impl StateLock {
    /// Locks `<path>.lock` (created if missing) and records our PID in it;
    /// fails at once, naming the holder's PID, if another process has it.
    pub fn acquire(path: &Path) -> Result<StateLock, StateFileError> {
        let mut lock = path.as_os_str().to_owned();
        lock.push(".lock");
        let lock = PathBuf::from(lock);
        let io = |source| StateFileError::Io {
            path: lock.clone(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(io)?;
        use rustix::fs::{flock, FlockOperation};
        if let Err(e) = flock(&f, FlockOperation::NonBlockingLockExclusive) {
            if e != rustix::io::Errno::WOULDBLOCK {
                return Err(io(e.into()));
            }
            let mut holder = String::new();
            let _ = f.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "holder unknown".to_string(),
                pid => format!("pid {pid}"),
            };
            return Err(StateFileError::Locked {
                path: path.to_path_buf(),
                lock,
                holder,
            });
        }
        f.set_len(0).map_err(io)?;
        f.rewind().map_err(io)?;
        writeln!(f, "{}", std::process::id()).map_err(io)?;
        Ok(StateLock { _file: f })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_service() -> AllocationState {
        let mut s = AllocationState::default();
        s.services.insert(
            "default/web".into(),
            Allocation {
                ips: vec!["192.0.2.10".parse().unwrap()],
                pool: "default".into(),
            },
        );
        s
    }

    #[test]
    fn a_missing_state_file_is_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            AllocationState::load(&dir.path().join("none.json")).unwrap(),
            AllocationState::default()
        );
    }

    #[test]
    fn a_saved_state_loads_back_identically_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let s = one_service();
        s.save(&p).unwrap();
        s.save(&p).unwrap();
        let back = AllocationState::load(&p).unwrap();
        assert_eq!(back.services, s.services);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["state.json"]);
    }

    #[test]
    fn a_saved_file_is_the_same_pretty_document_as_before_streaming() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut s = one_service();
        s.version = VERSION;
        s.services.insert(
            "other/db".into(),
            Allocation {
                ips: vec!["2001:db8::7".parse().unwrap(), "192.0.2.9".parse().unwrap()],
                pool: "dual".into(),
            },
        );
        s.save(&path).unwrap();
        // What `to_vec_pretty` of the document gave (the format readers
        // and operators know): fields in declaration order, two spaces.
        let want = r#"{
  "version": 1,
  "services": {
    "default/web": {
      "ips": [
        "192.0.2.10"
      ],
      "pool": "default"
    },
    "other/db": {
      "ips": [
        "2001:db8::7",
        "192.0.2.9"
      ],
      "pool": "dual"
    }
  }
}"#;
        assert_eq!(
            String::from_utf8(std::fs::read(&path).unwrap()).unwrap(),
            want
        );
        assert_eq!(AllocationState::load(&path).unwrap(), s);
    }

    #[test]
    fn a_stale_temporary_file_of_another_writer_is_never_reused_or_clobbered() {
        // Old code wrote every save through the one name `state.tmp`, so two
        // writers could interleave into it; now each write has its own name.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let other = dir.path().join("state.tmp");
        std::fs::write(&other, b"another writer's half-written file").unwrap();
        one_service().save(&p).unwrap();
        assert_eq!(
            std::fs::read(&other).unwrap(),
            b"another writer's half-written file"
        );
        assert_eq!(
            AllocationState::load(&p).unwrap().services,
            one_service().services
        );
    }

    #[test]
    fn a_save_into_a_missing_place_fails_naming_the_file_and_the_os_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"").unwrap();
        let p = blocker.join("state.json");
        let e = one_service().save(&p).unwrap_err().to_string();
        assert!(
            e.contains("not-a-dir/state.json") && e.contains("Not a directory"),
            "{e}"
        );
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(&p, b"{ not json").unwrap();
        let e = AllocationState::load(&p).unwrap_err().to_string();
        assert!(e.contains("state.json") && e.contains("not a valid"), "{e}");
    }

    #[test]
    fn a_state_file_of_an_unknown_version_is_refused_naming_file_field_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(&p, br#"{"version": 2, "services": {}, "owners": []}"#).unwrap();
        let e = AllocationState::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("state.json")
                && e.contains("`version` is 2")
                && e.contains("only version 1"),
            "{e}"
        );
        std::fs::write(&p, br#"{"services": {}}"#).unwrap();
        let e = AllocationState::load(&p).unwrap_err().to_string();
        assert!(e.contains("`version` is missing"), "{e}");
    }

    #[test]
    fn a_state_file_that_is_not_an_object_is_refused_by_its_missing_version() {
        // Read without a tree of the whole file when it is an object; any
        // other document still says what the tree said.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(&p, b"  [1, 2]").unwrap();
        let e = AllocationState::load(&p).unwrap_err().to_string();
        assert!(e.contains("`version` is missing"), "{e}");
        std::fs::write(&p, br#" {"version": "1", "services": {}}"#).unwrap();
        let e = AllocationState::load(&p).unwrap_err().to_string();
        assert!(e.contains(r#"`version` is "1""#), "{e}");
        std::fs::write(
            &p,
            br#"{"version": 1, "services": {"a/b": {"ips": ["x"], "pool": "p"}}}"#,
        )
        .unwrap();
        let e = AllocationState::load(&p).unwrap_err().to_string();
        assert!(e.contains("not a valid oxlb state file"), "{e}");
    }

    #[test]
    fn a_second_owner_of_a_state_file_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let first = StateLock::acquire(&p).unwrap();
        // flock locks belong to the open file description, so a second open
        // in the same process conflicts just as another process would.
        let e = StateLock::acquire(&p).unwrap_err().to_string();
        assert!(
            e.contains("state.json")
                && e.contains("locked by another process")
                && e.contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        drop(first);
        StateLock::acquire(&p).unwrap();
    }
}
