//! A slave process for the master-kill test: `outpost-slave-writer DIR URL
//! PREFIX`. Inserts Parties named `PREFIX-N` one after another through
//! `RemoteDb`, signed in as the tests' manager, printing `ACK <name> <party_name>` for each answer, flushed
//! at once. Calls wait up to 60 s for the master, so a master restart in
//! the middle is ridden out.
//!
//! While the file `DIR/pause` exists it writes nothing, between two
//! writes (none in flight) and with its channel kept open, and says so
//! (`PAUSED`, then `RESUMED` when the file is gone).

use std::io::Write;
use std::time::Duration;

use outpost_api::protocol::{InsertArgs, Secret};
use outpost_api::{Db, Op};
use outpost_node::slave::Credentials;
use outpost_node::{RemoteDb, SlaveConfig, Target};
use serde_json::json;

/// The file in the writer's folder that pauses it.
const PAUSE_FILE: &str = "pause";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, url, prefix] = &args[..] else {
        eprintln!("usage: outpost-slave-writer DIR URL PREFIX");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let db = RemoteDb::start_as(
            SlaveConfig {
                data: dir.into(),
                target: Target::parse(url).expect("url"),
                code: None,
                device_name: format!("writer {prefix}"),
                call_timeout: Duration::from_secs(60),
                rtc: Default::default(),
            },
            Some(Credentials {
                user: outpost_e2e::MANAGER.into(),
                password: Secret(outpost_e2e::MANAGER_PASSWORD.into()),
            }),
        )
        .expect("start");
        let mut out = std::io::stdout();
        let pause = std::path::Path::new(dir).join(PAUSE_FILE);
        for i in 0.. {
            if pause.exists() {
                let _ = writeln!(out, "PAUSED");
                let _ = out.flush();
                while pause.exists() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let _ = writeln!(out, "RESUMED");
                let _ = out.flush();
            }
            let party_name = format!("{prefix}-{i}");
            let record = json!({"party_name": party_name, "city": "Kashgar"});
            match db
                .run(Op::Insert(InsertArgs {
                    doctype: "Party".into(),
                    record: record.as_object().cloned().unwrap_or_default(),
                }))
                .await
            {
                Ok(v) => {
                    let _ = writeln!(
                        out,
                        "ACK {} {party_name}",
                        v["name"].as_str().unwrap_or("?")
                    );
                    let _ = out.flush();
                }
                Err(e) => {
                    let _ = writeln!(out, "ERR {party_name} {}", e.message);
                    let _ = out.flush();
                    std::process::exit(3);
                }
            }
        }
    });
}
