//! Trigger sources a Sensor pod can read: `inline` and `resource` (the engine reads those),
//! `file` (a path in the pod) and `configmap` (mounted by the controller at
//! `/argo-events/config/<name>/<key>`, as upstream mounts it). `url`, `git` and `s3` sources are
//! refused with a clear error: they are not implemented yet.

use std::path::PathBuf;

use argo_events_api::ArtifactLocation;
use argo_events_engine::render::{SourceLoader, source_kind};
use serde_json::Value;

/// Reads sources from the pod's filesystem.
pub struct ClusterSourceLoader {
    /// Where config maps are mounted.
    pub config_root: PathBuf,
}

impl Default for ClusterSourceLoader {
    fn default() -> Self {
        ClusterSourceLoader {
            config_root: PathBuf::from("/argo-events/config"),
        }
    }
}

fn parse(text: &str, what: &str) -> Result<Value, String> {
    argo_events_api::manifest::parse_yaml(text)
        .map_err(|e| format!("{what} is not YAML or JSON: {e}"))
}

impl SourceLoader for ClusterSourceLoader {
    fn load(&self, location: &ArtifactLocation) -> Result<Value, String> {
        if let Some(file) = &location.file {
            let text = std::fs::read_to_string(&file.path)
                .map_err(|e| format!("file source {}: {e}", file.path))?;
            return parse(&text, &format!("file source {}", file.path));
        }
        if let Some(cm) = &location.configmap {
            let path = self.config_root.join(&cm.name).join(&cm.key);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "configmap source {}/{} ({}): {e}",
                    cm.name,
                    cm.key,
                    path.display()
                )
            })?;
            return parse(&text, &format!("configmap source {}/{}", cm.name, cm.key));
        }
        Err(format!(
            "{} trigger sources are not supported yet; use inline, resource, file or configmap",
            source_kind(location)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_file_and_configmap_sources_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("store")).unwrap();
        std::fs::write(
            dir.path().join("store/wf"),
            "kind: Workflow\nmetadata: {generateName: x-}\n",
        )
        .unwrap();
        let file = dir.path().join("pod.json");
        std::fs::write(&file, r#"{"kind": "Pod"}"#).unwrap();
        let loader = ClusterSourceLoader {
            config_root: dir.path().to_path_buf(),
        };
        let cm = ArtifactLocation {
            configmap: Some(argo_events_api::ConfigMapKeySelector {
                name: "store".into(),
                key: "wf".into(),
                optional: None,
            }),
            ..Default::default()
        };
        assert_eq!(loader.load(&cm).unwrap()["kind"], "Workflow");
        let f = ArtifactLocation {
            file: Some(argo_events_api::FileArtifact {
                path: file.display().to_string(),
            }),
            ..Default::default()
        };
        assert_eq!(loader.load(&f).unwrap()["kind"], "Pod");
        let git = ArtifactLocation {
            git: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(
            loader.load(&git).unwrap_err(),
            "git trigger sources are not supported yet; use inline, resource, file or configmap"
        );
    }
}
