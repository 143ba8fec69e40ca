"""One small exception tree; the CLI turns every CardauditError into exit code 2."""

from __future__ import annotations


class CardauditError(Exception):
    """Base of all errors the user can fix; the message is Chinese and says how."""

    exit_code = 2


class InputError(CardauditError):
    """An input file cannot be read or mapped (names file, row, column and the fix)."""


class RuleError(CardauditError):
    """A rule file or rule pack is invalid (names file:line and the offending key)."""


class ConfigError(CardauditError):
    """A setting or command-line value is invalid."""
