//! The UI is built by `npm --prefix ui run build` (scripts/test and
//! scripts/run do it before cargo). Without it this crate still builds,
//! with no files: the program then says it serves no web UI.

fn main() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist");
    if !dist.exists() {
        std::fs::create_dir_all(&dist).expect("make ui/dist");
    }
    // A folder: cargo looks at every file under it.
    println!("cargo:rerun-if-changed=../../ui/dist");
}
