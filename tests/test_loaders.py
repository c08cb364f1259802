"""kb.loaders: staff files of every kind they send, and the ones that must be refused."""
from __future__ import annotations

import io
import zipfile

import pytest

from bot.errors import KBError
from kb.loaders import load, load_text

POLICY = ("晋城市人民政府办公室文件\n晋市政办〔2026〕7号\n关于印发晋城市支持专业镇高质量发展若干政策的通知\n"
          "对专业镇主导产业企业年营收规模首次达到5亿元的，一次性奖励10万元。\n2026年3月1日\n")


def test_utf8_text_and_bom(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(POLICY.encode("utf-8"))
    assert load(p).text == POLICY and load(p).encoding == "utf-8"
    p.write_bytes(b"\xef\xbb\xbf" + POLICY.replace("\n", "\r\n").encode("utf-8"))
    assert load_text(p) == POLICY       # no BOM, \n line ends


def test_gbk_text(tmp_path):
    p = tmp_path / "gbk.txt"
    p.write_bytes(POLICY.encode("gbk"))
    loaded = load(p)
    assert loaded.text == POLICY
    assert loaded.encoding == "gb18030"     # the superset decoder reads GBK exactly


def test_gb18030_text_with_characters_gbk_lacks(tmp_path):
    text = POLICY + "联系人：𠮷祥（阳城县）、䶮\n"    # U+20BB7 exists only in GB18030 (4 bytes)
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")
    p = tmp_path / "gb18030.txt"
    p.write_bytes(text.encode("gb18030"))
    assert load_text(p) == text


def test_docx_paragraphs_and_tables_in_order(tmp_path):
    import docx
    d = docx.Document()
    d.add_paragraph("关于印发晋城市支持专业镇高质量发展若干政策的通知")
    d.add_paragraph("一、支持产业集聚")
    t = d.add_table(rows=3, cols=3)
    t.cell(0, 0).text, t.cell(0, 1).text, t.cell(0, 2).text = "营收", "奖励", "备注"
    t.cell(1, 0).text, t.cell(1, 1).text, t.cell(1, 2).text = "5亿元", "10万元", "一次性"
    merged = t.cell(2, 0).merge(t.cell(2, 2))
    merged.text = "涉农企业另行规定"
    d.add_paragraph("以上政策自发布之日起施行。")
    p = tmp_path / "policy.docx"
    d.save(p)
    text = load_text(p, "政策.docx")
    lines = text.splitlines()
    assert lines[0] == "关于印发晋城市支持专业镇高质量发展若干政策的通知"
    assert "营收\t奖励\t备注" in lines and "5亿元\t10万元\t一次性" in lines
    assert lines.count("涉农企业另行规定") == 1       # a merged cell once, not three times
    assert lines.index("5亿元\t10万元\t一次性") < lines.index("以上政策自发布之日起施行。")


def _pdf_with_text(path, lines):
    from fpdf import FPDF
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    for line in lines:
        pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def test_pdf_text_layer(tmp_path):
    p = tmp_path / "policy.pdf"
    _pdf_with_text(p, ["Jincheng support policy No. 39", "Revenue first reaches 500 million: 100000 yuan"])
    loaded = load(p)
    assert loaded.format == "pdf"
    assert "Revenue first reaches 500 million: 100000 yuan" in loaded.text


def _scanned_pdf(path, tmp_path):
    from fpdf import FPDF
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (600, 800), "white")
    ImageDraw.Draw(img).text((40, 40), "scanned page: pixels only", fill="black")
    png = tmp_path / "page.png"
    img.save(png)
    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(png), x=10, y=10, w=180)
    pdf.output(str(path))


def test_scanned_pdf_is_rejected(tmp_path):
    p = tmp_path / "scan.pdf"
    _scanned_pdf(p, tmp_path)
    with pytest.raises(KBError, match=r"扫描件\.pdf: a scanned PDF .*no text layer"):
        load(p, "扫描件.pdf")


@pytest.mark.parametrize("name,data,why", [
    ("empty.txt", b"", "empty"),
    ("blank.txt", b" \n\r\n\t ", "empty"),
    ("binary.txt", bytes(range(256)) * 8, "binary"),
    ("noise.txt", bytes([0x81, 0x30, 0xFF, 0xFE, 0xC0]) * 200, "cannot be read as text"),
    ("broken.docx", b"PK\x03\x04 this is not really a zip", "not a valid .docx"),
    ("renamed.docx", b"just some text saved as docx", "not a valid .docx"),
    ("broken.pdf", b"%PDF-1.7\n garbage without objects or trailer\n", "PDF"),
    ("fake.pdf", b"plain text renamed to pdf", "not a valid PDF"),
    ("old.doc", b"\xd0\xcf\x11\xe0 old word", "save it as .docx"),
    ("noext", b"text", "unsupported file type"),
])
def test_bad_files_are_rejected_with_their_name(tmp_path, name, data, why):
    p = tmp_path / "upload.bin"
    p.write_bytes(data)
    with pytest.raises(KBError) as e:
        load(p, name)
    assert str(e.value).startswith(name + ":")
    assert why in str(e.value)


def test_docx_zip_without_a_document_is_rejected(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "not a word document")
    p = tmp_path / "x.docx"
    p.write_bytes(buf.getvalue())
    with pytest.raises(KBError, match=r"x\.docx: the Word document is damaged"):
        load(p)


# ---------------------------------------------------------------- files that never end or are far too big
def test_a_device_or_an_endless_file_is_refused_unread(tmp_path):
    link = tmp_path / "zero.txt"
    link.symlink_to("/dev/zero")
    with pytest.raises(KBError, match="not a regular file"):
        load(link)


def test_a_huge_file_is_refused(tmp_path, monkeypatch):
    import kb.loaders
    monkeypatch.setattr(kb.loaders, "MAX_BYTES", 1000)
    p = tmp_path / "big.txt"
    p.write_bytes(POLICY.encode("utf-8") * 20)
    with pytest.raises(KBError, match="too large"):
        load(p)


# ---------------------------------------------------------------- the same policy as .txt (GBK), .docx, .pdf
ZZ = ["泽州县人民政府办公室文件", "泽政办发〔2025〕12号", "泽州县支持铸造专业镇发展若干措施", "一、支持企业升级",
      "（一）对首次获评省级专精特新中小企业的铸造企业，一次性奖励 15 万元。",
      "本措施自 2025 年 7 月 1 日起施行，有效期至 2027 年 12 月 31 日。"]
CJK_FONTS = ["/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
             "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"]


def _cjk_pdf(path, lines):
    from pathlib import Path
    font = next((f for f in CJK_FONTS if Path(f).exists()), None)
    if font is None:
        pytest.skip("no CJK font to write a Chinese PDF (apt-get install fonts-wqy-microhei)")
    from fpdf import FPDF
    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("cjk", fname=font)
    pdf.set_font("cjk", size=11)
    for line in lines:
        pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def _docx(path, lines):
    import docx
    d = docx.Document()
    for line in lines:
        d.add_paragraph(line)
    d.save(path)


@pytest.mark.parametrize("fmt", ["txt", "docx", "pdf"])
def test_the_same_policy_splits_into_its_clauses_in_every_format(tmp_path, fmt):
    from pathlib import Path
    from kb.admin import split_problem
    from kb.documents import DocumentMeta, SourceDocument
    from kb.parse import parse_document
    p = tmp_path / f"zz.{fmt}"
    if fmt == "txt":
        p.write_bytes("\n".join(ZZ).encode("gbk"))
    elif fmt == "docx":
        _docx(p, ZZ)
    else:
        _cjk_pdf(p, ZZ)
    text = load(p).text
    meta = DocumentMeta(id="zz", title="t", number="n", issuer="i", region="泽州县")
    clauses = {c.id: c for c in parse_document(SourceDocument(meta, text, Path("zz.txt")))}
    assert "zz/1-1" in clauses and "15万元" in clauses["zz/1-1"].text
    assert clauses["zz/1-1"].heading.startswith("一、支持企业升级 › （一）")
    assert "有效期至2027年12月31日" in clauses["zz/final"].text
    assert "一次性奖励" not in clauses["zz/cover"].text
    assert split_problem(list(clauses.values())) is None
