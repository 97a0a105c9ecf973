//! Configuration that survives restarts and crashes.
//!
//! Writes go to a temporary file in the same directory, which is fsynced and then renamed over
//! `config.json`, and the directory is fsynced: after a crash at any point the file holds either
//! the old or the new configuration in full, never a torn mix.

use crate::nhem::pipeline::DetectionParams;
use protocol::nhem::Rect;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything a restart must keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistedConfig {
    pub version: u32,
    pub detection: PersistedDetection,
    pub roi: Rect,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistedDetection {
    pub threshold: f64,
    pub hysteresis: f64,
    pub refractory_ms: u32,
    pub baseline_alpha: f64,
    pub warmup_frames: u32,
}

impl From<DetectionParams> for PersistedDetection {
    fn from(p: DetectionParams) -> Self {
        PersistedDetection {
            threshold: p.threshold,
            hysteresis: p.hysteresis,
            refractory_ms: p.refractory_ms,
            baseline_alpha: p.baseline_alpha,
            warmup_frames: p.warmup_frames,
        }
    }
}

impl From<PersistedDetection> for DetectionParams {
    fn from(p: PersistedDetection) -> Self {
        DetectionParams {
            threshold: p.threshold,
            hysteresis: p.hysteresis,
            refractory_ms: p.refractory_ms,
            baseline_alpha: p.baseline_alpha,
            warmup_frames: p.warmup_frames,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source} (choose another with --data-dir)")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid configuration ({source}); fix it or move it away to start from defaults")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct ConfigStore {
    dir: PathBuf,
    /// Added between the temporary file's fsync and its rename (see `with_slow_disk`).
    slow_disk: Duration,
}

/// The prefix of temporary files; the writer's process id follows it.
const TEMP_PREFIX: &str = ".config.json.tmp-";

impl ConfigStore {
    pub const FILE_NAME: &'static str = "config.json";

    /// Opens (creating) `dir` and removes temporary files left by a process that died while
    /// saving: their rename never happened, so they hold nothing `config.json` lacks.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let store = ConfigStore {
            dir: dir.to_owned(),
            slow_disk: Duration::ZERO,
        };
        store.remove_leftovers();
        Ok(store)
    }

    /// Makes every save pause `delay` before its rename, as a slow disk would; for tests that
    /// aim a crash at the middle of a save.
    pub fn with_slow_disk(mut self, delay: Duration) -> Self {
        self.slow_disk = delay;
        self
    }

    fn remove_leftovers(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(TEMP_PREFIX) {
                match fs::remove_file(entry.path()) {
                    Ok(()) => {
                        tracing::info!(file = %entry.path().display(), "removed a temporary file left by an interrupted save")
                    }
                    Err(e) => {
                        tracing::warn!(file = %entry.path().display(), error = %e, "could not remove a leftover temporary file")
                    }
                }
            }
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(Self::FILE_NAME)
    }

    /// The saved configuration, or `None` when nothing was saved yet.
    pub fn load(&self) -> Result<Option<PersistedConfig>, StoreError> {
        let path = self.path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Read { path, source }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| StoreError::Corrupt { path, source })
    }

    pub fn save(&self, config: &PersistedConfig) -> Result<(), StoreError> {
        let path = self.path();
        let temp = self
            .dir
            .join(format!("{TEMP_PREFIX}{}", std::process::id()));
        let write_err = |source| StoreError::Write {
            path: path.clone(),
            source,
        };
        let json = serde_json::to_vec_pretty(config).expect("config serializes");
        let mut file = File::create(&temp).map_err(write_err)?;
        file.write_all(&json).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        drop(file);
        std::thread::sleep(self.slow_disk);
        fs::rename(&temp, &path).map_err(write_err)?;
        // Make the rename itself durable.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(write_err)?;
        Ok(())
    }
}
