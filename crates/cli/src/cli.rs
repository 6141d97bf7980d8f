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
    /// Run this PC as the office's master (keeps the database, serves slaves)
    Master {
        #[command(flatten)]
        data: DataArg,
        /// The office's name, e.g. "Kashgar depot"
        #[arg(long)]
        name: String,
        /// Addresses to listen on, repeated or comma-separated (0.0.0.0 or ::
        /// for every interface). Default: the LAN interfaces only (loopback,
        /// private and link-local addresses; not a public one, such as a
        /// satellite modem's), followed as they come and go
        #[arg(long, value_name = "ADDR", value_delimiter = ',')]
        listen: Vec<std::net::IpAddr>,
        /// The office's postal address, printed on invoices ('\n' between
        /// lines; kept in the database until changed)
        #[arg(long, value_name = "TEXT")]
        office_address: Option<String>,
        /// TCP port of the signaling socket
        #[arg(long, default_value_t = outpost_link::pairing::DEFAULT_PORT)]
        port: u16,
        /// Minutes the pairing code stays valid (0 to 1440; 0: pair only with codes from `outpost pair`)
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=outpost_node::pairing_state::MAX_CODE_MINUTES))]
        code_minutes: u64,
        /// Do not announce on the LAN over mDNS (and skip the duplicate-name check)
        #[arg(long)]
        no_mdns: bool,
        /// STUN/TURN servers for sites on several subnets (comma-separated, e.g. stun:10.0.0.1:3478)
        #[arg(long, value_delimiter = ',')]
        ice_server: Vec<String>,
        /// Sync with the head-office ERP described in this TOML file (see docs/sync.md)
        #[arg(long, value_name = "FILE")]
        upstream: Option<PathBuf>,
        /// Folder of the built web UI (ui/dist) to serve to browsers on the LAN
        /// (default: OUTPOST_UI, else ./ui/dist when present)
        #[arg(long, env = "OUTPOST_UI", value_name = "DIR")]
        ui: Option<PathBuf>,
        /// Folder of Outpost packages (.deb) to offer the office's other PCs
        /// at http://MASTER:PORT/install/ (default: DATA/packages)
        #[arg(long, value_name = "DIR")]
        packages: Option<PathBuf>,
        #[command(flatten)]
        backup: BackupFlags,
        /// When a slave's write is answered: at this master's commit (async),
        /// or once the office's standby holds it too (sync)
        #[arg(long, value_enum, default_value = "async")]
        durability: DurabilityArg,
        /// With --durability sync, while the standby is away: go on at the
        /// master's commit (go-async), or refuse writes (refuse)
        #[arg(long, value_enum, default_value = "go-async")]
        standby_away: StandbyAwayArg,
        #[command(flatten)]
        first_manager: FirstManagerFlags,
    },
    /// Run one database call and print the result as JSON
    Db {
        #[command(flatten)]
        data: DataArg,
        /// Work through a master instead of a local database: its pairing URL or its name on the LAN
        #[arg(long, value_name = "URL_OR_NAME")]
        connect: Option<String>,
        /// Pairing code shown on the master (first connection only, when not in the URL)
        #[arg(long)]
        code: Option<String>,
        /// Seconds to wait for the master
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// STUN/TURN servers when this PC and the master sit on different subnets (comma-separated)
        #[arg(long, value_delimiter = ',')]
        ice_server: Vec<String>,
        #[command(flatten)]
        sign_in: SignInFlags,
        #[command(subcommand)]
        op: DbOp,
    },
    /// The people who sign in on this master, and their roles
    Users {
        #[command(flatten)]
        data: DataArg,
        #[command(subcommand)]
        action: Option<UsersAction>,
    },
    /// Print this PC's device id (the SHA-256 fingerprint of its certificate)
    Id {
        #[command(flatten)]
        data: DataArg,
    },
    /// Make a new pairing code for the running master and print its pairing URL
    Pair {
        #[command(flatten)]
        data: DataArg,
        /// Minutes the new code stays valid (0 to 1440)
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=outpost_node::pairing_state::MAX_CODE_MINUTES))]
        minutes: u64,
    },
    /// List the devices paired with this master, or revoke one
    Devices {
        #[command(flatten)]
        data: DataArg,
        #[command(subcommand)]
        action: Option<DevicesAction>,
    },
    /// The running master's sync with the head-office ERP
    Sync {
        /// Data folder of the master (default: the platform's data folder)
        #[arg(long, env = "OUTPOST_DATA", value_name = "DIR", global = true)]
        data: Option<PathBuf>,
        #[command(subcommand)]
        action: SyncAction,
    },
    /// Keep a live copy of the office database as its standby master: a
    /// snapshot first, then every change in commit order (make this PC the
    /// standby on the master first: `outpost devices standby ID`)
    Standby {
        #[command(flatten)]
        data: DataArg,
        /// The master: its pairing URL or its name on the LAN
        #[arg(long, value_name = "URL_OR_NAME")]
        connect: String,
        /// Pairing code shown on the master (first connection only, when not in the URL)
        #[arg(long)]
        code: Option<String>,
        /// STUN/TURN servers when this PC and the master sit on different subnets (comma-separated)
        #[arg(long, value_delimiter = ',')]
        ice_server: Vec<String>,
    },
    /// Make this standby the office's master: stops `outpost standby` on the
    /// folder, raises the office's epoch, and runs the master on the copy
    /// (the office's slaves accept it without pairing again)
    Promote {
        #[command(flatten)]
        data: DataArg,
        /// The office's name (default: the name the old master had)
        #[arg(long)]
        name: Option<String>,
        /// Addresses to listen on, repeated or comma-separated (0.0.0.0 or ::
        /// for every interface). Default: the LAN interfaces only (loopback,
        /// private and link-local addresses; not a public one, such as a
        /// satellite modem's), followed as they come and go
        #[arg(long, value_name = "ADDR", value_delimiter = ',')]
        listen: Vec<std::net::IpAddr>,
        /// TCP port of the signaling socket
        #[arg(long, default_value_t = outpost_link::pairing::DEFAULT_PORT)]
        port: u16,
        /// Do not announce on the LAN over mDNS
        #[arg(long)]
        no_mdns: bool,
        /// Sync with the head-office ERP described in this TOML file (see docs/sync.md)
        #[arg(long, value_name = "FILE")]
        upstream: Option<PathBuf>,
        /// Folder of the built web UI to serve to browsers on the LAN
        #[arg(long, env = "OUTPOST_UI", value_name = "DIR")]
        ui: Option<PathBuf>,
        #[command(flatten)]
        first_manager: FirstManagerFlags,
    },
    /// Take a consistent backup of the office database, checked before it is
    /// reported done (works while the master runs and slaves write)
    Backup {
        #[command(flatten)]
        data: DataArg,
        /// The backup file to write
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Include the master's identity (identity.pem) and the head-office
        /// file; the backup is then written owner-only. Without it, a restored
        /// master has a new device id and every PC must pair again.
        #[arg(long)]
        with_identity: bool,
    },
    /// Restore the office database from a backup; the master must be stopped.
    /// The replaced database is kept aside in the data folder.
    Restore {
        #[command(flatten)]
        data: DataArg,
        /// The backup file to restore
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// List the masters announced on the LAN
    Masters {
        /// Seconds to listen for announcements
        #[arg(long, default_value_t = 2)]
        wait: u64,
        /// Instead: where the office NAME's LAN name (outpost-NAME.local,
        /// the browser address that follows a failover) points now
        #[arg(long, value_name = "NAME")]
        office: Option<String>,
    },
}

/// The master's own backups.
#[derive(Args, Debug, Clone)]
pub struct BackupFlags {
    /// Take backups by itself into this folder (a USB stick, a NAS mount)
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Time between two backups: minutes (60), or 30s, 15m, 2h
    #[arg(long, value_name = "INTERVAL", default_value = "60m", value_parser = outpost_node::backups::parse_interval)]
    pub backup_every: std::time::Duration,
    /// How many of the newest backups to keep
    #[arg(long, value_name = "N", default_value_t = outpost_node::BackupSchedule::DEFAULT_KEEP)]
    pub backup_keep: usize,
    /// For how many days to keep the day's newest backup as well
    #[arg(long, value_name = "N", default_value_t = outpost_node::BackupSchedule::DEFAULT_DAILIES)]
    pub backup_dailies: usize,
}

impl BackupFlags {
    pub fn schedule(&self) -> Option<outpost_node::BackupSchedule> {
        self.backup_dir
            .as_ref()
            .map(|dir| outpost_node::BackupSchedule {
                dir: dir.clone(),
                every: self.backup_every,
                keep: self.backup_keep.max(1),
                dailies: self.backup_dailies,
            })
    }
}

/// The office's first manager, made before its master starts: a master
/// never runs an office without users (nobody could sign in).
#[derive(Args, Debug, Clone)]
pub struct FirstManagerFlags {
    /// On an office without users: make its first manager (a Manager), with
    /// the password in this file (first line, at least 8 characters);
    /// ignored once the office has users. Without it such an office does
    /// not start
    #[arg(long, value_name = "FILE")]
    pub admin_password_file: Option<PathBuf>,
    /// The first manager's user name (with --admin-password-file)
    #[arg(long, value_name = "NAME", default_value = "manager")]
    pub admin_user: String,
}

/// Who signs in for a call through a master that asks.
#[derive(Args, Debug, Clone)]
pub struct SignInFlags {
    /// Sign in as this user (when the master has users)
    #[arg(long, env = "OUTPOST_USER", value_name = "NAME")]
    pub user: Option<String>,
    /// The password, in this file (first line); else OUTPOST_PASSWORD
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum UsersAction {
    /// Add a user: `users add amina --role Clerk --password-file FILE`
    Add {
        name: String,
        /// Manager, Clerk, Viewer, or a role of the site's roles.json
        #[arg(long)]
        role: String,
        /// The password, in this file (first line); else OUTPOST_PASSWORD
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// List the users (the default)
    List,
    /// Set a user's password (their sign-ins end)
    Passwd {
        name: String,
        /// The password, in this file (first line); else OUTPOST_PASSWORD
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Disable a user: their open sessions end within a second
    Disable { name: String },
    /// Let a disabled user sign in again
    Enable { name: String },
    /// Give a user another role
    Role {
        name: String,
        #[arg(long)]
        role: String,
    },
    /// The roles: built-in and the site's (roles.json in the data folder)
    Roles,
}

#[derive(Subcommand, Debug)]
pub enum DevicesAction {
    /// Revoke a device: its open connection is closed and it cannot reconnect
    Revoke {
        /// Device id, or its first 8+ characters
        id: String,
    },
    /// Make a paired device the office's standby (it keeps a live copy when
    /// it runs `outpost standby`), or --clear to have none
    Standby {
        /// Device id, or its first 8+ characters
        #[arg(required_unless_present = "clear")]
        id: Option<String>,
        /// The office has no standby any more
        #[arg(long, conflicts_with = "id")]
        clear: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum SyncAction {
    /// Ask the running master to sync now, wait for the cycle, and print the state
    Now {
        /// Seconds to wait for the cycle to end
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Link state, last success, pending and parked entries, conflicts, bytes sent and received
    Status {
        /// Print JSON instead of lines
        #[arg(long)]
        json: bool,
    },
    /// List conflicts with both versions (open ones; --all for settled ones too)
    Conflicts {
        #[arg(long)]
        all: bool,
    },
    /// Settle an open conflict: keep the office's version or the head office's
    Resolve {
        /// Conflict number (from `outpost sync conflicts`)
        id: i64,
        /// Which version wins
        #[arg(long, value_parser = ["local", "remote"])]
        keep: String,
    },
    /// List the entries the head office refused, with its message
    Parked,
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
    /// Import a CSV or XLSX file in one transaction (columns matched to fields by their headers),
    /// or JSON lines (- for stdin; batches of 500, each all or nothing)
    Import {
        doctype: String,
        file: PathBuf,
        /// csv, xlsx or jsonl (default: from the file's extension; jsonl otherwise)
        #[arg(long, value_parser = ["csv", "xlsx", "jsonl"])]
        format: Option<String>,
        /// Store nothing unless every row is good (the default)
        #[arg(long, conflicts_with = "good_rows")]
        all_or_nothing: bool,
        /// Store the good rows and list the bad ones
        #[arg(long)]
        good_rows: bool,
        /// Rows are lines of this table field of DOCTYPE (e.g. Sale --table lines), each naming its parent
        #[arg(long)]
        table: Option<String>,
        /// Check every row and store nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Write every record matching a query (all pages) as CSV or XLSX, or print JSON lines
    Export {
        doctype: String,
        /// jIO-style text query, as for `query`
        query: Option<String>,
        /// JSON filters, e.g. '[["city", "=", "Kashgar"]]'
        #[arg(long)]
        filters: Option<String>,
        /// Sort keys, e.g. "party_name" or "modified:desc"
        #[arg(long)]
        sort: Option<String>,
        /// csv, xlsx or jsonl (default: from --out's extension; jsonl otherwise)
        #[arg(long, value_parser = ["csv", "xlsx", "jsonl"])]
        format: Option<String>,
        /// The file to write (CSV may go to stdout without it)
        #[arg(long)]
        out: Option<PathBuf>,
        /// The lines of this table field instead (e.g. Sale --table lines),
        /// one row per line with its parent's name: what `import --table` takes
        #[arg(long)]
        table: Option<String>,
    },
    /// Print change events as they happen (all doctypes, or those named) until Ctrl-C
    Subscribe { doctypes: Vec<String> },
    /// Show the upstream sync state (pending outbox entries ...)
    SyncStatus,
    /// Where these records stand with the head office (waiting, sent, parked, conflict), one JSON line each
    SyncRecords { doctype: String, names: Vec<String> },
    /// A record's history: who changed what, when, from which device (one JSON line per change)
    History { doctype: String, name: String },
    /// A record's document as PDF on standard output (or --out FILE), made
    /// by the master: `print Sale NAME --format invoice > sale.pdf`
    Print {
        doctype: String,
        name: String,
        /// The print format: invoice, receipt, or one of the site's own (docs/print.md)
        #[arg(long, default_value = "invoice")]
        format: String,
        /// Write the PDF to this file instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Count and add up records on the master, grouped: `report Sale --group sale_date --by month --measure sum:total`, or a built-in: `report --builtin top_products`
    Report(ReportOpts),
}

/// `outpost db report`: a built-in report, or one made of these flags (a
/// flag also changes what a built-in sets).
#[derive(Args, Debug, Default)]
pub struct ReportOpts {
    /// The doctype whose records are counted (Sale, Sale Line ...)
    pub doctype: Option<String>,
    /// A built-in report by name (--list shows them)
    #[arg(long)]
    pub builtin: Option<String>,
    /// List the built-in reports and stop
    #[arg(long)]
    pub list: bool,
    /// For a child doctype: join its parent (Sale for Sale Line), whose fields are then parent.FIELD
    #[arg(long)]
    pub parent: Option<String>,
    /// The field to group by (parent.FIELD for the parent's)
    #[arg(long)]
    pub group: Option<String>,
    /// A date group by day, week or month
    #[arg(long, value_parser = ["day", "week", "month"])]
    pub by: Option<String>,
    /// count, sum:FIELD or avg:FIELD; repeat or comma-separate (default: count)
    #[arg(long, value_delimiter = ',')]
    pub measure: Vec<String>,
    /// A filter on the records, in the query language: 'quantity:>=5'
    #[arg(long)]
    pub filter: Option<String>,
    /// A filter on the parent records: 'state:Confirmed'
    #[arg(long)]
    pub parent_filter: Option<String>,
    /// Only the last N days of --date-field (today included)
    #[arg(long, requires = "date_field")]
    pub last_days: Option<u32>,
    /// The date field --last-days looks at (parent.FIELD for the parent's)
    #[arg(long)]
    pub date_field: Option<String>,
    /// Order by a column: group, count, sum(FIELD), avg(FIELD)
    #[arg(long)]
    pub order: Option<String>,
    /// Largest first
    #[arg(long)]
    pub desc: bool,
    /// Most groups to print (default 100, at most 1000)
    #[arg(long)]
    pub limit: Option<u32>,
    /// Print CSV (a header line, then one line per group) instead of a table
    #[arg(long)]
    pub csv: bool,
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
    /// Ask the head-office ERP instead of the office database (a master with an upstream)
    #[arg(long)]
    pub upstream: bool,
    /// With --group-by: numeric fields to sum per group (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub sum: Vec<String>,
}

/// `--durability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DurabilityArg {
    Async,
    Sync,
}

/// `--standby-away`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StandbyAwayArg {
    GoAsync,
    Refuse,
}

impl DurabilityArg {
    /// The master's write policy these two flags make.
    pub fn policy(self, away: StandbyAwayArg) -> outpost_node::standby::WritePolicy {
        use outpost_node::standby::{Durability, WhenAway, WritePolicy};
        WritePolicy {
            durability: match self {
                DurabilityArg::Async => Durability::Async,
                DurabilityArg::Sync => Durability::Sync,
            },
            when_away: match away {
                StandbyAwayArg::GoAsync => WhenAway::GoAsync,
                StandbyAwayArg::Refuse => WhenAway::Refuse,
            },
        }
    }
}
