//! Records: insert/get/update/delete, validation, computed fields, links,
//! the change log and outbox, idempotent request ids and durability.

mod common;

use common::*;
use outpost_store::query::{parse_text, Expr};
use outpost_store::{FieldProblem, QuerySpec, StoreError, Write, WriteCtx};
use serde_json::{json, Value};

fn all() -> Expr {
    Expr::And(vec![])
}

fn expect_field_error(
    r: outpost_store::Result<Value>,
    field: &str,
    problem: FieldProblem,
) -> String {
    match r {
        Err(StoreError::Field {
            field: f,
            problem: p,
            message,
            ..
        }) => {
            assert_eq!(p, problem, "problem for {field}: {message}");
            assert_eq!(f, field, "field named in: {message}");
            message
        }
        other => panic!("expected a {problem:?} error on {field}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// 1. Records
// ---------------------------------------------------------------------------

#[test]
fn insert_returns_uuid_name_rev_1_and_the_writing_device() {
    let (_dir, store) = open();
    let out = store
        .write(
            ctx("till-1"),
            ins(
                "Party",
                json!({"party_name": "Acme", "code": "AC", "city": "Kashgar"}),
            ),
        )
        .unwrap();
    assert!(!out.replayed);
    let rec = out.value;
    let name = name_of(&rec);
    assert!(
        uuid::Uuid::parse_str(&name).is_ok(),
        "name {name} is a UUID"
    );
    assert_eq!(rec["rev"], json!(1));
    assert_eq!(rec["doctype"], json!("Party"));
    assert_eq!(rec["modified_by"], json!("till-1"));
    assert_eq!(rec["party_name"], json!("Acme"));
    assert_eq!(rec["city"], json!("Kashgar"));
    let modified = rec["modified"].as_str().unwrap();
    assert!(
        modified.len() == 24 && modified.ends_with('Z') && modified.contains('T'),
        "modified is a UTC timestamp with milliseconds: {modified}"
    );
    assert_eq!(rec["created"], rec["modified"]);
    assert!(rec.get("deleted").is_none());
}

#[test]
fn get_returns_the_record_as_insert_returned_it() {
    let (_dir, store) = open();
    let rec = party(&store, "Acme", "AC");
    let got = store.get("Party", &name_of(&rec)).unwrap();
    assert_eq!(got, rec);
}

#[test]
fn get_of_a_missing_record_or_unknown_doctype_is_refused() {
    let (_dir, store) = open();
    assert!(matches!(
        store.get("Party", "nope"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get("Spaceship", "x"),
        Err(StoreError::UnknownDoctype(d)) if d == "Spaceship"
    ));
}

#[test]
fn update_with_current_rev_bumps_rev_and_keeps_untouched_fields() {
    let (_dir, store) = open();
    let rec = insert(
        &store,
        "Party",
        json!({"party_name": "Acme", "code": "AC", "city": "Kashgar"}),
    );
    let name = name_of(&rec);
    let out = store
        .write(
            ctx("till-2"),
            upd("Party", &name, 1, json!({"city": "Hotan"})),
        )
        .unwrap()
        .value;
    assert_eq!(out["rev"], json!(2));
    assert_eq!(out["city"], json!("Hotan"));
    assert_eq!(
        out["party_name"],
        json!("Acme"),
        "partial update keeps other fields"
    );
    assert_eq!(out["code"], json!("AC"));
    assert_eq!(out["modified_by"], json!("till-2"));
    assert_eq!(out["created"], rec["created"]);
    assert_eq!(store.get("Party", &name).unwrap(), out);
}

#[test]
fn update_can_clear_a_field_with_null_or_empty_text() {
    let (_dir, store) = open();
    let rec = insert(
        &store,
        "Party",
        json!({"party_name": "Acme", "city": "Kashgar", "email": "a@b.c"}),
    );
    let name = name_of(&rec);
    let out = store
        .write(
            ctx("t"),
            upd("Party", &name, 1, json!({"city": null, "email": ""})),
        )
        .unwrap()
        .value;
    assert_eq!(out["city"], Value::Null);
    assert_eq!(out["email"], Value::Null);
}

#[test]
fn update_with_stale_rev_is_a_conflict_carrying_the_current_record() {
    let (_dir, store) = open();
    let rec = party(&store, "Acme", "AC");
    let name = name_of(&rec);
    let now = store
        .write(
            ctx("till-2"),
            upd("Party", &name, 1, json!({"city": "Hotan"})),
        )
        .unwrap()
        .value;
    let err = store
        .write(
            ctx("till-3"),
            upd("Party", &name, 1, json!({"city": "Aksu"})),
        )
        .unwrap_err();
    match err {
        StoreError::Conflict {
            doctype,
            name: n,
            yours,
            current_rev,
            modified_by,
            current,
        } => {
            assert_eq!(doctype, "Party");
            assert_eq!(n, name);
            assert_eq!(yours, 1);
            assert_eq!(current_rev, 2);
            assert_eq!(modified_by, "till-2");
            assert_eq!(*current, now);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The refused update changed nothing.
    assert_eq!(store.get("Party", &name).unwrap(), now);
}

#[test]
fn update_cannot_rename_a_record() {
    let (_dir, store) = open();
    let rec = party(&store, "Acme", "AC");
    let name = name_of(&rec);
    let err = store
        .write(ctx("t"), upd("Party", &name, 1, json!({"name": "other"})))
        .unwrap_err();
    assert!(matches!(err, StoreError::BadRequest(_)), "{err:?}");
}

#[test]
fn update_or_delete_of_a_missing_record_is_not_found() {
    let (_dir, store) = open();
    assert!(matches!(
        store.write(ctx("t"), upd("Party", "ghost", 1, json!({"city": "x"}))),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.write(ctx("t"), del("Party", "ghost", None)),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn delete_is_a_tombstone_hidden_from_get_query_and_count() {
    let (_dir, store) = open();
    let keep = party(&store, "Keep", "K1");
    let gone = party(&store, "Gone", "G1");
    let gone_name = name_of(&gone);
    let out = store
        .write(ctx("t"), del("Party", &gone_name, Some(1)))
        .unwrap()
        .value;
    assert_eq!(out["rev"], json!(2), "a delete is a new revision");
    assert_eq!(out["deleted"], json!(true));

    assert!(matches!(
        store.get("Party", &gone_name),
        Err(StoreError::Deleted { .. })
    ));
    let rows = store.query("Party", &QuerySpec::default()).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec![name_of(&keep).as_str()]);
    assert_eq!(store.count("Party", &all()).unwrap(), 1);
    assert_eq!(
        store
            .count("Party", &parse_text("code:G1").unwrap())
            .unwrap(),
        0
    );

    // The row is still in the table, flagged.
    let deleted: i64 = raw(&store)
        .query_row(
            "SELECT deleted FROM \"tab Party\" WHERE name = ?",
            [&gone_name],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(deleted, 1);
}

#[test]
fn a_deleted_records_unique_code_can_be_used_again() {
    let (_dir, store) = open();
    let gone = party(&store, "Gone", "DUP");
    store
        .write(ctx("t"), del("Party", &name_of(&gone), None))
        .unwrap();
    let again = party(&store, "Again", "DUP");
    assert_eq!(again["code"], json!("DUP"));
    assert_eq!(store.count("Party", &all()).unwrap(), 1);
}

#[test]
fn delete_with_stale_rev_is_a_conflict() {
    let (_dir, store) = open();
    let rec = party(&store, "Acme", "AC");
    let name = name_of(&rec);
    store
        .write(ctx("t"), upd("Party", &name, 1, json!({"city": "x"})))
        .unwrap();
    assert!(matches!(
        store.write(ctx("t"), del("Party", &name, Some(1))),
        Err(StoreError::Conflict { current_rev: 2, .. })
    ));
    assert!(store.get("Party", &name).is_ok());
}

#[test]
fn deleting_twice_or_updating_a_deleted_record_says_it_was_deleted() {
    let (_dir, store) = open();
    let rec = party(&store, "Acme", "AC");
    let name = name_of(&rec);
    store.write(ctx("t"), del("Party", &name, None)).unwrap();
    assert!(matches!(
        store.write(ctx("t"), del("Party", &name, None)),
        Err(StoreError::Deleted { .. })
    ));
    assert!(matches!(
        store.write(ctx("t"), upd("Party", &name, 2, json!({"city": "x"}))),
        Err(StoreError::Deleted { .. })
    ));
}

#[test]
fn insert_with_a_given_name_keeps_it_and_refuses_a_taken_name() {
    let (_dir, store) = open();
    let rec = insert(
        &store,
        "Party",
        json!({"name": "P-001", "party_name": "Acme"}),
    );
    assert_eq!(rec["name"], json!("P-001"));
    let err = try_insert(
        &store,
        "Party",
        json!({"name": "P-001", "party_name": "Other"}),
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::BadRequest(_)), "{err:?}");
}

#[test]
fn system_fields_sent_on_insert_are_ignored() {
    let (_dir, store) = open();
    let rec = insert(
        &store,
        "Party",
        json!({"party_name": "Acme", "rev": 99, "modified_by": "mallory", "doctype": "Sale"}),
    );
    assert_eq!(rec["rev"], json!(1));
    assert_eq!(rec["modified_by"], json!("test"));
    assert_eq!(rec["doctype"], json!("Party"));
}

#[test]
fn child_doctypes_cannot_be_written_directly() {
    let (_dir, store) = open();
    let err = try_insert(&store, "Sale Line", json!({"quantity": 1})).unwrap_err();
    assert!(matches!(err, StoreError::BadRequest(_)), "{err:?}");
}

// ---------------------------------------------------------------------------
// 2. Validation
// ---------------------------------------------------------------------------

#[test]
fn text_in_a_currency_field_is_wrong_type() {
    let (_dir, store) = open();
    let r = try_insert(
        &store,
        "Product",
        json!({"product_name": "Tea", "list_price": "cheap"}),
    );
    let msg = expect_field_error(r, "list_price", FieldProblem::WrongType);
    assert!(msg.contains("list_price"), "{msg}");
}

#[test]
fn a_number_in_a_data_field_is_wrong_type() {
    let (_dir, store) = open();
    let r = try_insert(&store, "Party", json!({"party_name": 42}));
    expect_field_error(r, "party_name", FieldProblem::WrongType);
}

#[test]
fn a_missing_required_field_is_refused() {
    let (_dir, store) = open();
    let r = try_insert(&store, "Party", json!({"city": "Kashgar"}));
    expect_field_error(r, "party_name", FieldProblem::Missing);
    let r = try_insert(&store, "Party", json!({"party_name": ""}));
    expect_field_error(r, "party_name", FieldProblem::Missing);
    let r = try_insert(&store, "Sale", json!({"state": "Draft"}));
    expect_field_error(r, "party", FieldProblem::Missing);
}

#[test]
fn update_cannot_clear_a_required_field() {
    let (_dir, store) = open();
    let rec = party(&store, "Acme", "AC");
    let r = store
        .write(
            ctx("t"),
            upd("Party", &name_of(&rec), 1, json!({"party_name": null})),
        )
        .map(|o| o.value);
    expect_field_error(r, "party_name", FieldProblem::Missing);
}

#[test]
fn an_unknown_field_is_refused_by_name() {
    let (_dir, store) = open();
    let r = try_insert(
        &store,
        "Party",
        json!({"party_name": "Acme", "colour": "red"}),
    );
    let msg = expect_field_error(r, "colour", FieldProblem::Unknown);
    assert!(
        msg.contains("party_name"),
        "message lists the known fields: {msg}"
    );
}

#[test]
fn a_link_to_a_missing_record_is_broken() {
    let (_dir, store) = open();
    let r = try_insert(&store, "Sale", json!({"party": "nobody"}));
    expect_field_error(r, "party", FieldProblem::BrokenLink);
}

#[test]
fn a_link_to_a_deleted_record_is_broken() {
    let (_dir, store) = open();
    let p = party(&store, "Acme", "AC");
    store
        .write(ctx("t"), del("Party", &name_of(&p), None))
        .unwrap();
    let r = try_insert(&store, "Sale", json!({"party": name_of(&p)}));
    expect_field_error(r, "party", FieldProblem::BrokenLink);
}

#[test]
fn a_broken_link_in_a_child_row_names_the_table_and_row() {
    let (_dir, store) = open();
    let p = party(&store, "Acme", "AC");
    let r = try_insert(
        &store,
        "Sale",
        json!({"party": name_of(&p), "lines": [{"product": "no-such-product", "quantity": 1}]}),
    );
    match r {
        Err(StoreError::Field {
            field,
            problem,
            message,
            ..
        }) => {
            assert_eq!(problem, FieldProblem::BrokenLink);
            assert!(field.contains("lines"), "field {field}");
            assert!(field.contains("product"), "field {field}");
            assert_eq!(field, "lines[1].product");
            assert!(message.contains("lines row 1"), "{message}");
        }
        other => panic!("expected a broken link, got {other:?}"),
    }
    assert_eq!(store.count("Sale", &all()).unwrap(), 0);
}

#[test]
fn a_duplicate_unique_value_is_refused() {
    let (_dir, store) = open();
    party(&store, "First", "SAME");
    let r = try_insert(
        &store,
        "Party",
        json!({"party_name": "Second", "code": "SAME"}),
    );
    expect_field_error(r, "code", FieldProblem::Duplicate);
    assert_eq!(store.count("Party", &all()).unwrap(), 1);
}

#[test]
fn updating_a_record_to_another_records_unique_value_is_refused() {
    let (_dir, store) = open();
    party(&store, "First", "ONE");
    let second = party(&store, "Second", "TWO");
    let r = store
        .write(
            ctx("t"),
            upd("Party", &name_of(&second), 1, json!({"code": "ONE"})),
        )
        .map(|o| o.value);
    expect_field_error(r, "code", FieldProblem::Duplicate);
    // Keeping its own value is fine.
    store
        .write(
            ctx("t"),
            upd(
                "Party",
                &name_of(&second),
                1,
                json!({"code": "TWO", "city": "x"}),
            ),
        )
        .unwrap();
}

#[test]
fn a_select_value_that_is_not_an_option_is_refused() {
    let (_dir, store) = open();
    let r = try_insert(
        &store,
        "Party",
        json!({"party_name": "R2", "kind": "Robot"}),
    );
    let msg = expect_field_error(r, "kind", FieldProblem::NotAnOption);
    assert!(msg.contains("Customer"), "message lists the options: {msg}");
}

#[test]
fn a_select_value_is_stored_with_the_options_spelling() {
    let (_dir, store) = open();
    let rec = insert(
        &store,
        "Party",
        json!({"party_name": "Acme", "kind": "customer"}),
    );
    assert_eq!(rec["kind"], json!("Customer"));
}

#[test]
fn values_are_stored_in_their_types() {
    let (_dir, store) = open();
    let rec = insert(
        &store,
        "Product",
        json!({"product_name": "Tea", "list_price": 1.239, "active": true}),
    );
    assert_eq!(
        rec["list_price"].as_f64(),
        Some(1.24),
        "currency keeps 2 places"
    );
    assert_eq!(rec["active"], json!(true));
    let r = try_insert(
        &store,
        "Product",
        json!({"product_name": "x", "active": "yes"}),
    );
    expect_field_error(r, "active", FieldProblem::WrongType);
    let p = party(&store, "Acme", "AC");
    let r = try_insert(
        &store,
        "Sale",
        json!({"party": name_of(&p), "sale_date": "31/12/2024"}),
    );
    expect_field_error(r, "sale_date", FieldProblem::WrongType);
    let sale = insert(
        &store,
        "Sale",
        json!({"party": name_of(&p), "sale_date": "2024-12-31"}),
    );
    assert_eq!(sale["sale_date"], json!("2024-12-31"));
}

// ---------------------------------------------------------------------------
// 3. Computed fields and child rows
// ---------------------------------------------------------------------------

fn sale_fixture(store: &outpost_store::Store) -> (String, String, String) {
    let p = party(store, "Acme", "AC");
    let a = product(store, "Tea", "TEA", 3.5);
    let b = product(store, "Pot", "POT", 10.0);
    (name_of(&p), name_of(&a), name_of(&b))
}

#[test]
fn sale_line_amounts_and_the_total_are_computed() {
    let (_dir, store) = open();
    let (p, a, b) = sale_fixture(&store);
    let sale = insert(
        &store,
        "Sale",
        json!({"party": p, "lines": [
            {"product": a, "quantity": 2, "unit_price": 3.5},
            {"product": b, "quantity": 1, "unit_price": 10},
        ]}),
    );
    let lines = sale["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["amount"].as_f64(), Some(7.0));
    assert_eq!(lines[1]["amount"].as_f64(), Some(10.0));
    assert_eq!(sale["total"].as_f64(), Some(17.0));
    assert_eq!(store.get("Sale", &name_of(&sale)).unwrap(), sale);
}

#[test]
fn child_rows_come_back_with_names_and_idx_in_order() {
    let (_dir, store) = open();
    let (p, a, b) = sale_fixture(&store);
    let sale = insert(
        &store,
        "Sale",
        json!({"party": p, "lines": [
            {"product": a, "quantity": 2, "unit_price": 3.5},
            {"product": b, "quantity": 1, "unit_price": 10},
        ]}),
    );
    let got = store.get("Sale", &name_of(&sale)).unwrap();
    let lines = got["lines"].as_array().unwrap();
    assert_eq!(lines[0]["idx"], json!(1));
    assert_eq!(lines[1]["idx"], json!(2));
    assert_eq!(lines[0]["product"], json!(a));
    assert_eq!(lines[1]["product"], json!(b));
    let n0 = lines[0]["name"].as_str().unwrap();
    let n1 = lines[1]["name"].as_str().unwrap();
    assert!(!n0.is_empty() && !n1.is_empty() && n0 != n1);
}

#[test]
fn computed_values_sent_by_the_caller_are_overwritten() {
    let (_dir, store) = open();
    let (p, a, _) = sale_fixture(&store);
    let sale = insert(
        &store,
        "Sale",
        json!({"party": p, "total": 1000, "lines": [
            {"product": a, "quantity": 3, "unit_price": 2, "amount": 999},
        ]}),
    );
    assert_eq!(sale["lines"][0]["amount"].as_f64(), Some(6.0));
    assert_eq!(sale["total"].as_f64(), Some(6.0));
}

#[test]
fn a_sale_without_lines_totals_zero() {
    let (_dir, store) = open();
    let (p, _, _) = sale_fixture(&store);
    let sale = insert(&store, "Sale", json!({"party": p}));
    assert_eq!(sale["total"].as_f64(), Some(0.0));
    assert_eq!(sale["lines"], json!([]));
}

#[test]
fn replacing_lines_on_update_recomputes_the_total() {
    let (_dir, store) = open();
    let (p, a, b) = sale_fixture(&store);
    let sale = insert(
        &store,
        "Sale",
        json!({"party": p, "lines": [
            {"product": a, "quantity": 2, "unit_price": 3.5},
            {"product": b, "quantity": 1, "unit_price": 10},
        ]}),
    );
    let name = name_of(&sale);
    let out = store
        .write(
            ctx("t"),
            upd(
                "Sale",
                &name,
                1,
                json!({"lines": [{"product": b, "quantity": 4, "unit_price": 10}]}),
            ),
        )
        .unwrap()
        .value;
    assert_eq!(out["rev"], json!(2));
    assert_eq!(out["lines"].as_array().unwrap().len(), 1);
    assert_eq!(out["lines"][0]["amount"].as_f64(), Some(40.0));
    assert_eq!(out["total"].as_f64(), Some(40.0));
    let got = store.get("Sale", &name).unwrap();
    assert_eq!(got, out);
    // The old rows are gone from the child table.
    assert_eq!(count_rows(&store, "\"tab Sale Line\""), 1);
}

#[test]
fn updating_a_line_in_place_keeps_its_name_and_recomputes() {
    let (_dir, store) = open();
    let (p, a, b) = sale_fixture(&store);
    let sale = insert(
        &store,
        "Sale",
        json!({"party": p, "lines": [
            {"product": a, "quantity": 2, "unit_price": 3.5},
            {"product": b, "quantity": 1, "unit_price": 10},
        ]}),
    );
    let mut lines = sale["lines"].clone();
    lines[0]["quantity"] = json!(4);
    let out = store
        .write(
            ctx("t"),
            upd("Sale", &name_of(&sale), 1, json!({"lines": lines})),
        )
        .unwrap()
        .value;
    assert_eq!(out["lines"][0]["name"], sale["lines"][0]["name"]);
    assert_eq!(out["lines"][0]["amount"].as_f64(), Some(14.0));
    assert_eq!(out["total"].as_f64(), Some(24.0));
}

#[test]
fn updating_other_fields_keeps_the_lines_and_total() {
    let (_dir, store) = open();
    let (p, a, _) = sale_fixture(&store);
    let sale = insert(
        &store,
        "Sale",
        json!({"party": p, "lines": [{"product": a, "quantity": 2, "unit_price": 3.5}]}),
    );
    let out = store
        .write(
            ctx("t"),
            upd("Sale", &name_of(&sale), 1, json!({"state": "Confirmed"})),
        )
        .unwrap()
        .value;
    assert_eq!(out["state"], json!("Confirmed"));
    assert_eq!(out["lines"], sale["lines"]);
    assert_eq!(out["total"].as_f64(), Some(7.0));
}

// ---------------------------------------------------------------------------
// 4. Links block deletes
// ---------------------------------------------------------------------------

#[test]
fn deleting_a_party_used_by_a_live_sale_is_refused() {
    let (_dir, store) = open();
    let (p, _, _) = sale_fixture(&store);
    let sale = insert(&store, "Sale", json!({"party": p}));
    match store.write(ctx("t"), del("Party", &p, None)) {
        Err(StoreError::InUse {
            doctype,
            name,
            used_by_doctype,
            used_by_name,
            field,
        }) => {
            assert_eq!(doctype, "Party");
            assert_eq!(name, p);
            assert_eq!(used_by_doctype, "Sale");
            assert_eq!(used_by_name, name_of(&sale));
            assert_eq!(field, "party");
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    assert!(store.get("Party", &p).is_ok());
}

#[test]
fn deleting_a_product_used_by_a_live_sales_line_is_refused() {
    let (_dir, store) = open();
    let (p, a, b) = sale_fixture(&store);
    let sale = insert(
        &store,
        "Sale",
        json!({"party": p, "lines": [{"product": a, "quantity": 1, "unit_price": 1}]}),
    );
    match store.write(ctx("t"), del("Product", &a, None)) {
        Err(StoreError::InUse {
            used_by_doctype,
            used_by_name,
            field,
            ..
        }) => {
            assert_eq!(used_by_doctype, "Sale");
            assert_eq!(used_by_name, name_of(&sale));
            assert_eq!(field, "product");
        }
        other => panic!("expected InUse, got {other:?}"),
    }
    // An unused product can go.
    store.write(ctx("t"), del("Product", &b, None)).unwrap();
}

#[test]
fn once_the_sale_is_deleted_its_party_and_products_can_be_deleted() {
    let (_dir, store) = open();
    let (p, a, _) = sale_fixture(&store);
    let sale = insert(
        &store,
        "Sale",
        json!({"party": p, "lines": [{"product": a, "quantity": 1, "unit_price": 1}]}),
    );
    store
        .write(ctx("t"), del("Sale", &name_of(&sale), None))
        .unwrap();
    store.write(ctx("t"), del("Product", &a, None)).unwrap();
    store.write(ctx("t"), del("Party", &p, None)).unwrap();
}

// ---------------------------------------------------------------------------
// 5. Change log and outbox
// ---------------------------------------------------------------------------

#[test]
fn each_write_adds_one_change_and_synced_doctypes_one_outbox_row() {
    let (_dir, store) = open();
    assert_eq!(count_rows(&store, "_changes"), 0);
    assert_eq!(store.outbox_pending().unwrap(), 0);

    let p = party(&store, "Acme", "AC");
    assert_eq!(count_rows(&store, "_changes"), 1);
    assert_eq!(count_rows(&store, "_outbox"), 1);

    let pn = name_of(&p);
    store
        .write(ctx("t"), upd("Party", &pn, 1, json!({"city": "x"})))
        .unwrap();
    assert_eq!(count_rows(&store, "_changes"), 2);
    assert_eq!(count_rows(&store, "_outbox"), 2);

    let prod = product(&store, "Tea", "TEA", 1.0);
    assert_eq!(count_rows(&store, "_changes"), 3);
    assert_eq!(count_rows(&store, "_outbox"), 3);

    // Sale is synced too, with its lines in the entry.
    let sale = insert(
        &store,
        "Sale",
        json!({"party": pn, "lines": [{"product": name_of(&prod), "quantity": 1, "unit_price": 1}]}),
    );
    assert_eq!(count_rows(&store, "_changes"), 4);
    assert_eq!(count_rows(&store, "_outbox"), 4);
    store
        .write(
            ctx("t"),
            upd("Sale", &name_of(&sale), 1, json!({"state": "Done"})),
        )
        .unwrap();
    store
        .write(ctx("t"), del("Sale", &name_of(&sale), None))
        .unwrap();
    assert_eq!(count_rows(&store, "_changes"), 6);
    assert_eq!(count_rows(&store, "_outbox"), 6);

    store.write(ctx("t"), del("Party", &pn, None)).unwrap();
    assert_eq!(count_rows(&store, "_changes"), 7);
    assert_eq!(count_rows(&store, "_outbox"), 7);
    assert_eq!(store.outbox_pending().unwrap(), 7);
}

#[test]
fn read_only_fields_are_set_by_the_upstream_sync_only() {
    let (_dir, store) = open();
    let p = party(&store, "Acme", "AC");
    let prod = product(&store, "Tea", "TEA", 1.0);
    let line = json!([{"product": name_of(&prod), "quantity": 1, "unit_price": 1}]);
    // A device's value for the head office's number is ignored.
    let sale = insert(
        &store,
        "Sale",
        json!({"party": name_of(&p), "number": "HQ-1", "hq_state": "Done", "lines": line}),
    );
    assert_eq!(sale["number"], Value::Null);
    assert_eq!(sale["hq_state"], Value::Null);
    let upstream = WriteCtx {
        device: "upstream".into(),
        request_id: None,
        user: None,
        from_upstream: true,
    };
    let out = store
        .write(
            upstream,
            upd(
                "Sale",
                &name_of(&sale),
                1,
                json!({"number": "S-7", "hq_state": "Processing"}),
            ),
        )
        .unwrap();
    assert_eq!(out.value["number"], "S-7");
    let again = store
        .write(
            ctx("t"),
            upd(
                "Sale",
                &name_of(&sale),
                2,
                json!({"number": "mine", "reference": "PO-1"}),
            ),
        )
        .unwrap();
    assert_eq!(
        (
            &again.value["number"],
            &again.value["hq_state"],
            &again.value["reference"]
        ),
        (&json!("S-7"), &json!("Processing"), &json!("PO-1"))
    );
}

#[test]
fn change_log_rows_record_doctype_name_rev_op_and_device() {
    let (_dir, store) = open();
    let p = store
        .write(ctx("till-9"), ins("Party", json!({"party_name": "Acme"})))
        .unwrap()
        .value;
    let pn = name_of(&p);
    store
        .write(ctx("till-8"), upd("Party", &pn, 1, json!({"city": "x"})))
        .unwrap();
    store.write(ctx("till-7"), del("Party", &pn, None)).unwrap();
    let changes = store.changes_since(0, 100).unwrap();
    let summary: Vec<(String, String, i64, String, String)> = changes
        .iter()
        .map(|c| {
            (
                c.doctype.clone(),
                c.name.clone(),
                c.rev,
                c.op.clone(),
                c.device.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "Party".into(),
                pn.clone(),
                1,
                "insert".into(),
                "till-9".into()
            ),
            (
                "Party".into(),
                pn.clone(),
                2,
                "update".into(),
                "till-8".into()
            ),
            (
                "Party".into(),
                pn.clone(),
                3,
                "delete".into(),
                "till-7".into()
            ),
        ]
    );
    assert!(changes.windows(2).all(|w| w[0].seq < w[1].seq));
    let later = store.changes_since(changes[0].seq, 100).unwrap();
    assert_eq!(later.len(), 2);

    // The outbox payload is the record as stored.
    let (op, payload): (String, String) = raw(&store)
        .query_row(
            "SELECT op, payload FROM _outbox ORDER BY seq LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(op, "insert");
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload, p);
}

#[test]
fn a_refused_write_leaves_no_change_or_outbox_row() {
    let (_dir, store) = open();
    party(&store, "Acme", "AC");
    let _ = try_insert(&store, "Party", json!({"party_name": "B", "code": "AC"})).unwrap_err();
    let _ = try_insert(&store, "Party", json!({"city": "nowhere"})).unwrap_err();
    assert_eq!(count_rows(&store, "_changes"), 1);
    assert_eq!(count_rows(&store, "_outbox"), 1);
    assert_eq!(count_rows(&store, "\"tab Party\""), 1);
}

#[test]
fn insert_many_is_all_or_nothing() {
    let (_dir, store) = open();
    let bad = Write::InsertMany {
        doctype: "Party".into(),
        records: vec![
            obj(json!({"party_name": "A"})),
            obj(json!({"party_name": "B", "kind": "Robot"})),
        ],
    };
    let err = store.write(ctx("t"), bad).unwrap_err();
    match err {
        StoreError::Field {
            problem, message, ..
        } => {
            assert_eq!(problem, FieldProblem::NotAnOption);
            assert!(message.contains("record 2"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.count("Party", &all()).unwrap(), 0);
    assert_eq!(count_rows(&store, "_changes"), 0);

    let good = Write::InsertMany {
        doctype: "Party".into(),
        records: vec![
            obj(json!({"party_name": "A"})),
            obj(json!({"party_name": "B"})),
        ],
    };
    let out = store.write(ctx("t"), good).unwrap().value;
    assert_eq!(out["inserted"], json!(2));
    assert_eq!(out["names"].as_array().unwrap().len(), 2);
    assert_eq!(store.count("Party", &all()).unwrap(), 2);
    assert_eq!(count_rows(&store, "_changes"), 2);
}

// ---------------------------------------------------------------------------
// 6. Idempotent request ids
// ---------------------------------------------------------------------------

#[test]
fn a_repeated_request_id_is_answered_from_the_first_result() {
    let (_dir, store) = open();
    let w = ins("Party", json!({"party_name": "Acme", "code": "AC"}));
    let first = store.write(ctx_id("till-1", "r1"), w.clone()).unwrap();
    let second = store.write(ctx_id("till-1", "r1"), w).unwrap();
    assert!(!first.replayed);
    assert!(second.replayed);
    assert_eq!(second.value["name"], first.value["name"]);
    assert_eq!(second.value, first.value);
    assert_eq!(store.count("Party", &all()).unwrap(), 1);
    assert_eq!(count_rows(&store, "_changes"), 1);
    assert_eq!(store.outbox_pending().unwrap(), 1);
}

#[test]
fn request_ids_are_remembered_per_device() {
    let (_dir, store) = open();
    let a = store
        .write(
            ctx_id("till-1", "r1"),
            ins("Party", json!({"party_name": "A"})),
        )
        .unwrap();
    let b = store
        .write(
            ctx_id("till-2", "r1"),
            ins("Party", json!({"party_name": "B"})),
        )
        .unwrap();
    assert!(!b.replayed);
    assert_ne!(a.value["name"], b.value["name"]);
    assert_eq!(store.count("Party", &all()).unwrap(), 2);
}

#[test]
fn a_request_id_reused_for_a_different_op_is_refused() {
    let (_dir, store) = open();
    let rec = store
        .write(
            ctx_id("till-1", "r1"),
            ins("Party", json!({"party_name": "A"})),
        )
        .unwrap()
        .value;
    let err = store
        .write(
            ctx_id("till-1", "r1"),
            upd("Party", &name_of(&rec), 1, json!({"city": "x"})),
        )
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::RequestIdReused(id) if id == "r1"),
        "{err:?}"
    );
    assert_eq!(store.get("Party", &name_of(&rec)).unwrap()["rev"], json!(1));
}

#[test]
fn a_failed_write_does_not_use_up_its_request_id() {
    let (_dir, store) = open();
    let err = store
        .write(
            ctx_id("till-1", "r1"),
            ins("Party", json!({"kind": "Robot"})),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Field { .. }));
    let ok = store
        .write(
            ctx_id("till-1", "r1"),
            ins("Party", json!({"party_name": "Fixed"})),
        )
        .unwrap();
    assert!(!ok.replayed);
    assert_eq!(ok.value["party_name"], json!("Fixed"));
    assert_eq!(store.count("Party", &all()).unwrap(), 1);
}

#[test]
fn a_replayed_update_does_not_conflict_with_its_own_result() {
    let (_dir, store) = open();
    let rec = party(&store, "Acme", "AC");
    let w = upd("Party", &name_of(&rec), 1, json!({"city": "Hotan"}));
    let first = store.write(ctx_id("d", "u1"), w.clone()).unwrap();
    // The reply was lost; the device retries the same update with rev 1.
    let again = store.write(ctx_id("d", "u1"), w).unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, first.value);
    assert_eq!(store.get("Party", &name_of(&rec)).unwrap()["rev"], json!(2));
}

#[test]
fn request_ids_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let w = ins("Party", json!({"party_name": "Acme"}));
    let first = {
        let store = reopen(dir.path());
        let out = store.write(ctx_id("d", "r1"), w.clone()).unwrap();
        store.close();
        out
    };
    let store = reopen(dir.path());
    let again = store.write(ctx_id("d", "r1"), w).unwrap();
    assert!(again.replayed);
    assert_eq!(again.value["name"], first.value["name"]);
    assert_eq!(store.count("Party", &all()).unwrap(), 1);
}

// ---------------------------------------------------------------------------
// 12. Durability basics
// ---------------------------------------------------------------------------

#[test]
fn a_write_is_committed_before_write_returns() {
    let (_dir, store) = open();
    let rec = party(&store, "Acme", "AC");
    // A brand-new connection, as another process would open.
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let (pname, rev): (String, i64) = conn
        .query_row(
            "SELECT party_name, rev FROM \"tab Party\" WHERE name = ?",
            [name_of(&rec)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(pname, "Acme");
    assert_eq!(rev, 1);
    let seqs: i64 = conn
        .query_row("SELECT count(*) FROM _changes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seqs, 1);
}

#[test]
fn the_database_runs_in_wal_mode_and_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let name = {
        let store = reopen(dir.path());
        let rec = party(&store, "Acme", "AC");
        store.close();
        name_of(&rec)
    };
    let store = reopen(dir.path());
    assert_eq!(
        store.get("Party", &name).unwrap()["party_name"],
        json!("Acme")
    );
    let mode: String = raw(&store)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
}

#[test]
fn writes_after_close_are_refused_as_closed() {
    let (_dir, store) = open();
    store.close();
    assert!(matches!(
        store.write(ctx("t"), ins("Party", json!({"party_name": "A"}))),
        Err(StoreError::Closed)
    ));
}

#[test]
fn the_site_id_is_made_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = reopen(dir.path());
        let id = store.site_id().unwrap();
        store.close();
        id
    };
    assert!(!id.is_empty());
    let store = reopen(dir.path());
    assert_eq!(store.site_id().unwrap(), id);
}
