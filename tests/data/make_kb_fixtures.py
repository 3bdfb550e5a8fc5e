"""Write the knowledge-base fixture files the tests upload (run: python tests/data/make_kb_fixtures.py).

Every file is the team's own text (no external data). The files are committed; this script is how
they were made, so none is a hand-edited binary:

* ``faq_gbk.csv`` — GBK, as Chinese Excel saves "CSV": Chinese headers, a repeated 相似问题 column,
  several similar questions and answers split by newlines and |, a disabled entry;
* ``faq_two_sheets.xlsx`` — two FAQ sheets, 售前 (Chinese headers) and 售后 (English headers);
* ``faq_problems.xlsx`` — two sheets with one of every row problem, for the validation report;
* ``quick_phrases.csv`` — UTF-8 with BOM, groups and shortcut codes.
"""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent

FAQ_GBK_ROWS = [
    ["编号", "标准问题", "相似问题", "相似问题2", "答案", "分类", "状态"],
    ["S-01", "什么时候发货", "几天能发出\n多久发货", "拍了什么时候寄", "亲，付款后48小时内发货哦|现货一般当天发出", "发货", "启用"],
    ["S-02", "包邮吗", "运费多少|免运费吗", "", "全场满59元包邮，偏远地区除外", "运费", "启用"],
    ["S-03", "可以开发票吗", "能开票吗", "发票怎么开", "可以的，下单时备注抬头和税号即可", "发票", "启用"],
    ["S-04", "双十一活动还有吗", "双11优惠", "", "活动已结束，敬请关注下次大促", "活动", "停用"],
]

SHEET_PRESALE = [
    ["编号", "标准问题", "相似问题", "答案", "分类"],
    ["P-01", "有现货吗", "现在有货吗\n还有库存吗", "有现货，付款后尽快发出", "库存"],
    ["P-02", "尺码怎么选", "我该穿多大码|选什么尺码", "请参考详情页尺码表，身高165体重50kg建议M码", "尺码"],
]
SHEET_AFTERSALE = [
    ["id", "question", "similar 1", "similar 2", "answer", "category", "status"],
    ["A-01", "怎么退货", "我要退货", "退货流程是什么", "在订单页点申请售后，选择退货退款即可", "退换货", "启用"],
    ["A-02", "退款多久到账", "钱什么时候退回来", "退款几天到", "商家同意后1到3个工作日原路退回", "退款", "启用"],
    ["A-03", "可以换货吗", "能换个颜色吗", "", "七天内未穿着可以换货，请联系客服登记", "退换货", "停用"],
]

PROBLEM_SHEET_1 = [
    ["编号", "标准问题", "相似问题", "答案", "备注"],
    ["E-01", "发货时间", "几天发货", "48小时内发货", "内部备注"],  # row 2: fine (备注 is unknown: warning)
    ["E-02", "", "什么时候到", "一般3天到", ""],  # row 3: missing question
    ["E-03", "能便宜点吗", "", "", ""],  # row 4: missing answer
    ["E-01", "重复编号的问题", "", "答案", ""],  # row 5: duplicate id
    ["E-05", "多久能发", "几天发货", "很快", ""],  # row 6: conflict (几天发货 is E-01's)
    ["E-06", "=cmd|' /C calc'!A0", "", "答案", ""],  # row 7: formula injection
]
PROBLEM_SHEET_2 = [
    ["编号", "标准问题", "答案", "状态"],
    ["E-07", "官网是什么", "请访问 https://x.cn 查看", "启用"],  # row 2: link
    ["E-08", "电话多少", "有事打13812345678", "启用"],  # row 3: phone
    ["E-09", "加个微信", "加V: abc123 详聊", "启用"],  # row 4: wechat
    ["E-10", "状态不对", "答案", "也许"],  # row 5: status not understood
]

QUICK_PHRASES = [
    ["分组", "快捷编码", "内容"],
    ["问候", "/hi", "亲，您好，有什么可以帮您的吗？"],
    ["问候", "/bye", "感谢您的光临，祝您生活愉快～"],
    ["售后", "/th", "退货请在订单页申请售后，我们会尽快处理"],
    ["售后", "", "退款会在1到3个工作日原路退回"],
]


def xlsx(sheets: dict[str, list[list[str]]]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_text(rows: list[list[str]]) -> str:
    import csv

    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def main() -> None:
    (HERE / "faq_gbk.csv").write_bytes(csv_text(FAQ_GBK_ROWS).encode("gbk"))
    (HERE / "faq_two_sheets.xlsx").write_bytes(xlsx({"售前": SHEET_PRESALE, "售后": SHEET_AFTERSALE}))
    (HERE / "faq_problems.xlsx").write_bytes(xlsx({"常见问题": PROBLEM_SHEET_1, "联系方式": PROBLEM_SHEET_2}))
    (HERE / "quick_phrases.csv").write_bytes(csv_text(QUICK_PHRASES).encode("utf-8-sig"))


if __name__ == "__main__":
    main()
