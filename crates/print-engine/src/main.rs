//! `outpost-print --data DIR`: the print engine program. The master starts
//! it at its first print and sends prints down its stdin, one at a time;
//! each answer goes back on stdout (`outpost_print::worker` has the
//! protocol). It ends when its stdin closes. Not a command for people: it
//! says so when started from a terminal.

use std::io::{self, BufReader, IsTerminal, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;

use outpost_print::worker::{read_body, read_header, write_frame, Reply, Request};
use outpost_print::PrintError;
use outpost_print_engine::Printer;

const USAGE: &str = "usage: outpost-print --data DIR

The print engine of Outpost's master: the master starts it and sends it
prints over its standard input and output. It is not run by hand.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = match args.as_slice() {
        [flag, dir] if flag == "--data" => PathBuf::from(dir),
        [flag] if flag == "--version" => {
            println!("outpost-print {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if io::stdin().is_terminal() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    match serve(&data) {
        Ok(Served::Closed) => ExitCode::SUCCESS,
        Ok(Served::Panicked) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("outpost-print: {e}");
            ExitCode::FAILURE
        }
    }
}

enum Served {
    /// The master closed stdin: nothing more to print.
    Closed,
    /// The engine panicked; the print was answered with the error and the
    /// program ends, so that the next print starts afresh.
    Panicked,
}

fn serve(data: &std::path::Path) -> io::Result<Served> {
    // Fonts are indexed once, here; without any, every print says what to
    // install.
    let printer = Printer::new(data);
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = io::BufWriter::new(io::stdout().lock());
    while let Some(asked) = read_header::<Request>(&mut input)? {
        let body = read_body(&mut input, asked.data_len)?;
        let printed = catch_unwind(AssertUnwindSafe(|| match &printer {
            Ok(p) => p.render(&asked.doctype, &asked.format, &body),
            Err(e) => Err(e.clone()),
        }));
        let (reply, pdf, panicked) = match printed {
            Ok(Ok((template, pdf))) => (
                Reply::Printed {
                    template,
                    pdf_len: pdf.len(),
                },
                pdf,
                false,
            ),
            Ok(Err(e)) => (Reply::Failed(e), Vec::new(), false),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                let failed = PrintError::Engine(format!(
                    "typst stopped on {} {}: {what}",
                    asked.doctype, asked.format
                ));
                (Reply::Failed(failed), Vec::new(), true)
            }
        };
        write_frame(&mut output, &reply, &pdf)?;
        if panicked {
            return Ok(Served::Panicked);
        }
    }
    output.flush()?;
    Ok(Served::Closed)
}
