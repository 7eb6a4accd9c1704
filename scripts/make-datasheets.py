#!/usr/bin/env python3
"""Writes the two sample PDF datasheets of the technical knowledge base.

    pip install fpdf2 && python3 scripts/make-datasheets.py

Output: data/kb/technical/tec-ficha-*.pdf, read by the KB loader like any
other document there (title from the PDF's Title, text extracted page by
page), and tests/fixtures/pdf-encrypted.pdf, a one-page sheet that needs a
password to open, for the loader's test of unreadable PDFs. The figures are the manufacturers' published values for these
models, summarised by the distributor; each sheet says to check the
official datasheet before designing with it.

Core fonts only (Helvetica, not embedded), so the files stay small and the
text must be Latin-1. The creation date and producer are fixed, so
re-running with the same fpdf2 writes the same bytes.
"""

import datetime
import os

from fpdf import FPDF

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "kb", "technical")
DATE = datetime.datetime(2026, 3, 2, 12, 0, tzinfo=datetime.timezone.utc)
AUTHOR = "Base técnica do Hélio (distribuidor, exemplo)"
CHECK = (
    "Valores de referência da folha de dados do fabricante para este modelo, "
    "resumidos pelo distribuidor. Confira sempre a ficha técnica oficial e a "
    "etiqueta do produto antes de fechar um projeto."
)

# A sheet: title, intro paragraph, then blocks. A block is
# ("h", heading), ("p", paragraph), ("t", [(parameter, value), ...]) or
# ("page",) for a page break.
MODULE = {
    "file": "tec-ficha-modulo-ja-solar-jam72s30-550.pdf",
    "title": "Ficha técnica: módulo fotovoltaico JA Solar JAM72S30-550/MR (550 W)",
    "subject": "Módulo monocristalino PERC de 550 W, 144 meias-células",
    "keywords": "módulo fotovoltaico, JA Solar, JAM72S30-550/MR, 550 W, PERC",
    "blocks": [
        ("p", "Módulo monocristalino PERC de 144 meias-células (half-cell), com "
              "tecnologia multi-busbar e moldura de alumínio anodizado, para sistemas "
              "de geração distribuída residenciais, comerciais e usinas de solo. "
              "Modelo de 550 W da família JAM72S30 (530 a 555 W)."),
        ("p", CHECK),
        ("h", "Dados elétricos em STC"),
        ("p", "STC: irradiância de 1.000 W/m², temperatura de célula de 25 °C e "
              "massa de ar AM 1,5."),
        ("t", [
            ("Potência máxima (Pmax)", "550 W"),
            ("Tolerância de potência", "0 a +5 W"),
            ("Tensão de máxima potência (Vmp)", "41,96 V"),
            ("Corrente de máxima potência (Imp)", "13,11 A"),
            ("Tensão de circuito aberto (Voc)", "49,90 V"),
            ("Corrente de curto-circuito (Isc)", "14,00 A"),
            ("Eficiência do módulo", "21,3 %"),
        ]),
        ("h", "Dados elétricos em NOCT"),
        ("p", "NOCT: irradiância de 800 W/m², temperatura ambiente de 20 °C e "
              "vento de 1 m/s."),
        ("t", [
            ("Potência máxima (Pmax)", "416 W"),
            ("Tensão de máxima potência (Vmp)", "39,13 V"),
            ("Corrente de máxima potência (Imp)", "10,63 A"),
            ("Tensão de circuito aberto (Voc)", "46,92 V"),
            ("Corrente de curto-circuito (Isc)", "11,24 A"),
        ]),
        ("h", "Coeficientes de temperatura"),
        ("t", [
            ("Temperatura nominal de operação da célula (NOCT)", "45 ± 2 °C"),
            ("Coeficiente de temperatura de Isc", "+0,045 %/°C"),
            ("Coeficiente de temperatura de Voc", "-0,275 %/°C"),
            ("Coeficiente de temperatura de Pmax", "-0,350 %/°C"),
        ]),
        ("h", "Condições de operação"),
        ("t", [
            ("Tensão máxima do sistema", "1.500 V CC (IEC)"),
            ("Corrente máxima do fusível em série", "25 A"),
            ("Temperatura de operação", "-40 °C a +85 °C"),
            ("Carga mecânica máxima (frontal / traseira)", "5.400 Pa / 2.400 Pa"),
        ]),
        ("page",),
        ("h", "Dados mecânicos"),
        ("t", [
            ("Células", "monocristalinas PERC, 144 meias-células (6 x 24)"),
            ("Dimensões (C x L x A)", "2.279 x 1.134 x 35 mm"),
            ("Peso", "28,6 kg"),
            ("Vidro frontal", "3,2 mm, temperado, com antirreflexo"),
            ("Moldura", "liga de alumínio anodizado"),
            ("Caixa de junção", "IP68, 3 diodos de bypass"),
            ("Cabos", "4 mm²"),
            ("Conectores", "MC4-EVO2 ou QC 4.10-35"),
            ("Embalagem", "31 peças por palete; 620 por contêiner 40' HQ"),
        ]),
        ("h", "Certificações"),
        ("t", [
            ("Desempenho e segurança", "IEC 61215 e IEC 61730"),
            ("Sistemas de gestão da fábrica", "ISO 9001, ISO 14001 e ISO 45001"),
            ("Inmetro", "registro conforme a Portaria nº 140/2022, com ENCE"),
        ]),
        ("p", "O número de registro no Inmetro está no selo do produto e na consulta "
              "pública do Inmetro; confira o modelo exato antes de protocolar a "
              "homologação na distribuidora."),
        ("h", "Garantia"),
        ("t", [
            ("Produto (materiais e fabricação)", "12 anos"),
            ("Potência (garantia linear)", "25 anos"),
            ("Degradação no primeiro ano", "até 2 %"),
            ("Degradação anual depois do primeiro ano", "até 0,55 %"),
            ("Potência ao fim de 25 anos", "ao menos 84,8 % da nominal"),
        ]),
        ("h", "Notas de aplicação"),
        ("p", "Para dimensionar strings, use a Voc corrigida pela menor temperatura "
              "esperada no local. Com o coeficiente de -0,275 %/°C, a 0 °C a Voc de "
              "cada módulo sobe para cerca de 53,3 V: no máximo 18 módulos em série "
              "num inversor de 1.000 V, 11 num de 600 V e 10 num de 550 V, como o "
              "Growatt MIN 5000TL-X. A Isc de 14,00 A cabe em entradas MPPT de pelo "
              "menos 14 A de curto-circuito; a corrente de operação (Imp de 13,11 A) "
              "deve ficar dentro da corrente máxima de entrada do inversor."),
    ],
}

INVERTER = {
    "file": "tec-ficha-inversor-growatt-min-5000tl-x.pdf",
    "title": "Ficha técnica: inversor string Growatt MIN 5000TL-X (5 kW, monofásico)",
    "subject": "Inversor on-grid monofásico de 5 kW com 2 MPPT",
    "keywords": "inversor string, Growatt, MIN 5000TL-X, 5 kW, monofásico, MPPT",
    "blocks": [
        ("p", "Inversor on-grid monofásico sem transformador, com dois rastreadores "
              "MPPT independentes, para sistemas residenciais e pequenos comércios "
              "ligados em 220 V. Família MIN TL-X (2,5 a 6 kW)."),
        ("p", CHECK),
        ("h", "Entrada CC (gerador fotovoltaico)"),
        ("t", [
            ("Potência FV máxima recomendada (STC)", "7.500 W"),
            ("Tensão CC máxima", "550 V"),
            ("Tensão de partida", "100 V"),
            ("Tensão nominal CC", "360 V"),
            ("Faixa de tensão MPPT", "80 V a 550 V"),
            ("Número de MPPTs", "2"),
            ("Strings por MPPT", "1"),
            ("Corrente máxima de entrada por MPPT", "13,5 A"),
            ("Corrente máxima de curto-circuito por MPPT", "16,9 A"),
        ]),
        ("h", "Saída CA"),
        ("t", [
            ("Potência nominal CA", "5.000 W"),
            ("Potência aparente máxima", "5.000 VA"),
            ("Tensão nominal CA", "230 V (faixa de 180 V a 280 V)"),
            ("Frequência da rede", "50/60 Hz, ± 5 Hz"),
            ("Corrente máxima de saída", "22,7 A"),
            ("Fator de potência ajustável", "0,8 indutivo a 0,8 capacitivo"),
            ("Distorção harmônica de corrente (THDi)", "< 3 %"),
            ("Conexão à rede", "monofásica"),
        ]),
        ("h", "Eficiência"),
        ("t", [
            ("Eficiência máxima", "98,4 %"),
            ("Eficiência europeia", "97,5 %"),
            ("Eficiência do MPPT", "99,9 %"),
        ]),
        ("h", "Proteções"),
        ("t", [
            ("Inversão de polaridade CC", "sim"),
            ("Chave seccionadora CC integrada", "sim"),
            ("Dispositivo de proteção contra surtos (DPS) CC e CA", "tipo II"),
            ("Monitoramento da resistência de isolamento", "sim"),
            ("Curto-circuito na saída CA", "sim"),
            ("Falha à terra e corrente residual (RCMU)", "sim"),
            ("Monitoramento da rede e anti-ilhamento", "sim"),
            ("Detecção de arco elétrico (AFCI)", "opcional"),
        ]),
        ("page",),
        ("h", "Dados gerais"),
        ("t", [
            ("Dimensões (L x A x P)", "375 x 350 x 160 mm"),
            ("Peso", "10,8 kg"),
            ("Temperatura de operação", "-25 °C a +60 °C"),
            ("Grau de proteção", "IP65"),
            ("Topologia", "sem transformador"),
            ("Refrigeração", "convecção natural"),
            ("Ruído", "até 25 dB(A)"),
            ("Consumo noturno", "< 1 W"),
            ("Visor", "OLED e LEDs de estado"),
            ("Comunicação", "RS485 e USB; Wi-Fi com o ShineWiFi-X"),
        ]),
        ("h", "Certificações e normas"),
        ("t", [
            ("Inmetro", "registro conforme a Portaria nº 140/2022"),
            ("Interface com a rede", "ABNT NBR 16149 e ABNT NBR 16150"),
            ("Anti-ilhamento", "ABNT NBR IEC 62116"),
            ("Segurança", "IEC 62109-1 e IEC 62109-2"),
        ]),
        ("h", "Garantia"),
        ("t", [
            ("Garantia do fabricante no Brasil", "10 anos"),
        ]),
        ("h", "Notas de aplicação"),
        ("p", "Com módulos de 550 W (Voc de 49,90 V a 25 °C e cerca de 53,3 V a "
              "0 °C), a tensão CC máxima de 550 V limita cada string a 10 módulos. "
              "Dois strings de 6 módulos, um em cada MPPT, somam 6,6 kWp, uma relação "
              "CC/CA de 1,32, dentro da potência FV máxima recomendada de 7.500 W. "
              "A tensão de máxima potência de 6 módulos, perto de 252 V, fica no meio "
              "da faixa de MPPT mesmo nos dias quentes. Um módulo de Imp 13,11 A e "
              "Isc 14,00 A cabe nos limites de 13,5 A e 16,9 A por MPPT."),
        ("p", "Na homologação, a distribuidora pede o certificado do inversor e o "
              "registro no Inmetro; o ajuste de fator de potência e as proteções de "
              "tensão e frequência seguem a ABNT NBR 16149."),
    ],
}


def render(sheet):
    pdf = FPDF(format="A4")
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_creation_date(DATE)
    pdf.set_producer("scripts/make-datasheets.py (fpdf2)")
    pdf.set_creator("scripts/make-datasheets.py")
    pdf.set_title(sheet["title"])
    pdf.set_subject(sheet["subject"])
    pdf.set_keywords(sheet["keywords"])
    pdf.set_author(AUTHOR)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    pdf.set_font("Helvetica", "B", 13)
    pdf.multi_cell(width, 7, sheet["title"])
    pdf.ln(3)
    for block in sheet["blocks"]:
        kind = block[0]
        if kind == "page":
            pdf.add_page()
        elif kind == "h":
            pdf.ln(3)
            pdf.set_font("Helvetica", "B", 11)
            pdf.cell(width, 7, block[1], new_x="LMARGIN", new_y="NEXT")
        elif kind == "p":
            pdf.set_font("Helvetica", "", 9.5)
            pdf.multi_cell(width, 4.8, block[1])
            pdf.ln(1.5)
        elif kind == "t":
            pdf.set_font("Helvetica", "", 9.5)
            for i, (name, value) in enumerate(block[1]):
                fill = i % 2 == 0
                pdf.set_fill_color(238, 241, 245)
                pdf.cell(width * 0.55, 6, name, fill=fill)
                pdf.cell(width * 0.45, 6, value, fill=fill, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    path = os.path.join(OUT, sheet["file"])
    pdf.output(path)
    print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes, {pdf.pages_count} pages")


def encrypted_fixture():
    pdf = FPDF(format="A4")
    pdf.set_creation_date(DATE)
    pdf.set_producer("scripts/make-datasheets.py (fpdf2)")
    pdf.add_page()
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(0, 8, "Ficha técnica protegida por senha.")
    pdf.set_encryption(owner_password="dono", user_password="senha")
    path = os.path.join(HERE, "..", "tests", "fixtures", "pdf-encrypted.pdf")
    pdf.output(path)
    print(f"{os.path.relpath(path)}: {os.path.getsize(path)} bytes (password: senha)")


if __name__ == "__main__":
    for sheet in (MODULE, INVERTER):
        render(sheet)
    encrypted_fixture()
