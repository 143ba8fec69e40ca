"""Pack-wide settings: what counts as a closed card, an excluded product, a resident ID type.

They live in the rule pack's `pack.yaml` under `settings:`; every report states them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """The counted-card and resident-ID definitions the whole pack shares."""

    model_config = ConfigDict(extra="forbid")

    closed_statuses: list[str] = Field(
        default_factory=lambda: ["销户", "已销户", "注销", "已注销"],
        description="卡状态为这些值之一的卡视为已销户，不计入任何卡数（各类银行卡统计除外）。")
    excluded_products: list[str] = Field(
        default_factory=lambda: ["社保IC卡", "社保卡", "社会保障卡", "医疗保险卡", "军人保障卡"],
        description="这些卡产品不计入借记卡数量。")
    debit_card_kinds: list[str] = Field(
        default_factory=lambda: ["借记卡", "借记", "借记IC卡", "D"],
        description="导出文件含卡类型列时，仅这些值计为借记卡。")
    resident_id_types: list[str] = Field(
        default_factory=lambda: ["居民身份证", "身份证", "第二代居民身份证", "临时居民身份证"],
        description="证件类型为这些值之一（或导出文件无证件类型列）时按居民身份证校验。")

    def describe(self) -> list[tuple[str, str]]:
        """(Chinese description, value) pairs for the report appendix."""
        rows = []
        for name, field in type(self).model_fields.items():
            label = (field.description or name).rstrip("。")
            rows.append((label, "、".join(getattr(self, name))))
        return rows
