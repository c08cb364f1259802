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
