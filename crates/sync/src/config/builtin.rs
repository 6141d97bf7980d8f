//! The built-in mappings: what a doctype syncs as when the upstream file
//! names only its model (fields, key, defaults, child tables, workflow).

use std::collections::BTreeMap;

use super::{DoctypeMap, Kind, TableMap, Workflow};

/// What a doctype syncs as when the file names only its model.
pub(super) struct Builtin {
    fields: &'static [(&'static str, &'static str)],
    key: &'static str,
    defaults: &'static [(&'static str, &'static str)],
    from_remote: &'static [(&'static str, &'static str)],
    /// (Outpost table, remote row model, remote field, row fields)
    tables: &'static [BuiltinTable],
    /// (field, confirm value, cancel value)
    workflow: Option<(&'static str, &'static str, &'static str)>,
}

type BuiltinTable = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

impl Builtin {
    /// Fills what the file left out of `map` from this mapping (the file's
    /// own key, defaults, tables and workflow win).
    pub(super) fn fill(&self, map: &mut DoctypeMap) {
        let pairs = |p: &[(&str, &str)]| -> BTreeMap<String, String> {
            p.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        map.fields = pairs(self.fields);
        if map.key.is_none() {
            map.key = Some(self.key.to_string());
        }
        for (k, v) in self.defaults {
            map.defaults
                .entry(k.to_string())
                .or_insert_with(|| serde_json::json!(v));
        }
        if map.from_remote.is_empty() {
            map.from_remote = pairs(self.from_remote);
        }
        if map.tables.is_empty() {
            for (ours, model, field, fields) in self.tables {
                map.tables.insert(
                    ours.to_string(),
                    TableMap {
                        model: model.to_string(),
                        field: Some(field.to_string()),
                        fields: pairs(fields),
                        links: BTreeMap::new(),
                    },
                );
            }
        }
        if map.workflow.is_none() {
            map.workflow = self.workflow.map(|(field, confirm, cancel)| Workflow {
                field: field.to_string(),
                confirm: Some(confirm.to_string()),
                cancel: Some(cancel.to_string()),
            });
        }
    }

    const fn plain(
        fields: &'static [(&'static str, &'static str)],
        key: &'static str,
        defaults: &'static [(&'static str, &'static str)],
    ) -> Builtin {
        Builtin {
            fields,
            key,
            defaults,
            from_remote: &[],
            tables: &[],
            workflow: None,
        }
    }
}

/// The starter doctypes that sync with a built-in mapping, and the remote
/// model each maps to, per ERP: what Settings offers to tick. (Each has
/// its entry in [`builtin`].)
pub const BUILTIN_MODELS: &[(Kind, &str, &str)] = &[
    (Kind::Tryton, "Party", "party.party"),
    (Kind::Tryton, "Product", "product.product"),
    (Kind::Tryton, "Sale", "sale.sale"),
    (Kind::Erpnext, "Party", "Customer"),
    (Kind::Erpnext, "Product", "Item"),
];

/// Built-in mappings for the starter doctypes (Outpost field → remote
/// field; `active` names the remote record's active flag).
pub(super) fn builtin(kind: Kind, doctype: &str, model: &str) -> Option<Builtin> {
    match (kind, doctype, model) {
        (Kind::Tryton, "Party", "party.party") => Some(Builtin::plain(
            &[("party_name", "name"), ("code", "code")],
            "code",
            &[],
        )),
        // Synced through the template (see the Tryton connector); the cost
        // price is kept per variant and company there, and is left out.
        (Kind::Tryton, "Product", "product.product" | "product.template") => Some(Builtin::plain(
            &[
                ("product_name", "name"),
                ("code", "code"),
                ("list_price", "list_price"),
                ("active", "active"),
            ],
            "code",
            &[],
        )),
        // A Customer is named by its customer name in a default ERPNext.
        (Kind::Erpnext, "Party", "Customer") => Some(Builtin::plain(
            &[("party_name", "customer_name")],
            "party_name",
            &[
                ("customer_type", "Company"),
                ("customer_group", "All Customer Groups"),
                ("territory", "All Territories"),
            ],
        )),
        (Kind::Erpnext, "Product", "Item") => Some(Builtin::plain(
            &[
                ("product_name", "item_name"),
                ("code", "item_code"),
                ("list_price", "standard_rate"),
                ("active", "active"),
            ],
            "code",
            &[("item_group", "All Item Groups"), ("stock_uom", "Nos")],
        )),
        // The office's name travels as the sale's reference (the key that
        // finds it after a lost answer); the office's own reference goes
        // in the description. Number and state are the head office's.
        (Kind::Tryton, "Sale", "sale.sale") => Some(Builtin {
            fields: &[
                ("name", "reference"),
                ("party", "party"),
                ("sale_date", "sale_date"),
                ("reference", "description"),
            ],
            key: "name",
            defaults: &[],
            from_remote: &[("number", "number"), ("hq_state", "state")],
            tables: &[(
                "lines",
                "sale.line",
                "lines",
                &[
                    ("product", "product"),
                    ("quantity", "quantity"),
                    ("unit_price", "unit_price"),
                ],
            )],
            workflow: Some(("state", "Confirmed", "Cancelled")),
        }),
        // The office's name travels in the Customer's Purchase Order
        // (`po_no`): a Data field every ERPNext has (no custom field to add
        // before the first sync), a column of `tabSales Order` and so a
        // filter of the REST list (the lookup after a lost answer), long
        // enough (140) for a UUID, editable after submit, and checked by
        // ERPNext itself: a second open Sales Order with the same po_no
        // for the customer is refused (unless Selling Settings allow it).
        // The office's own reference has no field left to go in and is
        // not sent. The delivery date ERPNext needs is the sale date (see
        // the connector). Number and state are the head office's: the
        // Sales Order's name and its status in the office's words.
        (Kind::Erpnext, "Sale", "Sales Order") => Some(Builtin {
            fields: &[
                ("name", "po_no"),
                ("party", "customer"),
                ("sale_date", "transaction_date"),
            ],
            key: "name",
            defaults: &[],
            from_remote: &[("number", "name"), ("hq_state", "status")],
            tables: &[(
                "lines",
                "Sales Order Item",
                "items",
                &[
                    ("product", "item_code"),
                    ("quantity", "qty"),
                    ("unit_price", "rate"),
                ],
            )],
            workflow: Some(("state", "Confirmed", "Cancelled")),
        }),
        _ => None,
    }
}
