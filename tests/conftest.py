"""Every test runs under one known fingerprint key and never touches the user's key file."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_KEY = "cardaudit-test-fingerprint-key-0001"


def keyed(text: str) -> str:
    """The fingerprint of `text` under the tests' key (as cardaudit computes it)."""
    return hmac.new(TEST_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()[:24]


@pytest.fixture(autouse=True, scope="session")
def fingerprint_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Session-wide, so that module-scoped fixtures which run audits see it too.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CARDAUDIT_FINGERPRINT_KEY", TEST_KEY)
        patch.setenv("CARDAUDIT_HOME", str(Path(tmp_path_factory.getbasetemp()) / "home"))
        yield
