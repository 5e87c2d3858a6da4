"""The one exception tree of tallyproof.

Every error raised on purpose by the library derives from :class:`TallyproofError`
and says *where* the problem is (a file and line, a TOML key, a field) so that the
CLI and the server can report it once, at their edge::

    TallyproofError                 exit 1
    ├── InputError                  exit 2   a file or argument cannot be used
    │   ├── ElectionDefinitionError exit 2   an election TOML is invalid (names the key)
    │   └── CodecError              exit 2   a payload or row cannot be decoded (names the field)
    ├── UnknownError                exit 3   a table, unit or audit that does not exist; a source with no sheets
    ├── StorageError                exit 4   the database cannot be opened or written
    ├── LedgerError                 exit 5   a Merkle proof, checkpoint or log does not verify
    ├── SignatureError              exit 6   a signature, key or key binding does not verify
    └── AccessError                 exit 7   an API token is missing or unknown

Anomalies in the *data* (counts that do not add up, votes above registered voters)
are never exceptions: :func:`tallyproof.sheets.sheet.check` returns them as findings.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AccessError",
    "CodecError",
    "ElectionDefinitionError",
    "InputError",
    "LedgerError",
    "SignatureError",
    "StorageError",
    "TallyproofError",
    "UnknownError",
]


class TallyproofError(Exception):
    """Root of every error tallyproof raises on purpose."""

    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def diagnostics(self) -> str:
        """A one-paragraph explanation fit for a terminal or a JSON error body."""
        return str(self)


class InputError(TallyproofError):
    """A file, argument or option that cannot be used as given."""

    exit_code = 2
    http_status = 400


class ElectionDefinitionError(InputError):
    """An election definition is invalid; ``where`` names the file and key."""


class CodecError(InputError):
    """A payload or a row cannot be decoded; ``where`` names the field or line."""


class UnknownError(TallyproofError):
    """Something named does not exist: a table, a geography unit, a source."""

    exit_code = 3
    http_status = 404


class StorageError(TallyproofError):
    """The store cannot be opened, migrated or written."""

    exit_code = 4
    http_status = 503


class LedgerError(TallyproofError):
    """A proof, a checkpoint or the log itself does not verify; says what was expected and what was found."""

    exit_code = 5
    http_status = 409


class SignatureError(TallyproofError):
    """A signature does not verify, a key is malformed, or a key is not bound to what it signed."""

    exit_code = 6
    http_status = 422


class AccessError(TallyproofError):
    """A request without a valid API token."""

    exit_code = 7
    http_status = 401
