//! The `outpost` CLI as a user runs it: one process per call, a real data
//! folder, JSON on stdout, words on stderr, exit codes per error kind.

use std::io::Write;
use std::process::{Command, Stdio};

use outpost_e2e::{db, failed, ok_lines, ok_one, outpost_bin};
use serde_json::Value;

fn name_of(v: &Value) -> String {
    v["name"].as_str().expect("record has a name").to_string()
}

#[test]
fn insert_get_update_delete_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let acme = ok_one(&db(
        d,
        &[
            "insert",
            "Party",
            r#"{"party_name":"Acme","city":"Kashgar"}"#,
        ],
    ));
    let name = name_of(&acme);
    assert_eq!(acme["rev"], 1);
    assert_eq!(acme["modified_by"], "cli");
    assert!(uuid_like(&name), "name {name} is not a UUID");

    let got = ok_one(&db(d, &["get", "Party", &name]));
    assert_eq!(got, acme);

    let upd = ok_one(&db(
        d,
        &["update", "Party", &name, r#"{"rev":1,"city":"Yarkant"}"#],
    ));
    assert_eq!(upd["rev"], 2);
    assert_eq!(upd["city"], "Yarkant");
    assert_eq!(
        upd["party_name"], "Acme",
        "a partial update keeps other fields"
    );

    let del = ok_one(&db(d, &["delete", "Party", &name]));
    assert_eq!(del["deleted"], true);
    assert_eq!(del["rev"], 3);
    let (code, err) = failed(&db(d, &["get", "Party", &name]));
    assert_eq!(code, 4);
    assert!(err.contains("deleted"), "{err}");
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[test]
fn stale_revision_is_a_conflict_showing_the_current_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let name = name_of(&ok_one(&db(
        d,
        &["insert", "Party", r#"{"party_name":"Acme"}"#],
    )));
    ok_one(&db(
        d,
        &["update", "Party", &name, r#"{"rev":1,"city":"Yarkant"}"#],
    ));
    let (code, err) = failed(&db(
        d,
        &["update", "Party", &name, r#"{"rev":1,"city":"Hotan"}"#],
    ));
    assert_eq!(code, 5);
    assert!(
        err.contains("revision 1") && err.contains("revision 2"),
        "{err}"
    );
    assert!(
        err.contains("\"city\":\"Yarkant\""),
        "current record missing: {err}"
    );
    // Nothing was overwritten.
    assert_eq!(ok_one(&db(d, &["get", "Party", &name]))["city"], "Yarkant");
    // Update without a revision is refused, not applied blindly.
    let (code, err) = failed(&db(d, &["update", "Party", &name, r#"{"city":"Hotan"}"#]));
    assert_eq!(code, 3);
    assert!(err.contains("rev"), "{err}");
}

#[test]
fn each_validation_error_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&str, &str, &str)] = &[
        (
            "Party",
            r#"{"city":"Kashgar"}"#,
            "Party.party_name (Party Name) is required",
        ),
        (
            "Party",
            r#"{"party_name":42}"#,
            "Party.party_name expects text",
        ),
        (
            "Product",
            r#"{"product_name":"Rice","list_price":"cheap"}"#,
            "Product.list_price expects a number",
        ),
        (
            "Party",
            r#"{"party_name":"A","colour":"red"}"#,
            "Party has no field 'colour'",
        ),
        (
            "Party",
            r#"{"party_name":"A","kind":"Robot"}"#,
            "Party.kind must be one of Customer, Supplier, Both",
        ),
        (
            "Sale",
            r#"{"party":"no-such-party"}"#,
            "Sale.party links to Party \"no-such-party\", which does not exist",
        ),
        (
            "Sale",
            r#"{"sale_date":"2026-01-01"}"#,
            "Sale.party (Party) is required",
        ),
        (
            "Gadget",
            r#"{"x":1}"#,
            "there is no doctype called 'Gadget'",
        ),
        (
            "Sale Line",
            r#"{"quantity":1}"#,
            "Sale Line is a child table",
        ),
    ];
    for (doctype, json, expected) in cases {
        let (code, err) = failed(&db(d, &["insert", doctype, json]));
        assert!(
            err.contains(expected),
            "{doctype} {json}: expected '{expected}' in: {err}"
        );
        assert!(code == 3 || code == 4, "{doctype} {json}: exit code {code}");
    }
    let a = name_of(&ok_one(&db(
        d,
        &["insert", "Party", r#"{"party_name":"A","code":"C1"}"#],
    )));
    let sale = format!(r#"{{"party":"{a}","sale_date":"21/11/2026"}}"#);
    let (code, err) = failed(&db(d, &["insert", "Sale", &sale]));
    assert_eq!(code, 3);
    assert!(
        err.contains("Sale.sale_date expects a date (YYYY-MM-DD)"),
        "{err}"
    );
    let (code, err) = failed(&db(
        d,
        &["insert", "Party", r#"{"party_name":"B","code":"C1"}"#],
    ));
    assert_eq!(code, 3);
    assert!(err.contains("Party.code must be unique"), "{err}");
    let (_, err) = failed(&db(d, &["insert", "Party", "{not json"]));
    assert!(err.contains("not valid JSON"), "{err}");
    // Nothing bad was stored.
    assert_eq!(ok_one(&db(d, &["count", "Party"])), 1);
}

#[test]
fn a_sale_with_lines_gets_its_amounts_and_total_computed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let party = name_of(&ok_one(&db(
        d,
        &["insert", "Party", r#"{"party_name":"Acme"}"#],
    )));
    let rice = name_of(&ok_one(&db(
        d,
        &[
            "insert",
            "Product",
            r#"{"product_name":"Rice","list_price":3.5}"#,
        ],
    )));
    let tea = name_of(&ok_one(&db(
        d,
        &["insert", "Product", r#"{"product_name":"Tea"}"#],
    )));
    let sale = format!(
        r#"{{"party":"{party}","sale_date":"2026-11-21","state":"Draft","lines":[
            {{"product":"{rice}","quantity":2,"unit_price":3.5}},
            {{"product":"{tea}","quantity":3,"unit_price":1.1,"amount":999}}]}}"#
    );
    let s = ok_one(&db(d, &["insert", "Sale", &sale]));
    assert_eq!(s["lines"][0]["amount"], 7.0);
    assert_eq!(
        s["lines"][1]["amount"], 3.3,
        "computed, whatever the caller sent"
    );
    assert_eq!(s["total"], 10.3);
    // A broken link inside a line names the line and the field.
    let bad = format!(r#"{{"party":"{party}","lines":[{{"product":"nope","quantity":1}}]}}"#);
    let (_, err) = failed(&db(d, &["insert", "Sale", &bad]));
    assert!(
        err.contains("lines row 1") && err.contains("product"),
        "{err}"
    );
    // The product is in use: deleting it is refused.
    let (code, err) = failed(&db(d, &["delete", "Product", &rice]));
    assert_eq!(code, 5);
    assert!(err.contains("still used by Sale"), "{err}");
}

#[test]
fn query_language_sort_fields_limit_and_grouping_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (n, city, code) in [
        ("Acme", "Kashgar", "A"),
        ("Acorn", "Kashgar", "B"),
        ("Bazaar", "Kashgar", "C"),
        ("Acme East", "Hotan", "D"),
    ] {
        let json = format!(r#"{{"party_name":"{n}","city":"{city}","code":"{code}"}}"#);
        ok_one(&db(d, &["insert", "Party", &json]));
    }
    let rows = ok_lines(&db(
        d,
        &[
            "query",
            "Party",
            r#"party_name:"Ac%" AND city:Kashgar"#,
            "--sort",
            "party_name:desc",
            "--limit",
            "20",
            "--fields",
            "name,party_name",
        ],
    ));
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["party_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acorn", "Acme"]);
    assert_eq!(
        rows[0].as_object().unwrap().len(),
        2,
        "only the asked fields"
    );

    assert_eq!(
        ok_one(&db(d, &["count", "Party", "city:Kashgar OR city:Hotan"])),
        4
    );
    assert_eq!(ok_one(&db(d, &["count", "Party", "NOT city:Kashgar"])), 1);
    assert_eq!(ok_one(&db(d, &["count", "Party", "code:>=C"])), 2);
    assert_eq!(
        ok_one(&db(
            d,
            &["count", "Party", "--filters", r#"[["city","=","Hotan"]]"#]
        )),
        1
    );
    let page = ok_lines(&db(
        d,
        &[
            "query", "Party", "--sort", "code", "--limit", "2", "--offset", "1", "--fields", "code",
        ],
    ));
    assert_eq!(
        page,
        vec![
            serde_json::json!({"code":"B"}),
            serde_json::json!({"code":"C"})
        ]
    );
    let groups = ok_lines(&db(
        d,
        &[
            "query",
            "Party",
            "--group-by",
            "city",
            "--sort",
            "count:desc",
        ],
    ));
    assert_eq!(groups[0], serde_json::json!({"city":"Kashgar","count":3}));

    let (code, err) = failed(&db(d, &["query", "Party", "city:(Kashgar"]));
    assert_eq!(code, 3);
    assert!(err.contains("position"), "{err}");
    assert!(err.contains('^'), "a caret points at the error: {err}");
    let (_, err) = failed(&db(d, &["query", "Party", "colour:red"]));
    assert!(err.contains("no field 'colour'"), "{err}");
}

#[test]
fn import_and_export_round_trip_and_a_bad_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = d.join("parties.jsonl");
    let mut f = std::fs::File::create(&file).unwrap();
    for i in 0..1200 {
        writeln!(
            f,
            r#"{{"party_name":"P{i}","code":"P{i}","city":"Kashgar"}}"#
        )
        .unwrap();
    }
    drop(f);
    assert_eq!(
        ok_one(&db(d, &["import", "Party", file.to_str().unwrap()]))["imported"],
        1200
    );
    let exported = ok_lines(&db(d, &["export", "Party"]));
    assert_eq!(exported.len(), 1200, "export pages through everything");
    assert!(exported
        .iter()
        .all(|r| r["doctype"] == "Party" && r["rev"] == 1));

    // Export from one site, import into another: same names, same data.
    let other = tempfile::tempdir().unwrap();
    let dump = other.path().join("dump.jsonl");
    std::fs::write(&dump, db(d, &["export", "Party"]).stdout).unwrap();
    assert_eq!(
        ok_one(&db(
            other.path(),
            &["import", "Party", dump.to_str().unwrap()]
        ))["imported"],
        1200
    );
    let first = exported[0]["name"].as_str().unwrap();
    assert_eq!(
        ok_one(&db(other.path(), &["get", "Party", first]))["code"],
        exported[0]["code"]
    );

    let bad = d.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"party_name\":\"X1\"}\n\n{\"party_name\":\"X2\",\"code\":\"P5\"}\n",
    )
    .unwrap();
    let (code, err) = failed(&db(d, &["import", "Party", bad.to_str().unwrap()]));
    assert_eq!(code, 3);
    assert!(err.contains("line 3") && err.contains("unique"), "{err}");
    assert_eq!(
        ok_one(&db(d, &["count", "Party", "party_name:X%"])),
        0,
        "the batch is all or nothing"
    );
}

#[test]
fn doctypes_lists_the_starter_set() {
    let dir = tempfile::tempdir().unwrap();
    let list = ok_lines(&db(dir.path(), &["doctypes"]));
    let names: Vec<&str> = list.iter().map(|d| d["name"].as_str().unwrap()).collect();
    for n in ["Party", "Product", "Sale", "Sale Line"] {
        assert!(names.contains(&n), "missing {n}");
    }
    let party = list.iter().find(|d| d["name"] == "Party").unwrap();
    assert_eq!(party["title_field"], "party_name");
    assert!(party["list_fields"]
        .as_array()
        .unwrap()
        .contains(&"city".into()));
}

#[test]
fn data_folder_comes_from_env_or_the_xdg_default() {
    let home = tempfile::tempdir().unwrap();
    let xdg = home.path().join("xdg");
    let out = Command::new(outpost_bin())
        .args(["db", "insert", "Party", r#"{"party_name":"Env"}"#])
        .env_remove("OUTPOST_DATA")
        .env("XDG_DATA_HOME", &xdg)
        .env("HOME", home.path())
        .output()
        .unwrap();
    ok_one(&out);
    assert!(xdg.join("outpost").join("outpost.sqlite").exists());

    let env_dir = home.path().join("from-env");
    let out = Command::new(outpost_bin())
        .args(["db", "count", "Party"])
        .env("OUTPOST_DATA", &env_dir)
        .output()
        .unwrap();
    assert_eq!(ok_one(&out), 0);
    assert!(env_dir.join("outpost.sqlite").exists());
}

#[test]
fn subscribe_prints_changes_made_by_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok_one(&db(d, &["count", "Party"])); // create the database first
    let mut sub = Command::new(outpost_bin())
        .args(["db", "--data"])
        .arg(d)
        .args(["subscribe", "Party"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it listens.
    let mut err = std::io::BufReader::new(sub.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    ok_one(&db(
        d,
        &["insert", "Product", r#"{"product_name":"Not watched"}"#],
    ));
    let p = ok_one(&db(d, &["insert", "Party", r#"{"party_name":"Watched"}"#]));
    let mut out = std::io::BufReader::new(sub.stdout.take().unwrap());
    let mut ev = String::new();
    std::io::BufRead::read_line(&mut out, &mut ev).unwrap();
    let _ = sub.kill();
    let _ = sub.wait();
    let ev: Value = serde_json::from_str(&ev).unwrap();
    assert_eq!(ev["ev"], "changed");
    assert_eq!(ev["doctype"], "Party");
    assert_eq!(ev["name"], p["name"]);
    assert_eq!(ev["rev"], 1);
}

#[test]
fn master_starts_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = Command::new(outpost_bin())
        .args([
            "master",
            "--name",
            "Kashgar depot",
            "--listen",
            "127.0.0.1",
            "--port",
            "0",
            "--no-mdns",
            "--data",
        ])
        .arg(dir.path())
        .args(outpost_e2e::first_manager_args())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(master.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut out, &mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
        if line.starts_with("Pairing code:") {
            break;
        }
    }
    assert!(seen.contains("\"Kashgar depot\" is running"), "{seen}");
    assert!(seen.contains("outpost://127.0.0.1:"), "{seen}");
    // While it runs, the CLI can use the same database.
    ok_one(&db(
        dir.path(),
        &["insert", "Party", r#"{"party_name":"During"}"#],
    ));
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(master.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut master.stderr.take().unwrap(), &mut rest).unwrap();
    let exit = master.wait().unwrap();
    assert!(exit.success(), "master exited with {exit}: {rest}");
    assert!(rest.contains("stopped cleanly"), "{rest}");
    assert_eq!(ok_one(&db(dir.path(), &["count", "Party"])), 1);
}

#[test]
fn a_site_doctype_file_extends_the_schema_without_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let name = name_of(&ok_one(&db(
        d,
        &["insert", "Party", r#"{"party_name":"Old"}"#],
    )));
    std::fs::create_dir_all(d.join("doctypes")).unwrap();
    std::fs::write(
        d.join("doctypes/vat.json"),
        r#"{"name":"Party","extend":true,"fields":[{"name":"vat_id","type":"data","indexed":true}]}"#,
    )
    .unwrap();
    let upd = ok_one(&db(
        d,
        &["update", "Party", &name, r#"{"rev":1,"vat_id":"CN-1"}"#],
    ));
    assert_eq!(upd["vat_id"], "CN-1");
    assert_eq!(upd["party_name"], "Old", "existing data survives");
    // Dropping the field while it holds data is refused, clearly.
    std::fs::write(
        d.join("doctypes/vat.json"),
        r#"{"name":"Party","extend":true,"fields":[]}"#,
    )
    .unwrap();
    let (code, err) = failed(&db(d, &["count", "Party"]));
    assert_eq!(code, 1);
    assert!(err.contains("removing Party.vat_id would lose"), "{err}");
    // Still all there with the field back.
    std::fs::write(
        d.join("doctypes/vat.json"),
        r#"{"name":"Party","extend":true,"fields":[{"name":"vat_id","type":"data","indexed":true}]}"#,
    )
    .unwrap();
    assert_eq!(ok_one(&db(d, &["get", "Party", &name]))["vat_id"], "CN-1");
}

#[test]
fn garbage_arguments_get_specific_errors_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = Command::new(outpost_bin())
        .args(["db", "--data"])
        .arg(d)
        .args(["insert", "Party", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\x00\xff garbage")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (code, err) = failed(&out);
    assert_eq!(code, 3);
    assert!(err.contains("not valid JSON"), "{err}");
    let (_, err) = failed(&db(d, &["insert", "Party", "[1,2]"]));
    assert!(err.contains("must be a JSON object"), "{err}");
    assert_eq!(ok_one(&db(d, &["count", "Party"])), 0);
}
