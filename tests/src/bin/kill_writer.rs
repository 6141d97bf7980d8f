//! A writer process for the durability test: `outpost-kill-writer DIR
//! WRITERS PREFIX`. WRITERS tasks insert Parties through `LocalDb` (so group
//! commit shares transactions between them) as fast as they can, and print
//! `ACK <name> <code>` for each insert the database acknowledged, flushed at
//! once. The test kills this process with SIGKILL at a random moment and
//! checks every acknowledged write after reopening.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use outpost_api::protocol::InsertArgs;
use outpost_api::{Db, LocalDb, Op};
use outpost_store::Store;
use serde_json::json;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .expect("usage: outpost-kill-writer DIR WRITERS PREFIX"),
    );
    let writers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(8);
    let prefix = args.next().unwrap_or_else(|| "w".into());
    let store = Store::open(&dir).expect("open store");
    let db = LocalDb::new(store, "kill-writer");
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for w in 0..writers {
            let db = db.clone();
            let out = out.clone();
            let prefix = prefix.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let code = format!("{prefix}-{w}-{i}");
                    let record = json!({"party_name": format!("Writer {w} #{i}"), "code": code, "city": "Kashgar"});
                    let args = InsertArgs {
                        doctype: "Party".into(),
                        record: record.as_object().cloned().unwrap_or_default(),
                    };
                    match db.run(Op::Insert(args)).await {
                        Ok(v) => {
                            let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                            let _ = writeln!(o, "ACK {} {code}", v["name"].as_str().unwrap_or("?"));
                            let _ = o.flush();
                        }
                        Err(e) => {
                            eprintln!("write refused: {e}");
                            std::process::exit(2);
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}
