//! `crds`: the generated CustomResourceDefinitions, as committed under `manifests/crds/`.

use std::io::Write;

use anyhow::Context;

use crate::cli::CrdsArgs;

/// Prints every CRD as multi-document YAML, or writes one file each into `--output-dir`.
pub fn run(args: &CrdsArgs, out: &mut impl Write, err: &mut impl Write) -> anyhow::Result<u8> {
    let files = argo_events_api::crd::all_crds_yaml();
    match &args.output_dir {
        None => {
            for (i, (_, yaml)) in files.iter().enumerate() {
                if i > 0 {
                    writeln!(out, "---")?;
                }
                write!(out, "{yaml}")?;
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, yaml) in &files {
                let path = dir.join(name);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                writeln!(err, "wrote {}", path.display())?;
            }
        }
    }
    Ok(crate::EXIT_OK)
}
