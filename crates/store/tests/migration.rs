//! Schema migration at open: site doctype files add and extend doctypes;
//! changes that would lose or corrupt data are refused and leave the file
//! as it was.

mod common;

use std::path::Path;

use common::*;
use outpost_store::query::{parse_text, Expr};
use outpost_store::{FieldProblem, QuerySpec, Store, StoreError};
use serde_json::{json, Value};

fn write_site_file(dir: &Path, file: &str, def: Value) {
    let d = dir.join(outpost_store::DOCTYPES_DIR);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(file), serde_json::to_string_pretty(&def).unwrap()).unwrap();
}

fn refused(dir: &Path) -> String {
    match Store::open(dir) {
        Err(StoreError::Migration(m)) => m,
        Err(other) => panic!("expected a refused migration, got {other:?}"),
        Ok(_) => panic!("expected a refused migration, but the store opened"),
    }
}

fn q(s: &Store, doctype: &str, query: &str) -> Vec<Value> {
    s.query(
        doctype,
        &QuerySpec {
            filter: parse_text(query).unwrap(),
            limit: Some(1000),
            ..Default::default()
        },
    )
    .unwrap()
}

fn all() -> Expr {
    Expr::And(vec![])
}

/// A site doctype "Gadget" with the given fields (plus a required title).
fn gadget(fields: Value) -> Value {
    let mut list = vec![json!({"name": "title", "type": "data", "required": true})];
    list.extend(fields.as_array().unwrap().iter().cloned());
    json!({"name": "Gadget", "title_field": "title", "fields": list})
}

#[test]
fn extending_a_starter_doctype_keeps_data_and_adds_a_queryable_field() {
    let dir = tempfile::tempdir().unwrap();
    let acme = {
        let s = reopen(dir.path());
        let acme = insert(
            &s,
            "Party",
            json!({"party_name": "Acme", "code": "AC", "city": "Kashgar"}),
        );
        s.close();
        acme
    };
    write_site_file(
        dir.path(),
        "extra.json",
        json!({"name": "Party", "extend": true,
               "fields": [{"name": "vat_id", "type": "data", "indexed": true}]}),
    );
    let s = reopen(dir.path());
    let got = s.get("Party", &name_of(&acme)).unwrap();
    assert_eq!(got["party_name"], json!("Acme"));
    assert_eq!(got["city"], json!("Kashgar"));
    assert_eq!(got["rev"], json!(1));
    assert_eq!(got["vat_id"], Value::Null);

    let out = s
        .write(
            ctx("t"),
            upd("Party", &name_of(&acme), 1, json!({"vat_id": "CN-123"})),
        )
        .unwrap()
        .value;
    assert_eq!(out["vat_id"], json!("CN-123"));
    insert(
        &s,
        "Party",
        json!({"party_name": "Other", "vat_id": "DE-9"}),
    );
    let rows = q(&s, "Party", "vat_id:CN-123");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["party_name"], json!("Acme"));
    let plan = s
        .explain(
            "Party",
            &QuerySpec {
                filter: parse_text("vat_id:CN-123").unwrap(),
                ..Default::default()
            },
        )
        .unwrap()
        .join("\n");
    assert!(
        plan.contains("idx Party vat_id"),
        "the new field is indexed: {plan}"
    );
    assert!(s.schema().doctypes["Party"].field("vat_id").is_some());
}

#[test]
fn reopening_with_the_same_definitions_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_site_file(dir.path(), "gadget.json", gadget(json!([])));
    let name = {
        let s = reopen(dir.path());
        let g = insert(&s, "Gadget", json!({"title": "G"}));
        s.close();
        name_of(&g)
    };
    for _ in 0..2 {
        let s = reopen(dir.path());
        assert_eq!(s.get("Gadget", &name).unwrap()["title"], json!("G"));
        s.close();
    }
}

#[test]
fn a_new_site_doctype_gets_its_table_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let owner = {
        let s = reopen(dir.path());
        let p = party(&s, "Owner", "OW");
        s.close();
        name_of(&p)
    };
    write_site_file(
        dir.path(),
        "vehicle.json",
        json!({"name": "Vehicle", "title_field": "plate", "fields": [
            {"name": "plate", "type": "data", "required": true, "unique": true},
            {"name": "owner", "type": "link", "link": "Party"},
            {"name": "seats", "type": "int"}
        ]}),
    );
    let s = reopen(dir.path());
    let v = insert(
        &s,
        "Vehicle",
        json!({"plate": "XJ-001", "owner": owner, "seats": 4}),
    );
    assert_eq!(v["seats"], json!(4));
    assert_eq!(q(&s, "Vehicle", "seats:>3").len(), 1);
    let r = try_insert(&s, "Vehicle", json!({"plate": "XJ-002", "owner": "ghost"}));
    assert!(
        matches!(
            r,
            Err(StoreError::Field {
                problem: FieldProblem::BrokenLink,
                ..
            })
        ),
        "{r:?}"
    );
    // The new link protects the party.
    assert!(matches!(
        s.write(ctx("t"), del("Party", &owner, None)),
        Err(StoreError::InUse { used_by_doctype, .. }) if used_by_doctype == "Vehicle"
    ));
}

#[test]
fn a_malformed_site_file_is_a_definition_error() {
    let dir = tempfile::tempdir().unwrap();
    write_site_file(
        dir.path(),
        "bad.json",
        json!({"name": "Gadget", "fields": [{"name": "x", "type": "colour"}]}),
    );
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::Definition { .. })
    ));
    write_site_file(
        dir.path(),
        "bad.json",
        json!({"name": "Gadget", "fields": [{"name": "owner", "type": "link", "link": "Nothing"}]}),
    );
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::Definition { .. })
    ));
}

/// Opens with `before`, stores data via `fill`, then rewrites the file as
/// `after` and expects the open to be refused; then restores `before` and
/// checks all the data is there.
fn refused_then_restored(before: Value, after: Value, fill: impl FnOnce(&Store)) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_site_file(dir.path(), "gadget.json", before.clone());
    let snapshot = {
        let s = reopen(dir.path());
        fill(&s);
        let rows = q(&s, "Gadget", "");
        s.close();
        rows
    };
    assert!(!snapshot.is_empty());
    write_site_file(dir.path(), "gadget.json", after);
    let msg = refused(dir.path());
    assert!(
        msg.contains("Gadget"),
        "the message names the doctype: {msg}"
    );

    write_site_file(dir.path(), "gadget.json", before);
    let s = reopen(dir.path());
    let mut now = q(&s, "Gadget", "");
    let mut was = snapshot;
    let key = |v: &Value| v["name"].as_str().unwrap().to_string();
    now.sort_by_key(key);
    was.sort_by_key(key);
    assert_eq!(now, was, "a refused migration leaves the data as it was");
    msg
}

#[test]
fn removing_a_field_that_holds_data_is_refused() {
    let msg = refused_then_restored(
        gadget(json!([{"name": "colour", "type": "data"}])),
        gadget(json!([])),
        |s| {
            insert(s, "Gadget", json!({"title": "A", "colour": "red"}));
            insert(s, "Gadget", json!({"title": "B"}));
        },
    );
    assert!(msg.contains("colour"), "{msg}");
    assert!(msg.contains("removing"), "{msg}");
}

#[test]
fn changing_a_type_that_a_stored_value_does_not_fit_is_refused() {
    let msg = refused_then_restored(
        gadget(json!([{"name": "size", "type": "data"}])),
        gadget(json!([{"name": "size", "type": "int"}])),
        |s| {
            insert(s, "Gadget", json!({"title": "A", "size": "abc"}));
        },
    );
    assert!(msg.contains("size"), "{msg}");
    assert!(msg.contains("abc") || msg.contains("data to int"), "{msg}");
}

#[test]
fn making_a_field_required_while_records_lack_it_is_refused() {
    let msg = refused_then_restored(
        gadget(json!([{"name": "colour", "type": "data"}])),
        gadget(json!([{"name": "colour", "type": "data", "required": true}])),
        |s| {
            insert(s, "Gadget", json!({"title": "A", "colour": "red"}));
            insert(s, "Gadget", json!({"title": "B", "colour": ""}));
        },
    );
    assert!(msg.contains("colour") && msg.contains("required"), "{msg}");
}

#[test]
fn adding_a_new_required_field_to_a_doctype_with_records_is_refused() {
    let msg = refused_then_restored(
        gadget(json!([])),
        gadget(json!([{"name": "colour", "type": "data", "required": true}])),
        |s| {
            insert(s, "Gadget", json!({"title": "A"}));
        },
    );
    assert!(msg.contains("colour") && msg.contains("required"), "{msg}");
}

#[test]
fn making_a_field_unique_while_values_repeat_is_refused() {
    let msg = refused_then_restored(
        gadget(json!([{"name": "serial", "type": "data"}])),
        gadget(json!([{"name": "serial", "type": "data", "unique": true}])),
        |s| {
            insert(s, "Gadget", json!({"title": "A", "serial": "S1"}));
            insert(s, "Gadget", json!({"title": "B", "serial": "S1"}));
        },
    );
    assert!(msg.contains("serial") && msg.contains("unique"), "{msg}");
    assert!(msg.contains("S1"), "{msg}");
}

#[test]
fn removing_a_select_option_in_use_is_refused() {
    let msg = refused_then_restored(
        gadget(json!([{"name": "state", "type": "select", "options": ["New", "Used", "Broken"]}])),
        gadget(json!([{"name": "state", "type": "select", "options": ["New", "Used"]}])),
        |s| {
            insert(s, "Gadget", json!({"title": "A", "state": "Broken"}));
            insert(s, "Gadget", json!({"title": "B", "state": "New"}));
        },
    );
    assert!(msg.contains("state") && msg.contains("Broken"), "{msg}");
}

#[test]
fn removing_a_field_nobody_filled_in_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(
            json!([{"name": "colour", "type": "data", "indexed": true}, {"name": "size", "type": "int"}]),
        ),
    );
    let name = {
        let s = reopen(dir.path());
        let g = insert(&s, "Gadget", json!({"title": "A", "size": 3}));
        s.close();
        name_of(&g)
    };
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "size", "type": "int"}])),
    );
    let s = reopen(dir.path());
    let g = s.get("Gadget", &name).unwrap();
    assert!(g.get("colour").is_none());
    assert_eq!(g["size"], json!(3));
    assert!(matches!(
        try_insert(&s, "Gadget", json!({"title": "B", "colour": "red"})),
        Err(StoreError::Field {
            problem: FieldProblem::Unknown,
            ..
        })
    ));
}

#[test]
fn removing_an_unused_select_option_and_adding_options_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "state", "type": "select", "options": ["New", "Used", "Broken"]}])),
    );
    {
        let s = reopen(dir.path());
        insert(&s, "Gadget", json!({"title": "A", "state": "New"}));
        s.close();
    }
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "state", "type": "select", "options": ["New", "Used", "Lost"]}])),
    );
    let s = reopen(dir.path());
    insert(&s, "Gadget", json!({"title": "B", "state": "Lost"}));
    assert!(matches!(
        try_insert(&s, "Gadget", json!({"title": "C", "state": "Broken"})),
        Err(StoreError::Field {
            problem: FieldProblem::NotAnOption,
            ..
        })
    ));
}

#[test]
fn making_a_field_unique_without_duplicates_enforces_it_from_then_on() {
    let dir = tempfile::tempdir().unwrap();
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "serial", "type": "data"}])),
    );
    {
        let s = reopen(dir.path());
        insert(&s, "Gadget", json!({"title": "A", "serial": "S1"}));
        insert(&s, "Gadget", json!({"title": "B", "serial": "S2"}));
        s.close();
    }
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "serial", "type": "data", "unique": true}])),
    );
    let s = reopen(dir.path());
    assert!(matches!(
        try_insert(&s, "Gadget", json!({"title": "C", "serial": "S1"})),
        Err(StoreError::Field {
            problem: FieldProblem::Duplicate,
            ..
        })
    ));
}

#[test]
fn changing_an_int_field_to_data_keeps_the_values_as_text() {
    let dir = tempfile::tempdir().unwrap();
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "size", "type": "int"}])),
    );
    let name = {
        let s = reopen(dir.path());
        let g = insert(&s, "Gadget", json!({"title": "A", "size": 12}));
        s.close();
        name_of(&g)
    };
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "size", "type": "data"}])),
    );
    let s = reopen(dir.path());
    assert_eq!(s.get("Gadget", &name).unwrap()["size"], json!("12"));
    assert_eq!(q(&s, "Gadget", "size:12").len(), 1);
}

#[test]
fn changing_a_data_field_with_numeric_text_to_int_converts_the_values() {
    let dir = tempfile::tempdir().unwrap();
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "size", "type": "data"}])),
    );
    let (a, b) = {
        let s = reopen(dir.path());
        let a = insert(&s, "Gadget", json!({"title": "A", "size": "9"}));
        let b = insert(&s, "Gadget", json!({"title": "B", "size": "10"}));
        insert(&s, "Gadget", json!({"title": "C"}));
        s.close();
        (name_of(&a), name_of(&b))
    };
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "size", "type": "int"}])),
    );
    let s = reopen(dir.path());
    assert_eq!(s.get("Gadget", &a).unwrap()["size"], json!(9));
    assert_eq!(s.get("Gadget", &b).unwrap()["size"], json!(10));
    // Compared as numbers now: 10 > 9.
    let big = q(&s, "Gadget", "size:>9");
    assert_eq!(big.len(), 1, "{big:?}");
    assert_eq!(big[0]["title"], json!("B"));
    let out = insert(&s, "Gadget", json!({"title": "D", "size": 100}));
    assert_eq!(out["size"], json!(100));
    assert_eq!(q(&s, "Gadget", "size:>=10").len(), 2);
}

#[test]
fn removing_a_site_doctype_file_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    write_site_file(dir.path(), "gadget.json", gadget(json!([])));
    let name = {
        let s = reopen(dir.path());
        let g = insert(&s, "Gadget", json!({"title": "Kept"}));
        s.close();
        name_of(&g)
    };
    std::fs::remove_file(dir.path().join("doctypes/gadget.json")).unwrap();
    let s = reopen(dir.path());
    assert_eq!(s.get("Gadget", &name).unwrap()["title"], json!("Kept"));
    assert_eq!(s.count("Gadget", &all()).unwrap(), 1);
}

#[test]
fn a_retyped_indexed_field_keeps_its_index_and_text_numbers_become_floats() {
    let dir = tempfile::tempdir().unwrap();
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "weight", "type": "data", "indexed": true}])),
    );
    {
        let s = reopen(dir.path());
        insert(&s, "Gadget", json!({"title": "A", "weight": "3.5"}));
        insert(&s, "Gadget", json!({"title": "B", "weight": " 12 "}));
        s.close();
    }
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "weight", "type": "float", "indexed": true}])),
    );
    let s = reopen(dir.path());
    let rows = q(&s, "Gadget", "weight:>4");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["title"], json!("B"));
    assert_eq!(rows[0]["weight"].as_f64(), Some(12.0));
    let plan = s
        .explain(
            "Gadget",
            &QuerySpec {
                filter: parse_text("weight:3.5").unwrap(),
                ..Default::default()
            },
        )
        .unwrap()
        .join("\n");
    assert!(plan.contains("idx Gadget weight"), "{plan}");
}

#[test]
fn adding_a_required_field_to_a_child_doctype_with_rows_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sale = {
        let s = reopen(dir.path());
        let p = party(&s, "Acme", "AC");
        let t = product(&s, "Tea", "TEA", 1.0);
        let sale = insert(
            &s,
            "Sale",
            json!({"party": name_of(&p), "lines": [{"product": name_of(&t), "quantity": 1, "unit_price": 1}]}),
        );
        s.close();
        name_of(&sale)
    };
    write_site_file(
        dir.path(),
        "batch.json",
        json!({"name": "Sale Line", "extend": true,
               "fields": [{"name": "batch", "type": "data", "required": true}]}),
    );
    let msg = refused(dir.path());
    assert!(msg.contains("batch") && msg.contains("required"), "{msg}");
    // As optional it is fine, and the sale can still be edited.
    write_site_file(
        dir.path(),
        "batch.json",
        json!({"name": "Sale Line", "extend": true,
               "fields": [{"name": "batch", "type": "data"}]}),
    );
    let s = reopen(dir.path());
    s.write(ctx("t"), upd("Sale", &sale, 1, json!({"state": "Done"})))
        .unwrap();
}

#[test]
fn changing_a_links_target_while_values_do_not_exist_there_is_refused() {
    let msg = refused_then_restored(
        gadget(json!([{"name": "owner", "type": "link", "link": "Party"}])),
        gadget(json!([{"name": "owner", "type": "link", "link": "Product"}])),
        |s| {
            let p = party(s, "Owner", "OW");
            insert(s, "Gadget", json!({"title": "A", "owner": name_of(&p)}));
        },
    );
    assert!(msg.contains("owner"), "{msg}");
}

#[test]
fn changing_a_links_target_is_allowed_when_every_value_exists_there() {
    let dir = tempfile::tempdir().unwrap();
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "owner", "type": "data"}])),
    );
    let prod = {
        let s = reopen(dir.path());
        let t = product(&s, "Tea", "TEA", 1.0);
        insert(&s, "Gadget", json!({"title": "A", "owner": name_of(&t)}));
        insert(&s, "Gadget", json!({"title": "B"}));
        s.close();
        name_of(&t)
    };
    write_site_file(
        dir.path(),
        "gadget.json",
        gadget(json!([{"name": "owner", "type": "link", "link": "Product"}])),
    );
    let s = reopen(dir.path());
    assert!(matches!(
        s.write(ctx("t"), del("Product", &prod, None)),
        Err(StoreError::InUse { .. })
    ));
}
