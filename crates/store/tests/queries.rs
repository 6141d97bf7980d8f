//! Queries: the text language, JSON filters, field selection, sorting,
//! paging, grouping, errors, and the indexes the query plans use.

mod common;

use common::*;
use outpost_store::query::{parse_json, parse_text, QueryError};
use outpost_store::{QuerySpec, SortKey, Store, StoreError};
use serde_json::{json, Value};
use tempfile::TempDir;

/// Parties and products with known values to query over.
fn fixture() -> (TempDir, Store) {
    let (dir, store) = open();
    for (name, code, city, kind, email) in [
        (
            "Acme Trading",
            "P01",
            "Kashgar",
            "Customer",
            "acme@example.com",
        ),
        (
            "Acorn Foods",
            "P02",
            "Kashgar",
            "Supplier",
            "acorn@example.com",
        ),
        ("Bazaar House", "P03", "Hotan", "Customer", ""),
        ("Camel & Co", "P04", "Aksu", "Both", "camel@example.com"),
        ("Desert Rose", "P05", "Hotan", "Customer", ""),
        (
            "New York Deli",
            "P06",
            "New York",
            "Supplier",
            "deli@example.com",
        ),
        ("NoCity Ltd", "P07", "", "Customer", ""),
    ] {
        insert(
            &store,
            "Party",
            json!({"party_name": name, "code": code, "city": city, "kind": kind, "email": email}),
        );
    }
    for (name, code, unit, price) in [
        ("Green Tea", "T1", "kg", 120.0),
        ("Black Tea", "T2", "kg", 80.0),
        ("Teapot", "T3", "piece", 250.0),
        ("Cup", "T4", "piece", 15.5),
        ("Sugar", "T5", "kg", 4.5),
        ("Spoon", "T6", "piece", 100.0),
    ] {
        insert(
            &store,
            "Product",
            json!({"product_name": name, "code": code, "unit": unit, "list_price": price}),
        );
    }
    (dir, store)
}

fn text(q: &str) -> QuerySpec {
    QuerySpec {
        filter: parse_text(q).unwrap_or_else(|e| panic!("{q:?}: {e}")),
        limit: Some(1000),
        ..Default::default()
    }
}

fn filters(v: Value) -> QuerySpec {
    QuerySpec {
        filter: parse_json(&v).unwrap_or_else(|e| panic!("{v}: {e}")),
        limit: Some(1000),
        ..Default::default()
    }
}

/// Values of `key` in the rows, sorted (for order-free comparison).
fn col(rows: &[Value], key: &str) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .map(|r| match &r[key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    v.sort();
    v
}

fn codes(store: &Store, doctype: &str, spec: &QuerySpec) -> Vec<String> {
    col(&store.query(doctype, spec).unwrap(), "code")
}

fn party_codes(store: &Store, q: &str) -> Vec<String> {
    codes(store, "Party", &text(q))
}

fn product_codes(store: &Store, q: &str) -> Vec<String> {
    codes(store, "Product", &text(q))
}

fn v(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------
// Text language
// ---------------------------------------------------------------------------

#[test]
fn key_value_matches_equal_values() {
    let (_d, s) = fixture();
    assert_eq!(party_codes(&s, "city:Kashgar"), v(&["P01", "P02"]));
    assert_eq!(party_codes(&s, "city:=Hotan"), v(&["P03", "P05"]));
    assert_eq!(party_codes(&s, "kind:Both"), v(&["P04"]));
}

#[test]
fn text_matching_ignores_case() {
    let (_d, s) = fixture();
    assert_eq!(party_codes(&s, "city:kashgar"), v(&["P01", "P02"]));
    assert_eq!(party_codes(&s, "city:KASHGAR"), v(&["P01", "P02"]));
    assert_eq!(party_codes(&s, "party_name:ac%"), v(&["P01", "P02"]));
    assert_eq!(party_codes(&s, "party_name:%TEA%"), Vec::<String>::new());
    assert_eq!(
        product_codes(&s, "product_name:%TEA%"),
        v(&["T1", "T2", "T3"])
    );
}

#[test]
fn quoted_values_may_hold_spaces() {
    let (_d, s) = fixture();
    assert_eq!(party_codes(&s, "city:\"New York\""), v(&["P06"]));
    assert_eq!(party_codes(&s, "party_name:\"Camel & Co\""), v(&["P04"]));
}

#[test]
fn percent_is_a_prefix_or_infix_wildcard() {
    let (_d, s) = fixture();
    assert_eq!(party_codes(&s, "party_name:Ac%"), v(&["P01", "P02"]));
    assert_eq!(party_codes(&s, "party_name:\"Ac%\""), v(&["P01", "P02"]));
    assert_eq!(party_codes(&s, "party_name:%Rose"), v(&["P05"]));
    assert_eq!(party_codes(&s, "party_name:%a%House"), v(&["P03"]));
    assert_eq!(party_codes(&s, "party_name:%or%"), v(&["P02", "P06"]));
    assert_eq!(
        party_codes(&s, "email:%@example.com"),
        v(&["P01", "P02", "P04", "P06"])
    );
}

#[test]
fn underscore_and_escaped_percent_are_literal() {
    let (_d, s) = fixture();
    insert(
        &s,
        "Party",
        json!({"party_name": "100% Cotton", "code": "X1"}),
    );
    insert(&s, "Party", json!({"party_name": "A_B", "code": "X2"}));
    insert(&s, "Party", json!({"party_name": "AxB", "code": "X3"}));
    assert_eq!(party_codes(&s, "party_name:100\\%%"), v(&["X1"]));
    assert_eq!(party_codes(&s, "party_name:A_%"), v(&["X2"]));
    assert_eq!(party_codes(&s, "party_name:A_B"), v(&["X2"]));
}

#[test]
fn not_equal_wildcard_excludes_matches_and_keeps_empty_values() {
    let (_d, s) = fixture();
    assert_eq!(
        party_codes(&s, "city:!=K%"),
        v(&["P03", "P04", "P05", "P06", "P07"])
    );
}

#[test]
fn numeric_comparisons_compare_numbers() {
    let (_d, s) = fixture();
    assert_eq!(product_codes(&s, "list_price:>100"), v(&["T1", "T3"]));
    assert_eq!(
        product_codes(&s, "list_price:>=100"),
        v(&["T1", "T3", "T6"])
    );
    assert_eq!(product_codes(&s, "list_price:<15.5"), v(&["T5"]));
    assert_eq!(product_codes(&s, "list_price:<=15.5"), v(&["T4", "T5"]));
    assert_eq!(product_codes(&s, "list_price:=100"), v(&["T6"]));
    assert_eq!(product_codes(&s, "list_price:100"), v(&["T6"]));
    assert_eq!(
        product_codes(&s, "list_price:!=100"),
        v(&["T1", "T2", "T3", "T4", "T5"])
    );
    // 9 < 80 as numbers even though "9" > "80" as text.
    assert_eq!(
        product_codes(&s, "list_price:>9"),
        v(&["T1", "T2", "T3", "T4", "T6"])
    );
}

#[test]
fn text_comparisons_order_alphabetically() {
    let (_d, s) = fixture();
    assert_eq!(party_codes(&s, "city:<H"), v(&["P04"]));
    assert_eq!(party_codes(&s, "city:>=Kashgar"), v(&["P01", "P02", "P06"]));
}

#[test]
fn not_equal_includes_records_without_a_value() {
    let (_d, s) = fixture();
    assert_eq!(
        party_codes(&s, "city:!=Kashgar"),
        v(&["P03", "P04", "P05", "P06", "P07"])
    );
}

#[test]
fn and_or_not_and_parentheses_combine() {
    let (_d, s) = fixture();
    assert_eq!(
        party_codes(&s, "city:Kashgar AND kind:Customer"),
        v(&["P01"])
    );
    assert_eq!(party_codes(&s, "city:Kashgar kind:Customer"), v(&["P01"]));
    assert_eq!(
        party_codes(&s, "city:Aksu OR city:Hotan"),
        v(&["P03", "P04", "P05"])
    );
    assert_eq!(
        party_codes(&s, "NOT kind:Customer"),
        v(&["P02", "P04", "P06"])
    );
    assert_eq!(
        party_codes(&s, "(city:Kashgar OR city:Hotan) AND kind:Customer"),
        v(&["P01", "P03", "P05"])
    );
    // AND binds tighter than OR.
    assert_eq!(
        party_codes(&s, "city:Kashgar OR city:Hotan AND kind:Customer"),
        v(&["P01", "P02", "P03", "P05"])
    );
    assert_eq!(
        party_codes(&s, "city:Kashgar AND NOT (kind:Supplier OR kind:Both)"),
        v(&["P01"])
    );
    assert_eq!(
        party_codes(&s, "city:hotan and not kind:supplier"),
        v(&["P03", "P05"])
    );
}

#[test]
fn a_bare_word_searches_the_title_field() {
    let (_d, s) = fixture();
    assert_eq!(party_codes(&s, "acorn"), v(&["P02"]));
    assert_eq!(party_codes(&s, "\"desert rose\""), v(&["P05"]));
    assert_eq!(product_codes(&s, "tea"), v(&["T1", "T2", "T3"]));
}

#[test]
fn an_empty_query_matches_every_live_record() {
    let (_d, s) = fixture();
    assert_eq!(party_codes(&s, "").len(), 7);
    assert_eq!(s.count("Party", &parse_text("").unwrap()).unwrap(), 7);
}

#[test]
fn system_fields_can_be_queried() {
    let (_d, s) = fixture();
    assert_eq!(party_codes(&s, "rev:1").len(), 7);
    assert_eq!(party_codes(&s, "modified_by:test").len(), 7);
    let one = &s.query("Party", &text("code:P01")).unwrap()[0];
    let q = format!("name:\"{}\"", one["name"].as_str().unwrap());
    assert_eq!(party_codes(&s, &q), v(&["P01"]));
}

#[test]
fn values_are_parameters_not_sql() {
    let (_d, s) = fixture();
    assert!(party_codes(&s, "city:\"x' OR 1=1 --\"").is_empty());
    assert_eq!(s.count("Party", &parse_text("").unwrap()).unwrap(), 7);
}

// ---------------------------------------------------------------------------
// JSON filters
// ---------------------------------------------------------------------------

#[test]
fn json_triples_filter_like_text() {
    let (_d, s) = fixture();
    assert_eq!(
        codes(&s, "Product", &filters(json!([["list_price", ">", 100]]))),
        v(&["T1", "T3"])
    );
    assert_eq!(
        codes(
            &s,
            "Product",
            &filters(json!([["list_price", ">", 10], ["unit", "=", "kg"]]))
        ),
        v(&["T1", "T2"])
    );
    assert_eq!(
        codes(
            &s,
            "Party",
            &filters(json!([["party_name", "like", "ac%"]]))
        ),
        v(&["P01", "P02"])
    );
    assert_eq!(
        codes(&s, "Party", &filters(json!({"city": "Hotan"}))),
        v(&["P03", "P05"])
    );
    assert_eq!(
        codes(
            &s,
            "Party",
            &filters(json!({"city": ["!=", "Hotan"], "kind": "Customer"}))
        ),
        v(&["P01", "P07"])
    );
}

#[test]
fn json_or_and_not_objects() {
    let (_d, s) = fixture();
    assert_eq!(
        codes(
            &s,
            "Party",
            &filters(json!({"or": [["city", "=", "Aksu"], ["city", "=", "Hotan"]]}))
        ),
        v(&["P03", "P04", "P05"])
    );
    assert_eq!(
        codes(
            &s,
            "Party",
            &filters(json!([
                {"or": [["kind", "=", "Supplier"], ["kind", "=", "Both"]]},
                {"not": ["city", "=", "Aksu"]}
            ]))
        ),
        v(&["P02", "P06"])
    );
}

#[test]
fn json_in_and_not_in() {
    let (_d, s) = fixture();
    assert_eq!(
        codes(
            &s,
            "Party",
            &filters(json!([["city", "in", ["Aksu", "hotan"]]]))
        ),
        v(&["P03", "P04", "P05"])
    );
    assert_eq!(
        codes(
            &s,
            "Party",
            &filters(json!([["city", "in", "Aksu, Hotan"]]))
        ),
        v(&["P03", "P04", "P05"])
    );
    assert_eq!(
        codes(
            &s,
            "Product",
            &filters(json!([["list_price", "in", [80, 100]]]))
        ),
        v(&["T2", "T6"])
    );
    assert_eq!(
        codes(
            &s,
            "Party",
            &filters(json!([["city", "not in", ["Kashgar", "Hotan"]]]))
        ),
        v(&["P04", "P06", "P07"])
    );
    assert!(codes(&s, "Party", &filters(json!([["city", "in", []]]))).is_empty());
}

#[test]
fn json_null_means_no_value() {
    let (_d, s) = fixture();
    assert_eq!(
        codes(&s, "Party", &filters(json!([["city", "=", null]]))),
        v(&["P07"])
    );
    assert_eq!(
        codes(&s, "Party", &filters(json!([["email", "!=", null]]))),
        v(&["P01", "P02", "P04", "P06"])
    );
}

#[test]
fn json_filters_with_a_bad_shape_carry_their_path() {
    let e = parse_json(&json!([["city", "~", "x"]])).unwrap_err();
    assert_eq!(e.position, 1);
    assert_eq!(
        e.path, "filters[0][1]",
        "the operator of the first condition"
    );
    let e = parse_json(&json!([["a", "=", 1], ["city", "="]])).unwrap_err();
    assert_eq!(e.position, 2);
    assert!(parse_json(&json!("city")).is_err());
}

// ---------------------------------------------------------------------------
// Field selection, sorting, paging, grouping
// ---------------------------------------------------------------------------

#[test]
fn fields_select_only_those_columns() {
    let (_d, s) = fixture();
    let rows = s
        .query(
            "Party",
            &QuerySpec {
                fields: vec!["name".into(), "party_name".into(), "city".into()],
                ..text("code:P01")
            },
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
    let obj = rows[0].as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["city", "name", "party_name"]);
    assert_eq!(obj["party_name"], json!("Acme Trading"));
}

#[test]
fn without_fields_every_column_but_child_tables_comes_back() {
    let (_d, s) = fixture();
    let row = &s.query("Party", &text("code:P01")).unwrap()[0];
    for key in [
        "name",
        "rev",
        "created",
        "modified",
        "modified_by",
        "party_name",
        "code",
        "kind",
        "email",
        "phone",
        "city",
        "country",
        "notes",
    ] {
        assert!(row.get(key).is_some(), "row has {key}: {row}");
    }
    assert_eq!(row["rev"], json!(1));
}

#[test]
fn selected_values_keep_their_types() {
    let (_d, s) = fixture();
    insert(
        &s,
        "Product",
        json!({"product_name": "Flag", "code": "F1", "active": true, "list_price": 2}),
    );
    let row = &s
        .query(
            "Product",
            &QuerySpec {
                fields: vec!["active".into(), "list_price".into(), "rev".into()],
                ..text("code:F1")
            },
        )
        .unwrap()[0];
    assert_eq!(row["active"], json!(true));
    assert_eq!(row["list_price"].as_f64(), Some(2.0));
    assert_eq!(row["rev"], json!(1));
}

fn sorted(s: &Store, doctype: &str, keys: &[&str]) -> Vec<Value> {
    s.query(
        doctype,
        &QuerySpec {
            sort: keys.iter().map(|k| SortKey::parse(k).unwrap()).collect(),
            limit: Some(1000),
            ..Default::default()
        },
    )
    .unwrap()
}

fn in_order(rows: &[Value], key: &str) -> Vec<String> {
    rows.iter()
        .map(|r| match &r[key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn sorting_by_several_keys_ascending_and_descending() {
    let (_d, s) = fixture();
    let rows = sorted(&s, "Product", &["unit", "list_price:desc"]);
    assert_eq!(
        in_order(&rows, "code"),
        v(&["T1", "T2", "T5", "T3", "T6", "T4"])
    );
    let rows = sorted(&s, "Product", &["-unit", "list_price"]);
    assert_eq!(
        in_order(&rows, "code"),
        v(&["T4", "T6", "T3", "T5", "T2", "T1"])
    );
    let rows = sorted(&s, "Party", &["city:asc", "code:desc"]);
    assert_eq!(
        in_order(&rows, "code"),
        v(&["P07", "P04", "P05", "P03", "P02", "P01", "P06"]),
        "no city sorts first, then alphabetically"
    );
}

#[test]
fn the_default_order_is_most_recently_modified_first() {
    let (_d, s) = fixture();
    let rows = s.query("Party", &text("")).unwrap();
    let mods = in_order(&rows, "modified");
    let mut expect = mods.clone();
    expect.sort_by(|a, b| b.cmp(a));
    assert_eq!(mods, expect);
}

#[test]
fn limit_and_offset_page_through_results() {
    let (_d, s) = fixture();
    let page = |offset: u32| {
        let rows = s
            .query(
                "Product",
                &QuerySpec {
                    sort: vec![SortKey::parse("code").unwrap()],
                    limit: Some(4),
                    offset,
                    ..Default::default()
                },
            )
            .unwrap();
        in_order(&rows, "code")
    };
    assert_eq!(page(0), v(&["T1", "T2", "T3", "T4"]));
    assert_eq!(page(4), v(&["T5", "T6"]));
    assert!(page(8).is_empty());
}

#[test]
fn a_limit_beyond_the_maximum_is_refused() {
    let (_d, s) = fixture();
    let err = s
        .query(
            "Party",
            &QuerySpec {
                limit: Some(1_000_000),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Query(QueryError::BadArgument(_))),
        "{err:?}"
    );
}

#[test]
fn group_by_counts_records_per_value() {
    let (_d, s) = fixture();
    let rows = s
        .query(
            "Party",
            &QuerySpec {
                group_by: Some("city".into()),
                sort: vec![
                    SortKey::parse("count:desc").unwrap(),
                    SortKey::parse("city").unwrap(),
                ],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![
            json!({"city": "Hotan", "count": 2}),
            json!({"city": "Kashgar", "count": 2}),
            json!({"city": null, "count": 1}),
            json!({"city": "Aksu", "count": 1}),
            json!({"city": "New York", "count": 1}),
        ]
    );
}

#[test]
fn group_by_sums_numeric_fields_per_group() {
    let (_d, s) = fixture();
    let rows = s
        .query(
            "Product",
            &QuerySpec {
                group_by: Some("unit".into()),
                sums: vec!["list_price".into()],
                sort: vec![SortKey::parse("unit").unwrap()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["unit"], json!("kg"));
    assert_eq!(rows[0]["count"], json!(3));
    assert_eq!(rows[0]["sum_list_price"].as_f64(), Some(204.5));
    assert_eq!(rows[1]["unit"], json!("piece"));
    assert_eq!(rows[1]["count"], json!(3));
    assert_eq!(rows[1]["sum_list_price"].as_f64(), Some(365.5));
}

#[test]
fn group_by_respects_the_filter_and_skips_deleted_records() {
    let (_d, s) = fixture();
    let cup = &s.query("Product", &text("code:T4")).unwrap()[0];
    s.write(
        ctx("t"),
        del("Product", cup["name"].as_str().unwrap(), None),
    )
    .unwrap();
    let rows = s
        .query(
            "Product",
            &QuerySpec {
                group_by: Some("unit".into()),
                sums: vec!["list_price".into()],
                sort: vec![SortKey::parse("unit").unwrap()],
                ..text("list_price:>50")
            },
        )
        .unwrap();
    assert_eq!(rows[0]["count"], json!(2));
    assert_eq!(rows[0]["sum_list_price"].as_f64(), Some(200.0));
    assert_eq!(rows[1]["count"], json!(2));
    assert_eq!(rows[1]["sum_list_price"].as_f64(), Some(350.0));
}

#[test]
fn summing_a_text_field_or_summing_without_group_by_is_refused() {
    let (_d, s) = fixture();
    let err = s
        .query(
            "Product",
            &QuerySpec {
                group_by: Some("unit".into()),
                sums: vec!["product_name".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Query(QueryError::BadArgument(_))));
    let err = s
        .query(
            "Product",
            &QuerySpec {
                sums: vec!["list_price".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Query(QueryError::BadArgument(_))));
}

#[test]
fn count_counts_matching_live_records() {
    let (_d, s) = fixture();
    assert_eq!(
        s.count("Party", &parse_text("city:Kashgar").unwrap())
            .unwrap(),
        2
    );
    assert_eq!(
        s.count(
            "Product",
            &parse_json(&json!([["list_price", ">=", 100]])).unwrap()
        )
        .unwrap(),
        3
    );
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn an_unclosed_quote_is_a_syntax_error_with_a_position() {
    let e = parse_text("city:\"Kash").unwrap_err();
    assert_eq!(e.position, 11, "{e}");
    assert!(e.expected.contains('"'), "{e}");
    let e = parse_text("city:Kashgar AND").unwrap_err();
    assert_eq!(e.position, 17, "{e}");
    let e = parse_text("(city:Kashgar").unwrap_err();
    assert_eq!(e.expected, "')'");
    let e = parse_text("city:").unwrap_err();
    assert_eq!(e.position, 6);
}

#[test]
fn syntax_errors_reach_the_caller_as_query_errors() {
    // What the api layer does: parse, then wrap.
    let err: StoreError = parse_text("city:\"Kash")
        .map_err(QueryError::from)
        .unwrap_err()
        .into();
    match err {
        StoreError::Query(QueryError::Syntax(s)) => assert_eq!(s.position, 11),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unknown_field_is_refused_naming_the_known_fields() {
    let (_d, s) = fixture();
    match s.query("Party", &text("colour:red")).unwrap_err() {
        StoreError::Query(QueryError::UnknownField {
            doctype,
            field,
            known,
        }) => {
            assert_eq!(doctype, "Party");
            assert_eq!(field, "colour");
            assert!(known.contains("party_name"), "{known}");
        }
        other => panic!("{other:?}"),
    }
    // Also in fields, sort and group_by.
    for spec in [
        QuerySpec {
            fields: vec!["colour".into()],
            ..Default::default()
        },
        QuerySpec {
            sort: vec![SortKey::parse("colour").unwrap()],
            ..Default::default()
        },
        QuerySpec {
            group_by: Some("colour".into()),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            s.query("Party", &spec),
            Err(StoreError::Query(QueryError::UnknownField { .. }))
        ));
    }
    assert!(matches!(
        s.count("Party", &parse_text("colour:red").unwrap()),
        Err(StoreError::Query(QueryError::UnknownField { .. }))
    ));
}

#[test]
fn a_non_number_for_a_numeric_field_is_a_bad_value() {
    let (_d, s) = fixture();
    match s.query("Product", &text("list_price:abc")).unwrap_err() {
        StoreError::Query(QueryError::BadValue(m)) => {
            assert!(m.contains("list_price"), "{m}");
            assert!(m.contains("abc"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.query("Product", &text("list_price:1%")),
        Err(StoreError::Query(QueryError::BadValue(_)))
    ));
    assert!(matches!(
        s.query("Product", &text("active:maybe")),
        Err(StoreError::Query(QueryError::BadValue(_)))
    ));
}

#[test]
fn querying_a_table_field_or_unknown_doctype_is_refused() {
    let (_d, s) = fixture();
    assert!(matches!(
        s.query("Sale", &text("lines:x")),
        Err(StoreError::Query(QueryError::BadArgument(_)))
    ));
    assert!(matches!(
        s.query("Spaceship", &text("")),
        Err(StoreError::UnknownDoctype(_))
    ));
}

#[test]
fn dates_compare_as_dates() {
    let (_d, s) = fixture();
    let p = &s.query("Party", &text("code:P01")).unwrap()[0];
    let pn = p["name"].as_str().unwrap();
    for d in ["2024-01-15", "2024-02-01", "2024-03-10"] {
        insert(
            &s,
            "Sale",
            json!({"party": pn, "sale_date": d, "reference": d}),
        );
    }
    let rows = s.query("Sale", &text("sale_date:>=2024-02-01")).unwrap();
    assert_eq!(col(&rows, "reference"), v(&["2024-02-01", "2024-03-10"]));
    assert!(matches!(
        s.query("Sale", &text("sale_date:>soon")),
        Err(StoreError::Query(QueryError::BadValue(_)))
    ));
}

// ---------------------------------------------------------------------------
// 10. Query plans
// ---------------------------------------------------------------------------

fn many_parties() -> (TempDir, Store) {
    let (dir, store) = open();
    let cities = ["Kashgar", "Hotan", "Aksu", "Turpan", "Urumqi"];
    let records: Vec<_> = (0..400)
        .map(|i| {
            obj(json!({
                "party_name": format!("Party {i:03}"),
                "code": format!("C{i:03}"),
                "city": cities[i % cities.len()],
                "email": format!("p{i}@example.com"),
            }))
        })
        .collect();
    store
        .write(
            ctx("t"),
            outpost_store::Write::InsertMany {
                doctype: "Party".into(),
                records,
            },
        )
        .unwrap();
    (dir, store)
}

fn plan(s: &Store, spec: &QuerySpec) -> String {
    s.explain("Party", spec).unwrap().join("\n")
}

fn uses_index(plan: &str, index: &str) -> bool {
    (plan.contains("USING INDEX") || plan.contains("USING COVERING INDEX")) && plan.contains(index)
}

#[test]
fn a_city_filter_sorted_by_modified_uses_the_city_index() {
    let (_d, s) = many_parties();
    let spec = QuerySpec {
        filter: parse_text("city:Kashgar").unwrap(),
        sort: vec![SortKey::parse("modified:desc").unwrap()],
        limit: Some(50),
        ..Default::default()
    };
    let p = plan(&s, &spec);
    assert!(uses_index(&p, "idx Party city"), "{p}");
    assert!(
        !p.contains("TEMP B-TREE"),
        "the index gives the order too: {p}"
    );
    assert_eq!(s.query("Party", &spec).unwrap().len(), 50);
}

#[test]
fn a_prefix_pattern_uses_the_title_index() {
    let (_d, s) = many_parties();
    let spec = QuerySpec {
        filter: parse_text("party_name:\"Pa%\"").unwrap(),
        ..Default::default()
    };
    let p = plan(&s, &spec);
    assert!(uses_index(&p, "idx Party party_name"), "{p}");
    let spec = QuerySpec {
        filter: parse_text("party_name:\"party 01%\"").unwrap(),
        limit: Some(1000),
        ..Default::default()
    };
    assert_eq!(s.query("Party", &spec).unwrap().len(), 10);
}

#[test]
fn a_code_lookup_uses_the_unique_index() {
    let (_d, s) = many_parties();
    let spec = QuerySpec {
        filter: parse_text("code:C123").unwrap(),
        ..Default::default()
    };
    let p = plan(&s, &spec);
    assert!(uses_index(&p, "uniq Party code"), "{p}");
    assert_eq!(s.query("Party", &spec).unwrap().len(), 1);
}

#[test]
fn a_filter_on_a_field_without_index_scans_the_table() {
    let (_d, s) = many_parties();
    let spec = QuerySpec {
        filter: parse_text("email:p7@example.com").unwrap(),
        ..Default::default()
    };
    let p = plan(&s, &spec);
    assert!(p.contains("SCAN"), "{p}");
    assert!(!p.contains("email"), "no index on email: {p}");
    assert_eq!(s.query("Party", &spec).unwrap().len(), 1);
}

#[test]
fn a_link_filter_uses_the_links_index() {
    let (_d, s) = many_parties();
    let p = &s.query("Party", &text("code:C001")).unwrap()[0];
    let pn = p["name"].as_str().unwrap().to_string();
    insert(&s, "Sale", json!({"party": pn}));
    let spec = QuerySpec {
        filter: parse_text(&format!("party:\"{pn}\"")).unwrap(),
        ..Default::default()
    };
    let plan = s.explain("Sale", &spec).unwrap().join("\n");
    assert!(uses_index(&plan, "idx Sale party"), "{plan}");
}

#[test]
fn prefix_and_infix_patterns_agree_on_case_for_system_columns() {
    let (_d, s) = fixture();
    // "X", not a hex digit: the fixture's other Parties are named by UUID,
    // and "-00" turns up in one of those now and then.
    insert(
        &s,
        "Party",
        json!({"name": "P-X01", "party_name": "Named", "code": "N1"}),
    );
    insert(
        &s,
        "Party",
        json!({"name": "p-x02", "party_name": "Lower", "code": "N2"}),
    );
    assert_eq!(party_codes(&s, "name:%-x0%"), v(&["N1", "N2"]));
    assert_eq!(party_codes(&s, "name:p-x0%"), v(&["N1", "N2"]));
    assert_eq!(party_codes(&s, "name:P-X0%"), v(&["N1", "N2"]));
    assert_eq!(
        party_codes(&s, "modified_by:TE%"),
        party_codes(&s, "modified_by:%TE%")
    );
}
