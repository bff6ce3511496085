"""The integration's error tree; adapters map library errors into it at the boundary.

    IntegrationError            anything this integration raises on purpose
    ├── TransientError          retried: throttling (429), 5xx, timeouts, dropped connections
    │   └── NotSentError        the request never reached Amazon (no connection): a write may be sent again
    ├── PermanentError          fail fast: rejected request, auth, configuration, host key mismatch
    │   ├── ConfigError         the configuration file is wrong (names the key)
    │   ├── TokenRefusedError   Amazon refused the access token or RDT: renewed once, then permanent
    │   ├── NotFoundError       Amazon does not know the order or transaction asked for
    │   └── RequestRefusedError Amazon refused the request as invalid: nothing was applied, so a smaller
    │                           request without the offending record may be sent
    ├── OutcomeUnknownError     a write may or may not have reached Amazon (timeout or drop after sending):
    │                           never resent blindly; the ledger's recovery settles it against Amazon later
    ├── DataError               quarantine the file or hold the record, carry on with the rest:
    │   │                       schema failures, unknown orders, over-shipment
    │   └── ParseError          an answer or a file could not be read at all (names the field or line)
    └── RunFailed               a flow run finished with problems a person must look at (it names each one)

Errors carry identifiers (order number, file, row, transaction id, Amazon request id), never payloads:
customer names and addresses must never reach an exception message.
"""

from __future__ import annotations

from collections.abc import Sequence


class IntegrationError(Exception):
    """Base class: a failure this integration understands and names."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        status: int | None = None,
        subject: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.status = status
        self.subject = subject

    def __str__(self) -> str:
        parts = [self.message]
        if self.subject:
            parts.append(f"subject={self.subject}")
        if self.status is not None:
            parts.append(f"http={self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"request-id={self.request_id}")
        return " | ".join(parts)


class TransientError(IntegrationError):
    """Worth retrying: throttling, server errors, timeouts, connection drops."""


class PermanentError(IntegrationError):
    """Retrying will not help: a rejected request, bad credentials, a wrong host key."""


class NotSentError(TransientError):
    """No connection could be made (or tokens could not be had), so the request never reached Amazon."""


class ConfigError(PermanentError):
    """The configuration is wrong; the message names the key and what to do."""


class TokenRefusedError(PermanentError):
    """Amazon refused the access token or the Restricted Data Token; worth one renewal, then permanent."""


class NotFoundError(PermanentError):
    """Amazon does not know what was asked for (an order number, a transaction id)."""


class RequestRefusedError(PermanentError):
    """Amazon refused the request as invalid and applied none of it; its parts may be sent on their own."""


class OutcomeUnknownError(IntegrationError):
    """A write was sent but no answer came back; resending could apply it twice."""


class DataError(IntegrationError):
    """One file, row or order is wrong; quarantine or hold it and carry on with the rest."""


class ParseError(DataError):
    """An Amazon answer or a warehouse file could not be read; the message names the field or line, not values."""


class RunFailed(IntegrationError):
    """A flow run did what it could and ended with problems a person must look at; the message names each one."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


def is_transient(exc: BaseException) -> bool:
    """Tell whether an exception is worth a retry (used by Prefect retry conditions)."""
    return isinstance(exc, TransientError)
