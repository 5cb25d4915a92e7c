"""The movement's report as files: an XLSX workbook (openpyxl) and a PDF laid out like a police summary report
(fpdf2, with DejaVu Sans from `fonts/` for the Vietnamese letters). Pure: a `reports.Report` in, bytes out.

The workbook has two sheets: the report as people read it ("Báo cáo"), and every number of the three services'
`/stats` answers by key for the year and the year before ("Số liệu"), exactly as the services gave them.
"""

from __future__ import annotations

import io
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from services.console.reports import Report, area_name, authority, number
from shared.calendar import VN_TZ

FONTS = Path(__file__).resolve().parent / "fonts"

WORDS: dict[str, dict[str, str]] = {
    "vi": {"sheet": "Báo cáo", "data": "Số liệu", "no": "STT", "figure": "Chỉ tiêu", "year": "Năm {y}",
           "change": "Tăng, giảm", "key": "Mã số liệu", "source": "Nguồn: GET /stats của các dịch vụ "
           "units, tips, awards", "made": "Lập lúc {at} (giờ Việt Nam, UTC+7)", "area": "Địa bàn: {area}",
           "period": "Kỳ báo cáo: từ ngày {start} đến ngày {end}", "final": "BÁO CÁO TỔNG KẾT",
           "interim": "BÁO CÁO SƠ KẾT",
           "subject": "Phong trào toàn dân bảo vệ an ninh Tổ quốc trong cơ quan, doanh nghiệp, nhà trường năm {y}",
           "results": "KẾT QUẢ THỰC HIỆN", "nation": "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM",
           "motto": "Độc lập - Tự do - Hạnh phúc", "dated": "{place}, ngày {d:%d} tháng {d:%m} năm {d:%Y}",
           "page": "Trang {n}", "recipients": "Nơi nhận:", "recipients_list": "- Ban Chỉ đạo 138 cấp trên;\n"
           "- Lưu: VT, đơn vị xây dựng phong trào.", "note": "Số liệu lấy trực tiếp từ hệ thống antq; so sánh với "
           "cùng kỳ năm {p}."},
    "en": {"sheet": "Report", "data": "Figures", "no": "No.", "figure": "Figure", "year": "Year {y}",
           "change": "Change", "key": "Figure key", "source": "Source: GET /stats of the units, tips and "
           "awards services", "made": "Made {at} (Vietnam time, UTC+7)", "area": "Area: {area}",
           "period": "Period: {start} to {end}", "final": "YEAR-END REPORT", "interim": "INTERIM REPORT",
           "subject": "The all-people movement to protect national security in agencies, enterprises and schools, "
                      "{y}", "results": "RESULTS", "nation": "SOCIALIST REPUBLIC OF VIETNAM",
           "motto": "Independence - Freedom - Happiness", "dated": "{place}, {d:%d/%m/%Y}", "page": "Page {n}",
           "recipients": "To:", "recipients_list": "- The higher-level steering committee 138;\n- Archive.",
           "note": "Figures taken directly from antq; compared with the same period of {p}."},
}


def _made(report: Report) -> str:
    return f"{report.made_at.astimezone(VN_TZ):%d/%m/%Y %H:%M}"


def _period(report: Report) -> str:
    first, last = report.period
    return WORDS[report.lang]["period"].format(start=f"{first:%d/%m/%Y}", end=f"{last:%d/%m/%Y}")


def xlsx(report: Report) -> bytes:
    w = WORDS[report.lang]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = w["sheet"]
    bold = Font(bold=True)
    thin = Side(style="thin")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    sheet.append([authority(report.area_code)])
    sheet.append([(w["final"] if report.final else w["interim"])])
    sheet.append([w["subject"].format(y=report.year)])
    sheet.append([w["area"].format(area=report.place())])
    sheet.append([_period(report)])
    sheet.append([w["made"].format(at=_made(report))])
    for r in range(1, 4):
        sheet.cell(r, 1).font = Font(bold=True, size=13 if r == 2 else 11)
    sheet.append([])
    header = [w["no"], w["figure"], w["year"].format(y=report.year), w["year"].format(y=report.previous_year),
              w["change"]]
    sheet.append(header)
    for c in range(1, 6):
        cell = sheet.cell(sheet.max_row, c)
        cell.font, cell.border = bold, box
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    roman = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")
    for s, section in enumerate(report.sections):
        sheet.append([roman[s] if s < len(roman) else str(s + 1), section.title])
        for c in (1, 2):
            sheet.cell(sheet.max_row, c).font = bold
        for n, row in enumerate(section.rows, start=1):
            sheet.append([n, ("   " if row.indent else "") + row.label, row.current, row.previous, row.change])
            for c in range(3, 6):
                sheet.cell(sheet.max_row, c).number_format = "0.0%" if row.share else "#,##0"
        for r in range(sheet.max_row - len(section.rows), sheet.max_row + 1):
            for c in range(1, 6):
                sheet.cell(r, c).border = box
    sheet.append([])
    sheet.append([w["source"]])
    for col, width in zip("ABCDE", (6, 70, 14, 14, 16), strict=True):
        sheet.column_dimensions[col].width = width
    sheet.freeze_panes = "C9"

    data = book.create_sheet(w["data"])
    data.append([w["key"], w["year"].format(y=report.year), w["year"].format(y=report.previous_year)])
    for c in range(1, 4):
        data.cell(1, c).font = bold
    for key in report.figure_keys():
        data.append([key, report.current.get(key), report.previous.get(key)])
    for i, width in enumerate((48, 14, 14), start=1):
        data.column_dimensions[get_column_letter(i)].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class _Pdf(FPDF):
    def __init__(self, words: dict[str, str]):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.words = words
        self.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(20, 15, 15)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 8)
        self.cell(0, 5, self.words["page"].format(n=self.page_no()), align="C")


def pdf(report: Report) -> bytes:
    w = WORDS[report.lang]
    doc = _Pdf(w)
    doc.set_title(f"{w['final'] if report.final else w['interim']} {report.year} - {report.place()}")
    doc.set_creator("antq")
    doc.add_page()
    half = (doc.w - doc.l_margin - doc.r_margin) / 2
    top = doc.get_y()
    doc.set_font("DejaVu", "B", 10)
    doc.multi_cell(half - 5, 5, authority(report.area_code), align="C")
    doc.set_xy(doc.l_margin + half, top)
    doc.multi_cell(half, 5, w["nation"], align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    doc.multi_cell(half, 5, w["motto"], align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.ln(3)
    doc.set_font("DejaVu", "", 10)
    place = area_name(report.area_code, report.lang).split(",")[-1].strip()
    doc.cell(0, 6, w["dated"].format(place=place, d=report.made_at.astimezone(VN_TZ)), align="R",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.ln(4)
    doc.set_font("DejaVu", "B", 14)
    doc.cell(0, 8, w["final"] if report.final else w["interim"], align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font("DejaVu", "B", 11)
    doc.multi_cell(0, 6, w["subject"].format(y=report.year), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font("DejaVu", "", 10)
    doc.cell(0, 6, w["area"].format(area=report.place()), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.cell(0, 6, _period(report), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.ln(4)
    doc.set_font("DejaVu", "B", 11)
    doc.cell(0, 7, w["results"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    roman = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")
    widths = (12, 86, 24, 24, 29)
    for s, section in enumerate(report.sections):
        doc.set_font("DejaVu", "B", 10)
        doc.ln(1)
        doc.multi_cell(0, 6, f"{roman[s] if s < len(roman) else s + 1}. {section.title}", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        doc.set_font("DejaVu", "", 9)
        with doc.table(col_widths=widths, text_align=("CENTER", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
                       line_height=5.2, first_row_as_headings=True) as table:
            table.row([w["no"], w["figure"], w["year"].format(y=report.year),
                       w["year"].format(y=report.previous_year), w["change"]])
            for n, row in enumerate(section.rows, start=1):
                table.row([str(n), ("  " if row.indent else "") + row.label,
                           number(row.current, report.lang, share=row.share),
                           number(row.previous, report.lang, share=row.share),
                           number(row.change, report.lang, share=row.share, signed=True)])
    doc.ln(4)
    doc.set_font("DejaVu", "", 9)
    doc.multi_cell(0, 5, w["note"].format(p=report.previous_year), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.multi_cell(0, 5, w["made"].format(at=_made(report)) + ". " + w["source"] + ".", new_x=XPos.LMARGIN,
                   new_y=YPos.NEXT)
    doc.ln(4)
    doc.set_font("DejaVu", "B", 9)
    doc.cell(0, 5, w["recipients"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font("DejaVu", "", 9)
    doc.multi_cell(0, 5, w["recipients_list"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(doc.output())
