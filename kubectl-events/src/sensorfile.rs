//! Reading a Sensor and CloudEvents from files for the offline commands.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use argo_events_api::manifest::{self, DocKind};
use argo_events_api::{Sensor, gocompat};
use argo_events_engine::Event;
use argo_events_engine::render::SourceLoader;
use serde_json::Value;

/// Reads the one Sensor in a manifest file; decode errors name the field path.
pub fn load_sensor(path: &Path) -> anyhow::Result<Sensor> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file = path.display().to_string();
    let (docs, err) = manifest::parse_documents(&file, &text);
    if let Some(err) = err {
        bail!("{err}");
    }
    let sensors: Vec<_> = docs
        .iter()
        .filter(|d| manifest::classify(&d.value) == DocKind::Ours("Sensor"))
        .collect();
    let doc = match sensors.as_slice() {
        [one] => one,
        [] => bail!("{file}: no argoproj.io/v1alpha1 Sensor found"),
        _ => bail!(
            "{file}: {} Sensors found; put the one to use in a file of its own",
            sensors.len()
        ),
    };
    let decoded = gocompat::from_value::<Sensor>(&doc.value).map_err(|e| {
        anyhow::anyhow!(
            "{file}#{}: Sensor {}: {e}",
            doc.index,
            doc.name().unwrap_or("?")
        )
    })?;
    Ok(decoded.value)
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
