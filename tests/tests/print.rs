//! Printing through a real slave (issue 15): a master started with its
//! office address, a CLI slave that signs in and asks for a sale's invoice
//! and receipt with `outpost db print`. The PDFs are read back with
//! poppler (`pdftotext`, `pdfinfo`, `pdftoppm`); the invoice's first page
//! is kept as a PNG (docs/screenshots). A template the site puts in the
//! master's data folder wins over the built-in, and a broken one is
//! reported at its file and line.

use std::path::Path;
use std::process::{Command, Output};

use outpost_e2e::{outpost, MasterProc};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn poppler(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
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
fn a_slave_prints_a_sale_as_invoice_and_receipt_and_the_site_template_wins() {
    let (m, a, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let password = work.path().join("manager");
    std::fs::write(&password, "the manager's print secret\n").unwrap();
    let master = MasterProc::start(
        m.path(),
        "Kashgar depot",
        outpost_e2e::free_port(),
        &[
            "--admin-password-file",
            s(&password),
            "--office-address",
            "12 Silk Road\\nKashgar 844000",
        ],
    );
    let url = master.url_without_code();
    let call = |args: &[&str]| -> Output {
        let target = if a.path().join("slave.json").exists() {
            url.as_str()
        } else {
            master.url.as_str()
        };
        let mut all = vec![
            "db",
            "--data",
            s(a.path()),
            "--connect",
            target,
            "--timeout",
            "30",
        ];
        all.extend(["--user", "manager", "--password-file", s(&password)]);
        all.extend(args);
        outpost(&all)
    };
    let insert = |doctype: &str, json: &str| -> String {
        let v: serde_json::Value =
            serde_json::from_str(&ok(&call(&["insert", doctype, json]))).unwrap();
        v["name"].as_str().unwrap().to_string()
    };
    let party = insert("Party", r#"{"party_name":"Acme Trading","city":"Yarkant"}"#);
    let tea = insert(
        "Product",
        r#"{"product_name":"Green tea 1kg","list_price":12.5}"#,
    );
    let carpet = insert(
        "Product",
        r#"{"product_name":"Carpet, hand-knotted","list_price":1276.5}"#,
    );
    let sale = insert(
        "Sale",
        &format!(
            r#"{{"party":"{party}","sale_date":"2026-12-03","reference":"PO-77","lines":[
                {{"product":"{tea}","quantity":3,"unit_price":12.5}},
                {{"product":"{carpet}","quantity":2,"unit_price":1276.5}}]}}"#
        ),
    );

    // The invoice, on standard output as `> sale.pdf` would take it.
    let out = call(&["print", "Sale", &sale, "--format", "invoice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.starts_with(b"%PDF-"), "not a PDF on stdout");
    let invoice = work.path().join("sale.pdf");
    std::fs::write(&invoice, &out.stdout).unwrap();
    let text = poppler("pdftotext", &["-layout", s(&invoice), "-"]);
    for want in [
        "Kashgar depot",
        "12 Silk Road",
        "Kashgar 844000",
        "INVOICE",
        "Acme Trading",
        "Yarkant",
        "2026-12-03",
        "PO-77",
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
    assert!(poppler("pdfinfo", &[s(&invoice)]).contains("A4"));
    // Its picture, for the docs (SHOTS_DIR, as the window tests do).
    let shots = std::env::var_os("SHOTS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| work.path().to_path_buf());
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join("print-invoice");
    poppler(
        "pdftoppm",
        &["-png", "-r", "70", "-singlefile", s(&invoice), s(&png)],
    );
    assert!(shots.join("print-invoice.png").exists());

    // The receipt, with --out: 80 mm wide.
    let receipt = work.path().join("receipt.pdf");
    ok(&call(&[
        "print",
        "Sale",
        &sale,
        "--format",
        "receipt",
        "--out",
        s(&receipt),
    ]));
    let info = poppler("pdfinfo", &[s(&receipt)]);
    let size = info.lines().find(|l| l.starts_with("Page size:")).unwrap();
    let width: f64 = size.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!((width - 80.0 / 25.4 * 72.0).abs() < 0.1, "{size}");
    let text = poppler("pdftotext", &["-layout", s(&receipt), "-"]);
    assert!(
        text.contains("Acme Trading") && text.contains("2590.50"),
        "{text}"
    );

    // A format nobody has: the available ones are named.
    let o = call(&["print", "Sale", &sale, "--format", "quote"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Sale has no print format 'quote'") && err.contains("invoice, receipt"),
        "{err}"
    );

    // The site's own invoice in the master's data folder wins ...
    let folder = m.path().join("print/Sale");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("invoice.typ"),
        "#let doc = json(\"data.json\")\n= Our own invoice\nFor #doc.links.at(doc.record.party).title\n",
    )
    .unwrap();
    let site = work.path().join("site.pdf");
    ok(&call(&["print", "Sale", &sale, "--out", s(&site)]));
    let text = poppler("pdftotext", &[s(&site), "-"]);
    assert!(
        text.contains("Our own invoice") && text.contains("For Acme Trading"),
        "{text}"
    );
    assert!(!text.contains("Bill to"), "the built-in was used:\n{text}");

    // ... and when it breaks, the slave is told its file and line.
    std::fs::write(
        folder.join("invoice.typ"),
        "#let doc = json(\"data.json\")\n= Our own invoice\n#doc.record.no_such_field\n",
    )
    .unwrap();
    let o = call(&["print", "Sale", &sale]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("print/Sale/invoice.typ:3:"), "{err}");
    assert!(err.contains("no_such_field"), "{err}");
}
