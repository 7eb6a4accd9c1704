//! The per-file rejection report, written for a spreadsheet user.
//!
//! The people who fix rejected rows open this file in Excel or LibreOffice,
//! so it is UTF-8 *with* a BOM (without one, Excel reads it as the system
//! code page and mangles every accent) and every cell that a spreadsheet
//! would evaluate as a formula is defused with a leading apostrophe. The
//! values come straight from a third party's file: `=HYPERLINK(...)` in a
//! product name must stay text on our side too.

use super::validate::RowError;

const HEADER: [&str; 4] = ["line", "column", "value", "reason"];

/// Writes `errors` as `line,column,value,reason`, CRLF line ends (RFC 4180,
/// and what Excel writes itself), quoting only where needed.
pub fn write_error_report<W: std::io::Write>(
    errors: &[RowError],
    mut out: W,
) -> std::io::Result<()> {
    out.write_all(b"\xEF\xBB\xBF")?;
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(out);
    writer.write_record(HEADER).map_err(into_io)?;
    for error in errors {
        let line = error.line.to_string();
        writer
            .write_record([
                line.as_str(),
                &neutralise(&error.column),
                &neutralise(&error.value),
                &neutralise(&error.reason),
            ])
            .map_err(into_io)?;
    }
    writer.flush()
}

/// The OWASP rule for CSV injection: a cell starting with `=`, `+`, `-`,
/// `@`, tab or carriage return is prefixed with `'`, which spreadsheets
/// treat as "this is text" and do not display. A negative number in the
/// value column therefore shows as text; that is the accepted cost.
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

fn into_io(error: csv::Error) -> std::io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn error(line: usize, column: &str, value: &str, reason: &str) -> RowError {
        RowError {
            line,
            column: column.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
            field: None,
        }
    }

    fn render(errors: &[RowError]) -> String {
        let mut buf = Vec::new();
        if let Err(e) = write_error_report(errors, &mut buf) {
            panic!("{e}");
        }
        assert!(buf.starts_with(b"\xEF\xBB\xBF"));
        String::from_utf8(buf[3..].to_vec()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn empty_report_has_bom_and_header() {
        assert_eq!(render(&[]), "line,column,value,reason\r\n");
    }

    #[test]
    fn quoting_and_accents() {
        let out = render(&[error(
            7,
            "Preço (R$)",
            "1,5; \"dois\"\nlinhas",
            "not a number",
        )]);
        assert_eq!(
            out,
            "line,column,value,reason\r\n7,Preço (R$),\"1,5; \"\"dois\"\"\nlinhas\",not a number\r\n"
        );
    }

    #[test]
    fn formulas_are_defused() {
        for (cell, want) in [
            ("=1+1", "'=1+1"),
            ("+55 11", "'+55 11"),
            ("-5", "'-5"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("a=1", "a=1"),
            ("", ""),
            ("'quoted", "'quoted"),
        ] {
            assert_eq!(neutralise(cell), want);
        }
        let out = render(&[error(2, "=cmd|' /C calc'!A0", "=HYPERLINK(\"x\")", "-")]);
        assert!(out.contains("'=cmd|' /C calc'!A0"));
        assert!(out.contains("\"'=HYPERLINK(\"\"x\"\")\""));
        assert!(out.ends_with(",'-\r\n"));
    }

    /// Whatever the cells, the report parses back to the same cells (minus
    /// the defusing apostrophe) and one record per error.
    #[test]
    fn random_cells_round_trip() {
        let pieces = [
            "a", "é", ",", ";", "\"", "\n", "\r", "=", "-", "@", "\t", " ", "ção", "'",
        ];
        let mut rng = StdRng::seed_from_u64(99);
        for _ in 0..300 {
            let mut errors = Vec::new();
            for line in 0..rng.gen_range(0..5) {
                let mut cell = || -> String {
                    (0..rng.gen_range(0..6))
                        .map(|_| pieces[rng.gen_range(0..pieces.len())])
                        .collect()
                };
                errors.push(error(line, &cell(), &cell(), &cell()));
            }
            let out = render(&errors);
            let mut reader = csv::ReaderBuilder::new().from_reader(out.as_bytes());
            let records: Vec<csv::StringRecord> = reader.records().filter_map(Result::ok).collect();
            assert_eq!(records.len(), errors.len());
            for (record, error) in records.iter().zip(&errors) {
                assert_eq!(record.get(0), Some(error.line.to_string().as_str()));
                assert_eq!(record.get(1), Some(neutralise(&error.column).as_str()));
                assert_eq!(record.get(2), Some(neutralise(&error.value).as_str()));
                assert_eq!(record.get(3), Some(neutralise(&error.reason).as_str()));
            }
        }
    }
}
