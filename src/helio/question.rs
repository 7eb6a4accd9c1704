//! What a buyer's question asks for, read before any search: the powers,
//! phase count, product type, brands and SKUs it names (filters and boosts
//! on the catalog's payload fields), and which knowledge bases its words
//! point at (the routing).
//!
//! Everything here works on the folded text (lowercase ASCII: "Módulo" →
//! "modulo"), so "trifásico", "trifasico" and "TRIFÁSICO" read alike.

use crate::text::fold_to_ascii;

/// A power the question names, in watts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Power {
    pub watts: f64,
    /// Written as a peak power (`Wp`, `kWp`): the size of an array or a
    /// project, not of one inverter.
    pub peak: bool,
}

/// A knowledge base a question can be routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Products, specs and prices: `helio-catalog`.
    Products,
    /// Laws, ANEEL resolutions, ABNT norms, homologação: `helio-regulatory`.
    Regulatory,
    /// Engineering guides and datasheets: `helio-technical`.
    Technical,
    /// Commercial policy and past quotes: `helio-sales`.
    Sales,
    /// Electricity tariffs by utility and class: `helio-tariffs`.
    Tariffs,
}

impl Topic {
    pub const ALL: [Topic; 5] = [
        Topic::Products,
        Topic::Regulatory,
        Topic::Technical,
        Topic::Sales,
        Topic::Tariffs,
    ];

    /// The source `type` a client sees, the knowledge-base asset's name.
    pub fn source_type(self) -> &'static str {
        match self {
            Topic::Products => "catalog_kb",
            Topic::Regulatory => "regulatory_kb",
            Topic::Technical => "technical_kb",
            Topic::Sales => "sales_kb",
            Topic::Tariffs => "tariffs",
        }
    }
}

/// A question, read.
#[derive(Debug, Clone, Default)]
pub struct Question {
    /// The text as asked.
    pub text: String,
    /// Folded: lowercase ASCII, punctuation kept.
    pub folded: String,
    pub powers: Vec<Power>,
    /// 1 or 3 (2 for bifásico) when the question names a phase count.
    pub phases: Option<u32>,
    /// Catalog `product_type` slugs the question names.
    pub product_types: Vec<&'static str>,
    /// Words that narrow a type without being one ("híbrido").
    pub hybrid: bool,
    /// Tokens that look like SKUs or model codes ("ST-PAN-1002", "CS6W-550MS").
    pub codes: Vec<String>,
    /// Whether the question asks for a price.
    pub asks_price: bool,
    /// Whether it asks to buy or whether something is in stock ("vocês
    /// têm", "pronta entrega"): a product question whatever else it says.
    pub shopping: bool,
    /// Knowledge bases its words point at, with how many cues each had.
    pub cues: Vec<(Topic, usize)>,
}

/// Question words → catalog product types. Longer phrases first: "string
/// box" is a product, "string" alone is an engineering word.
const TYPE_WORDS: &[(&str, &str)] = &[
    ("microinversor", "microinversor"),
    ("micro inversor", "microinversor"),
    ("micro-inversor", "microinversor"),
    ("string box", "string-box"),
    ("stringbox", "string-box"),
    ("string-box", "string-box"),
    ("caixa de juncao", "string-box"),
    ("inversor", "inversor"),
    ("inversores", "inversor"),
    ("painel", "modulo-fotovoltaico"),
    ("paineis", "modulo-fotovoltaico"),
    ("placa", "modulo-fotovoltaico"),
    ("placas", "modulo-fotovoltaico"),
    ("modulo", "modulo-fotovoltaico"),
    ("modulos", "modulo-fotovoltaico"),
    ("bateria", "bateria"),
    ("baterias", "bateria"),
    ("estrutura", "estrutura"),
    ("estruturas", "estrutura"),
    ("trilho", "estrutura"),
    ("suporte", "estrutura"),
    ("cabo", "cabo"),
    ("cabos", "cabo"),
    ("conector", "conector"),
    ("conectores", "conector"),
    ("mc4", "conector"),
    ("dps", "protecao"),
    ("disjuntor", "protecao"),
    ("fusivel", "protecao"),
    ("datalogger", "monitoramento"),
    ("monitoramento", "monitoramento"),
    ("otimizador", "otimizador"),
    ("carregador", "carregador"),
];

/// Words that point at a knowledge base. Matched as word prefixes on the
/// folded text, so "homolog" covers homologação and homologar.
const TOPIC_CUES: &[(Topic, &[&str])] = &[
    (
        Topic::Products,
        &[
            "produto",
            "painel",
            "paineis",
            "placa",
            "modulo",
            "inversor",
            "microinversor",
            "bateria",
            "estrutura",
            "string box",
            "stringbox",
            "conector",
            "estoque",
            "disponivel",
            "modelo",
            "marca",
            "fabricante",
            "sku",
            "kit",
        ],
    ),
    (
        Topic::Regulatory,
        &[
            "norma",
            "nbr",
            "abnt",
            "lei",
            "ren ",
            "resolucao",
            "aneel",
            "inmetro",
            "portaria",
            "homolog",
            "parecer de acesso",
            "marco legal",
            "fio b",
            "compensacao",
            "credito",
            "geracao distribuida",
            "microgeracao",
            "minigeracao",
            "iec",
            "regulament",
            "vistoria",
            "comissionamento",
            "art ",
            "trt",
            "conexao",
            "solicitacao de acesso",
            "documento",
            "transicao",
            "prazo de conexao",
            "obrigatori",
            "certifica",
        ],
    ),
    (
        Topic::Technical,
        &[
            "dimension",
            "string",
            "queda de tensao",
            "bitola",
            "secao",
            "aterramento",
            "hsp",
            "irradia",
            "sombre",
            "inclina",
            "orienta",
            "relacao cc",
            "cc/ca",
            "dc/ac",
            "oversizing",
            "overload",
            "dps",
            "protec",
            "monitora",
            "temperatura",
            "voc",
            "mppt",
            "quantos modulos",
            "quantas placas",
            "quantos paineis",
            "consumo",
            "gera",
            "telhado",
            "laje",
            "ceramic",
            "metalic",
            "fibrocimento",
            "ficha tecnica",
            "datasheet",
            "coeficiente",
            "eficiencia",
            "cabo",
            "fusivel",
            "equipotencial",
            "hibrido",
            "on-grid",
            "off-grid",
            "tipo de inversor",
            "tipos de inversor",
            "kwp",
            "consom",
            "kwh/mes",
            "backup",
            "autonomia",
            "amper",
            "disjuntor",
            "corrente",
            "serie",
            "paralelo",
            "area",
            "vento",
            "injet",
            "ilhamento",
            "desligar",
        ],
    ),
    (
        Topic::Sales,
        &[
            "pagamento",
            "pagar",
            "parcel",
            "boleto",
            "pix",
            "cartao",
            "desconto",
            "frete",
            "entrega",
            "prazo de entrega",
            "garantia",
            "rma",
            "devolu",
            "troca",
            "defeito",
            "cotar",
            "faturar",
            "trinc",
            "palete",
            "avaria",
            "quebrad",
            "minimo",
            "a prazo",
            "a vista",
            "prata",
            "ouro",
            "bronze",
            "integrador",
            "cotacao",
            "orcamento",
            "pedido",
            "condic",
            "volume",
            "objec",
            "composicao",
            "historico",
            "margem",
            "financ",
            "antecipad",
            "faturamento",
        ],
    ),
    (
        Topic::Tariffs,
        &[
            "tarifa",
            "kwh custa",
            "preco do kwh",
            "valor do kwh",
            "conta de luz",
            "cemig",
            "enel",
            "copel",
            "cpfl",
            "light",
            "celesc",
            "coelba",
            "energisa",
            "equatorial",
            "neoenergia",
            "bandeira",
            "concessionaria",
        ],
    ),
];

const SHOPPING_CUES: &[&str] = &[
    "voces tem",
    "vcs tem",
    "voce tem",
    "tem avulso",
    "tem em estoque",
    "estoque",
    "disponive",
    "pronta entrega",
    "comprar",
    "vendem",
    "vende ",
    "quero ",
    "preciso de ",
    "o que tem",
];

const PRICE_CUES: &[&str] = &[
    "preco",
    "quanto custa",
    "quanto sai",
    "quanto e ",
    "quanto ta",
    "quanto esta",
    "custa",
    "valor",
    "r$",
    "barato",
    "caro",
    "mais em conta",
    "custo",
];

impl Question {
    pub fn read(text: &str) -> Question {
        let folded = fold_to_ascii(text).to_lowercase();
        // Padded so cues can require a word boundary on either side.
        let padded = format!(" {} ", words_only(&folded));
        let mut product_types: Vec<&'static str> = Vec::new();
        for (word, slug) in TYPE_WORDS {
            if contains_word(&padded, word) && !product_types.contains(slug) {
                product_types.push(slug);
            }
        }
        // "microinversor" also matched "inversor" inside "micro inversor".
        if product_types.contains(&"microinversor") {
            product_types.retain(|t| *t != "inversor");
        }
        let cues = TOPIC_CUES
            .iter()
            .map(|(topic, words)| {
                let n = words.iter().filter(|w| has_cue(&padded, w)).count();
                (*topic, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        Question {
            text: text.to_string(),
            powers: powers(&folded),
            phases: phases(&padded),
            hybrid: padded.contains(" hibrid"),
            codes: codes(text),
            asks_price: PRICE_CUES.iter().any(|c| has_cue(&padded, c)),
            // "…, tem?" at the end asks whether it is in stock.
            shopping: SHOPPING_CUES.iter().any(|c| has_cue(&padded, c))
                || padded.ends_with(" tem ")
                || padded.contains(" opcoes "),
            product_types,
            cues,
            folded,
        }
    }

    /// How many cues point at `topic`.
    pub fn cue(&self, topic: Topic) -> usize {
        self.cues
            .iter()
            .find(|(t, _)| *t == topic)
            .map_or(0, |(_, n)| *n)
    }

    /// The catalog brands (manufacturer values, as stored) the question
    /// names, by full name or by a distinctive first word ("Canadian").
    pub fn brands<'b>(&self, brands: &'b [String]) -> Vec<&'b str> {
        let padded = format!(" {} ", words_only(&self.folded));
        brands
            .iter()
            .filter(|b| {
                let name = words_only(&fold_to_ascii(b).to_lowercase());
                let first = name.split(' ').next().unwrap_or("");
                contains_word(&padded, &name) || (first.len() >= 4 && contains_word(&padded, first))
            })
            .map(|b| b.as_str())
            .collect()
    }
}

/// Letters, digits and single spaces: punctuation becomes a space.
fn words_only(folded: &str) -> String {
    let mut out = String::with_capacity(folded.len());
    for c in folded.chars() {
        if c.is_ascii_alphanumeric() || c == '$' || c == '/' || c == '-' {
            out.push(c);
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out.trim().to_string()
}

/// A cue at the start of a word; cues of three letters or fewer ("voc",
/// "lei", "nbr") must be the whole word, or "voc" would match "vocês".
fn has_cue(padded: &str, cue: &str) -> bool {
    if cue.trim_end().len() <= 3 {
        padded.contains(&format!(" {} ", cue.trim_end()))
    } else {
        padded.contains(&format!(" {cue}"))
    }
}

fn contains_word(padded: &str, word: &str) -> bool {
    padded.contains(&format!(" {word} "))
}

/// Every number with a power unit: "550W", "550 w", "0,55 kW", "75.000 W",
/// "50kWp", "5 kVA" (read as watts, as a buyer means it).
fn powers(folded: &str) -> Vec<Power> {
    let bytes = folded.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_number = bytes[i].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'-'));
        if !starts_number {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.' || bytes[i] == b',')
        {
            i += 1;
        }
        let number = folded[start..i].trim_end_matches(['.', ',']);
        let mut j = i;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        let unit_end = folded[j..]
            .find(|c: char| !c.is_ascii_alphabetic())
            .map_or(folded.len(), |n| j + n);
        let unit = &folded[j..unit_end];
        let (scale, peak) = match unit {
            "w" | "watts" | "watt" => (1.0, false),
            "wp" => (1.0, true),
            "kw" | "kva" | "quilowatts" => (1000.0, false),
            "kwp" => (1000.0, true),
            "mw" => (1_000_000.0, false),
            "mwp" => (1_000_000.0, true),
            _ => continue,
        };
        if let Some(value) = parse_number(number, scale == 1.0) {
            if value > 0.0 {
                out.push(Power {
                    watts: value * scale,
                    peak,
                });
            }
        }
        i = unit_end;
    }
    out
}

/// A Brazilian or English number: "75.000" (thousands when `dot_thousands`
/// and three digits follow), "0,55", "1.234,5", "5.5".
fn parse_number(s: &str, dot_thousands: bool) -> Option<f64> {
    let normalised = if s.contains(',') {
        s.replace('.', "").replace(',', ".")
    } else if s.contains('.') {
        let after = s.rsplit('.').next().unwrap_or("");
        if dot_thousands && after.len() == 3 {
            s.replace('.', "")
        } else {
            s.to_string()
        }
    } else {
        s.to_string()
    };
    normalised.parse().ok()
}

fn phases(padded: &str) -> Option<u32> {
    if ["trifasic", "3 fases", "tres fases", " 3f "]
        .iter()
        .any(|w| padded.contains(w))
    {
        Some(3)
    } else if ["bifasic", "2 fases", "duas fases"]
        .iter()
        .any(|w| padded.contains(w))
    {
        Some(2)
    } else if ["monofasic", "1 fase", "uma fase"]
        .iter()
        .any(|w| padded.contains(w))
    {
        Some(1)
    } else {
        None
    }
}

/// Tokens that look like a SKU or model code: letters and digits with a
/// dash or slash, or digits glued to letters ("CS6W-550MS", "ST-PAN-1002",
/// "SUN-5K-SG03LP1", "HMS-2000-4T"). Plain powers ("550W") are not codes.
fn codes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '?' | '(' | ')')) {
        let token = raw.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if token.len() < 5 {
            continue;
        }
        let digits = token.chars().filter(|c| c.is_ascii_digit()).count();
        let letters = token.chars().filter(|c| c.is_ascii_alphabetic()).count();
        let joined = token.contains('-') || token.contains('/');
        let is_power = powers(&token.to_lowercase()).len() == 1
            && token.chars().all(|c| c.is_ascii_alphanumeric());
        if digits > 0 && letters > 0 && joined && !is_power && token.is_ascii() {
            out.push(token.to_uppercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watts(q: &str) -> Vec<(f64, bool)> {
        Question::read(q)
            .powers
            .iter()
            .map(|p| (p.watts, p.peak))
            .collect()
    }

    #[test]
    fn powers_in_every_spelling() {
        assert_eq!(watts("painel 550W mono"), vec![(550.0, false)]);
        assert_eq!(watts("painel de 550 w"), vec![(550.0, false)]);
        assert_eq!(watts("inversor 0,55 kW"), vec![(550.0, false)]);
        assert_eq!(watts("inversor de 75 kW"), vec![(75_000.0, false)]);
        assert_eq!(watts("inversor 75000 W"), vec![(75_000.0, false)]);
        assert_eq!(watts("inversor 75.000 W"), vec![(75_000.0, false)]);
        assert_eq!(watts("projeto comercial 50kWp"), vec![(50_000.0, true)]);
        assert_eq!(watts("inversor 5.5 kW"), vec![(5_500.0, false)]);
        assert!(watts("modelo CS6W-550MS, 144 células").is_empty());
        assert!(watts("Lei 14.300 de 2022").is_empty());
    }

    #[test]
    fn types_phases_and_codes() {
        let q = Question::read("Tem micro inversor trifásico da Hoymiles? HMS-2000-4T");
        assert_eq!(q.product_types, vec!["microinversor"]);
        assert_eq!(q.phases, Some(3));
        assert_eq!(q.codes, vec!["HMS-2000-4T"]);
        let q = Question::read("Quantos módulos por string no inversor?");
        assert_eq!(q.product_types, vec!["inversor", "modulo-fotovoltaico"]);
        assert!(q.cue(Topic::Technical) > 0);
        let q = Question::read("preciso de uma string box");
        assert_eq!(q.product_types, vec!["string-box"]);
        assert!(Question::read("painel 550W").codes.is_empty());
    }

    #[test]
    fn brands_by_name_or_first_word() {
        let brands = vec![
            "Canadian Solar".to_string(),
            "JA Solar".into(),
            "WEG".into(),
        ];
        let q = Question::read("Painel canadian de 550");
        assert_eq!(q.brands(&brands), vec!["Canadian Solar"]);
        let q = Question::read("tem JA Solar ou weg?");
        assert_eq!(q.brands(&brands), vec!["JA Solar", "WEG"]);
        // "ja" alone is a Portuguese word, not a brand.
        assert!(Question::read("já tem estoque?").brands(&brands).is_empty());
    }

    #[test]
    fn price_and_routing_cues() {
        let q = Question::read("Quanto custa o microinversor Hoymiles de 4 MPPT?");
        assert!(q.asks_price);
        let q = Question::read("Quais documentos a distribuidora pede para homologação?");
        assert!(q.cue(Topic::Regulatory) >= 2);
        let q = Question::read("Qual a tarifa da Cemig para B1?");
        assert!(q.cue(Topic::Tariffs) >= 2);
        let q = Question::read("Vocês parcelam no boleto?");
        assert!(q.cue(Topic::Sales) >= 2);
    }
}
