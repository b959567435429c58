"""The dashboard's Chinese labels in one place: statuses, lights, roles, actions, tiers, channels."""

from __future__ import annotations

STATUS = {
    "submitted": "待派遣",
    "dispatched": "已派遣",
    "accepted": "已接单",
    "in_progress": "处置中",
    "extension_requested": "申请延期",
    "suspended": "挂起",
    "returned": "已退回",
    "resolved": "已办结",
    "verified": "已核查",
    "closed": "已结案",
    "cancelled": "已撤销",
    "merged": "已合并",
}
LIGHT = {"green": "绿灯", "yellow": "黄灯", "red": "红灯"}
ROLE = {
    "resident": "群众",
    "gridworker": "网格员",
    "grid_leader": "网格长",
    "community_dispatcher": "社区调度员",
    "street_dispatcher": "街道指挥中心",
    "department_handler": "职能部门",
    "supervisor": "督办员",
    "admin": "管理员",
    "system": "系统",
}
ACTION = {
    "submit": "上报",
    "dispatch": "派遣",
    "accept": "接单",
    "start": "到场处置",
    "resolve": "办结",
    "verify": "核查通过",
    "reject_verification": "核查不通过（重办）",
    "close": "结案",
    "reopen": "重新办理",
    "escalate_to_supervisor": "转督办",
    "reroute": "重新分派",
    "return": "退回",
    "escalate": "吹哨上报",
    "request_extension": "申请延期",
    "approve_extension": "批准延期",
    "refuse_extension": "驳回延期",
    "suspend": "挂起",
    "resume": "恢复",
    "cancel": "撤销",
    "merge": "合并",
    "self_close": "自办自结",
    "reassign": "改派",
    "comment": "备注",
    "correct_category": "更正分类",
    "remind": "督办提醒",
    "contact_withdrawn": "反映人撤回联系方式",
    "revise": "反映人修改描述",
}
TIER = {"grid": "网格", "community": "社区", "street": "街道", "department": "职能部门"}
PRIORITY = {"normal": "一般", "urgent": "紧急"}
SCORE = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
# Actions the ticket page offers as buttons (others happen in the field or through the bot).
DASHBOARD_ACTIONS = (
    "dispatch",
    "escalate",
    "approve_extension",
    "refuse_extension",
    "close",
    "verify",
    "reject_verification",
    "suspend",
    "resume",
    "return",
    "reopen",
    "escalate_to_supervisor",
    "cancel",
    "merge",
)
# Of those, the ones with their own form on the ticket page (a required reason, the primary ticket's number).
OWN_FORM_ACTIONS = ("reopen", "escalate_to_supervisor", "cancel", "merge")
BULK_ACTIONS = ("dispatch", "escalate", "close")


def label(table: dict[str, str], key: str | None) -> str:
    """The Chinese label of a code, or the code itself when unknown."""
    if key is None:
        return "—"
    return table.get(key, key)
