//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "outpost",
    version,
    about = "Outpost: a LAN-first ERP client. One PC keeps the office database; the others work on it over the LAN."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct DataArg {
    /// Data folder (default: the platform's data folder, e.g. ~/.local/share/outpost)
    #[arg(long, env = "OUTPOST_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run this PC as the office's master (keeps the database)
    Master {
        #[command(flatten)]
        data: DataArg,
        /// The office's name, e.g. "Kashgar depot"
        #[arg(long)]
        name: String,
    },
    /// Run one database call and print the result as JSON
    Db {
        #[command(flatten)]
        data: DataArg,
        #[command(subcommand)]
        op: DbOp,
    },
}

#[derive(Subcommand, Debug)]
pub enum DbOp {
    /// Create a record: `insert Party '{"party_name":"Acme"}'` (JSON, @FILE or - for stdin)
    Insert { doctype: String, json: String },
    /// Show one record
    Get { doctype: String, name: String },
    /// Change fields of a record; the JSON carries the revision you edited: '{"rev":3,"city":"Yarkant"}'
    Update {
        doctype: String,
        name: String,
        json: String,
    },
    /// Delete a record (kept as a tombstone so the deletion syncs)
    Delete {
        doctype: String,
        name: String,
        /// Refuse if the record is no longer at this revision
        #[arg(long)]
        rev: Option<i64>,
    },
    /// List records matching a query: `query Party 'party_name:"Ac%" AND city:Kashgar'`
    Query {
        doctype: String,
        /// jIO-style text query (key:value, key:>10, "quoted", %, AND, OR, NOT, parentheses)
        query: Option<String>,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// Count records matching a query
    Count {
        doctype: String,
        query: Option<String>,
        /// JSON filters, e.g. '[["list_price", ">", 100]]'
        #[arg(long)]
        filters: Option<String>,
    },
    /// List the doctypes (schemas), one JSON object per line
    Doctypes,
    /// Import records from a JSON-lines file (- for stdin); batches of 500, each all or nothing
    Import { doctype: String, file: PathBuf },
    /// Print every record of a doctype as JSON lines
    Export { doctype: String },
    /// Print change events as they happen (all doctypes, or those named) until Ctrl-C
    Subscribe { doctypes: Vec<String> },
    /// Show the upstream sync state (pending outbox entries ...)
    SyncStatus,
}

#[derive(Args, Debug, Default)]
pub struct QueryOpts {
    /// JSON filters, ANDed with the text query: '[["total", ">", 100]]'
    #[arg(long)]
    pub filters: Option<String>,
    /// Fields to print, comma-separated (default: all)
    #[arg(long, value_delimiter = ',')]
    pub fields: Vec<String>,
    /// Sort keys, comma-separated: modified:desc,party_name
    #[arg(long)]
    pub sort: Option<String>,
    /// Most rows to print (default 100, at most 10000)
    #[arg(long)]
    pub limit: Option<u32>,
    /// Rows to skip
    #[arg(long)]
    pub offset: Option<u32>,
    /// Group by this field and print a count per group
    #[arg(long)]
    pub group_by: Option<String>,
    /// With --group-by: numeric fields to sum per group (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub sum: Vec<String>,
}
