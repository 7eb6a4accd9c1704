//! From the bytes of a dropped file to header-mapped rows of text.
//!
//! This layer decides only what the file *says*: its encoding, its
//! delimiter, which column is which field, and where each record starts.
//! Whether the values make sense is `validate`'s job, so a file is refused
//! here only when nothing in it can be trusted (empty, binary, no SKU
//! column, an unterminated quote).
//!
//! # Encoding
//! A BOM is believed (UTF-8, UTF-16LE/BE: Excel's "Unicode text" export is
//! UTF-16). Without one, bytes that are valid UTF-8 are UTF-8: legacy
//! single-byte text with accents is almost never valid UTF-8 by accident,
//! so the test is decisive and cheap. Only otherwise is `chardetng` asked
//! (on the first 256 KiB), with the `.br` hint, which makes Windows-1252 (what pt-BR Excel writes,
//! and a superset of Latin-1) its answer for Portuguese text. A guess that
//! still fails to decode falls back to Windows-1252, which decodes any byte.
//!
//! # Delimiter
//! `,` `;` and tab are each tried on the first records; the winner is the
//! one whose header maps the most known columns, then the one whose rows
//! agree in width with the header, then the widest header. Headers decide
//! first because they are the one line whose content we can predict.

use super::values::fold;

/// A catalog column we understand. The names are the canonical English
/// column names of the contract; any header that folds to one of the
/// aliases in [`Field::aliases`] maps to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Sku,
    Name,
    Category,
    Manufacturer,
    Model,
    Distributor,
    Price,
    Stock,
    PowerW,
    Efficiency,
    Voc,
    Vmp,
    Isc,
    Imp,
    MpptMinV,
    MpptMaxV,
    MaxDcVoltage,
    AcPowerW,
    Phases,
    Voltage,
    Inmetro,
    WarrantyYears,
    DatasheetUrl,
}

const ALL_FIELDS: [Field; 23] = [
    Field::Sku,
    Field::Name,
    Field::Category,
    Field::Manufacturer,
    Field::Model,
    Field::Distributor,
    Field::Price,
    Field::Stock,
    Field::PowerW,
    Field::Efficiency,
    Field::Voc,
    Field::Vmp,
    Field::Isc,
    Field::Imp,
    Field::MpptMinV,
    Field::MpptMaxV,
    Field::MaxDcVoltage,
    Field::AcPowerW,
    Field::Phases,
    Field::Voltage,
    Field::Inmetro,
    Field::WarrantyYears,
    Field::DatasheetUrl,
];

impl Field {
    pub fn name(self) -> &'static str {
        match self {
            Field::Sku => "sku",
            Field::Name => "name",
            Field::Category => "category",
            Field::Manufacturer => "manufacturer",
            Field::Model => "model",
            Field::Distributor => "distributor",
            Field::Price => "price",
            Field::Stock => "stock",
            Field::PowerW => "power_w",
            Field::Efficiency => "efficiency",
            Field::Voc => "voc",
            Field::Vmp => "vmp",
            Field::Isc => "isc",
            Field::Imp => "imp",
            Field::MpptMinV => "mppt_min_v",
            Field::MpptMaxV => "mppt_max_v",
            Field::MaxDcVoltage => "max_dc_voltage",
            Field::AcPowerW => "ac_power_w",
            Field::Phases => "phases",
            Field::Voltage => "voltage",
            Field::Inmetro => "inmetro",
            Field::WarrantyYears => "warranty_years",
            Field::DatasheetUrl => "datasheet_url",
        }
    }

    pub fn all() -> &'static [Field] {
        &ALL_FIELDS
    }

    /// Header keys (see [`header_key`]) that mean this field. Keys are
    /// folded, unit-less and concatenated, so `Potência (W)`, `potencia_w`
    /// and `POTENCIA` all arrive here as `potencia`; `máx`/`máxima` arrive as
    /// `max`, `CC` as `dc` and `CA` as `ac`.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::Sku => &[
                "sku",
                "codigo",
                "cod",
                "code",
                "ref",
                "referencia",
                "reference",
                "codigoproduto",
                "codproduto",
                "productcode",
                "itemcode",
                "partnumber",
                "codigosku",
                "skuproduto",
                "productid",
            ],
            Field::Name => &[
                "name",
                "nome",
                "descricao",
                "desc",
                "produto",
                "product",
                "productname",
                "nomeproduto",
                "descricaoproduto",
                "description",
                "productdescription",
                "item",
                "titulo",
                "title",
            ],
            Field::Category => &[
                "category",
                "categoria",
                "tipo",
                "type",
                "tipoproduto",
                "producttype",
                "grupo",
                "familia",
            ],
            Field::Manufacturer => &[
                "manufacturer",
                "fabricante",
                "marca",
                "brand",
                "maker",
                "fabricantemarca",
                "marcafabricante",
            ],
            Field::Model => &["model", "modelo", "modelnumber", "partmodel"],
            Field::Distributor => &[
                "distributor",
                "distribuidor",
                "distribuidora",
                "fornecedor",
                "supplier",
                "vendor",
                "seller",
            ],
            Field::Price => &[
                "price",
                "preco",
                "valor",
                "precounitario",
                "valorunitario",
                "unitprice",
                "precovenda",
                "valorvenda",
                "salesprice",
                "sellingprice",
                "precoavista",
            ],
            Field::Stock => &[
                "stock",
                "estoque",
                "qtd",
                "qtde",
                "quantidade",
                "quantity",
                "qty",
                "saldo",
                "disponivel",
                "estoquedisponivel",
                "available",
                "inventory",
                "stockqty",
            ],
            Field::PowerW => &[
                "power",
                "potencia",
                "potencianominal",
                "pmax",
                "potenciamax",
                "potenciapico",
                "peakpower",
                "ratedpower",
                "nominalpower",
                "potenciamodulo",
                "potenciadc",
                "dcpower",
            ],
            Field::Efficiency => &[
                "efficiency",
                "eficiencia",
                "eff",
                "rendimento",
                "eficienciamodulo",
                "moduleefficiency",
                "eficienciamax",
                "maxefficiency",
            ],
            Field::Voc => &["voc", "tensaocircuitoaberto", "opencircuitvoltage"],
            Field::Vmp => &[
                "vmp",
                "vmpp",
                "tensaomaxpotencia",
                "tensaopotenciamax",
                "maxpowervoltage",
            ],
            Field::Isc => &["isc", "correntecurtocircuito", "shortcircuitcurrent"],
            Field::Imp => &[
                "imp",
                "impp",
                "correntemaxpotencia",
                "correntepotenciamax",
                "maxpowercurrent",
            ],
            Field::MpptMinV => &[
                "mpptmin",
                "tensaompptmin",
                "tensaominmppt",
                "minmppt",
                "mpptvmin",
                "faixampptmin",
                "mpptminvoltage",
                "minmpptvoltage",
            ],
            Field::MpptMaxV => &[
                "mpptmax",
                "tensaompptmax",
                "tensaomaxmppt",
                "maxmppt",
                "mpptvmax",
                "faixampptmax",
                "mpptmaxvoltage",
                "maxmpptvoltage",
            ],
            Field::MaxDcVoltage => &[
                "maxdcvoltage",
                "tensaomaxdc",
                "tensaodcmax",
                "maxinputvoltage",
                "tensaomaxentrada",
                "tensaoentradamax",
                "vdcmax",
                "vmaxdc",
                "maxdcinputvoltage",
                "maxsystemvoltage",
                "tensaomaxsistema",
            ],
            Field::AcPowerW => &[
                "acpower",
                "potenciaac",
                "potencianominalac",
                "potenciaacnominal",
                "potenciasaida",
                "potenciasaidaac",
                "outputpower",
                "ratedacpower",
                "acoutputpower",
                "nominalacpower",
            ],
            Field::Phases => &["phases", "phase", "fases", "fase"],
            Field::Voltage => &[
                "voltage",
                "tensao",
                "tensaoac",
                "tensaonominal",
                "tensaosaida",
                "acvoltage",
                "gridvoltage",
                "nominalvoltage",
                "tensaorede",
                "outputvoltage",
                "tensaobateria",
                "batteryvoltage",
            ],
            Field::Inmetro => &[
                "inmetro",
                "registroinmetro",
                "inmetroregistro",
                "certificacaoinmetro",
                "codigoinmetro",
                "inmetroregistration",
                "inmetrocertificate",
            ],
            Field::WarrantyYears => &["warranty", "garantia", "garantiaproduto", "productwarranty"],
            Field::DatasheetUrl => &[
                "datasheet",
                "datasheeturl",
                "urldatasheet",
                "linkdatasheet",
                "datasheetlink",
                "fichatecnica",
                "fichatecnicaurl",
                "urlfichatecnica",
                "linkfichatecnica",
            ],
        }
    }
}

/// The file as rows of cell text, with each column mapped to a field.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTable {
    /// Name of the detected encoding, as `encoding_rs` spells it.
    pub encoding: &'static str,
    pub delimiter: u8,
    /// Field of each header position; `None` for ignored columns.
    pub columns: Vec<Option<Field>>,
    /// Header text with whitespace collapsed (Excel headers may hold line
    /// breaks); trailing blank headers are dropped, so the width of the
    /// table is `headers.len() == columns.len()`.
    pub headers: Vec<String>,
    /// Columns that are loaded nowhere: unrecognised headers, a repeat of
    /// a field already mapped by an earlier column (the first one wins),
    /// and blank headers between named ones (shown as `(column N)`).
    pub unknown_columns: Vec<String>,
    /// Physical line of the header: 1 unless title lines precede it.
    pub header_line: usize,
    pub rows: Vec<RawRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    /// 1-based physical line on which the record starts.
    pub line: usize,
    pub cells: Vec<String>,
}

/// Why a whole file was refused. Each is reported once for the file; none
/// is worth retrying, because the same bytes give the same answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a text CSV: {0}")]
    NotText(String),
    #[error("no SKU column found (expected a header such as sku, código or ref); headers: {}", .headers.join(" | "))]
    NoSkuColumn { headers: Vec<String> },
    #[error("the file is not readable as CSV: {0}")]
    Csv(String),
}

/// How many leading records may be title lines before the real header.
const HEADER_SEARCH: usize = 10;
/// How many records the delimiter detection looks at.
const DETECT_SAMPLE: usize = 30;
/// Share of control or undecodable characters above which a file is
/// treated as binary (a text export has none).
const MAX_JUNK_PERCENT: usize = 2;

pub fn read_table(bytes: &[u8]) -> Result<RawTable, FileError> {
    let (text, encoding) = decode(bytes)?;
    let text = normalise_line_ends(text);
    if text.chars().all(|c| c.is_whitespace() || c == '\u{feff}') {
        return Err(FileError::Empty);
    }
    check_is_text(&text)?;
    let delimiter = detect_delimiter(&text);
    if let Some(line) = unterminated_quote(&text, delimiter) {
        // The tail of the file would be swallowed into one cell. Loading the
        // head alone would make the swallowed products look withdrawn from
        // the distributor's snapshot, so the whole file is refused.
        return Err(FileError::Csv(format!(
            "a quoted field opened on line {line} is never closed"
        )));
    }
    let records = read_records(&text, delimiter, usize::MAX)?;

    let header_index = records.iter().take(HEADER_SEARCH).position(|r| {
        r.cells
            .iter()
            .any(|c| field_for_header(c) == Some(Field::Sku))
    });
    let Some(header_index) = header_index else {
        let headers = records
            .first()
            .map(|r| r.cells.iter().map(|c| collapse(c)).collect())
            .unwrap_or_default();
        return Err(FileError::NoSkuColumn { headers });
    };

    let mut records = records.into_iter().skip(header_index);
    let header = records
        .next()
        .map(|r| (r.line, r.cells))
        .unwrap_or_default();
    let (header_line, header_cells) = header;
    let mut headers: Vec<String> = header_cells.iter().map(|c| collapse(c)).collect();
    while headers.last().is_some_and(|h| h.is_empty()) {
        headers.pop();
    }
    let (columns, unknown_columns) = map_headers(&headers);

    let rows = records
        .filter(|r| r.cells.iter().any(|c| !c.trim().is_empty()))
        .map(|r| RawRow {
            line: r.line,
            cells: r.cells,
        })
        .collect();

    Ok(RawTable {
        encoding: encoding.name(),
        delimiter,
        columns,
        headers,
        unknown_columns,
        header_line,
        rows,
    })
}

/// The field a header names, ignoring accents, case, spacing, punctuation
/// and a unit suffix; `None` when it is none of ours.
pub fn field_for_header(header: &str) -> Option<Field> {
    let key = header_key(header).0;
    if key.is_empty() {
        return None;
    }
    Field::all()
        .iter()
        .copied()
        .find(|f| f.aliases().contains(&key.as_str()))
}

/// The unit a header declares for its column (`Potência (kW)` → `kw`), so
/// a bare `5` under it can be read as 5 kW rather than 5 W.
pub fn header_unit(header: &str) -> Option<String> {
    header_key(header).1
}

/// Words that only carry a unit. They are stripped from the end of a
/// header, so they must never be the last word of a real alias.
const UNIT_WORDS: &[&str] = &[
    "w", "kw", "mw", "wp", "kwp", "mwp", "v", "kv", "vcc", "vdc", "vca", "vac", "a", "ma", "r",
    "rs", "brl", "reais", "pct", "percent", "porcento", "ano", "anos", "year", "years", "yr",
    "yrs", "mes", "meses", "month", "months", "un", "und", "unid", "unidade", "unidades", "pc",
    "pcs", "pecas", "units",
];

/// Words that never distinguish one column from another.
const STOP_WORDS: &[&str] = &[
    "de", "do", "da", "dos", "das", "em", "para", "por", "per", "of", "the", "in", "n", "no", "nr",
    "num", "numero",
];

fn canonical_word(word: &str) -> &str {
    match word {
        "maxima" | "maximo" | "maximum" | "maxi" => "max",
        "minima" | "minimo" | "minimum" => "min",
        "cc" => "dc",
        "ca" => "ac",
        other => other,
    }
}

/// Folds a header to its lookup key and the unit it declares.
///
/// A trailing `(…)` or `[…]` whose words are all units (or AC/DC, as in
/// `(V ca)`) is removed first; then unit words at the end of the remaining
/// words (`potencia_w`) while at least one word remains, so `A` or `V` on
/// their own are never emptied.
fn header_key(header: &str) -> (String, Option<String>) {
    let mut folded = fold(header);
    let mut unit: Option<String> = None;

    if let Some(close) = folded.chars().last().filter(|c| matches!(c, ')' | ']')) {
        let open = if close == ')' { '(' } else { '[' };
        if let Some(start) = folded.rfind(open) {
            let inner = &folded[start + 1..folded.len() - 1];
            let words: Vec<&str> = inner
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(canonical_word)
                .collect();
            let all_units = words
                .iter()
                .all(|w| UNIT_WORDS.contains(w) || matches!(*w, "ac" | "dc"));
            if all_units {
                let unit_words: Vec<&str> = words
                    .iter()
                    .copied()
                    .filter(|w| !matches!(*w, "ac" | "dc"))
                    .collect();
                if !unit_words.is_empty() {
                    unit = Some(unit_words.concat());
                }
                folded.truncate(start);
            }
        }
    }

    let mut words: Vec<&str> = folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(canonical_word)
        .filter(|w| !STOP_WORDS.contains(w))
        .collect();
    while words.len() > 1 {
        match words.last() {
            Some(last) if UNIT_WORDS.contains(last) => {
                if unit.is_none() {
                    unit = Some((*last).to_string());
                }
                words.pop();
            }
            _ => break,
        }
    }
    (words.concat(), unit)
}

fn map_headers(headers: &[String]) -> (Vec<Option<Field>>, Vec<String>) {
    let mut columns = Vec::with_capacity(headers.len());
    let mut unknown = Vec::new();
    for (i, header) in headers.iter().enumerate() {
        let field = field_for_header(header);
        match field {
            Some(f) if !columns.contains(&Some(f)) => columns.push(Some(f)),
            _ => {
                columns.push(None);
                unknown.push(if header.is_empty() {
                    format!("(column {})", i + 1)
                } else {
                    header.clone()
                });
            }
        }
    }
    (columns, unknown)
}

/// Trims and collapses runs of whitespace (including line breaks inside a
/// quoted cell) to single spaces.
pub(crate) fn collapse(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\u{feff}', "")
}

pub(crate) fn decode(bytes: &[u8]) -> Result<(String, &'static encoding_rs::Encoding), FileError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FileError::Empty);
    }
    let mut bytes = bytes;
    if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let body = bytes.get(bom_len..).unwrap_or_default();
        if encoding != encoding_rs::UTF_8 {
            // UTF-16: replacement characters from a bad sequence count as
            // junk in `check_is_text`, so a mislabelled file is caught there.
            let (text, _had_errors) = encoding.decode_without_bom_handling(body);
            return Ok((text.into_owned(), encoding));
        }
        if let Ok(text) = std::str::from_utf8(body) {
            return Ok((text.to_string(), encoding_rs::UTF_8));
        }
        // A UTF-8 BOM in front of legacy bytes (a tool that prepends one
        // blindly): the bytes, not the label, decide.
        bytes = body;
    }
    if let Some(kind) = binary_signature(bytes) {
        return Err(FileError::NotText(kind.to_string()));
    }
    if bytes.contains(&0) {
        return Err(FileError::NotText("it contains NUL bytes".to_string()));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((text.to_string(), encoding_rs::UTF_8));
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(detection_sample(bytes), true);
    let guess = detector.guess(Some(b"br"), chardetng::Utf8Detection::Deny);
    let (text, had_errors) = guess.decode_without_bom_handling(bytes);
    if had_errors {
        let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
        return Ok((text.into_owned(), encoding_rs::WINDOWS_1252));
    }
    Ok((text.into_owned(), guess))
}

/// The head of the file, cut after a line break, that the detector sees.
/// A quarter megabyte of catalog holds thousands of accented words, far
/// more than `chardetng` needs, and keeps detection of a 100,000-row file
/// from costing more than parsing it.
fn detection_sample(bytes: &[u8]) -> &[u8] {
    const SAMPLE: usize = 256 * 1024;
    match bytes.get(..SAMPLE) {
        None => bytes,
        Some(head) => match head.iter().rposition(|b| *b == b'\n') {
            Some(end) => head.get(..=end).unwrap_or(head),
            None => head,
        },
    }
}

/// Files people drop by mistake, named so the report says what to do.
fn binary_signature(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"PK\x03\x04") {
        Some("it is a ZIP archive (an .xlsx workbook?); export it as CSV")
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        Some("it is a legacy Excel .xls workbook; export it as CSV")
    } else if bytes.starts_with(b"%PDF") {
        Some("it is a PDF document")
    } else {
        None
    }
}

fn check_is_text(text: &str) -> Result<(), FileError> {
    let mut total = 0usize;
    let mut junk = 0usize;
    for c in text.chars() {
        total += 1;
        if c == '\0' {
            return Err(FileError::NotText("it contains NUL characters".to_string()));
        }
        let is_junk =
            c == '\u{fffd}' || (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}'));
        if is_junk {
            junk += 1;
        }
    }
    if junk > 0 && junk * 100 > total * MAX_JUNK_PERCENT {
        return Err(FileError::NotText(format!(
            "{junk} of its {total} characters are control codes or undecodable bytes"
        )));
    }
    Ok(())
}

/// Classic Mac exports end lines with a lone CR; the CSV reader would
/// accept them but count every record as line 1.
///
/// A trailing Ctrl-Z (the DOS end-of-file mark some old exporters still
/// write) is dropped too, so it does not count as binary junk.
fn normalise_line_ends(mut text: String) -> String {
    while text.ends_with('\u{1a}') {
        text.pop();
    }
    if text.contains('\r') && !text.contains('\n') {
        text.replace('\r', "\n")
    } else {
        text
    }
}

struct Record {
    line: usize,
    cells: Vec<String>,
}

/// Reads up to `limit` records with their physical start line.
///
/// The `csv` crate's own `Position::line()` is not usable for this: after
/// a CRLF or a blank line it reports the position where the previous
/// record's terminator began, so every line number after the first CRLF
/// is short by one more. We take its byte offset instead, step over the
/// line breaks that precede the record, and count `\n` up to there.
fn read_records(text: &str, delimiter: u8, limit: usize) -> Result<Vec<Record>, FileError> {
    let bytes = text.as_bytes();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::StringRecord::new();
    let mut out = Vec::new();
    let (mut counted_to, mut line) = (0usize, 1usize);
    while out.len() < limit {
        match reader.read_record(&mut record) {
            Ok(true) => {
                let reported = record
                    .position()
                    .and_then(|p| usize::try_from(p.byte()).ok())
                    .unwrap_or(counted_to);
                let start = reported
                    + bytes
                        .get(reported..)
                        .unwrap_or_default()
                        .iter()
                        .take_while(|b| matches!(b, b'\r' | b'\n'))
                        .count();
                if let Some(skipped) = bytes.get(counted_to..start) {
                    line += skipped.iter().filter(|b| **b == b'\n').count();
                    counted_to = start;
                }
                out.push(Record {
                    line,
                    cells: record.iter().map(str::to_string).collect(),
                });
            }
            Ok(false) => break,
            Err(e) => return Err(FileError::Csv(e.to_string())),
        }
    }
    Ok(out)
}

pub(crate) fn detect_delimiter(text: &str) -> u8 {
    let mut best = (b';', (0usize, 0usize, 0usize));
    for delimiter in [b';', b',', b'\t'] {
        let Ok(records) = read_records(text, delimiter, DETECT_SAMPLE) else {
            continue;
        };
        let known = records
            .iter()
            .take(HEADER_SEARCH)
            .map(|r| {
                let mut fields: Vec<Field> =
                    r.cells.iter().filter_map(|c| field_for_header(c)).collect();
                fields.sort_by_key(|f| f.name());
                fields.dedup();
                fields.len()
            })
            .max()
            .unwrap_or(0);
        let width = records.first().map_or(0, |r| r.cells.len());
        let agreeing = if width > 1 {
            records
                .iter()
                .skip(1)
                .filter(|r| r.cells.len() == width)
                .count()
        } else {
            0
        };
        let score = (known, agreeing, width);
        if score > best.1 {
            best = (delimiter, score);
        }
    }
    best.0
}

/// Runs the RFC 4180 quoting automaton (the one the `csv` crate follows:
/// a quote opens a field only at its start, `""` escapes) and returns the
/// line where a still-open quoted field began, if the text ends inside one.
fn unterminated_quote(text: &str, delimiter: u8) -> Option<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    let mut line = 1usize;
    let mut opened_on = 1usize;
    for &b in text.as_bytes() {
        let at_boundary = b == delimiter || b == b'\n' || b == b'\r';
        state = match state {
            State::FieldStart | State::Unquoted if at_boundary => State::FieldStart,
            State::FieldStart if b == b'"' => {
                opened_on = line;
                State::Quoted
            }
            State::FieldStart | State::Unquoted => State::Unquoted,
            State::Quoted if b == b'"' => State::QuoteInQuoted,
            State::Quoted => State::Quoted,
            State::QuoteInQuoted if b == b'"' => State::Quoted,
            State::QuoteInQuoted if at_boundary => State::FieldStart,
            State::QuoteInQuoted => State::Unquoted,
        };
        if b == b'\n' {
            line += 1;
        }
    }
    (state == State::Quoted).then_some(opened_on)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn table(bytes: &[u8]) -> RawTable {
        match read_table(bytes) {
            Ok(t) => t,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn cp1252(s: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(s);
        assert!(!unmappable);
        bytes.into_owned()
    }

    #[test]
    fn every_canonical_name_maps_to_itself() {
        for &f in Field::all() {
            assert_eq!(field_for_header(f.name()), Some(f), "{}", f.name());
        }
        assert_eq!(Field::all().len(), 23);
    }

    #[test]
    fn aliases_are_unique_and_survive_folding() {
        let mut seen = std::collections::HashMap::new();
        for &f in Field::all() {
            for alias in f.aliases() {
                assert!(seen.insert(*alias, f).is_none(), "{alias} used twice");
                assert_eq!(field_for_header(alias), Some(f), "{alias}");
            }
        }
    }

    #[test]
    fn portuguese_and_english_headers() {
        let cases = [
            ("Código", Field::Sku),
            ("CODIGO", Field::Sku),
            ("cód.", Field::Sku),
            ("Ref.", Field::Sku),
            ("SKU", Field::Sku),
            ("Código do Produto", Field::Sku),
            ("Descrição", Field::Name),
            ("descricao", Field::Name),
            ("Nome", Field::Name),
            ("Produto", Field::Name),
            ("Categoria", Field::Category),
            ("Marca", Field::Manufacturer),
            ("Fabricante", Field::Manufacturer),
            ("Modelo", Field::Model),
            ("Fornecedor", Field::Distributor),
            ("Distribuidor", Field::Distributor),
            ("Preço (R$)", Field::Price),
            ("preço_unitário", Field::Price),
            ("Valor", Field::Price),
            ("price_brl", Field::Price),
            ("Qtd.", Field::Stock),
            ("Estoque (un)", Field::Stock),
            ("Quantidade", Field::Stock),
            ("Potência (W)", Field::PowerW),
            ("potencia_w", Field::PowerW),
            ("Pmax", Field::PowerW),
            ("Potência máxima (Wp)", Field::PowerW),
            ("Eficiência (%)", Field::Efficiency),
            ("efficiency_pct", Field::Efficiency),
            ("Voc (V)", Field::Voc),
            ("VMP", Field::Vmp),
            ("Isc (A)", Field::Isc),
            ("Imp [A]", Field::Imp),
            ("mppt_min_v", Field::MpptMinV),
            ("Tensão MPPT mín. (V)", Field::MpptMinV),
            ("tensao_mppt_min", Field::MpptMinV),
            ("MPPT máx (V)", Field::MpptMaxV),
            ("Tensão máx. CC (V)", Field::MaxDcVoltage),
            ("tensao_max_cc", Field::MaxDcVoltage),
            ("Tensão Máxima CC", Field::MaxDcVoltage),
            ("Potência CA (W)", Field::AcPowerW),
            ("potencia_ca", Field::AcPowerW),
            ("Potência CA (kW)", Field::AcPowerW),
            ("Fases", Field::Phases),
            ("Nº de fases", Field::Phases),
            ("Tensão (V)", Field::Voltage),
            ("Tensão (V ca)", Field::Voltage),
            ("tensao", Field::Voltage),
            ("Registro Inmetro", Field::Inmetro),
            ("registro_inmetro", Field::Inmetro),
            ("Garantia (anos)", Field::WarrantyYears),
            ("garantia_anos", Field::WarrantyYears),
            ("Datasheet", Field::DatasheetUrl),
            ("Ficha Técnica", Field::DatasheetUrl),
            ("ficha_tecnica", Field::DatasheetUrl),
            ("\u{feff}sku", Field::Sku),
            ("  Potência\n(W)  ", Field::PowerW),
        ];
        for (header, field) in cases {
            assert_eq!(field_for_header(header), Some(field), "{header:?}");
        }
        for unknown in [
            "",
            "W",
            "A",
            "(W)",
            "Observações",
            "Cód. Fabricante",
            "ID",
            "%",
        ] {
            assert_eq!(field_for_header(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn header_units_are_reported() {
        assert_eq!(header_unit("Potência (kW)").as_deref(), Some("kw"));
        assert_eq!(header_unit("potencia_kw").as_deref(), Some("kw"));
        assert_eq!(header_unit("Tensão (V ca)").as_deref(), Some("v"));
        assert_eq!(header_unit("Garantia (meses)").as_deref(), Some("meses"));
        assert_eq!(header_unit("Eficiência (%)"), None);
        assert_eq!(header_unit("Potência"), None);
    }

    #[test]
    fn brazilian_excel_export() {
        let text = "Código;Descrição;Preço (R$);Potência (W)\r\n\
                    CS-550;Módulo Canadian 550W;R$ 1.234,56;550\r\n\
                    JA-545;\"Painel JA; bifacial\";899,90;545\r\n";
        let t = table(&cp1252(text));
        assert_eq!(t.encoding, "windows-1252");
        assert_eq!(t.delimiter, b';');
        assert_eq!(t.headers[1], "Descrição");
        assert_eq!(
            t.columns,
            vec![
                Some(Field::Sku),
                Some(Field::Name),
                Some(Field::Price),
                Some(Field::PowerW)
            ]
        );
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].cells[1], "Módulo Canadian 550W");
        assert_eq!(t.rows[1].cells[1], "Painel JA; bifacial");
        assert_eq!((t.rows[0].line, t.rows[1].line), (2, 3));
    }

    #[test]
    fn utf8_with_bom_and_commas() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice("sku,name,price\nA1,\"Inversor, 5 kW\",\"1,234.56\"\n".as_bytes());
        let t = table(&bytes);
        assert_eq!(t.encoding, "UTF-8");
        assert_eq!(t.delimiter, b',');
        assert_eq!(t.headers[0], "sku");
        assert_eq!(t.rows[0].cells, vec!["A1", "Inversor, 5 kW", "1,234.56"]);
    }

    #[test]
    fn utf16_with_bom() {
        let text = "sku\tnome\tpreço\nA1\tInversor\t10\n";
        let mut bytes = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let t = table(&bytes);
        assert_eq!(t.encoding, "UTF-16LE");
        assert_eq!(t.delimiter, b'\t');
        assert_eq!(t.columns[2], Some(Field::Price));
        assert_eq!(t.rows[0].cells, vec!["A1", "Inversor", "10"]);
    }

    #[test]
    fn a_utf8_bom_on_legacy_bytes_is_not_believed() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(cp1252("sku;descrição\nA;Módulo fotovoltaico\n"));
        let t = table(&bytes);
        assert_eq!(t.encoding, "windows-1252");
        assert_eq!(t.headers[1], "descrição");
    }

    #[test]
    fn tab_separated() {
        let t = table(b"sku\tname\tvoc\nA\tB\t49,5\n");
        assert_eq!(t.delimiter, b'\t');
        assert_eq!(t.rows[0].cells, vec!["A", "B", "49,5"]);
    }

    #[test]
    fn quoted_newlines_keep_physical_line_numbers() {
        let text = "sku;name\nA;\"two\nlines\"\nB;\"three\n\nlines\"\nC;plain\n";
        let t = table(text.as_bytes());
        let lines: Vec<usize> = t.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 4, 7]);
        assert_eq!(t.rows[1].cells[1], "three\n\nlines");
    }

    #[test]
    fn blank_lines_and_blank_rows_are_skipped_but_counted() {
        let text = "sku;name;;\n\nA;x;;\n;;;\n  ;  ;;\nB;y;;\n";
        let t = table(text.as_bytes());
        assert_eq!(t.headers, vec!["sku", "name"]);
        let lines: Vec<usize> = t.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 6]);
    }

    #[test]
    fn crlf_and_blank_lines_keep_physical_line_numbers() {
        let text = "sku;name\r\n\r\nA;\"x\r\ny\"\r\n\r\n\r\nB;z\r\nC;w";
        let t = table(text.as_bytes());
        let lines: Vec<usize> = t.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 7, 8]);
    }

    #[test]
    fn classic_mac_line_endings() {
        let t = table(b"sku;name\rA;x\rB;y\r");
        let lines: Vec<usize> = t.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3]);
    }

    #[test]
    fn title_lines_before_the_header() {
        let text = "Tabela de preços - março;;\n\nsku;name;price\nA;x;1\n";
        let t = table(text.as_bytes());
        assert_eq!(t.header_line, 3);
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0].line, 4);
    }

    #[test]
    fn unknown_duplicate_and_blank_columns() {
        let t = table("sku;Observações;preço;valor;;name\nA;obs;1;2;;n\n".as_bytes());
        assert_eq!(
            t.columns,
            vec![
                Some(Field::Sku),
                None,
                Some(Field::Price),
                None,
                None,
                Some(Field::Name)
            ]
        );
        assert_eq!(
            t.unknown_columns,
            vec!["Observações", "valor", "(column 5)"]
        );
    }

    #[test]
    fn header_only_is_an_empty_table() {
        let t = table(b"sku;name;price\n");
        assert!(t.rows.is_empty());
        assert_eq!(t.headers.len(), 3);
    }

    #[test]
    fn files_refused_whole() {
        assert_eq!(read_table(b""), Err(FileError::Empty));
        assert_eq!(read_table(b"  \r\n\t\n"), Err(FileError::Empty));
        assert_eq!(read_table(b"\xEF\xBB\xBF\r\n"), Err(FileError::Empty));
        assert!(matches!(
            read_table(b"sku;na\0me\n"),
            Err(FileError::NotText(_))
        ));
        assert!(matches!(
            read_table(b"PK\x03\x04\x14\x00\x06\x00"),
            Err(FileError::NotText(m)) if m.contains("xlsx")
        ));
        let junk: Vec<u8> = (1u8..=255).cycle().take(2000).collect();
        assert!(matches!(read_table(&junk), Err(FileError::NotText(_))));
        match read_table(b"nome;preco\nx;1\n") {
            Err(FileError::NoSkuColumn { headers }) => assert_eq!(headers, vec!["nome", "preco"]),
            other => panic!("{other:?}"),
        }
        match read_table(b"sku;name\nA;\"never closed\nB;x\n") {
            Err(FileError::Csv(m)) => assert!(m.contains("line 2"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_quote_inside_an_unquoted_cell_is_literal() {
        let t = table(b"sku;name\nA;Tela 21\" HD\nB;x\n");
        assert_eq!(t.rows[0].cells[1], "Tela 21\" HD");
        assert_eq!(t.rows.len(), 2);
    }

    #[test]
    fn escaped_quotes() {
        let t = table(b"sku,name\nA,\"Cabo \"\"solar\"\", 6mm\"\n");
        assert_eq!(t.rows[0].cells[1], "Cabo \"solar\", 6mm");
    }

    #[test]
    fn latin1_detection_does_not_need_a_bom() {
        let text = "código;descrição;preço\nX;Módulo fotovoltaico monocristalino;R$ 1.000,00\n";
        let t = table(&cp1252(text));
        assert_eq!(t.encoding, "windows-1252");
        assert_eq!(t.rows[0].cells[1], "Módulo fotovoltaico monocristalino");
    }

    /// Random bytes, and random splices of CSV-significant fragments (which
    /// reach far deeper than pure noise), must never panic.
    #[test]
    fn random_input_never_panics() {
        let fragments: &[&[u8]] = &[
            b"sku",
            b"nome",
            b"pre\xe7o",
            b";",
            b",",
            b"\t",
            b"\"",
            b"\"\"",
            b"\n",
            b"\r\n",
            b"\r",
            b"1.234,56",
            b"R$",
            b"\xEF\xBB\xBF",
            b"\xFF\xFE",
            b"\xc3\xa9",
            b"\xe9",
            b" ",
            b"\0",
            b"Pot\xc3\xaancia (W)",
        ];
        let mut rng = StdRng::seed_from_u64(42);
        for round in 0..3000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                let len = rng.gen_range(0..200);
                (0..len).map(|_| rng.gen::<u8>()).collect()
            } else {
                let parts = rng.gen_range(0..40);
                (0..parts)
                    .flat_map(|_| fragments[rng.gen_range(0..fragments.len())].iter().copied())
                    .collect()
            };
            if let Ok(t) = read_table(&bytes) {
                assert_eq!(t.columns.len(), t.headers.len());
                assert!(t.columns.contains(&Some(Field::Sku)));
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = field_for_header(&text);
            let _ = header_unit(&text);
        }
    }
}
