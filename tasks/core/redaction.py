"""A last line of defence for logs: secrets and personal data that slip into a log line are redacted.

Nothing we write logs PII or secrets on purpose; libraries do (python-amazon-sp-api logs request headers at
DEBUG, a library's exception may quote a form body). The redactor replaces, in any text:

- secret values resolved at run time (LWA client secret and refresh token, SFTP password, key and passphrase),
  also URL-encoded, as they travel in form bodies;
- tokens by their shape: LWA access and refresh tokens and Restricted Data Tokens (`Atza|`, `Atzr|`,
  `Atz.sprdt|`), `Bearer` values, `key=value` / `"key": "value"` pairs named like a secret, PEM private keys;
- ship-to values (names, address lines, phones, gift messages) this process has read from Amazon, the most
  recent ones up to a bound.

`RedactingFilter` applies it to log records; the composition root installs it on the root and Prefect's handlers
and as the record factory, so records made anywhere in the process are redacted before any handler sees them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
MIN_LENGTH = 4  # shorter personal values ("Jo", "12") would redact ordinary words and numbers
MIN_SECRET_LENGTH = 8  # real secrets are long; a short test value ("secret") would redact the word everywhere
_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\bAtz[a-z]?(?:\.[a-z]+)?\|[^\s\"',;}&\]\\)]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=|%-]{8,}")
_NAMED = re.compile(
    r"(?i)([\"']?\b(?:x-amz-access-token|authorization|access_token|refresh_token|client_secret|"
    r"restricteddatatoken|password|passphrase|private_key)[\"']?\s*[:=]\s*)([\"']?)(?!\[redacted\])[^\"'\s,&}]+"
)
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", re.DOTALL)


class Redactor:
    """Replaces secrets, token-shaped strings and remembered personal values in text; thread-safe."""

    def __init__(self, max_personal: int = 20_000) -> None:
        self.max_personal = max_personal
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._personal: OrderedDict[str, None] = OrderedDict()
        self._by_word: dict[str, set[str]] = {}

    def add_secret(self, value: str | None) -> None:
        """Redact this exact value (and its URL-encoded forms) from now on."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            self._secrets.update({value, quote(value, safe=""), quote_plus(value)})
            for line in value.splitlines():  # a PEM key is logged line by line as often as whole
                if len(line.strip()) >= 16:
                    self._secrets.add(line.strip())

    def add_personal(self, values: Iterable[str | None]) -> None:
        """Remember personal values seen (a ship-to name, address line, phone); the oldest are forgotten first."""
        with self._lock:
            for value in values:
                if not value or len(value.strip()) < MIN_LENGTH:
                    continue
                value = value.strip()
                if value in self._personal:
                    self._personal.move_to_end(value)
                    continue
                self._personal[value] = None
                self._index(value, add=True)
                while len(self._personal) > self.max_personal:
                    oldest, _ = self._personal.popitem(last=False)
                    self._index(oldest, add=False)

    def redact(self, text: str) -> str:
        """The text with every secret, token and remembered personal value replaced by [redacted]."""
        if not text:
            return text
        with self._lock:
            secrets = [s for s in self._secrets if s in text]
            candidates = {v for word in _WORD.findall(text) for v in self._by_word.get(word.casefold(), ())}
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        for value in sorted(candidates, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        text = _PEM.sub("[redacted private key]", text)
        text = _TOKEN.sub(lambda m: m.group(0).split("|", 1)[0] + "|" + REDACTED, text)
        text = _BEARER.sub(r"\1" + REDACTED, text)
        return _NAMED.sub(r"\1\2" + REDACTED, text)

    def _index(self, value: str, *, add: bool) -> None:
        words = _WORD.findall(value)
        if not words:
            return
        key = words[0].casefold()
        bucket = self._by_word.setdefault(key, set())
        if add:
            bucket.add(value)
        else:
            bucket.discard(value)
            if not bucket:
                del self._by_word[key]


# One per process: log records from every thread and library go through it.
REDACTOR = Redactor()


def remember_secret(value: str | None) -> None:
    """A secret resolved at run time: never to appear in a log line."""
    REDACTOR.add_secret(value)


def remember_personal(*values: str | None) -> None:
    """Personal values read from Amazon: redacted from log lines should any slip in."""
    REDACTOR.add_personal(values)


def redact_record(record: logging.LogRecord, redactor: Redactor = REDACTOR) -> logging.LogRecord:
    """Redact the record's message, exception and stack text; a record with nothing to redact is left as made.

    Only a record that held something is rewritten (its message formatted now, its args dropped), so formatters
    that read a record's args (an access log's) keep working. Marked, so that each handler's filter does not
    redo it, unless the message changed since (`logging.makeLogRecord` fills a made record afterwards).
    """
    if record.__dict__.get("vdf_redacted") is record.msg:
        return record
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string still must not carry a secret out
        message = f"{record.msg} {record.args}"
    clean = redactor.redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None:
        text = record.exc_text or logging.Formatter().formatException(record.exc_info)
        if redactor.redact(text) != text:
            record.exc_text, record.exc_info = redactor.redact(text), None  # handlers render exc_text instead
    elif record.exc_text:
        record.exc_text = redactor.redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor.redact(record.stack_info)
    record.vdf_redacted = record.msg
    return record


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record passing through (never drops one)."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.redactor)
        return True


def redacting_factory(
    factory: Callable[..., logging.LogRecord], redactor: Redactor = REDACTOR
) -> Callable[..., logging.LogRecord]:
    """Wrap a log record factory so every record is redacted as it is made."""

    def make(*args: object, **kwargs: object) -> logging.LogRecord:
        return redact_record(factory(*args, **kwargs), redactor)

    make.vdf_redacting = True  # type: ignore[attr-defined]
    return make
