//! Secret values referenced by specs. In pods they are files mounted by the controller at
//! `/argo-events/secrets/<name>/<key>` (trailing newline trimmed), as upstream mounts them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use argo_events_api::SecretKeySelector;

/// Reads secret values.
pub trait SecretReader: Send + Sync {
    /// The value of a secret key, or a message naming the secret and key.
    fn read(&self, selector: &SecretKeySelector) -> Result<String, String>;
}

/// Secrets mounted as files under a root (upstream: `/argo-events/secrets`).
pub struct FileSecrets {
    /// The root directory.
    pub root: PathBuf,
}

impl FileSecrets {
    /// Upstream's mount root.
    pub const DEFAULT_ROOT: &'static str = "/argo-events/secrets";
}

impl SecretReader for FileSecrets {
    fn read(&self, selector: &SecretKeySelector) -> Result<String, String> {
        let path = self.root.join(&selector.name).join(&selector.key);
        std::fs::read_to_string(&path)
            .map(|v| v.trim_end_matches('\n').to_owned())
            .map_err(|e| {
                format!(
                    "secret {}/{} ({}): {e}",
                    selector.name,
                    selector.key,
                    path.display()
                )
            })
    }
}

/// Secrets held in memory (tests, and `kubectl argo events run` with `--secret`).
#[derive(Default)]
pub struct MapSecrets {
    /// `(name, key)` → value.
    pub values: BTreeMap<(String, String), String>,
}

impl SecretReader for MapSecrets {
    fn read(&self, selector: &SecretKeySelector) -> Result<String, String> {
        self.values
            .get(&(selector.name.clone(), selector.key.clone()))
            .cloned()
            .ok_or_else(|| format!("secret {}/{} is not available", selector.name, selector.key))
    }
}
