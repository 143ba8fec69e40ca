"""Keyed finding fingerprints: HMAC-SHA256 under the bank's fingerprint key.

A finding's identity is rule x legal entity x subject, and the subject is usually an ID number.
A plain hash of it would give the number back to anyone holding a masked output: the mask leaves
the first and last four digits, so trying the ~4 million remaining region/birth-date
combinations against the hash takes seconds. Under a secret key the fingerprint reveals nothing.

The key is, in this order: the file given by --fingerprint-key, the text of the environment
variable CARDAUDIT_FINGERPRINT_KEY, or the machine's key file (created on first use, owner-only)
under CARDAUDIT_HOME or ~/.config/cardaudit. Runs compare (diff, ledger) only under one key, so
head office hands the same key file to every branch; outputs record the key's id, never the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cardaudit.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

ENV_KEY = "CARDAUDIT_FINGERPRINT_KEY"
ENV_HOME = "CARDAUDIT_HOME"
KEY_FILE = "fingerprint.key"
DIGITS = 24
# Where the machine's key file is, said without the machine's own path (notices reach reports).
MACHINE_KEY = f"本机密钥文件（{ENV_HOME} 或 ~/.config/cardaudit 下的 {KEY_FILE}）"
RULE_TEXT = "HMAC-SHA256(指纹密钥, rule_id|legal_entity|subject_key) 的十六进制前24位"


@dataclass(frozen=True)
class FingerprintKey:
    secret: bytes
    source: str  # where it came from, for messages (never the key itself)
    created: bool = False  # a new machine key file was written by this run

    @property
    def id(self) -> str:
        """A public name of the key (recorded in outputs and the ledger to match runs)."""
        return hashlib.sha256(b"cardaudit-fingerprint-key|" + self.secret).hexdigest()[:12]

    def digest(self, text: str) -> str:
        return hmac.digest(self.secret, text.encode(), "sha256").hex()[:DIGITS]

    def digests(self, texts: Iterable[str]) -> pa.Array:
        """`digest` of many texts, as one Arrow text array (no Python string per fingerprint).

        HMAC (RFC 2104) written out: SHA-256 states for the inner and outer padded key are set
        up once and copied for each text, which is twice as fast as copying an `hmac` object.
        """
        import numpy as np
        import pyarrow as pa

        block = hashlib.sha256().block_size
        key = self.secret if len(self.secret) <= block else hashlib.sha256(self.secret).digest()
        key = key.ljust(block, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        raw = bytearray()
        for text in texts:
            i = inner.copy()
            i.update(text.encode())
            o = outer.copy()
            o.update(i.digest())
            raw += o.digest()[: DIGITS // 2]
        count = len(raw) // (DIGITS // 2)
        offsets = np.arange(0, DIGITS * (count + 1), DIGITS, dtype=np.int64)
        return pa.Array.from_buffers(pa.large_string(), count, [
            None, pa.py_buffer(offsets), pa.py_buffer(raw.hex().encode())])


def home() -> Path:
    return Path(os.environ.get(ENV_HOME) or Path.home() / ".config" / "cardaudit")


def _read(path: Path, what: str) -> bytes:
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"无法读取指纹密钥文件 {path}：{exc.strerror}。请检查 {what}。") from None
    if len(secret) < 16:
        raise ConfigError(f"指纹密钥文件 {path} 过短（至少16个字符）：请使用 cardaudit 生成的密钥文件。")
    return secret


def load_key(path: Path | None = None) -> FingerprintKey:
    """The fingerprint key to use (see the module docstring for the order)."""
    if path is not None:
        return FingerprintKey(_read(path, "--fingerprint-key"), f"--fingerprint-key {path.name}")
    text = os.environ.get(ENV_KEY, "").strip()
    if text:
        if len(text) < 16:
            raise ConfigError(f"环境变量 {ENV_KEY} 中的指纹密钥过短（至少16个字符）。")
        return FingerprintKey(text.encode(), f"环境变量 {ENV_KEY}")
    file = home() / KEY_FILE
    if file.is_file():
        return FingerprintKey(_read(file, ENV_HOME), MACHINE_KEY)
    cannot = (f"无法创建指纹密钥文件 {file}：{{}}。请用 --fingerprint-key 指定密钥文件，"
              f"或设置环境变量 {ENV_KEY}（或 {ENV_HOME} 指向可写的目录）。")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # FileExistsError too: a file where the folder should be
        raise ConfigError(cannot.format(f"{file.parent.name} 不是可用的目录")) from None
    try:
        secret = secrets.token_hex(32).encode()
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secret + b"\n")
    except FileExistsError:  # another run created it a moment ago
        return FingerprintKey(_read(file, ENV_HOME), MACHINE_KEY)
    except OSError as exc:
        raise ConfigError(cannot.format(exc.strerror or exc)) from None
    return FingerprintKey(secret, MACHINE_KEY, created=True)
