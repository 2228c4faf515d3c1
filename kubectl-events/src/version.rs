//! `version`: the plugin's build, shaped like `kubectl version`'s client half: `Client Version`
//! first in text, `{"clientVersion": {…}}` with `-o json|yaml`. The plugin has no server
//! component to ask, so there is no `serverVersion` and no `--client` flag.

use std::io::Write;

use argo_events_buildinfo::{BuildInfo, VersionArgs, render_fields};
use serde::Serialize;

use crate::EXIT_OK;

/// The binary's name, as `version` reports it.
pub const BINARY: &str = "kubectl-argo-events";

/// What `-o json|yaml` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Versions {
    client_version: BuildInfo,
}

/// Prints the build to `out`.
pub fn run(args: &VersionArgs, out: &mut impl Write) -> anyhow::Result<u8> {
    let info = BuildInfo::of(BINARY);
    let mut fields = vec![("Client Version", info.version)];
    fields.extend(info.details());
    args.write(
        out,
        &render_fields(&fields),
        &Versions {
            client_version: info,
        },
    )?;
    Ok(EXIT_OK)
}
