//! The built-in templates render real PDFs (read back with poppler's
//! `pdftotext` and `pdfinfo`), a site template wins over a built-in, and a
//! broken template is reported at its line. Every print goes the way the
//! master's do: through the engine program, `outpost-print`, over its
//! pipes ([`PrintWorker`]).

use std::path::Path;
use std::process::Command;

use outpost_print::{formats, PrintError, PrintWorker};
use serde_json::{json, Value};

/// A sale like the `print` op gathers it: two lines, a party, an office.
fn sale_data() -> Value {
    json!({
        "doctype": "Sale",
        "format": "invoice",
        "office": {"name": "Kashgar depot", "address": "12 Silk Road\nKashgar 844000"},
        "record": {
            "name": "0190-sale", "party": "p1", "sale_date": "2026-12-03",
            "reference": "PO-77", "number": "SO-0042", "total": 2590.5,
            "lines": [
                {"product": "x1", "quantity": 3, "unit_price": 12.5, "amount": 37.5},
                {"product": "x2", "quantity": 2, "unit_price": 1276.5, "amount": 2553.0}
            ]
        },
        "links": {
            "p1": {"doctype": "Party", "title": "Acme Trading", "record": {"party_name": "Acme Trading", "city": "Yarkant"}},
            "x1": {"doctype": "Product", "title": "Green tea 1kg", "record": {}},
            "x2": {"doctype": "Product", "title": "Carpet, hand-knotted", "record": {}}
        },
        "printed": "2026-12-03"
    })
}

/// The master's side of the engine program, for the data folder `data`.
fn engine(data: &Path) -> PrintWorker {
    PrintWorker::new(data.to_path_buf()).with_program(env!("CARGO_BIN_EXE_outpost-print").into())
}

fn render(printer: &PrintWorker, format: &str, data: &Value) -> Result<Vec<u8>, PrintError> {
    printer
        .render("Sale", format, &serde_json::to_vec(data).unwrap())
        .map(|printed| printed.pdf)
}

/// Runs a poppler tool on `pdf` and returns what it printed.
fn poppler(tool: &str, pdf: &[u8], dir: &Path) -> String {
    let file = dir.join("doc.pdf");
    std::fs::write(&file, pdf).unwrap();
    let mut cmd = Command::new(tool);
    cmd.arg(&file);
    if tool == "pdftotext" {
        cmd.args(["-layout", "-"]);
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{tool} did not run ({e}): install poppler-utils (scripts/setup does)")
    });
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_built_in_invoice_shows_the_office_party_every_line_and_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let printer = engine(dir.path());
    let pdf = render(&printer, "invoice", &sale_data()).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = poppler("pdftotext", &pdf, dir.path());
    for want in [
        "Kashgar depot",
        "12 Silk Road",
        "Kashgar 844000",
        "INVOICE",
        "SO-0042",
        "2026-12-03",
        "PO-77",
        "Acme Trading",
        "Yarkant",
        "Green tea 1kg",
        "Carpet, hand-knotted",
        "12.50",
        "37.50",
        "1,276.50",
        "2,553.00",
        "Total",
        "2,590.50",
    ] {
        assert!(text.contains(want), "no {want:?} in the invoice:\n{text}");
    }
    let info = poppler("pdfinfo", &pdf, dir.path());
    assert!(info.contains("A4"), "{info}");
}

#[test]
fn the_receipt_is_80_mm_wide() {
    let dir = tempfile::tempdir().unwrap();
    let printer = engine(dir.path());
    let pdf = render(&printer, "receipt", &sale_data()).unwrap();
    let info = poppler("pdfinfo", &pdf, dir.path());
    let size = info
        .lines()
        .find(|l| l.starts_with("Page size:"))
        .unwrap_or_else(|| panic!("no page size in {info}"));
    // "Page size:      226.77 x 311.2 pts": 80 mm is 226.77 pt.
    let width: f64 = size.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!((width - 80.0 / 25.4 * 72.0).abs() < 0.1, "{size}");
    let text = poppler("pdftotext", &pdf, dir.path());
    for want in [
        "Kashgar depot",
        "Acme Trading",
        "Green tea 1kg",
        "3 × 12.50",
        "TOTAL",
        "2590.50",
    ] {
        assert!(text.contains(want), "no {want:?} in the receipt:\n{text}");
    }
}

#[test]
fn a_site_template_wins_over_the_built_in_and_reads_files_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("print/Sale");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("_footer.typ"),
        "#let footer = [Thank you for trading with us]",
    )
    .unwrap();
    std::fs::write(
        folder.join("invoice.typ"),
        "#import \"_footer.typ\": footer\n#let doc = json(\"data.json\")\nSITE INVOICE for #doc.links.at(doc.record.party).title\n\n#footer\n",
    )
    .unwrap();
    let printer = engine(dir.path());
    assert_eq!(formats(dir.path(), "Sale"), vec!["invoice", "receipt"]);
    let text = poppler(
        "pdftotext",
        &render(&printer, "invoice", &sale_data()).unwrap(),
        dir.path(),
    );
    assert!(text.contains("SITE INVOICE for Acme Trading"), "{text}");
    assert!(text.contains("Thank you for trading with us"), "{text}");
    assert!(!text.contains("Bill to"), "the built-in was used:\n{text}");

    // A site's own new format is listed and printed too.
    std::fs::write(folder.join("delivery-note.typ"), "Delivery note").unwrap();
    assert_eq!(
        formats(dir.path(), "Sale"),
        vec!["delivery-note", "invoice", "receipt"]
    );
    let text = poppler(
        "pdftotext",
        &render(&printer, "delivery-note", &sale_data()).unwrap(),
        dir.path(),
    );
    assert!(text.contains("Delivery note"), "{text}");
}

#[test]
fn a_template_error_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("print/Sale");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("invoice.typ"),
        "#let doc = json(\"data.json\")\nA line\n#doc.record.no_such_field\n",
    )
    .unwrap();
    let printer = engine(dir.path());
    let err = render(&printer, "invoice", &sale_data()).unwrap_err();
    match &err {
        PrintError::Template {
            file,
            line,
            message,
            ..
        } => {
            assert!(file.ends_with("print/Sale/invoice.typ"), "{file}");
            assert_eq!(*line, 3, "{err}");
            assert!(message.contains("no_such_field"), "{message}");
        }
        other => panic!("not a template error: {other:?}"),
    }
    assert!(err.to_string().contains("invoice.typ:3:"), "{err}");
}

#[test]
fn formats_and_paths_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let printer = engine(dir.path());
    let err = render(&printer, "../../etc/passwd", &sale_data()).unwrap_err();
    assert!(matches!(err, PrintError::BadFormatName(_)), "{err}");
    let err = render(&printer, "quote", &sale_data()).unwrap_err();
    assert!(
        err.to_string().contains("available: invoice, receipt"),
        "{err}"
    );
    let err = printer.render("Party", "invoice", b"{}").unwrap_err();
    assert!(err.to_string().contains("it has none"), "{err}");
}
