"""The console's words (Vietnamese first, English by choice), times in Vietnam time, and readable refusals."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared import places
from shared.calendar import VN_TZ

LANGUAGES = ("vi", "en")

TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "site": "Bàn làm việc cán bộ · Phong trào toàn dân bảo vệ an ninh Tổ quốc",
        "skip": "Bỏ qua đến nội dung chính",
        "switch": "English",
        "nav": "Điều hướng chính",
        "nav.tips": "Tin báo",
        "nav.inbox": "Thông báo",
        "nav.preferences": "Tuỳ chọn",
        "signed_in_as": "Đăng nhập với tên",
        "sign_out": "Đăng xuất",
        "sign_out_everywhere": "Đăng xuất trên mọi thiết bị",
        "login_title": "Đăng nhập",
        "username": "Tên đăng nhập",
        "password": "Mật khẩu",
        "sign_in": "Đăng nhập",
        "login_failed": "Sai tên đăng nhập hoặc mật khẩu, hoặc tài khoản đang bị khoá tạm thời do nhập sai nhiều "
                        "lần. Vui lòng thử lại sau.",
        "form_expired": "Biểu mẫu đã hết hạn. Vui lòng thử lại.",
        "oidc.sign_in": "Đăng nhập bằng tài khoản của Bộ",
        "oidc.signed_in": "Đã đăng nhập.",
        "oidc.continue": "Tiếp tục",
        "oidc.state": "Phiên đăng nhập không khớp (có thể đã bắt đầu ở cửa sổ khác hoặc đã quá lâu). Vui lòng đăng "
                      "nhập lại.",
        "oidc.expired": "Quá thời gian đăng nhập. Vui lòng đăng nhập lại.",
        "oidc.provider_error": "Hệ thống đăng nhập của Bộ không xác nhận việc đăng nhập. Vui lòng thử lại.",
        "oidc.refused": "Hệ thống đăng nhập của Bộ từ chối yêu cầu đăng nhập. Vui lòng đăng nhập lại.",
        "oidc.invalid_token": "Không xác minh được thông tin đăng nhập từ hệ thống của Bộ. Vui lòng đăng nhập lại.",
        "oidc.no_role": "Tài khoản của Bộ chưa được cấp vai trò hoặc địa bàn trong hệ thống này. Vui lòng liên hệ "
                        "quản trị viên.",
        "oidc.disabled": "Tài khoản này đã bị khoá trên bàn làm việc. Vui lòng liên hệ quản trị viên.",
        "oidc.unavailable": "Hiện không kết nối được hệ thống đăng nhập của Bộ. Vui lòng thử lại sau.",
        "oidc.password_off": "Đăng nhập bằng mật khẩu đã tắt; hãy đăng nhập bằng tài khoản của Bộ.",
        "signed_out": "Bạn đã đăng xuất.",
        "tips_title": "Tin báo của địa bàn",
        "filters": "Lọc",
        "apply": "Lọc",
        "all": "Tất cả",
        "state": "Trạng thái",
        "state.open": "Đang xử lý",
        "urgency": "Mức độ",
        "deadline_filter": "Thời hạn",
        "overdue": "Quá hạn",
        "due5": "Đến hạn trong 5 ngày",
        "channel": "Kênh tiếp nhận",
        "assignment": "Phân công",
        "unassigned": "Chưa phân công",
        "mine": "Của tôi",
        "count_shown": "Đang hiển thị {shown} trên {total} tin báo",
        "received_at": "Tiếp nhận lúc",
        "category": "Loại vụ việc",
        "area": "Địa bàn",
        "unit": "Cơ quan, doanh nghiệp, nhà trường",
        "due": "Hạn gần nhất",
        "no_tips": "Không có tin báo nào phù hợp.",
        "pages": "Các trang của danh sách",
        "next_page": "Trang sau",
        "first_page": "Về trang đầu",
        "open": "Xem",
        "live_hint": "Danh sách tự cập nhật khi có tin báo mới.",
        "tip_title": "Tin báo",
        "description": "Nội dung",
        "location": "Địa điểm",
        "location_unknown": "Người báo không nhớ địa điểm",
        "occurred_at": "Thời gian xảy ra",
        "anonymous": "Ẩn danh",
        "identified": "Có danh tính (được giữ bí mật)",
        "reporter": "Người báo",
        "timeline": "Quá trình xử lý",
        "deadlines": "Thời hạn theo luật",
        "time_left": "Còn lại",
        "ended": "Đã kết thúc",
        "attachments": "Tệp đính kèm",
        "download": "Tải về",
        "actions": "Xử lý",
        "triage": "Phân loại và chuyển xử lý",
        "priority": "Mức độ",
        "assigned_area": "Giao cho địa bàn",
        "assigned_officer": "Giao cho cán bộ (tên đăng nhập)",
        "begin_verification": "Bắt đầu xác minh",
        "verify": "Ghi nhận kết quả xác minh",
        "outcome": "Kết quả",
        "valuable": "Tin báo có giá trị",
        "suspension_reason": "Lý do tạm đình chỉ",
        "note": "Ghi chú (lưu vết, người báo không thấy)",
        "extend": "Gia hạn thời hạn giải quyết",
        "reason": "Lý do",
        "close": "Đóng tin báo",
        "messages": "Trao đổi với người báo",
        "notes": "Ghi chú nội bộ",
        "no_messages": "Chưa có trao đổi nào.",
        "no_notes": "Chưa có ghi chú nội bộ.",
        "message_text": "Nội dung tin nhắn gửi người báo",
        "note_text": "Nội dung ghi chú nội bộ (người báo không thấy)",
        "send_message": "Gửi cho người báo",
        "add_note": "Lưu ghi chú",
        "message_sent": "Đã gửi tin nhắn cho người báo.",
        "note_saved": "Đã lưu ghi chú nội bộ.",
        "done": "Đã ghi nhận.",
        "author.reporter": "Người báo",
        "author.officer": "Cán bộ",
        "duplicates": "Tin báo có thể trùng",
        "confirm_duplicate": "Xác nhận trùng",
        "score": "Mức giống",
        "reveal": "Xem danh tính người báo",
        "reveal_hint": "Bắt buộc nêu lý do (ít nhất 10 ký tự). Việc xem được ghi vào nhật ký kiểm toán.",
        "reveal_button": "Xem danh tính",
        "revealed": "Danh tính người báo (chỉ hiển thị lần này)",
        "revealed_by": "Bạn đã xem danh tính lúc {at}.",
        "anonymous_no_identity": "Người báo gửi ẩn danh, không có danh tính để xem.",
        "back_to_queue": "Về danh sách tin báo",
        "inbox_title": "Thông báo",
        "unread": "Chưa đọc",
        "read": "Đã đọc",
        "mark_read": "Đánh dấu đã đọc",
        "no_notifications": "Không có thông báo nào.",
        "critical": "Khẩn",
        "preferences_title": "Tuỳ chọn",
        "language": "Ngôn ngữ",
        "channels": "Kênh nhận thông báo",
        "channel.inbox": "Hộp thông báo",
        "channel.email": "Thư điện tử",
        "channel.sms": "Tin nhắn SMS",
        "channel.webhook": "Webhook",
        "quiet_hours": "Giờ yên lặng (không gửi thông báo thường)",
        "quiet_start": "Từ (giờ:phút)",
        "quiet_end": "Đến (giờ:phút)",
        "save": "Lưu",
        "saved": "Đã lưu tuỳ chọn.",
        "sessions": "Phiên đăng nhập",
        "error_title": "Không thực hiện được",
        "not_found": "Không tìm thấy.",
        "service_unavailable": "Dịch vụ {service} tạm thời không trả lời. Vui lòng thử lại sau.",
        "vn_time": "giờ Việt Nam",
        "days": "{n} ngày",
        "hours": "{n} giờ",
        "minutes": "{n} phút",
        "overdue_by": "Quá hạn {d}",
        "left": "Còn {d}",
        "yes": "Có",
        "no": "Không",
        "reveal_record": "Những lần xem danh tính người báo",
        "revealed_by_whom": "Người xem",
        "revealed_when": "Thời điểm",
        "role.officer": "cán bộ",
        "role.admin": "quản trị",
        "status.received": "Mới tiếp nhận",
        "status.triaged": "Đã phân loại, chuyển xử lý",
        "status.verifying": "Đang xác minh",
        "status.decided": "Đã có quyết định",
        "status.dismissed": "Đã kết thúc xác minh",
        "status.closed": "Đã đóng",
        "priority.normal": "Thường",
        "priority.urgent": "Khẩn",
        "channel.web": "Trang web",
        "channel.api": "Ứng dụng",
        "channel.agency": "Cơ quan khác",
        "deadline.forward_24h": "Chuyển cơ quan có thẩm quyền (24 giờ)",
        "deadline.decide_20d": "Giải quyết (20 ngày)",
        "deadline.decide_extended": "Giải quyết (đã gia hạn)",
        "outcome.prosecuted": "Khởi tố vụ án",
        "outcome.not_prosecuted": "Không khởi tố vụ án",
        "outcome.suspended": "Tạm đình chỉ giải quyết",
        "outcome.unfounded": "Không có căn cứ",
        "outcome.duplicate": "Trùng với tin báo đã có",
        "outcome.prank": "Tin báo sai sự thật",
        "suspension.expert_examination": "Chờ kết quả giám định",
        "suspension.valuation": "Chờ kết quả định giá tài sản",
        "suspension.foreign_legal_assistance": "Chờ tương trợ tư pháp nước ngoài",
        "suspension.requested_documents": "Chờ tài liệu, đồ vật đã yêu cầu",
        "step.received": "Tiếp nhận",
        "step.triaged": "Phân loại, chuyển xử lý",
        "step.verification_started": "Bắt đầu xác minh",
        "step.decided": "Có quyết định",
        "step.dismissed": "Kết thúc xác minh",
        "step.closed": "Đóng",
        "step.extended": "Gia hạn",
        "refused.illegal_transition": "Không thể thực hiện bước này ở trạng thái hiện tại của tin báo.",
        "refused.forbidden_scope": "Tin báo này ngoài địa bàn của bạn.",
        "refused.forbidden_role": "Vai trò của bạn không được thực hiện thao tác này.",
        "refused.invalid": "Thông tin chưa hợp lệ: {fields}.",
        "refused.reason_required": "Cần nêu lý do (ít nhất 10 ký tự).",
        "refused.text_required": "Cần nhập nội dung.",
        "refused.not_found": "Không tìm thấy tin báo.",
        "refused.other": "Dịch vụ từ chối thao tác: {message}",
        "password_rule": "Mật khẩu: ít nhất 12 ký tự, không chỉ gồm một loại ký tự.",
        # --- reports ---
        "nav.reports": "Báo cáo",
        "reports_title": "Báo cáo phong trào",
        "report.year": "Năm {y}",
        "report.year_label": "Năm đánh giá",
        "report.area": "Địa bàn",
        "report.show": "Xem báo cáo",
        "report.query": "Chọn năm và địa bàn",
        "report.export": "Tải về",
        "report.xlsx": "Bảng tính Excel (XLSX)",
        "report.pdf": "Báo cáo in (PDF)",
        "report.figure": "Chỉ tiêu",
        "report.change": "Tăng, giảm",
        "report.chart": "Biểu đồ {section}: năm {y} (cột đặc) so với năm {p} (cột gạch chéo)",
        "report.final": "Báo cáo tổng kết năm {y}",
        "report.interim": "Báo cáo sơ kết năm {y}, số liệu đến ngày {d}",
        "report.period": "Kỳ đánh giá từ {start} đến {end}; so sánh với năm {p}. Số liệu của các dịch vụ "
                         "đơn vị, tin báo và khen thưởng.",
        "report.empty": "Chưa có số liệu cho năm và địa bàn này.",
        "report.bad_year": "Năm không hợp lệ: chọn một năm trong danh sách.",
        "report.bad_area": "Không có địa bàn này trong danh mục hành chính.",
        "report.outside_area": "Địa bàn này ngoài phạm vi của bạn.",
    },
    "en": {
        "site": "Officers' desk · All-people movement to protect national security",
        "skip": "Skip to the main content",
        "switch": "Tiếng Việt",
        "nav": "Main navigation",
        "nav.tips": "Tips",
        "nav.inbox": "Notifications",
        "nav.preferences": "Preferences",
        "signed_in_as": "Signed in as",
        "sign_out": "Sign out",
        "sign_out_everywhere": "Sign out on every device",
        "login_title": "Sign in",
        "username": "Username",
        "password": "Password",
        "sign_in": "Sign in",
        "login_failed": "Wrong username or password, or the account is locked for a while after repeated "
                        "failures. Please try again later.",
        "form_expired": "The form has expired. Please try again.",
        "oidc.sign_in": "Sign in with the ministry account",
        "oidc.signed_in": "Signed in.",
        "oidc.continue": "Continue",
        "oidc.state": "This sign-in does not match the one started here (perhaps in another window, or too long "
                      "ago). Please sign in again.",
        "oidc.expired": "The sign-in took too long. Please sign in again.",
        "oidc.provider_error": "The ministry's sign-in did not confirm the sign-in. Please try again.",
        "oidc.refused": "The ministry's sign-in refused the request. Please sign in again.",
        "oidc.invalid_token": "The ministry's sign-in answer could not be verified. Please sign in again.",
        "oidc.no_role": "The ministry account has no role or area in antq yet. Please ask an administrator.",
        "oidc.disabled": "This account is disabled in the console. Please ask an administrator.",
        "oidc.unavailable": "The ministry's sign-in cannot be reached now. Please try again later.",
        "oidc.password_off": "Sign-in with a password is turned off: sign in with the ministry account.",
        "signed_out": "You are signed out.",
        "tips_title": "Tips of your area",
        "filters": "Filters",
        "apply": "Filter",
        "all": "All",
        "state": "State",
        "state.open": "Open",
        "urgency": "Urgency",
        "deadline_filter": "Deadline",
        "overdue": "Overdue",
        "due5": "Due within 5 days",
        "channel": "Channel",
        "assignment": "Assignment",
        "unassigned": "Unassigned",
        "mine": "Mine",
        "count_shown": "Showing {shown} of {total} tips",
        "received_at": "Received",
        "category": "Category",
        "area": "Area",
        "unit": "Agency, enterprise or school",
        "due": "Nearest deadline",
        "no_tips": "No tip matches.",
        "pages": "Pages of the list",
        "next_page": "Next page",
        "first_page": "First page",
        "open": "Open",
        "live_hint": "The list updates itself when a tip arrives.",
        "tip_title": "Tip",
        "description": "Description",
        "location": "Location",
        "location_unknown": "The reporter does not remember the place",
        "occurred_at": "Occurred",
        "anonymous": "Anonymous",
        "identified": "Identified (kept secret)",
        "reporter": "Reporter",
        "timeline": "Timeline",
        "deadlines": "Legal deadlines",
        "time_left": "Time left",
        "ended": "Ended",
        "attachments": "Attachments",
        "download": "Download",
        "actions": "Actions",
        "triage": "Triage and forward",
        "priority": "Urgency",
        "assigned_area": "Assign to area",
        "assigned_officer": "Assign to officer (username)",
        "begin_verification": "Begin verification",
        "verify": "Record the verification's result",
        "outcome": "Outcome",
        "valuable": "The tip was valuable",
        "suspension_reason": "Reason for suspension",
        "note": "Note (audit trail; the reporter never sees it)",
        "extend": "Extend the decision period",
        "reason": "Reason",
        "close": "Close the tip",
        "messages": "Messages with the reporter",
        "notes": "Internal notes",
        "no_messages": "No messages yet.",
        "no_notes": "No internal notes yet.",
        "message_text": "Message to the reporter",
        "note_text": "Internal note (the reporter never sees it)",
        "send_message": "Send to the reporter",
        "add_note": "Save note",
        "message_sent": "Your message was sent to the reporter.",
        "note_saved": "The internal note was saved.",
        "done": "Done.",
        "author.reporter": "Reporter",
        "author.officer": "Officer",
        "duplicates": "Possible duplicates",
        "confirm_duplicate": "Confirm duplicate",
        "score": "Similarity",
        "reveal": "Reveal the reporter's identity",
        "reveal_hint": "A reason is required (at least 10 characters). The reveal is written to the audit trail.",
        "reveal_button": "Reveal identity",
        "revealed": "The reporter's identity (shown this once)",
        "revealed_by": "You revealed the identity at {at}.",
        "anonymous_no_identity": "The reporter is anonymous: there is no identity to reveal.",
        "back_to_queue": "Back to the tips",
        "inbox_title": "Notifications",
        "unread": "Unread",
        "read": "Read",
        "mark_read": "Mark as read",
        "no_notifications": "No notifications.",
        "critical": "Urgent",
        "preferences_title": "Preferences",
        "language": "Language",
        "channels": "Notification channels",
        "channel.inbox": "Inbox",
        "channel.email": "Email",
        "channel.sms": "SMS",
        "channel.webhook": "Webhook",
        "quiet_hours": "Quiet hours (no ordinary notifications)",
        "quiet_start": "From (HH:MM)",
        "quiet_end": "To (HH:MM)",
        "save": "Save",
        "saved": "Preferences saved.",
        "sessions": "Sessions",
        "error_title": "That did not work",
        "not_found": "Not found.",
        "service_unavailable": "The {service} service is not answering. Please try again later.",
        "vn_time": "Vietnam time",
        "days": "{n} d",
        "hours": "{n} h",
        "minutes": "{n} min",
        "overdue_by": "Overdue by {d}",
        "left": "{d} left",
        "yes": "Yes",
        "no": "No",
        "reveal_record": "Who revealed the reporter's identity",
        "revealed_by_whom": "Revealed by",
        "revealed_when": "When",
        "role.officer": "officer",
        "role.admin": "admin",
        "status.received": "New",
        "status.triaged": "Triaged, forwarded",
        "status.verifying": "Being verified",
        "status.decided": "Decided",
        "status.dismissed": "Verification finished",
        "status.closed": "Closed",
        "priority.normal": "Normal",
        "priority.urgent": "Urgent",
        "channel.web": "Web page",
        "channel.api": "App",
        "channel.agency": "Another agency",
        "deadline.forward_24h": "Forward to the competent authority (24 h)",
        "deadline.decide_20d": "Decide (20 days)",
        "deadline.decide_extended": "Decide (extended)",
        "outcome.prosecuted": "Criminal case opened",
        "outcome.not_prosecuted": "No criminal case opened",
        "outcome.suspended": "Handling suspended",
        "outcome.unfounded": "Unfounded",
        "outcome.duplicate": "Duplicate of an earlier tip",
        "outcome.prank": "False report",
        "suspension.expert_examination": "Awaiting an expert examination",
        "suspension.valuation": "Awaiting a valuation",
        "suspension.foreign_legal_assistance": "Awaiting foreign legal assistance",
        "suspension.requested_documents": "Awaiting requested documents",
        "step.received": "Received",
        "step.triaged": "Triaged, forwarded",
        "step.verification_started": "Verification begun",
        "step.decided": "Decided",
        "step.dismissed": "Verification finished",
        "step.closed": "Closed",
        "step.extended": "Extended",
        "refused.illegal_transition": "This step is not possible in the tip's present state.",
        "refused.forbidden_scope": "This tip is outside your area.",
        "refused.forbidden_role": "Your role may not do this.",
        "refused.invalid": "Not valid: {fields}.",
        "refused.reason_required": "A reason is required (at least 10 characters).",
        "refused.text_required": "Please write something.",
        "refused.not_found": "The tip was not found.",
        "refused.other": "The service refused: {message}",
        "password_rule": "Password: at least 12 characters, not all of one kind.",
        # --- reports ---
        "nav.reports": "Reports",
        "reports_title": "The movement's report",
        "report.year": "Year {y}",
        "report.year_label": "Assessment year",
        "report.area": "Area",
        "report.show": "Show the report",
        "report.query": "Choose a year and an area",
        "report.export": "Download",
        "report.xlsx": "Excel workbook (XLSX)",
        "report.pdf": "Printable report (PDF)",
        "report.figure": "Figure",
        "report.change": "Change",
        "report.chart": "Chart of {section}: {y} (solid bars) against {p} (hatched bars)",
        "report.final": "Year-end report {y}",
        "report.interim": "Interim report {y}, figures up to {d}",
        "report.period": "Assessment year from {start} to {end}; compared with {p}. Figures of the units, tips "
                         "and awards services.",
        "report.empty": "No figures for this year and area yet.",
        "report.bad_year": "Not a valid year: choose one from the list.",
        "report.bad_area": "There is no such area in the administrative list.",
        "report.outside_area": "This area is outside yours.",
    },
}


def pick_language(query: str | None, preference: str | None) -> str:
    """`?lang=` wins, then the account's preference, then Vietnamese."""
    for candidate in (query, preference):
        if candidate in LANGUAGES:
            return str(candidate)
    return "vi"


def vn_time(value: datetime | str | None, lang: str) -> str:
    """"03/12/2026 14:05 (giờ Việt Nam, UTC+7)": the zone is always named."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(VN_TZ)
    return f"{local:%d/%m/%Y %H:%M} ({TEXT[lang]['vn_time']}, UTC+7)"


def duration(delta: timedelta, lang: str) -> str:
    t = TEXT[lang]
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    parts = []
    if days:
        parts.append(t["days"].format(n=days))
    if hours or days:
        parts.append(t["hours"].format(n=hours))
    if not days:
        parts.append(t["minutes"].format(n=rest // 60))
    return " ".join(parts)


def time_left(due: datetime | str | None, now: datetime, lang: str) -> str:
    if due is None:
        return ""
    if isinstance(due, str):
        due = datetime.fromisoformat(due)
    delta = due - now
    key = "left" if delta.total_seconds() >= 0 else "overdue_by"
    return TEXT[lang][key].format(d=duration(delta, lang))


def refusal(lang: str, status: int, code: str, message: str, details: Any = None, *,
            reason_field: str | None = None) -> str:
    """A service's refusal in the page's language: known codes get a sentence, the rest the service's words."""
    t = TEXT[lang]
    if status == 422 and isinstance(details, list):
        fields = [str(d.get("loc", ["", ""])[-1]) for d in details if isinstance(d, dict)]
        if reason_field is not None and reason_field in fields:
            return t["refused.reason_required"]
        if "text" in fields:
            return t["refused.text_required"]
        return t["refused.invalid"].format(fields=", ".join(f for f in fields if f) or message)
    if status == 404:
        return t["refused.not_found"]
    known = t.get(f"refused.{code}")
    if known is not None:
        return known
    return t["refused.other"].format(message=message)


def label(lang: str, group: str, value: Any) -> str:
    """A code's label ("status.received" -> "Mới tiếp nhận"); an unknown code is shown as it is."""
    if value is None:
        return ""
    return TEXT[lang].get(f"{group}.{value}", str(value))


def option_label(lang: str, name: str, value: str) -> str:
    """A queue filter's option: "open", a state, an urgency, a channel, or a deadline or assignment choice."""
    if name == "state" and value == "open":
        return TEXT[lang]["state.open"]
    group = {"state": "status", "urgency": "priority", "channel": "channel"}.get(name)
    return label(lang, group, value) if group else TEXT[lang].get(value, value)


def place(lang: str, code: str | None) -> str:
    """An area as a person reads it ("Phường Bến Thành, Thành phố Hồ Chí Minh"), "—" for none."""
    return places.area_label(code, lang) if code else "—"


def template_globals() -> dict[str, Any]:
    return {"vn_time": vn_time, "time_left": time_left, "label": label, "option_label": option_label,
            "place": place}
