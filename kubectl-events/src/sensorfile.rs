//! Reading a Sensor and CloudEvents from files for the offline commands.

use std::path::{Path, PathBuf};

use anyhow::Context;
use argo_events_api::Sensor;
use argo_events_api::manifest;
use argo_events_engine::Event;
use argo_events_engine::render::SourceLoader;
use serde_json::Value;

/// Reads the one Sensor in a manifest file; decode errors name the field path.
pub fn load_sensor(path: &Path) -> anyhow::Result<Sensor> {
    manifest::read_one::<Sensor>(path, "Sensor")
        .map(|d| d.value)
        .map_err(anyhow::Error::msg)
}

/// Reads CloudEvents (JSON structured mode) from a file: one object, or an array of them.
/// YAML works too.
pub fn load_events(path: &Path) -> anyhow::Result<Vec<Event>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(json_err) => {
            let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).map_err(|_| {
                anyhow::anyhow!("{}: not JSON ({json_err}) nor YAML", path.display())
            })?;
            manifest::yaml_to_json(yaml).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
    };
    parse_events(&value).with_context(|| path.display().to_string())
}

/// Reads one CloudEvent object or an array of them.
pub fn parse_events(value: &Value) -> anyhow::Result<Vec<Event>> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| Event::from_cloudevent(v).with_context(|| format!("event [{i}]")))
            .collect(),
        other => Ok(vec![Event::from_cloudevent(other)?]),
    }
}

/// Loads trigger sources offline: `inline` and `resource` (handled by the engine) and `file`
/// sources, read relative to the Sensor's directory.
pub struct FileSourceLoader {
    /// Directory relative paths are read from.
    pub base: PathBuf,
}

impl SourceLoader for FileSourceLoader {
    fn load(&self, location: &argo_events_api::ArtifactLocation) -> Result<Value, String> {
        let Some(file) = &location.file else {
            return argo_events_engine::render::InlineOnly.load(location);
        };
        let path = self.base.join(&file.path);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("file source {}: {e}", path.display()))?;
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
            .map_err(|e| format!("file source {}: {e}", path.display()))?;
        manifest::yaml_to_json(yaml)
    }
}
