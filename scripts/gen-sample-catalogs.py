#!/usr/bin/env python3
"""Writes the sample distributor catalogs next to this script.

Deterministic (fixed seed), so re-running it reproduces the committed files
byte for byte. Products, SKUs, prices, registrations and URLs are invented;
model names follow the manufacturers' public naming so the catalog reads
like the real Brazilian market. Electrical specs are derived so they stay
consistent: Imp = P / Vmp, Isc > Imp, Voc > Vmp, efficiency = P / area.
"""

import csv
import io
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(2025)

# --------------------------------------------------------------------------
# Master catalog: every product that any distributor may carry.
# --------------------------------------------------------------------------

# (manufacturer, model template, bins, ref power, Vmp@ref, Voc@ref,
#  area m², tech, cells, warranty, base price R$/W)
PANEL_FAMILIES = [
    ("Canadian Solar", "CS6R-{p}MS", [400, 405, 410, 415], 410, 31.0, 37.4, 1.953, "Mono PERC", 108, 12, 1.62),
    ("Canadian Solar", "CS6W-{p}MS", [540, 545, 550, 555], 550, 41.7, 49.6, 2.564, "Mono PERC", 144, 12, 1.38),
    ("Canadian Solar", "CS7N-{p}TB-AG", [690, 695, 700], 700, 40.3, 48.1, 3.106, "TOPCon bifacial", 132, 12, 1.45),
    ("JA Solar", "JAM72S30-{p}/MR", [540, 545, 550, 555], 550, 41.96, 49.9, 2.583, "Mono PERC", 144, 12, 1.36),
    ("JA Solar", "JAM72D40-{p}/MB", [570, 575, 580], 575, 42.4, 51.1, 2.583, "N-type bifacial", 144, 12, 1.44),
    ("Jinko", "JKM{p}N-72HL4-BDV", [570, 575, 580, 585], 575, 42.44, 51.4, 2.583, "Tiger Neo N-type bifacial", 144, 12, 1.42),
    ("Trina", "TSM-{p}NEG19RC.20", [600, 605, 610, 615, 620], 605, 35.2, 42.0, 2.704, "Vertex N bifacial", 132, 12, 1.40),
    ("Longi", "LR5-72HTH-{p}M", [575, 580, 585, 590], 575, 43.6, 51.6, 2.583, "Hi-MO 6", 144, 15, 1.47),
    ("Longi", "LR5-54HTH-{p}M", [420, 425, 430, 435], 430, 32.6, 38.6, 1.953, "Hi-MO 6", 108, 15, 1.58),
    ("Risen", "RSM110-8-{p}BMDG", [540, 545, 550], 550, 31.8, 38.3, 2.613, "Mono PERC bifacial", 110, 12, 1.30),
    ("Astronergy", "CHSM54N(DG)/F-BH-{p}", [425, 430, 435, 440], 435, 32.4, 38.9, 1.953, "ASTRO N5 TOPCon", 108, 12, 1.52),
    ("Sunova", "SS-BG{p}-66MDH(T)", [690, 695, 700], 700, 40.4, 48.4, 3.11, "TOPCon bifacial", 132, 12, 1.30),
    ("Canadian Solar", "CS6.1-54TD-{p}", [440, 445, 450], 445, 33.5, 39.6, 1.998, "TOPCon bifacial", 108, 12, 1.55),
    ("Trina", "TSM-{p}DE09R.08", [425, 430, 435], 430, 32.3, 38.9, 1.998, "Vertex S+", 108, 15, 1.57),
]

# (manufacturer, model, kind, AC kW, MPPT min, MPPT max, max DC, phases,
#  grid V, efficiency %, warranty, price R$)
INVERTERS = [
    ("Growatt", "MIN 3000TL-X", "string", 3, 80, 550, 600, 1, 220, 98.2, 10, 3290.00),
    ("Growatt", "MIN 5000TL-X", "string", 5, 80, 550, 600, 1, 220, 98.4, 10, 4390.00),
    ("Growatt", "MIN 6000TL-X", "string", 6, 80, 550, 600, 1, 220, 98.4, 10, 4890.00),
    ("Growatt", "MID 15KTL3-X", "string", 15, 200, 1000, 1100, 3, 380, 98.6, 10, 11490.00),
    ("Growatt", "MID 25KTL3-X", "string", 25, 200, 1000, 1100, 3, 380, 98.7, 10, 15990.00),
    ("Growatt", "MAX 75KTL3 LV", "string", 75, 200, 1000, 1100, 3, 380, 98.8, 10, 38900.00),
    ("Fronius", "Primo 5.0-1", "string", 5, 240, 800, 1000, 1, 220, 98.1, 7, 9290.00),
    ("Fronius", "Primo 8.2-1", "string", 8.2, 270, 800, 1000, 1, 220, 98.1, 7, 11890.00),
    ("Fronius", "Symo 10.0-3-M", "string", 10, 270, 800, 1000, 3, 380, 98.0, 7, 15490.00),
    ("Fronius", "Tauro 50-3-D", "string", 50, 580, 930, 1000, 3, 380, 98.5, 7, 42900.00),
    ("WEG", "SIW300H M030", "string", 3, 90, 560, 600, 1, 220, 98.2, 10, 3590.00),
    ("WEG", "SIW300H M050", "string", 5, 90, 560, 600, 1, 220, 98.4, 10, 4690.00),
    ("WEG", "SIW500H ST020", "string", 20, 200, 1000, 1100, 3, 380, 98.6, 10, 14990.00),
    ("SMA", "Sunny Boy 5.0", "string", 5, 100, 500, 600, 1, 220, 97.0, 10, 8490.00),
    ("SMA", "Sunny Tripower 25000TL-30", "string", 25, 390, 800, 1000, 3, 380, 98.3, 10, 24900.00),
    ("Deye", "SUN-5K-SG03LP1-EU", "hybrid", 5, 125, 425, 500, 1, 220, 97.6, 10, 7990.00),
    ("Deye", "SUN-8K-SG04LP3-EU", "hybrid", 8, 200, 650, 800, 3, 380, 97.6, 10, 12490.00),
    ("Deye", "SUN-12K-SG04LP3-EU", "hybrid", 12, 200, 650, 800, 3, 380, 97.6, 10, 15900.00),
    ("Sungrow", "SG5.0RS", "string", 5, 40, 560, 600, 1, 220, 97.9, 10, 4290.00),
    ("Sungrow", "SG8.0RS", "string", 8, 40, 560, 600, 1, 220, 97.9, 10, 5990.00),
    ("Sungrow", "SG33CX", "string", 33, 200, 1000, 1100, 3, 380, 98.7, 10, 19490.00),
    ("Sungrow", "SG50CX", "string", 50, 200, 1000, 1100, 3, 380, 98.7, 10, 26900.00),
    ("Sungrow", "SG75CX", "string", 75, 200, 1000, 1100, 3, 380, 98.7, 10, 34900.00),
    ("Hoymiles", "HMS-1600-4T", "micro", 1.6, 16, 60, 60, 1, 220, 96.7, 12, 2690.00),
    ("Hoymiles", "HMS-1800-4T", "micro", 1.8, 16, 60, 60, 1, 220, 96.7, 12, 2890.00),
    ("Hoymiles", "HMS-2000-4T", "micro", 2.0, 16, 60, 60, 1, 220, 96.7, 12, 3190.00),
    ("Deye", "SUN2250G4-EU-Q0", "micro", 2.25, 25, 55, 60, 1, 220, 96.5, 10, 3390.00),
    ("Growatt", "NEO 2000M-X", "micro", 2.0, 40, 60, 65, 1, 220, 96.5, 10, 2990.00),
]

# (manufacturer, model, description, nominal V, kWh, warranty, price)
BATTERIES = [
    ("Deye", "SE-G5.1 Pro-B", "Bateria de lítio LiFePO4 5,12 kWh 51,2 V", 51.2, 5.12, 10, 11900.00),
    ("Deye", "BOS-G 5.12", "Bateria de lítio alta tensão 5,12 kWh", 102.4, 5.12, 10, 13900.00),
    ("BYD", "Battery-Box Premium HVS 5.1", "Bateria de lítio alta tensão 5,1 kWh", 204.0, 5.12, 10, 19900.00),
    ("BYD", "Battery-Box Premium LVS 8.0", "Bateria de lítio baixa tensão 8 kWh", 51.2, 8.0, 10, 27900.00),
    ("Pylontech", "US3000C", "Bateria de lítio LiFePO4 3,55 kWh 48 V", 48.0, 3.55, 10, 8490.00),
    ("Pylontech", "US5000", "Bateria de lítio LiFePO4 4,8 kWh 48 V", 48.0, 4.8, 10, 10990.00),
    ("Growatt", "ARK 2.5H-A1", "Módulo de bateria alta tensão 2,56 kWh", 51.2, 2.56, 10, 7990.00),
    ("Unipower", "UPLFP48-100", "Bateria de lítio LiFePO4 48 V 100 Ah", 48.0, 4.8, 8, 8990.00),
]

# (manufacturer, model, category, description, price, extra)
BOS = [
    ("Romagnole", "RS-CER-4M", "Estrutura", "Estrutura telhado cerâmico para 4 módulos (trilho 4,20 m)", 389.00, {}),
    ("Romagnole", "RS-CER-6M", "Estrutura", "Estrutura telhado cerâmico para 6 módulos", 549.00, {}),
    ("Romagnole", "RS-FIB-4M", "Estrutura", "Estrutura telhado fibrocimento para 4 módulos, parafuso estrutural", 319.00, {}),
    ("Romagnole", "RS-FIB-8M", "Estrutura", "Estrutura telhado fibrocimento para 8 módulos", 589.00, {}),
    ("Romagnole", "RS-MET-4M", "Estrutura", "Estrutura telhado metálico (mini trilho) para 4 módulos", 229.00, {}),
    ("Romagnole", "RS-LAJE-2M", "Estrutura", "Estrutura laje triangular 2 módulos inclinação 15°", 459.00, {}),
    ("Romagnole", "RS-SOLO-12M", "Estrutura", "Estrutura solo monoposte para 12 módulos", 2890.00, {}),
    ("Romagnole", "RS-TR-420", "Estrutura", "Trilho de alumínio 4,20 m", 139.00, {}),
    ("Romagnole", "RS-TR-630", "Estrutura", "Trilho de alumínio 6,30 m", 199.00, {}),
    ("Romagnole", "RS-GF-INT", "Estrutura", "Grampo intermediário 30–40 mm", 7.90, {}),
    ("Romagnole", "RS-GF-TERM", "Estrutura", "Grampo terminal 35 mm", 8.50, {}),
    ("Pratyc", "PR-COL-4M", "Estrutura", "Estrutura colonial para 4 módulos com ganchos", 419.00, {}),
    ("Pratyc", "PR-SOLO-20M", "Estrutura", "Estrutura solo para 20 módulos em aço galvanizado", 4590.00, {}),
    ("Prysmian", "AFUMEX-SOLAR-4-PT", "Cabo", "Cabo solar 4 mm² 1,8 kV CC preto (rolo 100 m)", 489.00, {}),
    ("Prysmian", "AFUMEX-SOLAR-4-VM", "Cabo", "Cabo solar 4 mm² 1,8 kV CC vermelho (rolo 100 m)", 489.00, {}),
    ("Prysmian", "AFUMEX-SOLAR-6-PT", "Cabo", "Cabo solar 6 mm² 1,8 kV CC preto (rolo 100 m)", 689.00, {}),
    ("Prysmian", "AFUMEX-SOLAR-6-VM", "Cabo", "Cabo solar 6 mm² 1,8 kV CC vermelho (rolo 100 m)", 689.00, {}),
    ("Cobrecom", "FLEXSOLAR-10-PT", "Cabo", "Cabo solar 10 mm² 1,8 kV CC preto (rolo 50 m)", 829.00, {}),
    ("Stäubli", "MC4-PAR", "Conector", "Par de conectores MC4 macho/fêmea 1500 V", 24.90, {}),
    ("Stäubli", "MC4-Y-PAR", "Conector", "Par de conectores MC4 em Y (derivação)", 69.90, {}),
    ("Clamper", "SB-1E1S-1000", "String Box", "String box 1 entrada / 1 saída 1000 Vcc com DPS e chave seccionadora", 389.00, {"max_dc": 1000}),
    ("Clamper", "SB-2E2S-1000", "String Box", "String box 2 entradas / 2 saídas 1000 Vcc", 659.00, {"max_dc": 1000}),
    ("WEG", "SBW-4E2S-1000", "String Box", "String box 4 entradas / 2 saídas 1000 Vcc com fusíveis", 1190.00, {"max_dc": 1000}),
    ("Ecosolys", "ECO-SB-3E3S-1100", "String Box", "String box 3 entradas / 3 saídas 1100 Vcc", 989.00, {"max_dc": 1100}),
    ("Romagnole", "RS-CER-2M", "Estrutura", "Estrutura telhado cerâmico para 2 módulos", 229.00, {}),
    ("Romagnole", "RS-MET-8M", "Estrutura", "Estrutura telhado metálico (mini trilho) para 8 módulos", 419.00, {}),
    ("Romagnole", "RS-EMENDA", "Estrutura", "Emenda de trilho em alumínio", 14.90, {}),
    ("Romagnole", "RS-ATERR", "Estrutura", "Kit aterramento para trilho (clip + terminal)", 19.90, {}),
    ("Pratyc", "PR-FIB-4M", "Estrutura", "Estrutura fibrocimento para 4 módulos com haste", 339.00, {}),
    ("Cobrecom", "FLEXSOLAR-4-PT-50", "Cabo", "Cabo solar 4 mm² 1,8 kV CC preto (rolo 50 m)", 259.00, {}),
    ("Cobrecom", "FLEXSOLAR-4-VM-50", "Cabo", "Cabo solar 4 mm² 1,8 kV CC vermelho (rolo 50 m)", 259.00, {}),
    ("Cobrecom", "FLEXSOLAR-6-VM-50", "Cabo", "Cabo solar 6 mm² 1,8 kV CC vermelho (rolo 50 m)", 359.00, {}),
    ("Prysmian", "AFUMEX-SOLAR-10-VM", "Cabo", "Cabo solar 10 mm² 1,8 kV CC vermelho (rolo 50 m)", 869.00, {}),
    ("Stäubli", "MC4-CRIMP", "Ferramenta", "Alicate de crimpagem para conectores MC4", 389.00, {}),
    ("Stäubli", "MC4-CHAVE", "Ferramenta", "Chave de montagem para conectores MC4 (par)", 39.90, {}),
    ("Clamper", "DPS-CC-1000", "Proteção", "DPS CC 1000 V classe II 40 kA", 289.00, {"max_dc": 1000}),
    ("WEG", "MDW-C32-2", "Proteção", "Disjuntor bipolar 32 A curva C", 69.90, {}),
    ("WEG", "MDW-C63-3", "Proteção", "Disjuntor tripolar 63 A curva C", 149.00, {}),
    ("Hoymiles", "DTU-Pro-S", "Monitoramento", "Unidade de monitoramento para microinversores", 1190.00, {}),
    ("Growatt", "ShineWiFi-X", "Monitoramento", "Datalogger Wi-Fi para inversores", 239.00, {}),
    ("Deye", "LSW-3", "Monitoramento", "Datalogger Wi-Fi LSW-3", 219.00, {}),
    ("Growatt", "TPM-E", "Monitoramento", "Medidor de energia trifásico para limitação de injeção", 549.00, {}),
]


def r2(x):
    return round(x + 1e-9, 2)


def master_catalog():
    items = []
    for (mfr, tpl, bins, p0, vmp0, voc0, area, tech, cells, warranty, rs_w) in PANEL_FAMILIES:
        for p in bins:
            step = (p - p0) / 5
            vmp = r2(vmp0 + 0.15 * step)
            voc = r2(voc0 + 0.1 * step)
            imp = r2(p / vmp)
            isc = r2(imp * 1.055)
            eff = round(p / area / 10, 1)
            assert 37 <= voc <= 52 and vmp < voc and imp < isc and 20 <= eff <= 23, (tpl, p, voc, eff)
            model = tpl.format(p=p)
            items.append({
                "kind": "panel", "manufacturer": mfr, "model": model,
                "name": f"Módulo Fotovoltaico {mfr} {p}W {tech}",
                "long": f"Módulo Fotovoltaico {mfr} {p}W; {tech}; {cells} células",
                "power_w": p, "efficiency": eff, "voc": voc, "vmp": vmp, "isc": isc, "imp": imp,
                "max_dc": 1500, "warranty": warranty, "price": round(p * rs_w, 2),
            })
    for (mfr, model, kind, kw, mmin, mmax, maxdc, phases, volts, eff, warranty, price) in INVERTERS:
        assert mmin < mmax <= maxdc
        kind_pt = {"string": "Inversor", "hybrid": "Inversor Híbrido", "micro": "Microinversor"}[kind]
        items.append({
            "kind": "micro" if kind == "micro" else "inverter", "manufacturer": mfr, "model": model,
            "name": f"{kind_pt} {mfr} {model} {str(kw).replace('.', ',')} kW",
            "long": f"{kind_pt} {mfr} {model}; {'trifásico' if phases == 3 else 'monofásico'} {volts} V",
            "ac_power_w": int(round(kw * 1000)), "mppt_min": mmin, "mppt_max": mmax, "max_dc": maxdc,
            "phases": phases, "voltage": volts, "efficiency": eff, "warranty": warranty, "price": price,
        })
    for (mfr, model, desc, volts, kwh, warranty, price) in BATTERIES:
        items.append({
            "kind": "battery", "manufacturer": mfr, "model": model,
            "name": f"{desc} {mfr} {model}", "long": f"{desc}; {mfr} {model}",
            "voltage": volts, "warranty": warranty, "price": price,
        })
    for (mfr, model, category, desc, price, extra) in BOS:
        items.append({
            "kind": category, "manufacturer": mfr, "model": model,
            "name": f"{desc} {mfr}", "long": desc,
            "max_dc": extra.get("max_dc"), "warranty": 10 if category == "Estrutura" else None,
            "price": price,
        })
    return items


CATEGORY_PT = {"panel": "Módulo Fotovoltaico", "inverter": "Inversor", "micro": "Microinversor", "battery": "Bateria"}
CATEGORY_EN = {
    "panel": "Solar Panel", "inverter": "Inverter", "micro": "Microinverter", "battery": "Battery",
    "Estrutura": "Mounting Structure", "Cabo": "Cable", "Conector": "Connector", "String Box": "String Box",
    "Proteção": "Protection", "Monitoramento": "Monitoring", "Ferramenta": "Tool",
}


def br_num(x, decimals=2):
    """Brazilian notation with thousands dots: 1234.5 → '1.234,50'."""
    s = f"{x:,.{decimals}f}"
    return s.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def br_plain(x):
    """Decimal comma without grouping, trailing zeros dropped: 49.6 → '49,6'."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return s.replace(".", ",")


def en_plain(x):
    return f"{x:.2f}".rstrip("0").rstrip(".")


def inmetro_number(i):
    return f"{(3100 + i * 37) % 9000 + 1000:06d}/{2021 + i % 4}"


def slug(model):
    return "".join(c if c.isalnum() else "-" for c in model).strip("-").lower()


def stock_for(item):
    if item["kind"] in ("Conector", "Estrutura") and item["price"] < 30:
        return rng.choice([800, 1200, 2500, 4000])
    return rng.choice([0, 2, 5, 8, 12, 20, 35, 60, 120, 240, 480, 1100, 1500])


# --------------------------------------------------------------------------
# Distribuidora Sol Nascente: Brazilian Excel export (cp1252, ';').
# --------------------------------------------------------------------------

def sol_nascente(items):
    header = [
        "Código", "Descrição", "Categoria", "Fabricante", "Modelo", "Preço (R$)", "Estoque",
        "Potência (W)", "Eficiência (%)", "Voc (V)", "Vmp (V)", "Isc (A)", "Imp (A)",
        "Tensão MPPT mín. (V)", "Tensão MPPT máx. (V)", "Tensão máx. CC (V)", "Potência CA (W)",
        "Fases", "Tensão (V)", "Registro Inmetro", "Garantia (anos)", "Ficha técnica",
    ]
    chosen = pick(items, 120, salt=1)
    rows = []
    for i, it in enumerate(chosen):
        kind = it["kind"]
        price = round(it["price"] * rng.uniform(0.97, 1.09), 2)
        desc = it["long"] if i % 9 == 0 else it["name"]
        if i in (17, 64):
            # Alt+Enter inside an Excel cell: a quoted line break.
            desc = it["name"] + "\nProduto sob encomenda: consulte prazo"
        stock = stock_for(it)
        row = {
            "Código": f"SN-{10000 + i * 7:05d}",
            "Descrição": desc,
            "Categoria": CATEGORY_PT.get(kind, kind),
            "Fabricante": it["manufacturer"],
            "Modelo": it["model"],
            "Preço (R$)": "R$ " + br_num(price),
            "Estoque": br_num(stock, 0),
            "Garantia (anos)": str(it["warranty"]) if it.get("warranty") else "",
        }
        if kind == "panel":
            row.update({
                "Potência (W)": str(it["power_w"]),
                "Eficiência (%)": br_plain(it["efficiency"]),
                "Voc (V)": br_plain(it["voc"]), "Vmp (V)": br_plain(it["vmp"]),
                "Isc (A)": br_plain(it["isc"]), "Imp (A)": br_plain(it["imp"]),
                "Tensão máx. CC (V)": br_num(it["max_dc"], 0),
            })
        elif kind in ("inverter", "micro"):
            row.update({
                "Eficiência (%)": br_plain(it["efficiency"]),
                "Tensão MPPT mín. (V)": str(it["mppt_min"]),
                "Tensão MPPT máx. (V)": str(it["mppt_max"]),
                "Tensão máx. CC (V)": br_num(it["max_dc"], 0),
                "Potência CA (W)": br_num(it["ac_power_w"], 0),
                "Fases": "Trifásico" if it["phases"] == 3 else "Monofásico",
                "Tensão (V)": str(it["voltage"]),
            })
        elif kind == "battery":
            row["Tensão (V)"] = br_plain(it["voltage"])
        elif it.get("max_dc"):
            row["Tensão máx. CC (V)"] = br_num(it["max_dc"], 0)
        if kind in ("panel", "inverter", "micro"):
            row["Registro Inmetro"] = inmetro_number(i)
            row["Ficha técnica"] = f"https://docs.solnascente.example/fichas/{slug(it['model'])}.pdf"
        rows.append([row.get(h, "") for h in header])
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    with open(os.path.join(HERE, "distribuidora-sol-nascente.csv"), "wb") as f:
        f.write(buf.getvalue().encode("cp1252"))
    return len(rows)


# --------------------------------------------------------------------------
# SolarTech Distribuição: English headers, UTF-8, ',' and dot decimals.
# --------------------------------------------------------------------------

def solartech(items):
    header = [
        "sku", "name", "category", "manufacturer", "model", "distributor", "price", "stock",
        "power_w", "efficiency", "voc", "vmp", "isc", "imp", "mppt_min_v", "mppt_max_v",
        "max_dc_voltage", "ac_power_w", "phases", "voltage", "inmetro", "warranty_years",
        "datasheet_url",
    ]
    chosen = pick(items, 100, salt=2)
    rows = []
    for i, it in enumerate(chosen):
        kind = it["kind"]
        price = round(it["price"] * rng.uniform(0.94, 1.06), 2)
        row = {
            "sku": f"ST-{kind[:3].upper()}-{1000 + i:04d}",
            "name": it["name"],
            "category": CATEGORY_EN.get(kind, kind),
            "manufacturer": it["manufacturer"],
            "model": it["model"],
            "distributor": "SolarTech Distribuição",
            # English thousands separators, as an en-US export writes them.
            "price": f"{price:,.2f}" if price >= 1000 and i % 3 == 0 else f"{price:.2f}",
            "stock": str(stock_for(it)),
            "warranty_years": str(it["warranty"]) if it.get("warranty") else "",
        }
        if kind == "panel":
            row.update({
                "power_w": f"{it['power_w']}W" if i % 2 else str(it["power_w"]),
                "efficiency": en_plain(it["efficiency"]),
                "voc": en_plain(it["voc"]), "vmp": en_plain(it["vmp"]),
                "isc": en_plain(it["isc"]), "imp": en_plain(it["imp"]),
                "max_dc_voltage": "1500",
            })
        elif kind in ("inverter", "micro"):
            kw = it["ac_power_w"] / 1000
            row.update({
                "efficiency": en_plain(it["efficiency"]),
                "mppt_min_v": str(it["mppt_min"]), "mppt_max_v": str(it["mppt_max"]),
                "max_dc_voltage": str(it["max_dc"]),
                "ac_power_w": f"{en_plain(kw)} kW" if kind == "inverter" else str(it["ac_power_w"]),
                "phases": str(it["phases"]),
                "voltage": f"{it['voltage']} Vac",
            })
        elif kind == "battery":
            row["voltage"] = en_plain(it["voltage"])
        elif it.get("max_dc"):
            row["max_dc_voltage"] = str(it["max_dc"])
        if kind in ("panel", "inverter", "micro"):
            row["inmetro"] = inmetro_number(i + 50)
            row["datasheet_url"] = f"https://solartech.example/datasheets/{slug(it['model'])}.pdf"
        rows.append(row)
    # One Isc written with three decimals ("14.000"): ambiguous on its own,
    # read as 14 A because the rest of the file proves dot decimals.
    for row in rows:
        if row["isc"]:
            row["isc"] = f"{float(row['isc']):.3f}"
            break
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with open(os.path.join(HERE, "solartech-distribuicao.csv"), "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
    return len(rows)


def pick(items, n, salt):
    """Every panel family and inverter is likely at both distributors, so
    pricing has the same models to compare."""
    local = random.Random(salt)
    chosen = local.sample(items, n)
    order = {id(it): k for k, it in enumerate(items)}
    return sorted(chosen, key=lambda it: order[id(it)])


# --------------------------------------------------------------------------
# A small file with deliberate mistakes, for the rejection report.
# --------------------------------------------------------------------------

ERRORS_CSV = """\
Código;Descrição;Categoria;Fabricante;Modelo;Preço (R$);Estoque;Potência (W);Eficiência (%);Voc (V);Vmp (V);Isc (A);Imp (A);Garantia (anos)
EX-001;Módulo Fotovoltaico JA Solar 550W Mono PERC;Módulo Fotovoltaico;JA Solar;JAM72S30-550/MR;R$ 749,90;320;550;21,3;49,9;41,96;13,94;13,11;12
EX-002;Módulo Fotovoltaico Jinko 575W Tiger Neo;Módulo Fotovoltaico;Jinko;JKM575N-72HL4-BDV;R$ 829,00;150;575;22,3;51,4;42,44;14,31;13,55;12
;Módulo Fotovoltaico Trina 605W Vertex N;Módulo Fotovoltaico;Trina;TSM-605NEG19RC.20;R$ 859,00;80;605;22,4;42;35,2;18,14;17,19;12
EX-004;Módulo Fotovoltaico Longi 580W Hi-MO 6;Módulo Fotovoltaico;Longi;LR5-72HTH-580M;-R$ 853,00;60;580;22,5;51,7;43,75;14,0;13,26;15
EX-005;Módulo Fotovoltaico Canadian Solar 550W;Módulo Fotovoltaico;Canadian Solar;CS6W-550MS;R$ 759,00;210;550;90,0;49,6;41,7;13,92;13,19;12
EX-006;Módulo Fotovoltaico Risen 550W bifacial;Módulo Fotovoltaico;Risen;RSM110-8-550BMDG;R$ 715,00;95;550;21,0;31,8;38,3;18,36;17,3;12
EX-007;Inversor Growatt MIN 5000TL-X 5 kW;Inversor;Growatt;MIN 5000TL-X;R$ 4.390,00;25;;98,4;;;;;10
EX-008;Inversor Fronius Primo 5.0-1 5 kW;Inversor;Fronius;Primo 5.0-1;R$ 9.290,00;6;;98,1;;;;;7
EX-002;Módulo Fotovoltaico Jinko 580W Tiger Neo;Módulo Fotovoltaico;Jinko;JKM580N-72HL4-BDV;R$ 845,00;40;580;22,5;51,5;42,59;14,38;13,62;12
EX-010;Microinversor Hoymiles HMS-2000-4T;Microinversor;Hoymiles;HMS-2000-4T;R$ 3.190,00;48;;96,7;;;;;12
EX-011;Inversor Sungrow SG33CX 33 kW;Inversor;Sungrow;SG33CX;sob consulta;2;;98,7;;;;;10
EX-012;Bateria de lítio Deye SE-G5.1 Pro-B 5,12 kWh;Bateria;Deye;SE-G5.1 Pro-B;R$ 11.900,00;12;;;;;;;10
EX-013;Estrutura telhado cerâmico; 4 módulos;Estrutura;Romagnole;RS-CER-4M;R$ 389,00;75;;;;;;;10
EX-014;Estrutura telhado fibrocimento para 4 módulos;Estrutura;Romagnole;RS-FIB-4M;R$ 319,00;140;;;;;;;10
EX-015;Cabo solar 6 mm² preto (rolo 100 m);Cabo;Prysmian;AFUMEX-SOLAR-6-PT;R$ 689,00;30;;;;;;;
EX-016;Par de conectores MC4 1500 V;Conector;Stäubli;MC4-PAR;R$ 24,90;1.200;;;;;;;
EX-017;"String box 2 entradas; 2 saídas 1000 Vcc";String Box;Clamper;SB-2E2S-1000;R$ 659,00;18;;;;;;;5
EX-018;Módulo Fotovoltaico Astronergy 435W ASTRO N5;Módulo Fotovoltaico;Astronergy;CHSM54N(DG)/F-BH-435;R$ 679,00;110;435;22,3;38,9;32,4;14,11;13,43;12
EX-019;Inversor Híbrido Deye SUN-5K-SG03LP1-EU 5 kW;Inversor;Deye;SUN-5K-SG03LP1-EU;R$ 7.990,00;9;;97,6;;;;;10
EX-020;Módulo Fotovoltaico Longi 430W Hi-MO 6;Módulo Fotovoltaico;Longi;LR5-54HTH-430M;R$ 689,00;0;430;22,0;38,6;32,6;13,9;13,19;15
"""


def errors_file():
    with open(os.path.join(HERE, "exemplo-com-erros.csv"), "w", encoding="utf-8", newline="") as f:
        f.write(ERRORS_CSV)


if __name__ == "__main__":
    items = master_catalog()
    print("master catalog:", len(items))
    print("sol nascente:", sol_nascente(items))
    print("solartech:", solartech(items))
    errors_file()
