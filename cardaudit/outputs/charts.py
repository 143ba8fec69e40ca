"""Charts for the HTML report, drawn with matplotlib into inline SVG with text kept as text.

matplotlib is imported only here and only when HTML is requested. The charts read the report
context (branch rows, problems, card distribution): they draw figures, they compute none.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

MAX_BRANCHES = 40
CJK_SANS = ["Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "SimHei",
            "WenQuanYi Micro Hei", "PingFang SC", "DejaVu Sans"]
RC = {"svg.fonttype": "none", "svg.hashsalt": "cardaudit", "font.family": "sans-serif",
      "font.sans-serif": CJK_SANS, "axes.unicode_minus": False, "font.size": 10,
      "axes.spines.top": False, "axes.spines.right": False}


def _svg(figure: Any) -> str:
    """The figure as an <svg> element (no XML prolog, no timestamp)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _branch_label(row: dict[str, Any], consolidated: bool) -> str:
    return f"{row['entity']} {row['branch']}" if consolidated else f"网点{row['branch']}"


def findings_by_branch(values: dict[str, Any]) -> str | None:
    """Stacked bars: flagged subjects per branch, one segment per (non-aggregate) rule."""
    import matplotlib
    from matplotlib.figure import Figure

    rules = [p["rule_id"] for p in values["problems"]
             if not p["aggregate"] and p["rule_id"] in values["rule_columns"]]
    rows = [b for b in values["branches"] if any(b[r] for r in rules)]
    if not rules or not rows:
        return None
    rows = sorted(rows, key=lambda b: -sum(b[r] for r in rules))[:MAX_BRANCHES]
    rows.reverse()  # largest at the top of a horizontal bar chart
    labels = [_branch_label(b, values["consolidated"]) for b in rows]
    figure = Figure(figsize=(9, 2.2 + 0.34 * len(rows) + 0.22 * ((len(rules) + 2) // 3)),
                    layout="constrained")
    axes = figure.add_subplot()
    left = [0] * len(rows)
    colors = matplotlib.colormaps["tab20"].colors
    for i, rule_id in enumerate(rules):
        widths = [b[rule_id] for b in rows]
        axes.barh(labels, widths, left=left, color=colors[i % len(colors)], label=rule_id)
        left = [a + w for a, w in zip(left, widths, strict=True)]
    axes.set_xlabel("发现数（户/人/号码，按规则分段；同一对象可能被多条规则标记）")
    axes.set_title("各网点按规则的发现数")
    axes.xaxis.get_major_locator().set_params(integer=True)
    figure.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return _svg(figure)


def persons_by_cards(values: dict[str, Any]) -> str | None:
    """Bars: persons holding 1, 2, 3... counted cards; bars at or over the threshold highlighted."""
    from matplotlib.figure import Figure

    dist = values["card_distribution"]
    if not dist:
        return None
    threshold = values["t"]["customers"]
    cards = [d["cards"] for d in dist]
    persons = [d["persons"] for d in dist]
    figure = Figure(figsize=(7, 3.4), layout="constrained")
    axes = figure.add_subplot()
    colors = ["#c0392b" if n >= threshold else "#5b7fa6" for n in cards]
    bars = axes.bar([str(n) for n in cards], persons, color=colors)
    axes.bar_label(bars, labels=[str(p) for p in persons], fontsize=8, padding=2)
    axes.set_xlabel("计入的借记卡张数")
    axes.set_ylabel("客户数（户）")
    axes.set_title(f"客户按持卡张数分布（红色为{threshold}张（含）以上）")
    axes.margins(y=0.12)
    return _svg(figure)


def charts(values: dict[str, Any]) -> list[dict[str, str]]:
    """Both charts as [{'title', 'svg'}], leaving out a chart with nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    font_log.setLevel(logging.ERROR)
    try:
        with matplotlib.rc_context(RC), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # missing CJK glyphs on a bare server
            drawn = [("各网点发现情况", findings_by_branch(values)),
                     ("客户持卡张数分布", persons_by_cards(values))]
    finally:
        font_log.setLevel(level)
    return [{"title": title, "svg": svg} for title, svg in drawn if svg]
