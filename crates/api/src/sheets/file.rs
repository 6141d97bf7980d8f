//! Spreadsheet files, read and written: CSV (UTF-8, comma, a header row)
//! and XLSX (the first worksheet, a header row). Cells travel as JSON
//! values: text, numbers, booleans, or null for an empty cell.

use std::io::{Cursor, Write as _};
use std::path::Path;

use calamine::{DataRef, Reader, Xlsx};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The two formats Outpost reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SheetFormat {
    Csv,
    Xlsx,
}

impl SheetFormat {
    /// The format a file name's extension says (`.csv`, `.xlsx`).
    pub fn of_path(path: &Path) -> Option<SheetFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(SheetFormat::Csv),
            "xlsx" => Some(SheetFormat::Xlsx),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            SheetFormat::Csv => "csv",
            SheetFormat::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            SheetFormat::Csv => "text/csv",
            SheetFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }
}

/// Why a file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error("the file is not UTF-8 text (row {row}); save it as \"CSV UTF-8\" and try again")]
    NotUtf8 { row: u64 },
    #[error("the CSV file cannot be read at row {row}: {message}")]
    Csv { row: u64, message: String },
    #[error(
        "the file is not a readable XLSX workbook ({0}); save it again as .xlsx (Excel Workbook)"
    )]
    Xlsx(String),
    #[error("the workbook has no worksheet")]
    NoSheet,
    #[error("the file has no header row; its first row must name the columns")]
    NoHeader,
    #[error("the file has more than {max} rows; split it into files of at most {max} rows")]
    TooManyRows { max: usize },
    #[error("the spreadsheet could not be written: {0}")]
    Write(String),
}

/// A file read: its header row and the rows after it (row 2 onwards).
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Reads `bytes` as `format`, refusing more than `max_rows` rows after the
/// header (the reading stops there: a huge file costs no more than that).
pub fn read(format: SheetFormat, bytes: &[u8], max_rows: usize) -> Result<Sheet, SheetError> {
    let mut all = match format {
        SheetFormat::Csv => read_csv(bytes, max_rows + 1)?,
        SheetFormat::Xlsx => read_xlsx(bytes, max_rows + 1)?,
    };
    if all.is_empty() {
        return Err(SheetError::NoHeader);
    }
    let headers: Vec<String> = all
        .remove(0)
        .into_iter()
        .map(|c| match c {
            Value::String(s) => s.trim().to_string(),
            Value::Null => String::new(),
            other => other.to_string(),
        })
        .collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(SheetError::NoHeader);
    }
    Ok(Sheet { headers, rows: all })
}

fn read_csv(bytes: &[u8], max: usize) -> Result<Vec<Vec<Value>>, SheetError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut out = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let row = out.len() as u64 + 1;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(SheetError::Csv {
                    row,
                    message: e.to_string(),
                })
            }
        }
        if out.len() == max {
            return Err(SheetError::TooManyRows { max: max - 1 });
        }
        let mut cells = Vec::with_capacity(record.len());
        for field in record.iter() {
            let text = std::str::from_utf8(field).map_err(|_| SheetError::NotUtf8 { row })?;
            cells.push(if text.is_empty() {
                Value::Null
            } else {
                Value::String(text.to_string())
            });
        }
        out.push(cells);
    }
    Ok(out)
}

fn read_xlsx(bytes: &[u8], max: usize) -> Result<Vec<Vec<Value>>, SheetError> {
    let mut book: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| SheetError::Xlsx(e.to_string()))?;
    let first = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or(SheetError::NoSheet)?;
    let mut cells = book
        .worksheet_cells_reader(&first)
        .map_err(|e| SheetError::Xlsx(e.to_string()))?;
    let mut out: Vec<Vec<Value>> = Vec::new();
    while let Some(cell) = cells
        .next_cell()
        .map_err(|e| SheetError::Xlsx(e.to_string()))?
    {
        let (row, col) = cell.get_position();
        let (row, col) = (row as usize, col as usize);
        if row >= max {
            return Err(SheetError::TooManyRows { max: max - 1 });
        }
        if col > 16_384 {
            return Err(SheetError::Xlsx(format!(
                "a cell beyond the last column ({col})"
            )));
        }
        let value = xlsx_value(cell.get_value());
        if value.is_null() {
            continue;
        }
        while out.len() <= row {
            out.push(Vec::new());
        }
        let line = &mut out[row];
        while line.len() <= col {
            line.push(Value::Null);
        }
        line[col] = value;
    }
    Ok(out)
}

fn xlsx_value(v: &DataRef<'_>) -> Value {
    match v {
        DataRef::Int(i) => Value::from(*i),
        DataRef::Float(f) => number(*f),
        DataRef::String(s) => Value::String(s.clone()),
        DataRef::SharedString(s) => Value::String(s.to_string()),
        DataRef::Bool(b) => Value::Bool(*b),
        DataRef::DateTime(d) => {
            let serial = d.as_f64();
            if d.is_datetime() {
                Value::String(excel_date(serial))
            } else {
                number(serial)
            }
        }
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Value::String(s.clone()),
        DataRef::Error(e) => Value::String(format!("#{e:?}")),
        DataRef::Empty => Value::Null,
    }
}

fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// An Excel date serial (days since 1899-12-30) as `YYYY-MM-DD`, with
/// ` HH:MM:SS` when it has a time of day.
fn excel_date(serial: f64) -> String {
    let days = serial.floor() as i64;
    let secs = ((serial - serial.floor()) * 86_400.0).round() as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days - 25_569 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if secs == 0 {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Writes rows into a file as they come: CSV through a buffer, XLSX in
/// rust_xlsxwriter's constant-memory mode (each finished row leaves memory
/// for a temporary file).
pub enum SheetWriter {
    Csv(Box<csv::Writer<std::io::BufWriter<std::fs::File>>>),
    Xlsx {
        book: Box<rust_xlsxwriter::Workbook>,
        row: u32,
        path: std::path::PathBuf,
    },
}

impl SheetWriter {
    /// A writer into `path` with `headers` as its first row.
    pub fn create(
        format: SheetFormat,
        path: &Path,
        headers: &[String],
    ) -> Result<SheetWriter, SheetError> {
        let w = |e: &dyn std::fmt::Display| SheetError::Write(e.to_string());
        let mut out = match format {
            SheetFormat::Csv => {
                let file = std::fs::File::create(path).map_err(|e| w(&e))?;
                SheetWriter::Csv(Box::new(csv::Writer::from_writer(std::io::BufWriter::new(
                    file,
                ))))
            }
            SheetFormat::Xlsx => {
                let mut book = rust_xlsxwriter::Workbook::new();
                book.add_worksheet_with_constant_memory()
                    .map_err(|e| w(&e))?;
                SheetWriter::Xlsx {
                    book: Box::new(book),
                    row: 0,
                    path: path.to_path_buf(),
                }
            }
        };
        let cells: Vec<Value> = headers.iter().map(|h| Value::String(h.clone())).collect();
        out.row(&cells)?;
        Ok(out)
    }

    /// Appends one row.
    pub fn row(&mut self, cells: &[Value]) -> Result<(), SheetError> {
        let w = |e: &dyn std::fmt::Display| SheetError::Write(e.to_string());
        match self {
            SheetWriter::Csv(out) => {
                for c in cells {
                    match c {
                        Value::Null => out.write_field(b""),
                        Value::String(s) => out.write_field(s.as_bytes()),
                        other => out.write_field(other.to_string().as_bytes()),
                    }
                    .map_err(|e| w(&e))?;
                }
                out.write_record(None::<&[u8]>).map_err(|e| w(&e))
            }
            SheetWriter::Xlsx { book, row, .. } => {
                let sheet = book.worksheet_from_index(0).map_err(|e| w(&e))?;
                for (col, c) in cells.iter().enumerate() {
                    let col = col as u16;
                    let r = match c {
                        Value::Null => continue,
                        Value::Bool(b) => sheet.write_boolean(*row, col, *b).map(|_| ()),
                        Value::Number(n) => sheet
                            .write_number(*row, col, n.as_f64().unwrap_or(0.0))
                            .map(|_| ()),
                        Value::String(s) => sheet.write_string(*row, col, s).map(|_| ()),
                        other => sheet.write_string(*row, col, other.to_string()).map(|_| ()),
                    };
                    r.map_err(|e| w(&e))?;
                }
                *row += 1;
                Ok(())
            }
        }
    }

    /// Finishes the file.
    pub fn finish(self) -> Result<(), SheetError> {
        let w = |e: &dyn std::fmt::Display| SheetError::Write(e.to_string());
        match self {
            SheetWriter::Csv(out) => {
                let mut inner = out.into_inner().map_err(|e| w(&e))?;
                inner.flush().map_err(|e| w(&e))
            }
            SheetWriter::Xlsx { mut book, path, .. } => book.save(&path).map_err(|e| w(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(format: SheetFormat) -> Sheet {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("t.{}", format.extension()));
        let mut w = SheetWriter::create(format, &path, &["a".into(), "b".into()]).unwrap();
        w.row(&[json!("x, \"quoted\""), json!(2.5)]).unwrap();
        w.row(&[Value::Null, json!(true)]).unwrap();
        w.finish().unwrap();
        read(format, &std::fs::read(&path).unwrap(), 10).unwrap()
    }

    #[test]
    fn csv_and_xlsx_keep_headers_text_numbers_and_empty_cells() {
        let csv = round_trip(SheetFormat::Csv);
        assert_eq!(csv.headers, ["a", "b"]);
        assert_eq!(csv.rows[0], [json!("x, \"quoted\""), json!("2.5")]);
        assert_eq!(csv.rows[1], [Value::Null, json!("true")]);
        let xlsx = round_trip(SheetFormat::Xlsx);
        assert_eq!(xlsx.headers, ["a", "b"]);
        assert_eq!(xlsx.rows[0], [json!("x, \"quoted\""), json!(2.5)]);
        assert_eq!(xlsx.rows[1], [Value::Null, json!(true)]);
    }

    #[test]
    fn too_many_rows_and_bad_bytes_are_refused_with_what_to_do() {
        let e = read(SheetFormat::Csv, b"a\n1\n2\n3\n", 2).unwrap_err();
        assert!(matches!(e, SheetError::TooManyRows { max: 2 }), "{e}");
        let e = read(SheetFormat::Csv, b"a\n\xff\xfe\n", 2).unwrap_err();
        assert!(e.to_string().contains("CSV UTF-8"), "{e}");
        let e = read(SheetFormat::Xlsx, b"not a zip", 2).unwrap_err();
        assert!(e.to_string().contains("not a readable XLSX"), "{e}");
    }

    #[test]
    fn excel_serials_become_dates() {
        assert_eq!(excel_date(45_658.0), "2025-01-01");
        assert_eq!(excel_date(45_658.5), "2025-01-01 12:00:00");
    }
}
