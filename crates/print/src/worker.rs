//! The engine program (`outpost-print`) and how the master talks to it.
//!
//! The master starts the program at its first print and keeps it for the
//! next ones (typst's library and the font index are built once). One
//! print at a time goes down its pipes:
//!
//! - the master writes a [`Request`] as one JSON line, then the record's
//!   data (`data_len` bytes);
//! - the engine answers a [`Reply`] as one JSON line, then the PDF
//!   (`pdf_len` bytes) when it printed.
//!
//! [`PrintWorker`] is the master's side. A print that runs past its time
//! limit stops the program, and so does a broken pipe or garbage on it.
//! The print then fails with [`PrintError::TooSlow`] or
//! [`PrintError::Engine`], and the next print starts a new program. The
//! program ends by itself when the master closes its stdin, or dies.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{PrintError, TemplateSource, SITE_DIR};

/// The engine program's file name.
pub const PROGRAM: &str = "outpost-print";
/// Overrides where the engine program is looked for.
pub const PROGRAM_ENV: &str = "OUTPOST_PRINT_BIN";
/// How long one print may take before the engine is stopped.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(60);
/// Longest header line either side reads.
const MAX_HEADER: usize = 64 * 1024;
/// Most bytes of data or PDF either side takes in one print.
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// One print asked of the engine; `data_len` bytes of JSON follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub doctype: String,
    pub format: String,
    pub data_len: usize,
}

/// The engine's answer; `pdf_len` bytes of PDF follow a `Printed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Printed {
        template: TemplateSource,
        pdf_len: usize,
    },
    Failed(PrintError),
}

/// A printed document and the template that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Printed {
    pub pdf: Vec<u8>,
    pub template: TemplateSource,
}

/// Writes `header` as one JSON line, then `body`, and flushes.
pub fn write_frame(w: &mut impl Write, header: &impl Serialize, body: &[u8]) -> io::Result<()> {
    let mut line = serde_json::to_vec(header).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.write_all(body)?;
    w.flush()
}

/// Reads one header line; `None` at the end of the stream.
pub fn read_header<T: DeserializeOwned>(r: &mut impl BufRead) -> io::Result<Option<T>> {
    let mut line = Vec::new();
    let read = r.take(MAX_HEADER as u64 + 1).read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        let why = if line.len() > MAX_HEADER {
            format!("a header line longer than {MAX_HEADER} bytes")
        } else {
            "a header line cut short".to_string()
        };
        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
    }
    serde_json::from_slice(&line)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("a bad header: {e}")))
}

/// Reads the `len` bytes that follow a header (at most [`MAX_BODY`]).
pub fn read_body(r: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
    if len > MAX_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len} bytes announced, more than the {MAX_BODY} a print may carry"),
        ));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// Where the engine program is: [`PROGRAM_ENV`] if set, else beside the
/// running binary (`/usr/bin`, `target/release`), in `../lib/outpost`,
/// or, for a test binary of this workspace (`target/*/deps`), one folder up.
pub fn find_program() -> Result<PathBuf, PrintError> {
    if let Some(path) = std::env::var_os(PROGRAM_ENV) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()
        .map_err(|e| PrintError::Engine(format!("cannot tell where this program is: {e}")))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let mut places = vec![dir.join(PROGRAM), dir.join("../lib/outpost").join(PROGRAM)];
    if dir.file_name().is_some_and(|n| n == "deps") {
        places.push(dir.join("..").join(PROGRAM));
    }
    places.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let looked: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
        PrintError::Engine(format!(
            "the print engine ({PROGRAM}) is not installed: looked for {}; reinstall Outpost's package",
            looked.join(", ")
        ))
    })
}

/// The master's side of the engine program: one program, started at the
/// first print, one print at a time (a second waits for the first).
pub struct PrintWorker {
    data: PathBuf,
    program: Option<PathBuf>,
    limit: Duration,
    running: Mutex<Option<Running>>,
}

/// A started engine program and its pipes.
struct Running {
    child: Arc<Mutex<Child>>,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// How a print on the pipes went wrong.
struct Broken {
    error: io::Error,
    timed_out: bool,
}

impl PrintWorker {
    /// Prints for the data folder `data` (the site's templates and fonts
    /// are in `DATA/print`), with the program [`find_program`] finds.
    pub fn new(data: PathBuf) -> PrintWorker {
        PrintWorker {
            data,
            program: None,
            limit: DEFAULT_LIMIT,
            running: Mutex::new(None),
        }
    }

    /// Runs `program` as the engine.
    pub fn with_program(mut self, program: PathBuf) -> PrintWorker {
        self.program = Some(program);
        self
    }

    /// Stops a print that takes longer than `limit`.
    pub fn with_limit(mut self, limit: Duration) -> PrintWorker {
        self.limit = limit;
        self
    }

    /// The PDF of `doctype` in `format`, from `data` (the template's
    /// `data.json`). Blocks: call it off the async runtime.
    pub fn render(&self, doctype: &str, format: &str, data: &[u8]) -> Result<Printed, PrintError> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.is_none() {
            *running = Some(self.start()?);
        }
        let worker = running.as_mut().expect("started above");
        match worker.ask(doctype, format, data, self.limit) {
            Ok(reply) => reply,
            Err(broken) => {
                let status = running.take().map(Running::stop);
                if broken.timed_out {
                    return Err(PrintError::TooSlow {
                        file: self.label(doctype, format),
                        seconds: self.limit.as_secs().max(1),
                    });
                }
                let status = status.map_or_else(String::new, |s| format!(" ({s})"));
                Err(PrintError::Engine(format!(
                    "{PROGRAM} stopped during a print{status}: {}",
                    broken.error
                )))
            }
        }
    }

    /// The engine program's process id, while one runs.
    pub fn pid(&self) -> Option<u32> {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running
            .as_ref()
            .map(|r| r.child.lock().unwrap_or_else(PoisonError::into_inner).id())
    }

    fn start(&self) -> Result<Running, PrintError> {
        let program = match &self.program {
            Some(p) => p.clone(),
            None => find_program()?,
        };
        let mut child = Command::new(&program)
            .arg("--data")
            .arg(&self.data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| PrintError::Engine(format!("cannot start {}: {e}", program.display())))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PrintError::Engine(format!(
                "{} started without its pipes",
                program.display()
            )));
        };
        tracing::debug!(program = %program.display(), pid = child.id(), "print engine started");
        Ok(Running {
            child: Arc::new(Mutex::new(child)),
            stdin,
            stdout: BufReader::new(stdout),
        })
    }

    /// The template's name in a message: its path, or `built-in D/F.typ`.
    fn label(&self, doctype: &str, format: &str) -> String {
        match crate::template(&self.data.join(SITE_DIR), doctype, format) {
            Ok((TemplateSource::Site(path), _)) => path.display().to_string(),
            _ => format!("built-in {doctype}/{format}.typ"),
        }
    }
}

impl Running {
    /// One print down the pipes. A watchdog thread stops the program when
    /// the answer takes longer than `limit`, which ends the read below.
    fn ask(
        &mut self,
        doctype: &str,
        format: &str,
        data: &[u8],
        limit: Duration,
    ) -> Result<Result<Printed, PrintError>, Broken> {
        let (done, finished) = mpsc::channel::<()>();
        let child = Arc::clone(&self.child);
        let watchdog = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(limit) {
                let _ = child.lock().unwrap_or_else(PoisonError::into_inner).kill();
                return true;
            }
            false
        });
        let asked = Request {
            doctype: doctype.to_string(),
            format: format.to_string(),
            data_len: data.len(),
        };
        let outcome = write_frame(&mut self.stdin, &asked, data).and_then(|()| {
            let reply: Reply = read_header(&mut self.stdout)?
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "its output ended"))?;
            Ok(match reply {
                Reply::Printed { template, pdf_len } => Ok(Printed {
                    pdf: read_body(&mut self.stdout, pdf_len)?,
                    template,
                }),
                Reply::Failed(e) => Err(e),
            })
        });
        let _ = done.send(());
        let timed_out = watchdog.join().unwrap_or(false);
        outcome.map_err(|error| Broken { error, timed_out })
    }

    /// Stops the program and says how it ended.
    fn stop(self) -> String {
        drop(self.stdin);
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = child.kill();
        match child.wait() {
            Ok(status) => status.to_string(),
            Err(e) => format!("its end unknown: {e}"),
        }
    }
}

impl Drop for PrintWorker {
    fn drop(&mut self) {
        let running = self
            .running
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = running.take() {
            running.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_back_as_written() {
        let mut wire = Vec::new();
        let asked = Request {
            doctype: "Sale".into(),
            format: "invoice".into(),
            data_len: 3,
        };
        write_frame(&mut wire, &asked, b"{}\n").unwrap();
        let mut r = io::Cursor::new(wire);
        assert_eq!(read_header::<Request>(&mut r).unwrap(), Some(asked));
        assert_eq!(read_body(&mut r, 3).unwrap(), b"{}\n");
        assert_eq!(read_header::<Request>(&mut r).unwrap(), None);
    }

    #[test]
    fn garbage_and_oversize_are_refused_with_what_was_wrong() {
        let bad = read_header::<Reply>(&mut io::Cursor::new(b"not json\n".to_vec())).unwrap_err();
        assert!(bad.to_string().contains("a bad header"), "{bad}");
        let long = vec![b'x'; MAX_HEADER + 10];
        let bad = read_header::<Reply>(&mut io::Cursor::new(long)).unwrap_err();
        assert!(bad.to_string().contains("longer than"), "{bad}");
        let cut = read_header::<Reply>(&mut io::Cursor::new(b"{\"fail".to_vec())).unwrap_err();
        assert!(cut.to_string().contains("cut short"), "{cut}");
        let big = read_body(&mut io::Cursor::new(Vec::new()), MAX_BODY + 1).unwrap_err();
        assert!(big.to_string().contains("more than"), "{big}");
    }

    #[test]
    fn an_error_crosses_the_pipe_whole() {
        let failed = Reply::Failed(PrintError::Template {
            file: "built-in Sale/invoice.typ".into(),
            line: 3,
            column: 7,
            message: "unknown variable: x".into(),
        });
        let mut wire = Vec::new();
        write_frame(&mut wire, &failed, b"").unwrap();
        let back: Reply = read_header(&mut io::Cursor::new(wire)).unwrap().unwrap();
        assert_eq!(back, failed);
    }

    #[test]
    fn a_missing_program_is_named_with_where_it_was_looked_for() {
        let worker = PrintWorker::new(PathBuf::from("/nonexistent"))
            .with_program(PathBuf::from("/nonexistent/outpost-print"));
        let err = worker.render("Sale", "invoice", b"{}").unwrap_err();
        assert!(
            matches!(&err, PrintError::Engine(m) if m.contains("cannot start /nonexistent/outpost-print")),
            "{err}"
        );
    }
}
