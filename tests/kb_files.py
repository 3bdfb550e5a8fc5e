"""Generated upload files for tests: a large synthetic FAQ, zip bombs, million-row CSV and XLSX.

All text is synthetic (made here), never copied from any data set.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile

from openpyxl import Workbook

_ITEMS = ["连衣裙", "卫衣", "牛仔裤", "羽绒服", "衬衫", "运动鞋", "帆布包", "围巾", "毛衣", "风衣"]
_COLOURS = ["黑色", "白色", "蓝色", "红色", "灰色", "米色", "绿色", "粉色"]
_ASPECTS = ["尺码", "面料", "发货", "洗涤", "退换", "色差", "库存", "厚薄", "版型", "赠品", "包装", "价格"]
_FORMS = ["{c}{i}的{a}怎么样", "{c}{i}{a}如何", "请问{c}{i}{a}", "{c}{i}的{a}问一下", "想了解{c}{i}{a}",
          "{a}方面{c}{i}", "{c}{i}关于{a}", "咨询{c}{i}{a}", "{c}{i}{a}是怎样的", "{c}{i}{a}介绍下"]


def synthetic_faq_csv(entries: int, phrasings_per_entry: int = 8, *, answer_tag: str = "") -> bytes:
    """A valid FAQ: every phrasing unique (a serial number in each), answers that pass compliance."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["编号", "标准问题", "相似问题", "答案", "分类"])
    for n in range(entries):
        c, i, a = _COLOURS[n % 8], _ITEMS[(n // 8) % 10], _ASPECTS[(n // 80) % 12]
        forms = [f.format(c=c, i=i, a=a) + f"款号{n}" for f in _FORMS[:phrasings_per_entry]]
        writer.writerow([f"G-{n:05d}", forms[0], "|".join(forms[1:]),
                         f"亲，款号{n}的{c}{i}{a}请看详情页说明哦{answer_tag}", a])
    return buf.getvalue().encode("utf-8")


def xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    """A workbook with one sheet per item, rows as given."""
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def small_xlsx(rows: list[list[str]], title: str = "FAQ") -> bytes:
    return xlsx({title: rows})


def zip_bomb_xlsx(expanded_mib: int) -> bytes:
    """A real workbook whose sheet XML is padded with ``expanded_mib`` MiB of spaces (valid XML
    whitespace): a few hundred KB on the wire, ~1000x compression — what a zip bomb looks like."""
    base = small_xlsx([["标准问题", "答案"], ["包邮吗", "包邮"]])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info, data)
                continue
            head, tail = data.split(b"<sheetData>", 1)
            target = zipfile.ZipInfo(info.filename)
            target.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(target, "w", force_zip64=True) as fh:
                fh.write(head + b"<sheetData>")
                chunk = b" " * (1 << 20)
                for _ in range(expanded_mib):
                    fh.write(chunk)
                fh.write(tail)
    return out.getvalue()


def million_row_csv(rows: int = 1_000_000) -> bytes:
    """``rows`` data rows in under 10 MiB (8 bytes a row): fits the default upload size limit."""
    return "标准问题,答案\n".encode() + "问,答\n".encode() * rows


def million_row_xlsx(rows: int = 1_000_000) -> bytes:
    """A sheet of ``rows`` numeric rows with no dimension element, compressing ~12x (not a zip bomb):
    only counting rows can refuse it early."""
    rng = random.Random(7)
    base = small_xlsx([["标准问题", "答案"]])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info, data)
                continue
            head, rest = data.split(b"<sheetData>", 1)
            head = head.replace(b'<dimension ref="A1:B1"/>', b"")
            target = zipfile.ZipInfo(info.filename)
            target.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(target, "w", force_zip64=True) as fh:
                fh.write(head + b"<sheetData>" + rest.split(b"</sheetData>")[0])
                for start in range(0, rows, 10_000):
                    fh.write(b"".join(b"<row><c><v>%d</v></c><c><v>%d</v></c></row>"
                                      % (rng.randrange(10**6), rng.randrange(10**6))
                                      for _ in range(min(10_000, rows - start))))
                fh.write(b"</sheetData>" + rest.split(b"</sheetData>", 1)[1])
    return out.getvalue()
