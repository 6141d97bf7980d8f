//! `outpost backup` and `outpost restore`: a checked snapshot of the office
//! database (taken while the master runs), and putting one back.

use std::path::PathBuf;

use outpost_store::backup::{self, BackupLog};

use crate::output::CliError;

pub fn backup(data: PathBuf, to: PathBuf, with_identity: bool) -> Result<(), CliError> {
    let outcome = backup::backup(&data, &to, with_identity);
    // The master's record of backups (the Master screen and a damaged
    // database's message read it); a folder we cannot write is no reason
    // to fail a good backup.
    if data.join(outpost_store::DB_FILE).exists() {
        if let Err(e) = BackupLog::record(&data, &to, &outcome) {
            eprintln!(
                "(the backup is not recorded in {}: {e})",
                BackupLog::path(&data).display()
            );
        }
    }
    let info = outcome.map_err(|e| anyhow::anyhow!("backup failed: {e}"))?;
    println!(
        "Backup written to {}: {}, {} records, last change {}, in {:.2} s; checked with integrity_check.",
        info.path,
        size(info.bytes),
        info.records,
        info.last_change,
        info.millis as f64 / 1000.0
    );
    if info.with_secrets {
        println!("It holds the master's identity: it is readable by its owner only; keep it as safe as the master itself.");
    } else {
        println!("It does not hold the master's identity (add --with-identity to keep the same device id after a restore).");
    }
    Ok(())
}

pub fn restore(data: PathBuf, from: PathBuf) -> Result<(), CliError> {
    let done =
        backup::restore(&from, &data).map_err(|e| anyhow::anyhow!("restore refused: {e}"))?;
    match &done.manifest {
        Some(m) => println!(
            "Restored {} (taken {}{}) into {}.",
            from.display(),
            m.at,
            m.office
                .as_deref()
                .map(|o| format!(" at \"{o}\""))
                .unwrap_or_default(),
            data.display()
        ),
        None => println!("Restored {} into {}.", from.display(), data.display()),
    }
    for f in &done.files {
        println!("  file from the backup: {f}");
    }
    for a in &done.kept_aside {
        println!("  kept aside: {}", a.display());
    }
    if !done.files.iter().any(|f| f == "identity.pem") {
        println!("The backup holds no identity: this master keeps its own device id (the one in the data folder, or a new one).");
    }
    Ok(())
}

/// Bytes for a person: 512 B, 3.4 KB, 12.0 MB.
pub fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1000.0 {
        format!("{bytes} B")
    } else if b < 1e6 {
        format!("{:.1} KB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}
