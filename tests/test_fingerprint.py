"""Keyed fingerprints: no key, no way back from a masked output to the ID number."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from helpers import run

from cardaudit.errors import ConfigError
from cardaudit.fingerprint import ENV_KEY, FingerprintKey, load_key

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "sample_data" / "export.csv"


def test_first_use_creates_an_owner_only_key_file(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(ENV_KEY)
    monkeypatch.setenv("CARDAUDIT_HOME", str(tmp_path / "home"))
    first = load_key()
    assert first.created
    path = tmp_path / "home" / "fingerprint.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_key()
    assert not again.created and again.id == first.id and again.secret == first.secret
    assert str(tmp_path) not in first.source  # the notice reaches reports: no machine paths


def test_key_file_option_wins_and_short_keys_are_refused(monkeypatch, tmp_path) -> None:
    file = tmp_path / "bank.key"
    file.write_text("a-bank-wide-secret-of-enough-length\n")
    chosen = load_key(file)
    assert chosen.secret == b"a-bank-wide-secret-of-enough-length"
    assert chosen.id != load_key().id  # the environment's key is another key
    (tmp_path / "short.key").write_text("short")
    with pytest.raises(ConfigError, match="过短"):
        load_key(tmp_path / "short.key")
    monkeypatch.setenv(ENV_KEY, "tiny")
    with pytest.raises(ConfigError, match="过短"):
        load_key()


def audit(monkeypatch, capsys, out: Path, *extra: str) -> tuple[int, str]:
    return run(monkeypatch, capsys, "audit", str(EXPORT), "--as-of", "2026-10-31", "--out",
               str(out), "-q", *extra)


def test_other_key_other_fingerprints_and_no_comparison(monkeypatch, capsys, tmp_path) -> None:
    code, _ = audit(monkeypatch, capsys, tmp_path / "a")
    assert code == 0
    other = tmp_path / "other.key"
    other.write_text("another-bank-secret-0123456789")
    code, _ = audit(monkeypatch, capsys, tmp_path / "b", "--fingerprint-key", str(other))
    assert code == 0
    prints = [{f["fingerprint"] for f in json.loads((tmp_path / d / "findings.json")
                                                   .read_text(encoding="utf-8"))["findings"]}
              for d in ("a", "b")]
    assert len(prints[0]) == len(prints[1]) == 46 and not prints[0] & prints[1]  # no list: 46
    code, output = run(monkeypatch, capsys, "diff", str(tmp_path / "a"), str(tmp_path / "b"))
    assert code == 2 and "指纹密钥不同" in output
    code, output = audit(monkeypatch, capsys, tmp_path / "c", "--baseline", str(tmp_path / "a"))
    assert code == 0, output


def test_a_ledger_keeps_its_key(monkeypatch, capsys, tmp_path) -> None:
    ledger = str(tmp_path / "l.db")
    code, output = audit(monkeypatch, capsys, tmp_path / "a", "--ledger", ledger)
    assert code == 0, output
    other = tmp_path / "other.key"
    other.write_text("another-bank-secret-0123456789")
    code, output = audit(monkeypatch, capsys, tmp_path / "b", "--ledger", ledger,
                         "--fingerprint-key", str(other))
    assert code == 2 and "台账使用的指纹密钥" in output


@pytest.mark.parametrize("secret", [b"0123456789abcdef-test", b"k" * 64, bytes(range(200))])
def test_many_digests_equal_one_at_a_time(secret: bytes) -> None:
    """The batch HMAC (padded-key states copied per text) is the standard one, for keys shorter
    than, as long as and longer than a SHA-256 block."""
    import hashlib
    import hmac

    key = FingerprintKey(secret=secret, source="test")
    texts = ["CARD-4PLUS|某农商银行|110105194912310021", "", "A|B|C:客户号", "中文|\u3000|x" * 40]
    assert key.digests(texts).to_pylist() == [key.digest(t) for t in texts] == [
        hmac.new(secret, t.encode(), hashlib.sha256).hexdigest()[:24] for t in texts]
    assert key.digests([]).to_pylist() == []


def test_a_key_that_cannot_be_read_or_made_is_exit_2_before_any_output(
        monkeypatch, capsys, tmp_path) -> None:
    code, output = audit(monkeypatch, capsys, tmp_path / "out1", "--fingerprint-key",
                         str(tmp_path / "missing.key"))
    assert code == 2 and "无法读取指纹密钥文件" in output and "--fingerprint-key" in output
    monkeypatch.delenv(ENV_KEY)
    (tmp_path / "taken").write_text("a file where the key folder should be")
    monkeypatch.setenv("CARDAUDIT_HOME", str(tmp_path / "taken"))
    code, output = audit(monkeypatch, capsys, tmp_path / "out2")
    assert code == 2 and "无法创建指纹密钥文件" in output and "taken 不是可用的目录" in output
    assert ENV_KEY in output
    assert not (tmp_path / "out1").exists() and not (tmp_path / "out2").exists()
