//! `outpost db`: one DB call against the data folder's database, through the
//! same `Db` interface a slave uses, printed as JSON.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use outpost_api::protocol::{
    DeleteArgs, GetArgs, InsertArgs, InsertManyArgs, QueryArgs, SortArg, SubscribeArgs, UpdateArgs,
};
use outpost_api::{ApiError, Db, LocalDb, Op};
use outpost_node::slave::{default_device_name, refusal, LinkState};
use outpost_node::{RemoteDb, SlaveConfig, Target};
use outpost_store::Store;
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::cli::{DbOp, QueryOpts};
use crate::output::{print_json, CliError};

/// Records per `insert_many` call when importing.
const IMPORT_BATCH: usize = 500;
/// Rows per page when exporting.
const EXPORT_PAGE: u32 = 1000;
/// Device label for calls made from this command line.
const CLI_DEVICE: &str = "cli";

pub fn run(dir: PathBuf, op: DbOp) -> Result<(), CliError> {
    super::init_tracing("warn");
    let store = Store::open(&dir)
        .with_context(|| format!("cannot open the office database in {}", dir.display()))?;
    let db = LocalDb::new(store.clone(), CLI_DEVICE);
    db.set_printer(outpost_node::print::PrintEngine::new(dir.clone()));
    let rt = super::runtime()?;
    let result = rt.block_on(call(&db, op, None));
    store.close();
    result
}

/// The same calls through a master: this PC acts as a slave, with `dir`
/// holding only its identity and which master it paired with.
/// How to reach the master.
pub struct Remote {
    pub target: String,
    pub code: Option<String>,
    pub timeout: Duration,
    pub ice_servers: Vec<String>,
    /// Who signs in, when the master asks.
    pub credentials: Option<outpost_node::slave::Credentials>,
}

pub fn run_remote(dir: PathBuf, remote: Remote, op: DbOp) -> Result<(), CliError> {
    let Remote {
        target,
        code,
        timeout,
        ice_servers,
        credentials,
    } = remote;
    // Refusals and outages are reported once, as the command's error.
    super::init_tracing("error");
    let rt = super::runtime()?;
    rt.block_on(async {
        let config = SlaveConfig {
            data: dir,
            target: Target::parse(&target).map_err(anyhow::Error::from)?,
            code,
            device_name: default_device_name(),
            call_timeout: timeout,
            rtc: outpost_link::RtcOptions {
                ice_servers,
                turn_user: None,
                versions: None,
            },
        };
        let db = RemoteDb::start_as(config, credentials).map_err(anyhow::Error::from)?;
        db.wait_connected(timeout).await?;
        if let Some(u) = db.update() {
            eprintln!(
                "An update is available from the master: Outpost {} (this PC has {}). Get it at {}",
                u.version, u.current, u.url
            );
        }
        let state = db.state();
        let result = call(&db, op, Some(state)).await;
        db.close().await;
        result
    })
}

/// Resolves when the slave is refused for good (revoked ...).
async fn refused(state: &mut Option<watch::Receiver<LinkState>>) -> ApiError {
    let Some(rx) = state else {
        return std::future::pending().await;
    };
    loop {
        if let LinkState::Refused { code, message } = rx.borrow_and_update().clone() {
            return refusal(&code, message);
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

async fn call(
    db: &dyn Db,
    op: DbOp,
    mut state: Option<watch::Receiver<LinkState>>,
) -> Result<(), CliError> {
    match op {
        DbOp::Insert { doctype, json } => {
            let record = json_object(&json)?;
            print_json(&db.run(Op::Insert(InsertArgs { doctype, record })).await?);
        }
        DbOp::Get { doctype, name } => {
            print_json(&db.run(Op::Get(GetArgs { doctype, name })).await?);
        }
        DbOp::Update {
            doctype,
            name,
            json,
        } => {
            let record = json_object(&json)?;
            let args = UpdateArgs {
                doctype,
                name,
                rev: None,
                record,
            };
            print_json(&db.run(Op::Update(args)).await?);
        }
        DbOp::Delete { doctype, name, rev } => {
            print_json(
                &db.run(Op::Delete(DeleteArgs { doctype, name, rev }))
                    .await?,
            );
        }
        DbOp::Query {
            doctype,
            query,
            opts,
        } => {
            let args = query_args(doctype, query.clone(), opts)?;
            let out = db
                .run(Op::Query(args))
                .await
                .map_err(|error| CliError::Api {
                    error,
                    query: query.clone(),
                })?;
            for row in out["rows"].as_array().into_iter().flatten() {
                print_json(row);
            }
        }
        DbOp::Count {
            doctype,
            query,
            filters,
        } => {
            let args = QueryArgs {
                doctype,
                query: query.clone(),
                filters: filters.as_deref().map(json_value).transpose()?,
                ..Default::default()
            };
            let n = db
                .run(Op::Count(args))
                .await
                .map_err(|error| CliError::Api { error, query })?;
            print_json(&n);
        }
        DbOp::Doctypes => {
            let list = db.run(Op::Doctypes).await?;
            for dt in list.as_array().into_iter().flatten() {
                print_json(dt);
            }
        }
        DbOp::Import {
            doctype,
            file,
            format,
            all_or_nothing: _,
            good_rows,
            table,
            dry_run,
        } => match super::sheets::format_of(format.as_deref(), Some(&file))? {
            Some(format) => {
                let args = super::sheets::ImportOpts {
                    doctype,
                    table,
                    format,
                    good_rows,
                    dry_run,
                };
                super::sheets::import(db, args, &file).await?
            }
            None => import(db, doctype, &file).await?,
        },
        DbOp::Export {
            doctype,
            query,
            filters,
            sort,
            format,
            out,
            table,
        } => match super::sheets::format_of(format.as_deref(), out.as_deref())? {
            Some(format) => {
                let args = outpost_api::protocol::ExportArgs {
                    doctype,
                    format,
                    query,
                    filters: filters.as_deref().map(json_value).transpose()?,
                    sort: sort.map(SortArg::Text),
                    fields: None,
                    table,
                };
                super::sheets::export(db, args, out.as_deref()).await?
            }
            None if query.is_some() || filters.is_some() || sort.is_some() || table.is_some() => {
                return Err(ApiError::bad_request(
                    "a query, --filters, --sort or --table export to CSV or XLSX (--format csv|xlsx or --out FILE.csv); JSON lines export every record",
                )
                .into())
            }
            None => export(db, doctype).await?,
        },
        DbOp::Subscribe { doctypes } => {
            let mut events = db.events();
            let doctypes = (!doctypes.is_empty()).then_some(doctypes);
            db.run(Op::Subscribe(SubscribeArgs { doctypes })).await?;
            eprintln!("listening for changes; Ctrl-C to stop");
            loop {
                tokio::select! {
                    ev = events.recv() => match ev {
                        Some(ev) => print_json(&serde_json::to_value(ev).unwrap_or(Value::Null)),
                        None => break,
                    },
                    e = refused(&mut state) => return Err(e.into()),
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
        }
        DbOp::SyncStatus => print_json(&db.run(Op::SyncStatus).await?),
        DbOp::History { doctype, name } => {
            let list = db
                .run(Op::History(outpost_api::protocol::HistoryArgs {
                    doctype,
                    name,
                }))
                .await?;
            for entry in list.as_array().into_iter().flatten() {
                print_json(entry);
            }
        }
        DbOp::Report(opts) => super::report::run(db, opts).await?,
        DbOp::Print {
            doctype,
            name,
            format,
            out,
        } => {
            let answer = db
                .run(Op::Print(outpost_api::protocol::PrintArgs {
                    doctype,
                    name,
                    format,
                }))
                .await?;
            write_pdf(answer, out.as_deref())?;
        }
        DbOp::SyncRecords { doctype, names } => {
            let answer = db
                .run(Op::SyncRecords(outpost_api::protocol::SyncRecordsArgs {
                    doctype: doctype.clone(),
                    names: names.clone(),
                }))
                .await?;
            for r in answer["records"].as_array().into_iter().flatten() {
                print_json(r);
            }
        }
    }
    Ok(())
}

/// Writes the PDF of a `print` answer to `out`, or to standard output
/// unless that is a terminal (a PDF there is noise).
fn write_pdf(answer: Value, out: Option<&Path>) -> Result<(), CliError> {
    use std::io::{IsTerminal, Write};
    let answer: outpost_api::protocol::PrintAnswer = serde_json::from_value(answer)
        .map_err(|e| anyhow::anyhow!("the master's print answer is malformed: {e}"))?;
    let pdf = base64_decode(&answer.pdf_base64)?;
    match out {
        Some(path) => std::fs::write(path, &pdf)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None if std::io::stdout().is_terminal() => {
            return Err(anyhow::anyhow!(
                "the PDF is not written to a terminal: redirect it (> {}) or pass --out FILE",
                answer.file_name
            )
            .into())
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&pdf).context("cannot write the PDF")?;
            stdout.flush().context("cannot write the PDF")?;
        }
    }
    Ok(())
}

fn base64_decode(text: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| anyhow::anyhow!("the master's PDF is not valid base64: {e}"))
}

fn query_args(doctype: String, query: Option<String>, o: QueryOpts) -> Result<QueryArgs, CliError> {
    Ok(QueryArgs {
        doctype,
        query,
        filters: o.filters.as_deref().map(json_value).transpose()?,
        fields: (!o.fields.is_empty()).then_some(o.fields),
        sort: o.sort.map(SortArg::Text),
        limit: o.limit,
        offset: o.offset,
        group_by: o.group_by,
        sum: (!o.sum.is_empty()).then_some(o.sum),
        upstream: o.upstream.then_some(true),
    })
}

/// Reads a JSON argument: literal text, `@FILE`, or `-` for stdin.
fn read_arg(arg: &str) -> Result<String, CliError> {
    if arg == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
        String::from_utf8(bytes).map_err(|_| {
            ApiError::bad_request("not valid JSON: the input is not UTF-8 text").into()
        })
    } else if let Some(path) = arg.strip_prefix('@') {
        Ok(std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?)
    } else {
        Ok(arg.to_string())
    }
}

pub(super) fn json_value(arg: &str) -> Result<Value, CliError> {
    let text = read_arg(arg)?;
    serde_json::from_str(&text)
        .map_err(|e| ApiError::bad_request(format!("not valid JSON: {e}")).into())
}

fn json_object(arg: &str) -> Result<Map<String, Value>, CliError> {
    match json_value(arg)? {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::bad_request(format!(
            "a record must be a JSON object like {{\"field\": \"value\"}}; got {}",
            truncate(&other.to_string())
        ))
        .into()),
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Imports JSON lines in batches; each batch is one transaction. On error,
/// says which line and how many records were stored before it.
async fn import(db: &dyn Db, doctype: String, file: &Path) -> Result<(), CliError> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
        ))
    };
    let mut batch: Vec<(usize, Map<String, Value>)> = Vec::new();
    let mut imported = 0usize;
    for (i, line) in reader.lines().enumerate() {
        let line_no = i + 1;
        let line = line.with_context(|| format!("cannot read line {line_no}"))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(m)) => batch.push((line_no, m)),
            Ok(_) => {
                return Err(import_error(
                    imported,
                    line_no,
                    "a record must be a JSON object".into(),
                ))
            }
            Err(e) => {
                return Err(import_error(
                    imported,
                    line_no,
                    format!("not valid JSON: {e}"),
                ))
            }
        }
        if batch.len() == IMPORT_BATCH {
            imported += send_batch(db, &doctype, std::mem::take(&mut batch), imported).await?;
        }
    }
    if !batch.is_empty() {
        imported += send_batch(db, &doctype, batch, imported).await?;
    }
    print_json(&json!({ "imported": imported }));
    Ok(())
}

async fn send_batch(
    db: &dyn Db,
    doctype: &str,
    batch: Vec<(usize, Map<String, Value>)>,
    imported: usize,
) -> Result<usize, CliError> {
    let lines: Vec<usize> = batch.iter().map(|(l, _)| *l).collect();
    let records = batch.into_iter().map(|(_, r)| r).collect();
    let args = InsertManyArgs {
        doctype: doctype.to_string(),
        records,
    };
    match db.run(Op::InsertMany(args)).await {
        Ok(v) => Ok(v["inserted"].as_u64().unwrap_or(0) as usize),
        Err(mut e) => {
            // The store numbers records within the batch ("record 3: ...");
            // the user knows lines of the file.
            if let Some(rest) = e.message.strip_prefix("record ") {
                if let Some((k, msg)) = rest.split_once(": ") {
                    if let Some(line) = k.parse::<usize>().ok().and_then(|k| lines.get(k - 1)) {
                        e.message = msg.to_string();
                        return Err(import_error(imported, *line, e.message.clone()).with_api(e));
                    }
                }
            }
            let first = lines.first().copied().unwrap_or(0);
            Err(import_error(imported, first, e.message.clone()).with_api(e))
        }
    }
}

fn import_error(imported: usize, line: usize, message: String) -> CliError {
    ApiError::bad_request(format!(
        "line {line}: {message} ({imported} records were imported before this batch; nothing from this batch was)"
    ))
    .into()
}

trait WithApi {
    fn with_api(self, original: ApiError) -> CliError;
}

impl WithApi for CliError {
    /// Keeps the words built for the import, and the original code/details.
    fn with_api(self, original: ApiError) -> CliError {
        match self {
            CliError::Api { error, query } => CliError::Api {
                error: ApiError {
                    message: error.message,
                    ..original
                },
                query,
            },
            other => other,
        }
    }
}

/// Prints every live record, paging on `name` so a million records cost no
/// more per page than ten.
async fn export(db: &dyn Db, doctype: String) -> Result<(), CliError> {
    let doctypes = db.run(Op::Doctypes).await?;
    let has_tables = doctypes
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["name"] == doctype)
        .ok_or_else(|| {
            ApiError::new(
                outpost_api::ErrorCode::NotFound,
                format!("there is no doctype called '{doctype}'"),
            )
        })?["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|f| f["type"] == "table");
    let mut after: Option<String> = None;
    loop {
        let args = QueryArgs {
            doctype: doctype.clone(),
            filters: after.as_ref().map(|a| json!([["name", ">", a]])),
            sort: Some(SortArg::Text("name".into())),
            limit: Some(EXPORT_PAGE),
            ..Default::default()
        };
        let page = db.run(Op::Query(args)).await?;
        let rows = page["rows"].as_array().cloned().unwrap_or_default();
        for row in &rows {
            if has_tables {
                let name = row["name"].as_str().unwrap_or_default().to_string();
                let full = db
                    .run(Op::Get(GetArgs {
                        doctype: doctype.clone(),
                        name,
                    }))
                    .await?;
                print_json(&full);
            } else {
                let mut row = row.clone();
                row["doctype"] = json!(doctype);
                print_json(&row);
            }
        }
        if rows.len() < EXPORT_PAGE as usize {
            return Ok(());
        }
        after = rows
            .last()
            .and_then(|r| r["name"].as_str())
            .map(String::from);
    }
}
