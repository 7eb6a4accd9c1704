//! Rows of text to typed products, or to reasons a person can act on.
//!
//! A row is all or nothing: one problem rejects it, and every problem in it
//! is reported (one [`RowError`] each) so the distributor fixes the row in a
//! single pass. Other rows of the same file still load; whether a file with
//! rejected rows is published is the caller's decision, not ours.
//!
//! Rules, beyond "the number must parse":
//! * SKU and name are required. SKUs are compared exactly (after whitespace
//!   clean-up) for duplicates, as the catalog keys on them; the first
//!   occurrence in the file is the one kept, even if it is itself rejected,
//!   so a later row never silently stands in for a broken earlier one.
//! * Price must be above zero: a zero price is an unfilled cell far more
//!   often than a gift, and would rank first in every "cheapest" query.
//! * Stock and warranty may be zero but not negative.
//! * Power, voltages and currents must be above zero; Vmp ≤ Voc, Imp ≤ Isc,
//!   MPPT min ≤ MPPT max ≤ max DC voltage (each only when both are given).
//! * Efficiency must be in (0, 30] % for panels (no commercial module comes
//!   near 30%) and in (0, 100) % for everything else. What a row is comes
//!   from [`product_kind`]: the category, or the name when the category is
//!   absent or says nothing.
//! * A row whose cell count differs from the header is rejected whole with
//!   one error and nothing else checked: its values are shifted, so any
//!   further complaint would point at the wrong column. Surplus cells that
//!   are all blank (trailing separators) are accepted.
//! * The datasheet URL must be http(s) with a host and no spaces.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use super::parse::{header_unit, Field, RawRow, RawTable};
use super::values::{self, fold, DecimalStyle, ValueError};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub category: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub distributor: Option<String>,
    pub price_brl: Option<f64>,
    pub stock: Option<i64>,
    pub power_w: Option<f64>,
    pub efficiency_pct: Option<f64>,
    pub voc: Option<f64>,
    pub vmp: Option<f64>,
    pub isc: Option<f64>,
    pub imp: Option<f64>,
    pub mppt_min_v: Option<f64>,
    pub mppt_max_v: Option<f64>,
    pub max_dc_voltage: Option<f64>,
    pub ac_power_w: Option<f64>,
    pub phases: Option<u8>,
    pub voltage: Option<f64>,
    pub inmetro: Option<String>,
    pub warranty_years: Option<i64>,
    pub datasheet_url: Option<String>,
    pub line: usize,
}

/// One problem in one row, in the words the report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    /// The header as written in the file, so the person finds the column
    /// in their own spreadsheet; `(row)` for problems of the whole row, or
    /// the canonical field name when the file has no such column.
    pub column: String,
    /// The offending cell, whitespace-cleaned.
    pub value: String,
    pub reason: String,
    /// The same column as a field, for code that asserts on errors.
    pub field: Option<Field>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Validated {
    pub products: Vec<Product>,
    pub errors: Vec<RowError>,
    /// How ambiguous numbers like `1.500` were read for this file.
    pub decimal_style: DecimalStyle,
}

/// What a product is, as far as the plausibility rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductKind {
    Panel,
    Inverter,
    Other,
}

/// Column `(row)`: the problem is the row itself, not one of its cells.
pub const ROW_COLUMN: &str = "(row)";

const NUMERIC_FIELDS: [Field; 14] = [
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
    Field::Voltage,
    Field::WarrantyYears,
];

pub fn validate(table: &RawTable) -> Validated {
    let mut index = [None; 23];
    for (i, column) in table.columns.iter().enumerate() {
        if let Some(slot) = column.and_then(|f| index.get_mut(f as usize)) {
            slot.get_or_insert(i);
        }
    }
    let style = values::infer_style(table.rows.iter().flat_map(|row| {
        NUMERIC_FIELDS
            .iter()
            .filter_map(|f| index.get(*f as usize).copied().flatten())
            .filter_map(|i| row.cells.get(i).map(String::as_str))
    }));
    let units: Vec<Option<String>> = table
        .headers
        .iter()
        .zip(&table.columns)
        .map(|(header, column)| {
            let field = (*column)?;
            header_unit(header).filter(|unit| accepts_unit(field, style, unit))
        })
        .collect();

    let mut out = Validated {
        decimal_style: style,
        ..Validated::default()
    };
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for row in &table.rows {
        if let Some(error) = width_error(table, row) {
            out.errors.push(error);
            continue;
        }
        let mut checker = RowChecker {
            table,
            row,
            index: &index,
            units: &units,
            style,
            errors: Vec::new(),
        };
        let product = checker.product(&mut first_line);
        match product {
            Some(p) if checker.errors.is_empty() => out.products.push(p),
            _ => out.errors.append(&mut checker.errors),
        }
    }
    out
}

/// Classifies by the first telling word, so "Estrutura para módulos" is a
/// structure and "Módulo fotovoltaico" a panel. The category decides; the
/// name is consulted only when the category is absent or not telling.
pub fn product_kind(category: Option<&str>, name: &str) -> ProductKind {
    product_type(category, name).kind
}

/// What a product is, in one vocabulary whatever the distributor wrote:
/// "Microinversor", "Microinversores", "Micro inversor" and "Microinverter"
/// are all `microinversor`, "Solar Panel" and "Módulo Fotovoltaico" both
/// `modulo-fotovoltaico`. Filters and facets on the payload's
/// `product_type` then cover every distributor at once; the `category` a
/// distributor gave is kept beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductType {
    /// Lower-case ASCII, Portuguese: what the catalog's payload holds.
    pub slug: &'static str,
    pub kind: ProductKind,
}

/// Every type, with the (accent-folded, lower-case) words that name it in
/// Portuguese or English. The first word of a category or name found here
/// decides.
const PRODUCT_TYPES: &[(&str, ProductKind, &[&str])] = &[
    (
        "modulo-fotovoltaico",
        ProductKind::Panel,
        &[
            "painel", "paineis", "modulo", "modulos", "panel", "panels", "module", "modules",
            "placa", "placas",
        ],
    ),
    (
        "microinversor",
        ProductKind::Inverter,
        &[
            "microinversor",
            "microinversores",
            "microinverter",
            "microinverters",
        ],
    ),
    ("inversor", ProductKind::Inverter, INVERTER_WORDS),
    (
        "estrutura",
        ProductKind::Other,
        &[
            "estrutura",
            "estruturas",
            "structure",
            "structures",
            "suporte",
            "suportes",
            "mounting",
            "trilho",
            "trilhos",
            "rail",
            "rails",
        ],
    ),
    (
        "cabo",
        ProductKind::Other,
        &["cabo", "cabos", "cable", "cables"],
    ),
    (
        "conector",
        ProductKind::Other,
        &["conector", "conectores", "connector", "connectors", "mc4"],
    ),
    ("string-box", ProductKind::Other, &["string", "stringbox"]),
    (
        "bateria",
        ProductKind::Other,
        &["bateria", "baterias", "battery", "batteries"],
    ),
    ("kit", ProductKind::Other, &["kit", "kits"]),
    (
        "otimizador",
        ProductKind::Other,
        &["otimizador", "otimizadores", "optimizer", "optimizers"],
    ),
    (
        "carregador",
        ProductKind::Other,
        &["carregador", "carregadores", "charger", "chargers"],
    ),
    (
        "monitoramento",
        ProductKind::Other,
        &["monitoramento", "monitoring", "monitor", "datalogger"],
    ),
    (
        "protecao",
        ProductKind::Other,
        &[
            "protecao",
            "protection",
            "dps",
            "disjuntor",
            "disjuntores",
            "breaker",
            "breakers",
            "fusivel",
            "fusiveis",
            "fuse",
            "fuses",
        ],
    ),
    (
        "ferramenta",
        ProductKind::Other,
        &[
            "ferramenta",
            "ferramentas",
            "tool",
            "tools",
            "alicate",
            "crimpador",
        ],
    ),
    (
        "acessorio",
        ProductKind::Other,
        &["acessorio", "acessorios", "accessory", "accessories"],
    ),
];

const INVERTER_WORDS: &[&str] = &["inversor", "inversores", "inverter", "inverters"];

/// Products no word of [`PRODUCT_TYPES`] names.
const OTHER_TYPE: ProductType = ProductType {
    slug: "outro",
    kind: ProductKind::Other,
};

/// The [`ProductType`] of a product: by its category, else by its name
/// (see [`product_kind`]), else `outro`.
pub fn product_type(category: Option<&str>, name: &str) -> ProductType {
    category
        .and_then(type_of)
        .or_else(|| type_of(name))
        .unwrap_or(OTHER_TYPE)
}

fn type_of(text: &str) -> Option<ProductType> {
    let folded = fold(text);
    let mut words = folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .peekable();
    while let Some(word) = words.next() {
        // "Micro inversor", "micro-inverter": one word split in two.
        let word = match words.peek() {
            Some(next) if word == "micro" && INVERTER_WORDS.contains(next) => "microinversor",
            _ => word,
        };
        let found = PRODUCT_TYPES
            .iter()
            .find(|(_, _, names)| names.contains(&word));
        if let Some(&(slug, kind, _)) = found {
            return Some(ProductType { slug, kind });
        }
    }
    None
}

/// Trims, turns control characters and runs of whitespace (line breaks in
/// quoted cells included) into single spaces, and drops zero-width
/// characters that copy-paste from web pages leaves in SKUs.
pub fn clean_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if matches!(
            c,
            '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}'
        ) {
            continue;
        }
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

fn width_error(table: &RawTable, row: &RawRow) -> Option<RowError> {
    let width = table.headers.len();
    let found = row.cells.len();
    if found == width
        || (found > width && row.cells.iter().skip(width).all(|c| c.trim().is_empty()))
    {
        return None;
    }
    let hint = if found > width {
        " (a separator inside an unquoted value?)"
    } else {
        ""
    };
    let joined = row
        .cells
        .iter()
        .map(|c| clean_text(c))
        .collect::<Vec<_>>()
        .join(&char::from(table.delimiter).to_string());
    Some(RowError {
        line: row.line,
        column: ROW_COLUMN.to_string(),
        value: preview(&joined, 200),
        reason: format!("expected {width} cells as in the header, found {found}{hint}"),
        field: None,
    })
}

fn preview(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

struct RowChecker<'a> {
    table: &'a RawTable,
    row: &'a RawRow,
    index: &'a [Option<usize>; 23],
    units: &'a [Option<String>],
    style: DecimalStyle,
    errors: Vec<RowError>,
}

impl RowChecker<'_> {
    fn column_of(&self, field: Field) -> Option<usize> {
        self.index.get(field as usize).copied().flatten()
    }

    /// The cleaned cell, `None` when the column is absent or the cell blank.
    fn text(&self, field: Field) -> Option<String> {
        let cell = self.row.cells.get(self.column_of(field)?)?;
        let text = clean_text(cell);
        (!text.is_empty()).then_some(text)
    }

    fn fail(&mut self, field: Field, value: &str, reason: impl Into<String>) {
        let column = self
            .column_of(field)
            .and_then(|i| self.table.headers.get(i))
            .cloned()
            .unwrap_or_else(|| field.name().to_string());
        self.errors.push(RowError {
            line: self.row.line,
            column,
            value: value.to_string(),
            reason: reason.into(),
            field: Some(field),
        });
    }

    /// Parses a cell; a bare number under a header that declares a unit
    /// (`Potência (kW)`) is read in that unit.
    fn number<T>(
        &mut self,
        field: Field,
        parse: impl Fn(&str) -> Result<T, ValueError>,
    ) -> Option<T> {
        let text = self.text(field)?;
        let header_unit = self
            .column_of(field)
            .and_then(|i| self.units.get(i))
            .and_then(Option::as_deref);
        let parsed = match header_unit {
            Some(unit) if text.ends_with(|c: char| c.is_ascii_digit()) => {
                parse(&format!("{text} {unit}"))
            }
            _ => parse(&text),
        };
        match parsed {
            Ok(v) => Some(v),
            Err(reason) => {
                self.fail(field, &text, reason.to_string());
                None
            }
        }
    }

    /// Reports `field` when `value` is present and not above zero.
    fn require_positive(&mut self, field: Field, value: Option<f64>, what: &str) {
        if let Some(v) = value.filter(|v| *v <= 0.0) {
            let text = self.text(field).unwrap_or_else(|| v.to_string());
            self.fail(field, &text, format!("{what} must be greater than zero"));
        }
    }

    /// Reports `high_field` when both are present and `low > high`.
    fn require_order(
        &mut self,
        (low_field, low): (Field, Option<f64>),
        (high_field, high): (Field, Option<f64>),
        what: &str,
    ) {
        if let (Some(low), Some(high)) = (low, high) {
            if low > high {
                let (low_name, high_name) = (self.label(low_field), self.label(high_field));
                let text = self.text(low_field).unwrap_or_default();
                self.fail(
                    low_field,
                    &text,
                    format!("{low_name} ({low}) is above {high_name} ({high}): {what}"),
                );
            }
        }
    }

    fn label(&self, field: Field) -> &'static str {
        match field {
            Field::Voc => "Voc",
            Field::Vmp => "Vmp",
            Field::Isc => "Isc",
            Field::Imp => "Imp",
            Field::MpptMinV => "MPPT min",
            Field::MpptMaxV => "MPPT max",
            Field::MaxDcVoltage => "max DC voltage",
            other => other.name(),
        }
    }

    fn product(&mut self, first_line: &mut HashMap<String, usize>) -> Option<Product> {
        let style = self.style;
        let sku = self.text(Field::Sku);
        match &sku {
            None => self.fail(Field::Sku, "", "missing SKU"),
            Some(sku) => match first_line.entry(sku.clone()) {
                Entry::Occupied(first) => {
                    let reason = format!("duplicate SKU: first seen on line {}", first.get());
                    self.fail(Field::Sku, sku, reason);
                }
                Entry::Vacant(slot) => {
                    slot.insert(self.row.line);
                }
            },
        }
        let name = self.text(Field::Name);
        if name.is_none() {
            self.fail(Field::Name, "", "missing name");
        }
        let category = self.text(Field::Category);

        let price_brl = self.number(Field::Price, |s| style.parse_price_brl(s));
        if price_brl == Some(0.0) {
            let text = self.text(Field::Price).unwrap_or_default();
            self.fail(Field::Price, &text, "price must be greater than zero");
        }
        let stock = self.number(Field::Stock, values::parse_int);
        if stock.is_some_and(|v| v < 0) {
            let text = self.text(Field::Stock).unwrap_or_default();
            self.fail(Field::Stock, &text, "negative stock");
        }
        let power_w = self.number(Field::PowerW, |s| style.parse_power_w(s));
        self.require_positive(Field::PowerW, power_w, "power");
        let ac_power_w = self.number(Field::AcPowerW, |s| style.parse_power_w(s));
        self.require_positive(Field::AcPowerW, ac_power_w, "AC power");

        let efficiency_pct = self.number(Field::Efficiency, |s| style.parse_percent(s));
        if let Some(eff) = efficiency_pct {
            let kind = product_kind(category.as_deref(), name.as_deref().unwrap_or(""));
            let text = self.text(Field::Efficiency).unwrap_or_default();
            if kind == ProductKind::Panel && !(eff > 0.0 && eff <= 30.0) {
                self.fail(
                    Field::Efficiency,
                    &text,
                    format!("efficiency {eff}% is impossible for a panel (must be above 0 and at most 30)"),
                );
            } else if kind != ProductKind::Panel && !(eff > 0.0 && eff < 100.0) {
                self.fail(
                    Field::Efficiency,
                    &text,
                    format!("efficiency {eff}% is impossible (must be above 0 and below 100)"),
                );
            }
        }

        let voltage = |s: &str| style.parse_voltage_v(s);
        let current = |s: &str| style.parse_current_a(s);
        let voc = self.number(Field::Voc, voltage);
        let vmp = self.number(Field::Vmp, voltage);
        let isc = self.number(Field::Isc, current);
        let imp = self.number(Field::Imp, current);
        let mppt_min_v = self.number(Field::MpptMinV, voltage);
        let mppt_max_v = self.number(Field::MpptMaxV, voltage);
        let max_dc_voltage = self.number(Field::MaxDcVoltage, voltage);
        let grid_voltage = self.number(Field::Voltage, voltage);
        for (field, value) in [
            (Field::Voc, voc),
            (Field::Vmp, vmp),
            (Field::Isc, isc),
            (Field::Imp, imp),
            (Field::MpptMinV, mppt_min_v),
            (Field::MpptMaxV, mppt_max_v),
            (Field::MaxDcVoltage, max_dc_voltage),
            (Field::Voltage, grid_voltage),
        ] {
            let label = self.label(field);
            self.require_positive(field, value, label);
        }
        self.require_order(
            (Field::Vmp, vmp),
            (Field::Voc, voc),
            "the maximum-power voltage cannot exceed the open-circuit voltage",
        );
        self.require_order(
            (Field::Imp, imp),
            (Field::Isc, isc),
            "the maximum-power current cannot exceed the short-circuit current",
        );
        self.require_order(
            (Field::MpptMinV, mppt_min_v),
            (Field::MpptMaxV, mppt_max_v),
            "the MPPT range is reversed",
        );
        self.require_order(
            (Field::MpptMaxV, mppt_max_v),
            (Field::MaxDcVoltage, max_dc_voltage),
            "the MPPT range cannot exceed the maximum DC input voltage",
        );

        let phases = self.number(Field::Phases, values::parse_phases);
        let warranty_years = self.number(Field::WarrantyYears, values::parse_warranty_years);
        if warranty_years.is_some_and(|v| v < 0) {
            let text = self.text(Field::WarrantyYears).unwrap_or_default();
            self.fail(Field::WarrantyYears, &text, "negative warranty");
        }

        let datasheet_url = self.text(Field::DatasheetUrl);
        if let Some(url) = &datasheet_url {
            if let Err(reason) = check_url(url) {
                self.fail(Field::DatasheetUrl, url, reason);
            }
        }

        Some(Product {
            sku: sku?,
            name: name?,
            category,
            manufacturer: self.text(Field::Manufacturer),
            model: self.text(Field::Model),
            distributor: self.text(Field::Distributor),
            price_brl,
            stock,
            power_w,
            efficiency_pct,
            voc,
            vmp,
            isc,
            imp,
            mppt_min_v,
            mppt_max_v,
            max_dc_voltage,
            ac_power_w,
            phases,
            voltage: grid_voltage,
            inmetro: self.text(Field::Inmetro),
            warranty_years,
            datasheet_url,
            line: self.row.line,
        })
    }
}

/// Whether a header's unit means something to the field's parser: `(kW)`
/// does for power, `(R$)` or `(un)` adds nothing a bare number lacks.
fn accepts_unit(field: Field, style: DecimalStyle, unit: &str) -> bool {
    let probe = format!("12 {unit}");
    match field {
        Field::PowerW | Field::AcPowerW => style.parse_power_w(&probe).is_ok(),
        Field::Voc
        | Field::Vmp
        | Field::MpptMinV
        | Field::MpptMaxV
        | Field::MaxDcVoltage
        | Field::Voltage => style.parse_voltage_v(&probe).is_ok(),
        Field::Isc | Field::Imp => style.parse_current_a(&probe).is_ok(),
        Field::Efficiency => style.parse_percent(&probe).is_ok(),
        Field::Stock => values::parse_int(&probe).is_ok(),
        Field::WarrantyYears => values::parse_warranty_years(&probe).is_ok(),
        _ => false,
    }
}

/// Only web links: anything else (`javascript:`, `file:`, a bare path) is
/// either useless to a salesperson or a hazard when rendered as a link.
fn check_url(url: &str) -> Result<(), &'static str> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or("datasheet URL must start with http:// or https://")?;
    if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
        return Err("datasheet URL has no host");
    }
    if url.contains(char::is_whitespace) {
        return Err("datasheet URL contains spaces");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse::read_table;
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn run(text: &str) -> Validated {
        match read_table(text.as_bytes()) {
            Ok(t) => validate(&t),
            Err(e) => panic!("unexpected file error: {e}"),
        }
    }

    fn reasons(v: &Validated) -> Vec<(usize, String, String)> {
        v.errors
            .iter()
            .map(|e| (e.line, e.column.clone(), e.reason.clone()))
            .collect()
    }

    const PANEL_HEADER: &str = "sku;name;category;price;stock;power_w;efficiency;voc;vmp;isc;imp\n";

    #[test]
    fn a_complete_panel_row() {
        let v = run(&format!(
            "{PANEL_HEADER}JA-545;  Módulo   JA Solar\t545W ;Módulo;R$ 1.234,56;1.200;545 Wp;21,1%;49,65;41,8;13,93;13,04\n"
        ));
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        let p = &v.products[0];
        assert_eq!(p.sku, "JA-545");
        assert_eq!(p.name, "Módulo JA Solar 545W");
        assert_eq!(p.price_brl, Some(1234.56));
        assert_eq!(p.stock, Some(1200));
        assert_eq!(p.power_w, Some(545.0));
        assert_eq!(p.efficiency_pct, Some(21.1));
        assert_eq!((p.voc, p.vmp), (Some(49.65), Some(41.8)));
        assert_eq!((p.isc, p.imp), (Some(13.93), Some(13.04)));
        assert_eq!(p.line, 2);
        assert_eq!(v.decimal_style, DecimalStyle::Comma);
    }

    #[test]
    fn a_complete_inverter_row_in_english() {
        let text = "sku,name,category,manufacturer,model,distributor,price,stock,efficiency,mppt_min_v,mppt_max_v,max_dc_voltage,ac_power_w,phases,voltage,inmetro,warranty_years,datasheet_url\n\
            GW-10K,Growatt MID 10KTL3-X,Inverter,Growatt,MID 10KTL3-X,SolarTech,\"8,990.00\",15,98.6,160,1000,1100,10 kW,3,380 Vac,007895/2022,10 years,https://example.com/ds.pdf\n";
        let v = run(text);
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        let p = &v.products[0];
        assert_eq!(p.price_brl, Some(8990.0));
        assert_eq!(p.ac_power_w, Some(10_000.0));
        assert_eq!(p.phases, Some(3));
        assert_eq!(p.voltage, Some(380.0));
        assert_eq!(p.warranty_years, Some(10));
        assert_eq!(p.manufacturer.as_deref(), Some("Growatt"));
        assert_eq!(p.distributor.as_deref(), Some("SolarTech"));
        assert_eq!(p.inmetro.as_deref(), Some("007895/2022"));
        assert_eq!(v.decimal_style, DecimalStyle::Dot);
        let json = serde_json::to_string(p).unwrap_or_default();
        let back: Product = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&back, p);
    }

    #[test]
    fn each_rule_rejects_with_its_reason() {
        let text = format!(
            "{PANEL_HEADER}\
             ;Sem código;Módulo;100;1;550;21;49;41;13;12\n\
             B;;Módulo;100;1;550;21;49;41;13;12\n\
             C;Painel;Módulo;-5;1;550;21;49;41;13;12\n\
             D;Painel;Módulo;0;1;550;21;49;41;13;12\n\
             E;Painel;Módulo;100;-1;550;21;49;41;13;12\n\
             F;Painel;Módulo;100;1;0;21;49;41;13;12\n\
             G;Painel;Módulo;100;1;550;90;49;41;13;12\n\
             H;Painel;Módulo;100;1;550;21;41;49;13;12\n\
             I;Painel;Módulo;100;1;550;21;49;41;12;13\n\
             J;Painel;Módulo;abc;1;550;21;49;41;13;12\n\
             K;Painel;Módulo;100;1;550;21;49;41;13\n\
             OK;Painel;Módulo;100;1;550;21;49;41;13;12\n\
             OK;Painel;Módulo;100;1;550;21;49;41;13;12\n"
        );
        let v = run(&text);
        assert_eq!(v.products.len(), 1);
        assert_eq!(v.products[0].line, 13);
        let expected = [
            (2, "sku", "missing SKU"),
            (3, "name", "missing name"),
            (4, "price", "negative price"),
            (5, "price", "price must be greater than zero"),
            (6, "stock", "negative stock"),
            (7, "power_w", "power must be greater than zero"),
            (
                8,
                "efficiency",
                "efficiency 90% is impossible for a panel (must be above 0 and at most 30)",
            ),
            (
                9,
                "vmp",
                "Vmp (49) is above Voc (41): the maximum-power voltage cannot exceed the open-circuit voltage",
            ),
            (
                10,
                "imp",
                "Imp (13) is above Isc (12): the maximum-power current cannot exceed the short-circuit current",
            ),
            (11, "price", "not a number"),
            (12, "(row)", "expected 11 cells as in the header, found 10"),
            (14, "sku", "duplicate SKU: first seen on line 13"),
        ];
        let got = reasons(&v);
        let want: Vec<(usize, String, String)> = expected
            .iter()
            .map(|(l, c, r)| (*l, c.to_string(), r.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(v.errors[2].value, "-5");
        assert_eq!(v.errors[2].field, Some(Field::Price));
        assert_eq!(v.errors[10].value, "K;Painel;Módulo;100;1;550;21;49;41;13");
    }

    #[test]
    fn every_problem_of_a_row_is_reported() {
        let v = run(&format!(
            "{PANEL_HEADER}X;;Módulo;-1;x;550;95;40;45;13;14\n"
        ));
        let fields: Vec<Option<Field>> = v.errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec![
                Some(Field::Name),
                Some(Field::Price),
                Some(Field::Stock),
                Some(Field::Efficiency),
                Some(Field::Vmp),
                Some(Field::Imp)
            ]
        );
        assert!(v.products.is_empty());
    }

    #[test]
    fn a_rejected_first_occurrence_still_owns_the_sku() {
        let v = run("sku;name;price\nA;x;-1\nA;y;10\n");
        assert!(v.products.is_empty());
        assert_eq!(v.errors[1].reason, "duplicate SKU: first seen on line 2");
    }

    #[test]
    fn inverter_limits_and_ranges() {
        let header =
            "sku;name;category;efficiency;mppt_min_v;mppt_max_v;max_dc_voltage;ac_power_w;phases\n";
        let v = run(&format!(
            "{header}A;Inversor 5k;Inversor;98,4;80;550;600;5 kW;mono\n\
             B;Inversor;Inversor;100;80;550;600;5000;1\n\
             C;Inversor;Inversor;97;600;550;600;5000;1\n\
             D;Inversor;Inversor;97;80;650;600;5000;1\n\
             E;Inversor;Inversor;97;80;550;600;-5000;1\n\
             F;Inversor;Inversor;97;80;550;600;5000;5\n"
        ));
        assert_eq!(v.products.len(), 1);
        assert_eq!(v.products[0].ac_power_w, Some(5000.0));
        assert_eq!(v.products[0].phases, Some(1));
        let got: Vec<(usize, &str)> = v
            .errors
            .iter()
            .map(|e| (e.line, e.column.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "efficiency"),
                (4, "mppt_min_v"),
                (5, "mppt_max_v"),
                (6, "ac_power_w"),
                (7, "phases")
            ]
        );
        assert!(v.errors[0].reason.contains("below 100"));
    }

    #[test]
    fn kinds() {
        use ProductKind::*;
        assert_eq!(product_kind(Some("Módulo Fotovoltaico"), ""), Panel);
        assert_eq!(product_kind(Some("PAINÉIS"), ""), Panel);
        assert_eq!(product_kind(Some("Solar panel"), ""), Panel);
        assert_eq!(product_kind(Some("PV module"), ""), Panel);
        assert_eq!(product_kind(Some("Estrutura para módulos"), ""), Other);
        assert_eq!(product_kind(Some("Cabo solar p/ painel"), ""), Other);
        assert_eq!(product_kind(Some("Microinversor"), ""), Inverter);
        assert_eq!(product_kind(Some("Micro inversor"), ""), Inverter);
        assert_eq!(product_kind(Some("Inversor híbrido"), ""), Inverter);
        assert_eq!(product_kind(Some("Bateria"), "Bateria lítio 5 kWh"), Other);
        assert_eq!(product_kind(None, "Placa solar 550W"), Panel);
        assert_eq!(product_kind(Some("Geração"), "Módulo 550W"), Panel);
        assert_eq!(product_kind(None, "Disjuntor"), Other);
        // A category that names no kind of its own no longer falls back on the name's first telling word.
        assert_eq!(
            product_kind(Some("Monitoramento"), "Monitor WiFi para inversor"),
            Other
        );
    }

    #[test]
    fn every_sample_category_gets_one_type_whatever_the_language() {
        let slug = |category: &str| product_type(Some(category), "").slug;
        // The sample distributors' own words (Sol Nascente in Portuguese, SolarTech in English).
        for (pt, en, want) in [
            ("Módulo Fotovoltaico", "Solar Panel", "modulo-fotovoltaico"),
            ("Inversor", "Inverter", "inversor"),
            ("Microinversor", "Microinverter", "microinversor"),
            ("Estrutura", "Mounting Structure", "estrutura"),
            ("Cabo", "Cable", "cabo"),
            ("Bateria", "Battery", "bateria"),
            ("String Box", "String Box", "string-box"),
            ("Monitoramento", "Monitoring", "monitoramento"),
            ("Proteção", "Protection", "protecao"),
            ("Conector", "Connector", "conector"),
            ("Ferramenta", "Tools", "ferramenta"),
        ] {
            assert_eq!((slug(pt), slug(en)), (want, want), "{pt} / {en}");
        }
        for spelling in [
            "Microinversores",
            "Micro inversor",
            "micro-inverter",
            "MICROINVERSOR",
        ] {
            assert_eq!(slug(spelling), "microinversor", "{spelling}");
        }
        assert_eq!(
            product_type(Some("Diversos"), "Inversor String Trifásico 50kW").slug,
            "inversor"
        );
        assert_eq!(product_type(None, "Garrafa térmica").slug, "outro");
        assert_eq!(
            product_type(None, "Garrafa térmica").kind,
            ProductKind::Other
        );
    }

    #[test]
    fn file_style_resolves_ambiguous_numbers() {
        // Dot decimals elsewhere in the file: "1.500" is one and a half kW.
        let v = run("sku,name,price,ac_power_w\nA,x,1234.50,1.500 kW\n");
        assert_eq!(v.products[0].ac_power_w, Some(1500.0));
        // No evidence: the Brazilian reading, 1500 kW.
        let v = run("sku;name;price;ac_power_w\nA;x;100;1.500 kW\n");
        assert_eq!(v.products[0].ac_power_w, Some(1_500_000.0));
    }

    #[test]
    fn header_units_apply_to_bare_numbers() {
        let v = run("sku;name;Potência CA (kW);Preço (R$);Garantia (meses)\nA;x;5;10;120\nB;y;800 W;10;5 anos\n");
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        assert_eq!(v.products[0].ac_power_w, Some(5000.0));
        assert_eq!(v.products[0].warranty_years, Some(10));
        assert_eq!(v.products[1].ac_power_w, Some(800.0));
        assert_eq!(v.products[1].warranty_years, Some(5));
    }

    #[test]
    fn columns_are_named_as_in_the_file() {
        let v = run("Código;Descrição;Preço (R$)\nA;x;abc\n");
        assert_eq!(v.errors[0].column, "Preço (R$)");
        assert_eq!(v.errors[0].field, Some(Field::Price));
        let v = run("sku;price\nA;10\n");
        assert_eq!(v.errors[0].column, "name");
        assert_eq!(v.errors[0].reason, "missing name");
    }

    #[test]
    fn trailing_blank_cells_are_tolerated() {
        let v = run("sku;name\nA;x;;\nB;y;z\n");
        assert_eq!(v.products.len(), 1);
        assert_eq!(
            v.errors[0].reason,
            "expected 2 cells as in the header, found 3 (a separator inside an unquoted value?)"
        );
    }

    #[test]
    fn urls() {
        let header = "sku;name;datasheet_url\n";
        let v = run(&format!(
            "{header}A;x;https://ex.com/a.pdf\nB;x;HTTP://ex.com\nC;x;ftp://ex.com\nD;x;javascript:alert(1)\nE;x;https://\nF;x;http://ex.com/a b.pdf\n"
        ));
        assert_eq!(v.products.len(), 2);
        let got: Vec<&str> = v.errors.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(
            got,
            vec![
                "datasheet URL must start with http:// or https://",
                "datasheet URL must start with http:// or https://",
                "datasheet URL has no host",
                "datasheet URL contains spaces"
            ]
        );
    }

    #[test]
    fn text_is_cleaned() {
        assert_eq!(clean_text("  a \t b\r\n c  "), "a b c");
        assert_eq!(clean_text("\u{feff}AB\u{200b}C"), "ABC");
        assert_eq!(clean_text("x\u{1}y"), "x y");
        assert_eq!(clean_text(" \u{a0} "), "");
        let v = run("sku;name\n\" A-1 \";\"Cabo\nsolar\"\n");
        assert_eq!(v.products[0].sku, "A-1");
        assert_eq!(v.products[0].name, "Cabo solar");
    }

    /// Random tables built from plausible and hostile cells: never a panic,
    /// and every product that comes out obeys the rules (an oracle the
    /// rules' own code does not share).
    #[test]
    fn random_tables_never_panic_and_products_obey_the_rules() {
        let cells = [
            "",
            " ",
            "A",
            "B",
            "A ",
            "x",
            "0",
            "-1",
            "1.500",
            "1,5",
            "R$ 1.234,56",
            "550 W",
            "0,55 kW",
            "90",
            "21,3%",
            "0,213",
            "49,5",
            "41,2",
            "13",
            "12",
            "abc",
            "mono",
            "tri",
            "https://x.y",
            "ftp://x",
            "\"",
            "Módulo",
            "Inversor",
            "1e3",
            "10 anos",
            "\u{0}",
        ];
        let header = "sku;name;category;price;stock;power_w;efficiency;voc;vmp;isc;imp;mppt_min_v;mppt_max_v;max_dc_voltage;phases;warranty_years;datasheet_url";
        let width = header.split(';').count();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..400 {
            let mut text = format!("{header}\n");
            for _ in 0..rng.gen_range(0..8) {
                let n = width + rng.gen_range(0..3) - 1;
                let row: Vec<&str> = (0..n)
                    .map(|_| cells[rng.gen_range(0..cells.len())])
                    .collect();
                text.push_str(&row.join(";"));
                text.push('\n');
            }
            let Ok(table) = read_table(text.as_bytes()) else {
                continue;
            };
            let v = validate(&table);
            let mut skus = std::collections::HashSet::new();
            for p in &v.products {
                assert!(!p.sku.is_empty() && !p.name.is_empty());
                assert!(skus.insert(p.sku.clone()), "duplicate {}", p.sku);
                assert!(p.price_brl.is_none_or(|x| x > 0.0));
                assert!(p.stock.is_none_or(|x| x >= 0));
                assert!(p.power_w.is_none_or(|x| x > 0.0));
                assert!(p.efficiency_pct.is_none_or(|x| x > 0.0 && x < 100.0));
                if let (Some(vmp), Some(voc)) = (p.vmp, p.voc) {
                    assert!(vmp <= voc);
                }
                if let (Some(imp), Some(isc)) = (p.imp, p.isc) {
                    assert!(imp <= isc);
                }
                assert!(p
                    .datasheet_url
                    .as_deref()
                    .is_none_or(|u| u.starts_with("http")));
            }
            assert!(v.products.len() + v.errors.len() >= table.rows.len());
        }
    }
}
