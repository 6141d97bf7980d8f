use super::*;

const MINIMAL: &str = r#"
kind = "tryton"
url = "http://127.0.0.1:8000/"
database = "hq"
user = "admin"
password = "s3cret"
[doctypes.Party]
model = "party.party"
[doctypes.Product]
model = "product.product"
"#;

#[test]
fn the_minimal_file_gets_the_built_in_mappings() {
    let c = UpstreamConfig::parse(MINIMAL, Path::new("up.toml")).unwrap();
    assert_eq!(c.kind, Kind::Tryton);
    assert_eq!(c.doctypes["Party"].fields["party_name"], "name");
    assert_eq!(c.doctypes["Party"].key_field(), "code");
    assert_eq!(c.doctypes["Product"].fields["list_price"], "list_price");
    assert_eq!(c.password(), "s3cret");
}

#[test]
fn an_erpnext_file_gets_its_own_mappings_and_needs_no_database() {
    let text = "kind = \"erpnext\"\nurl = \"https://erp.example/\"\nuser = \"key\"\npassword = \"secret\"\n[doctypes.Party]\nmodel = \"Customer\"\n[doctypes.Product]\nmodel = \"Item\"\n";
    let c = UpstreamConfig::parse(text, Path::new("up.toml")).unwrap();
    assert_eq!(c.doctypes["Party"].fields["party_name"], "customer_name");
    assert_eq!(c.doctypes["Party"].key_field(), "party_name");
    assert_eq!(
        c.doctypes["Party"].defaults["customer_group"],
        "All Customer Groups"
    );
    assert_eq!(c.doctypes["Product"].fields["code"], "item_code");
    let sales = UpstreamConfig::parse(
        &format!("{text}[doctypes.Sale]\nmodel = \"Sales Order\"\n"),
        Path::new("up.toml"),
    )
    .unwrap();
    let sale = &sales.doctypes["Sale"];
    assert_eq!(sale.key_field(), "name");
    assert_eq!(sale.fields["name"], "po_no");
    assert_eq!(sale.from_remote["hq_state"], "status");
    assert_eq!(sale.tables["lines"].model, "Sales Order Item");
    assert_eq!(sale.tables["lines"].remote_field("lines"), "items");
    assert_eq!(sale.tables["lines"].fields["product"], "item_code");
    assert_eq!(
        sale.workflow.as_ref().and_then(|w| w.confirm.as_deref()),
        Some("Confirmed")
    );
    // Tryton needs its database name.
    let err = UpstreamConfig::parse(
        &MINIMAL.replace("database = \"hq\"\n", ""),
        Path::new("up.toml"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("database"), "{err}");
}

#[test]
fn every_model_settings_offers_has_a_built_in_mapping() {
    for (kind, doctype, model) in BUILTIN_MODELS {
        assert!(
            builtin(*kind, doctype, model).is_some(),
            "{doctype} {model}"
        );
    }
}

#[test]
fn the_password_never_shows_in_debug_output() {
    let c = UpstreamConfig::parse(MINIMAL, Path::new("up.toml")).unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn a_password_file_is_read_relative_to_the_upstream_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hq.pass"), "from-file\n").unwrap();
    let text = MINIMAL.replace("password = \"s3cret\"", "password_file = \"hq.pass\"");
    let c = UpstreamConfig::parse(&text, &dir.path().join("up.toml")).unwrap();
    assert_eq!(c.password(), "from-file");
}

#[test]
fn a_broken_password_line_is_not_quoted_back() {
    let text = MINIMAL.replace("password = \"s3cret\"", "password = hunter2");
    let err = UpstreamConfig::parse(&text, Path::new("up.toml")).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(err.to_string().contains("line 6"), "{err}");
}

#[test]
fn plain_http_is_refused_beyond_the_office_network_unless_allowed() {
    let at = |url: &str, extra: &str| {
        let text = MINIMAL.replace("http://127.0.0.1:8000/", url).replacen(
            "[doctypes.Party]",
            &format!("{extra}\n[doctypes.Party]"),
            1,
        );
        UpstreamConfig::parse(&text, Path::new("up.toml"))
    };
    let err = at("http://203.0.113.7/", "").unwrap_err().to_string();
    assert!(err.contains("allow_plain_http"), "{err}");
    assert!(err.contains("in clear"), "{err}");
    at("http://203.0.113.7/", "allow_plain_http = true").unwrap();
    for ok in [
        "http://192.168.1.10:8000/",
        "http://127.0.0.1/",
        "http://10.2.3.4/",
        "http://172.31.0.1/",
        "http://169.254.1.1/",
        "http://[::1]:8000/",
        "http://[fd12:3456::1]/",
        "http://localhost:8000/",
        "http://hq.local/",
        "http://erp.lan/",
        "http://hq:8000/",
        "https://203.0.113.7/",
        "https://erp.example.org/",
    ] {
        at(ok, "").unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for refused in [
        "http://172.32.0.1/",
        "http://8.8.8.8/",
        "http://[2001:db8::1]/",
        "http://erp.example.org/",
        "http://hq.local.example.org/",
    ] {
        assert!(at(refused, "").is_err(), "{refused}");
    }
}

#[test]
fn a_ca_file_is_read_relative_to_the_upstream_file_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("up.toml");
    let with = |url: &str, ca: &str| {
        let text = MINIMAL.replace("http://127.0.0.1:8000/", url).replacen(
            "[doctypes.Party]",
            &format!("ca_file = \"{ca}\"\n[doctypes.Party]"),
            1,
        );
        UpstreamConfig::parse(&text, &up)
    };
    // Missing, empty, not PEM, and on a plain http:// url.
    let err = with("https://hq.example/", "none.pem")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot read ca_file"), "{err}");
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let err = with("https://hq.example/", "empty.pem")
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no certificate"), "{err}");
    std::fs::write(
        dir.path().join("bad.pem"),
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = with("https://hq.example/", "bad.pem")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be used as a CA"), "{err}");
    let ca = outpost_e2e::tls::TestCa::new();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    let err = with("http://127.0.0.1/", "ca.pem").unwrap_err().to_string();
    assert!(err.contains("https://"), "{err}");
    let c = with("https://hq.example/", "ca.pem").unwrap();
    assert_eq!(c.ca.len(), 1);
}

#[test]
fn mistakes_are_named() {
    let cases = [
        (
            MINIMAL.replace("kind = \"tryton\"", "kind = \"sap\""),
            "unknown variant",
        ),
        (MINIMAL.replace("password = \"s3cret\"", ""), "password"),
        (MINIMAL.replace("http://", "ftp://"), "http://"),
        (
            MINIMAL.replace("model = \"product.product\"", "model = \"stock.move\""),
            "no built-in mapping",
        ),
        (format!("{MINIMAL}\nbogus = 1\n"), "bogus"),
    ];
    for (text, want) in cases {
        let err = UpstreamConfig::parse(&text, Path::new("up.toml")).unwrap_err();
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
}

#[test]
fn pulled_pages_are_2000_for_tryton_unless_the_file_says_and_within_bounds() {
    let c = UpstreamConfig::parse(MINIMAL, Path::new("up.toml")).unwrap();
    assert_eq!((c.batch_size, c.page_size()), (500, 2000));
    let with = |line: &str| {
        UpstreamConfig::parse(
            &format!("page_size = {line}\n{MINIMAL}"),
            Path::new("up.toml"),
        )
    };
    assert_eq!(with("300").unwrap().page_size(), 300);
    for bad in ["0", "5001"] {
        let e = with(bad).unwrap_err().to_string();
        assert!(e.contains("`page_size` must be between 1 and 5000"), "{e}");
    }
    let erp = "kind = \"erpnext\"\nurl = \"https://erp.example/\"\nuser = \"key\"\npassword = \"secret\"\nbatch_size = 200\n[doctypes.Party]\nmodel = \"Customer\"\n";
    assert_eq!(
        UpstreamConfig::parse(erp, Path::new("up.toml"))
            .unwrap()
            .page_size(),
        200
    );
}
