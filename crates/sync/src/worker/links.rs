//! The upstream file checked against the office's doctypes: each
//! mapping's link fields filled in, and the order doctypes sync in (a
//! sale after its party and products).

use super::*;

/// Checks the upstream file against the office's doctypes, fills in each
/// mapping's link fields, and returns the doctypes in the order they sync
/// (a sale after its party and products).
pub(super) fn resolve_links(
    config: &mut UpstreamConfig,
    schema: &Schema,
) -> Result<Vec<String>, SyncError> {
    let bad = |m: String| SyncError::new(ErrorClass::Rejected, m);
    let synced: HashSet<String> = config.doctypes.keys().cloned().collect();
    let check = |dt: &Doctype,
                 fields: &mut dyn Iterator<Item = &String>,
                 links: &mut BTreeMap<String, String>| {
        for ours in fields {
            if ours == "name" {
                continue;
            }
            let Some(f) = dt.field(ours) else {
                return Err(bad(format!(
                    "the upstream file maps {}.{ours}, which is not a field of {}",
                    dt.name, dt.name
                )));
            };
            if let (FieldType::Link, Some(target)) = (f.ty, &f.link) {
                if !synced.contains(target) {
                    return Err(bad(format!(
                        "{}.{ours} links to {target}, which the upstream file does not sync: add [doctypes.{target}] (a link travels as the linked record's id at the head office)",
                        dt.name
                    )));
                }
                links.insert(ours.clone(), target.clone());
            }
        }
        Ok(())
    };
    for (doctype, map) in config.doctypes.iter_mut() {
        let dt = schema.get(doctype).map_err(|_| {
            bad(format!(
                "the upstream file names the doctype {doctype}, which this office does not have"
            ))
        })?;
        let mut links = BTreeMap::new();
        check(dt, &mut map.fields.keys(), &mut links)?;
        check(dt, &mut map.from_remote.keys(), &mut BTreeMap::new())?;
        map.links = links;
        for (table, tm) in map.tables.iter_mut() {
            let child = dt
                .field(table)
                .filter(|f| f.ty == FieldType::Table)
                .and_then(|f| f.table.as_deref())
                .and_then(|c| schema.get(c).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "the upstream file maps the table {doctype}.{table}, which is not a table field of {doctype}"
                    ))
                })?;
            let mut links = BTreeMap::new();
            check(child, &mut tm.fields.keys(), &mut links)?;
            tm.links = links;
        }
    }
    // What others link to first; a cycle keeps the file's order.
    let mut order: Vec<String> = Vec::new();
    let mut left: Vec<String> = config.doctypes.keys().cloned().collect();
    while !left.is_empty() {
        let ready = left.iter().position(|d| {
            let map = &config.doctypes[d];
            map.links
                .values()
                .chain(map.tables.values().flat_map(|t| t.links.values()))
                .all(|t| t == d || order.contains(t))
        });
        order.push(left.remove(ready.unwrap_or(0)));
    }
    Ok(order)
}
