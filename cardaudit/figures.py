"""The report statistics: Chinese label and the definition the report appendix states."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    short: str
    definition: str
    # A figure counted against a rule's threshold states it: its labels and definition hold {n},
    # the smallest count flagged ("4张以上"), or with `exceeds` the largest count allowed
    # ("超过4张"). `least` is the default smallest count flagged, used when no rule sets it.
    least: int | None = None
    exceeds: bool = False

    def stating(self, least: int | None) -> Figure:
        """This figure with its labels stating the threshold in force."""
        if self.least is None:
            return self
        least = self.least if least is None else least
        n = least - 1 if self.exceeds else least
        return replace(self, least=least, label=self.label.format(n=n), short=self.short.format(n=n),
                       definition=self.definition.format(n=n))


_TEMPLATES: tuple[Figure, ...] = (
    Figure("outlets", "营业网点数", "个", short="营业网点", definition=(
        "本法人机构全部可审计记录中不同开户机构（网点）代码的个数。"
    )),
    Figure("cards_not_closed", "各类银行卡（未销户）", "张", short="各类银行卡", definition=(
        "卡状态不属于已销户类状态的卡，含全部卡产品（含社保IC卡等不计入借记卡的产品）。"
    )),
    Figure("debit_cards", "借记卡数量", "张", short="借记卡", definition=(
        "计入的借记卡：未销户，且卡产品不在不计入名单中（如社保IC卡）；导出含卡类型列时"
        "仅限借记卡。"
    )),
    Figure("customers_4plus", "同一客户开立{n}张以上借记卡的客户数", "户", short="{n}张以上客户", least=4,
           definition=(
        "按客户归集本法人机构全部网点的计入借记卡，卡数达到阈值的客户数。客户以有效18位"
        "身份证号码（15位旧号升位后）识别，号码无效或缺失时以客户号识别，绝不因号码残缺"
        "而合并不同客户。"
    )),
    Figure("customers_4plus_cards", "上述客户持有的借记卡数", "张", short="其借记卡", definition=(
        "上述客户名下计入的借记卡张数合计。"
    )),
    Figure("customers_over_limit", "借记卡超过{n}张（超限）的客户数", "户", short="超限客户", least=5,
           exceeds=True, definition=(
        "计入的借记卡超过上限（不含本数）的客户数，属违规情形，单列统计。"
    )),
    Figure("agents_3plus", "同一代理人代理开立{n}张以上借记卡的代理人数", "人",
           short="{n}张以上代理人", least=3, definition=(
        "按规范化后的代理人证件号码（非空）归集其代理开立的计入借记卡，"
        "达到阈值的代理人数。"
    )),
    Figure("agents_3plus_cards", "上述代理人代理开立的借记卡数", "张", short="其代理的卡", definition=(
        "上述代理人代理开立的计入借记卡张数合计。"
    )),
    Figure("listed_2plus", "名单客户持有{n}个（含）以上借记卡账户的客户数", "户",
           short="名单客户{n}账户以上", least=2, definition=(
        "客户号码与公安/司法机关名单中的有效18位号码一致，且持有计入的借记卡达到阈值的"
        "客户数。名单中的无效号码不参与匹配，作为名单缺陷单列。"
    )),
    Figure("id_mismatch", "姓名与身份证号不匹配的客户数", "户", short="姓名证号不匹配", least=2,
           definition=(
        "同一客户名下计入的借记卡登记了{n}个及以上不同姓名（全角转半角、去空白后比较）的客"
        "户数。"
    )),
    Figure("id_nonexistent", "证件号码不存在的客户数", "户", short="证件号码不存在", definition=(
        "居民身份证类记录中号码结构无效（长度、出生日期、校验码错误，或被电子表格改为科学"
        "计数法等）的客户数（按客户号识别）。"
    )),
    Figure("id_legacy15", "15位旧身份证号码未升位的客户数", "户", short="15位旧号码", definition=(
        "居民身份证号码仍为15位旧号码的客户数。"
    )),
    Figure("id_noncompliant", "留存的开卡身份信息不合规客户数", "户", short="身份信息不合规", definition=(
        "姓名与身份证号不匹配的客户，与居民身份证号码类别不是“有效”（15位旧号、为空、"
        "不存在）的客户，去重合计。"
    )),
)


def figures_for(least: Mapping[str, int]) -> tuple[Figure, ...]:
    """The figures, labels stating the thresholds in force (`least`: figure key -> smallest
    count flagged, as `RulePack.figure_thresholds` gives; a missing key keeps the default)."""
    return tuple(f.stating(least.get(f.key)) for f in _TEMPLATES)


# Which method produced each identity figure when no verification result file is imported.
OFFLINE_METHOD = {
    "id_mismatch": "离线一致性比对（同一证件号码登记多个姓名），未经联网核查",
    "id_nonexistent": "离线结构校验（GB 11643-1999：长度、出生日期、校验码），未经联网核查",
    "id_legacy15": "离线结构校验（GB 11643-1989 15位号码）",
    "id_noncompliant": "上述离线方法结果的客户去重合计",
}
