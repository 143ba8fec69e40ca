"""Every case beside every shipped rule runs through the same engine as `audit` (and `rules test`).

`pytest -k CARD-4PLUS` runs one rule's cases.
"""

from __future__ import annotations

import pytest

from cardaudit.casetest import run_case
from cardaudit.rules import load_pack

PACK = load_pack()
CASES = [(rule, case) for rule in PACK.rules for case in rule.cases]


@pytest.mark.parametrize(("rule", "case"), CASES,
                         ids=[f"{rule.id}-{case.name}" for rule, case in CASES])
def test_rule_case(rule, case) -> None:
    result = run_case(PACK, rule, case)
    assert result.passed, "\n".join(result.problems)


def test_a_changed_threshold_fails_the_edge_case() -> None:
    """A rule change that breaks behaviour is caught by the rule's own cases."""
    rule = PACK.by_id("CARD-4PLUS").model_copy(update={"params": {"at_least": 5}})
    case = next(c for c in rule.cases if c.name == "four_cards_flagged")
    result = run_case(PACK, rule, case)
    assert result.problems == [
        "应标记 430522199001011235，实际未标记",
        "统计项 customers_4plus 应为 1，实际为 0",
        "统计项 customers_4plus_cards 应为 4，实际为 0",
    ]
