//! The engine program as the master keeps it: started at the first print,
//! kept for the next, started again after it dies, stopped when a print
//! runs past its limit, and refused when what answers is not the engine.

use std::path::Path;
use std::time::Duration;

use outpost_print::{PrintError, PrintWorker, TemplateSource};

fn engine(data: &Path) -> PrintWorker {
    PrintWorker::new(data.to_path_buf()).with_program(env!("CARGO_BIN_EXE_outpost-print").into())
}

/// A sale with one line, as the `print` op gathers it.
const SALE: &[u8] = br#"{"doctype": "Sale", "format": "invoice",
  "office": {"name": "Kashgar depot", "address": "12 Silk Road"},
  "record": {"name": "s1", "party": "p1", "sale_date": "2026-12-03", "total": 37.5,
             "lines": [{"product": "x1", "quantity": 3, "unit_price": 12.5, "amount": 37.5}]},
  "links": {"p1": {"doctype": "Party", "title": "Acme Trading", "record": {}},
            "x1": {"doctype": "Product", "title": "Green tea 1kg", "record": {}}},
  "printed": "2026-12-03"}"#;

fn printed(worker: &PrintWorker) -> Vec<u8> {
    let printed = worker.render("Sale", "invoice", SALE).expect("printed");
    assert_eq!(printed.template, TemplateSource::BuiltIn);
    assert!(printed.pdf.starts_with(b"%PDF-"), "not a PDF");
    printed.pdf
}

#[test]
fn the_engine_is_kept_between_prints_and_started_again_after_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let worker = engine(dir.path());
    assert_eq!(worker.pid(), None, "started before the first print");
    printed(&worker);
    let first = worker.pid().expect("running after a print");
    printed(&worker);
    assert_eq!(
        worker.pid(),
        Some(first),
        "a second program for the second print"
    );

    let killed = std::process::Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(100));
    // The print that finds it dead fails and says so; the next one starts
    // a new program.
    match worker.render("Sale", "invoice", SALE) {
        Err(PrintError::Engine(message)) => {
            assert!(message.contains("stopped during a print"), "{message}")
        }
        Ok(_) => panic!("a print through a killed engine succeeded"),
        Err(other) => panic!("not an engine error: {other}"),
    }
    printed(&worker);
    assert_ne!(worker.pid(), Some(first));
}

#[test]
fn a_template_that_never_ends_is_stopped_at_the_limit_and_the_next_print_works() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("print/Sale");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("loop.typ"),
        "#let n = 0\n#for i in range(1000000000) { for j in range(1000000000) { n = n + 1 } }\n#n\n",
    )
    .unwrap();
    let worker = engine(dir.path()).with_limit(Duration::from_secs(2));
    printed(&worker);
    let before = worker.pid();
    let err = worker.render("Sale", "loop", SALE).unwrap_err();
    match &err {
        PrintError::TooSlow { file, seconds } => {
            assert!(file.ends_with("print/Sale/loop.typ"), "{file}");
            assert_eq!(*seconds, 2);
        }
        other => panic!("not stopped for time: {other}"),
    }
    assert!(err.to_string().contains("a loop that never ends"), "{err}");
    assert_eq!(worker.pid(), None, "the looping engine still runs");
    printed(&worker);
    assert_ne!(worker.pid(), before);
}

#[test]
fn garbage_from_the_program_is_an_engine_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("not-the-engine");
    // Written by a child shell, not by this process: a sibling test that
    // forks while this process holds the file open for writing keeps that
    // descriptor until its exec, and starting the file then fails with
    // "Text file busy" (ETXTBSY).
    let written = std::process::Command::new("sh")
        .args([
            "-c",
            "printf '%s\\n' '#!/bin/sh' 'read asked' \"echo 'Segmentation fault'\" > \"$1\" && chmod 755 \"$1\"",
            "sh",
        ])
        .arg(&fake)
        .status()
        .unwrap();
    assert!(written.success());
    let worker = PrintWorker::new(dir.path().to_path_buf()).with_program(fake);
    match worker.render("Sale", "invoice", SALE) {
        Err(PrintError::Engine(message)) => assert!(message.contains("a bad header"), "{message}"),
        Ok(_) => panic!("garbage taken for a print"),
        Err(other) => panic!("not an engine error: {other}"),
    }
    assert_eq!(worker.pid(), None);
}

#[test]
fn started_by_hand_it_says_what_it_is() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_outpost-print"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("usage: outpost-print --data DIR"), "{said}");
}
