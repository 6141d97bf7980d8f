//! The UI's TypeScript types of the DB call protocol and of this desktop
//! API, made from the Rust types with `ts-rs` into `ui/src/lib/generated/`
//! (committed, one file per type, plus `index.ts`).
//!
//! The test below makes them afresh and fails when the committed files
//! differ, so a Rust change that alters what the window reads cannot pass
//! `cargo test` until the UI's types follow. To write them:
//!
//! ```sh
//! OUTPOST_WRITE_TS=1 cargo test -p outpost-app --lib typescript
//! ```
//!
//! The derives are only compiled for tests (`cfg_attr(test, ...)` here, the
//! `ts` feature of `outpost-store`, `outpost-api` and `outpost-sync`,
//! enabled by this crate's dev-dependencies), so no normal build carries `ts-rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ts_rs::{Config, TS};

/// What regenerates the files, for the failure message.
const REGENERATE: &str = "OUTPOST_WRITE_TS=1 cargo test -p outpost-app --lib typescript";

/// The folder the UI imports them from.
fn generated_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/lib/generated")
}

/// Writes every type the window reads (and what they use) into `dir`.
fn export(dir: &Path) {
    // JavaScript numbers: every count and id here is far below 2^53.
    let cfg = Config::new().with_large_int("number").with_out_dir(dir);
    macro_rules! export {
        ($($t:ty),* $(,)?) => {
            $(<$t>::export_all(&cfg).expect(concat!("export ", stringify!($t)));)*
        };
    }
    // The DB call protocol (outpost-api).
    use outpost_api::protocol as p;
    export!(
        p::Request,
        p::ResponseWire<'static>,
        p::ApiError,
        p::ErrorCode,
        p::Event,
        p::Op,
        p::DoctypeView,
        outpost_api::sheets::ImportReport,
        p::PrintAnswer,
    );
    // People, roles and history (issue 14).
    use outpost_api::roles as r;
    export!(r::Role, r::Rights, r::AdminRight, r::SignInAnswer);
    export!(
        outpost_store::User,
        outpost_store::HistoryEntry,
        outpost_store::FieldChange,
    );
    // The head-office sync (outpost-store).
    use outpost_store as s;
    export!(
        s::SyncStatus,
        s::LinkState,
        s::SyncBytes,
        s::SyncCounts,
        s::Conflict,
        s::Parked,
        s::Keep,
        s::DoctypeSync,
        s::RecordSync,
        s::RecordSyncState,
    );
    // Reports (issue 15).
    use outpost_store::report as rp;
    export!(
        rp::ReportSpec,
        rp::ReportResult,
        rp::BuiltinReport,
        rp::ChartKind,
        rp::ColumnKind,
    );
    export!(crate::people::FirstManager);
    export!(crate::downloads::SavedFile);
    export!(crate::update::UpdateView, crate::update::UpdateStarted);
    // The desktop API (docs/desktop-api.md).
    use crate::status as a;
    export!(
        a::Status,
        a::LinkView,
        a::PairedView,
        a::Pairing,
        a::DeviceView,
        a::FoundMasterView,
        a::SyncView,
        a::DecodedQr,
        crate::settings::Role,
    );
    // Settings → Head office (the form, and what a test connection found).
    use crate::head_office as h;
    export!(
        h::UpstreamForm,
        h::UpstreamFormView,
        h::DoctypeChoice,
        outpost_sync::Probe,
        outpost_sync::ModelProbe,
        outpost_sync::Kind,
    );
    // Settings → Backups and the Master screen's backups.
    export!(
        crate::backups::BackupSettings,
        crate::backups::BackupView,
        s::backup::BackupHealth,
        s::backup::Attempt,
        s::backup::BackupInfo,
    );
    // The Master screen's standby.
    export!(
        crate::standby::StandbyView,
        crate::standby::StandbyDeviceView,
        crate::standby::StandbyHere,
        outpost_node::standby::StrayList,
    );
}

/// The `.ts` files under `dir`, by path relative to it (`/`-separated:
/// ts-rs puts library types in folders, e.g. `serde_json/JsonValue.ts`).
fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.path().is_dir() {
                walk(&e.path(), &format!("{name}/"), out);
            } else if name.ends_with(".ts") {
                if let Ok(text) = std::fs::read_to_string(e.path()) {
                    out.insert(name, text);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out);
    out
}

/// The files as they should be: each type's file and an `index.ts` that
/// re-exports them all.
fn made() -> BTreeMap<String, String> {
    let tmp = tempfile::tempdir().expect("temp dir");
    export(tmp.path());
    let mut files = read_dir(tmp.path());
    let mut index = String::from(
        "// Made by crates/app/src/typescript.rs from the Rust types; do not edit.\n\
         // Regenerate: OUTPOST_WRITE_TS=1 cargo test -p outpost-app --lib typescript\n",
    );
    for path in files.keys() {
        let path = path.trim_end_matches(".ts");
        let ty = path.rsplit('/').next().unwrap_or(path);
        index.push_str(&format!("export type {{ {ty} }} from './{path}';\n"));
    }
    files.insert("index.ts".into(), index);
    files
}

#[test]
fn the_ui_s_generated_types_match_the_rust_types() {
    let want = made();
    let dir = generated_dir();
    if std::env::var_os("OUTPOST_WRITE_TS").is_some() {
        std::fs::create_dir_all(&dir).expect("create ui/src/lib/generated");
        for old in read_dir(&dir).keys() {
            std::fs::remove_file(dir.join(old)).expect("remove an old generated file");
        }
        for (name, text) in &want {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("create a folder of generated files");
            }
            std::fs::write(path, text).expect("write a generated file");
        }
        return;
    }
    let have = read_dir(&dir);
    let mut problems = vec![];
    for (name, text) in &want {
        match have.get(name) {
            None => problems.push(format!("{name} is missing")),
            Some(t) if t != text => problems.push(format!("{name} differs")),
            Some(_) => {}
        }
    }
    for name in have.keys().filter(|n| !want.contains_key(*n)) {
        problems.push(format!("{name} is not made from any Rust type any more"));
    }
    assert!(
        problems.is_empty(),
        "ui/src/lib/generated/ is out of date with the Rust types ({}).\nRegenerate it with:\n  {REGENERATE}\nand commit the result.",
        problems.join(", ")
    );
}
