"""The log redactor: secrets, tokens and ship-to values that slip into a log line come out [redacted]."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from flows.runtime import install_log_redaction
from tasks.core.redaction import (
    REDACTED,
    RedactingFilter,
    Redactor,
    redact_record,
    redacting_factory,
    remember_personal,
    remember_secret,
)

CLIENT_SECRET = "amzn1.oa2-cs.v1.Zx9secretVALUE4redaction"
REFRESH = "Atzr|IwEBIRefreshTokenValue-For_Redaction"
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----"
)


@pytest.fixture(autouse=True)
def plain_records() -> Iterator[None]:
    """Records made as logging makes them: a factory installed by an earlier test (a Runtime) is set aside."""
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    try:
        yield
    finally:
        logging.setLogRecordFactory(factory)


@pytest.fixture
def redactor() -> Redactor:
    r = Redactor(max_personal=3)
    r.add_secret(CLIENT_SECRET)
    r.add_secret(REFRESH)
    return r


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        (f"client_secret is {CLIENT_SECRET}", CLIENT_SECRET),
        ("body: grant_type=refresh_token&refresh_token=Atzr%7CIwEBIRefreshTokenValue-For_Redaction", "IwEBIRefresh"),
        ("body: refresh_token=Atzr%7CIwEBIRefreshTokenValue-For_Redaction", "IwEBIRefresh"),
        ("Request Headers: {'x-amz-access-token': 'Atza|IwEBIAccess123456789', 'host': 'x'}", "IwEBIAccess"),
        ('{"access_token": "Atza|IwEBIAccessJSON987654321", "expires_in": 3600}', "IwEBIAccessJSON"),
        ('{"restrictedDataToken": "Atz.sprdt|IwEBIRdt0000000001"}', "IwEBIRdt"),
        ("token Atz.sprdt|IwEBIRdt0000000002 used", "IwEBIRdt"),
        ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig", "eyJhbGci"),
        ("password=hunter2hunter2 user=warehouse", "hunter2"),
        ("passphrase: 'correct horse battery'", "correct"),
        (f"key text: {PEM}", "b3BlbnNzaC1rZXkt"),
    ],
)
def test_secrets_and_tokens_are_redacted_wherever_they_appear(redactor: Redactor, text: str, gone: str) -> None:
    clean = redactor.redact(text)

    assert gone not in clean
    assert REDACTED in clean or "[redacted private key]" in clean


def test_remembered_personal_values_are_redacted_and_ordinary_text_is_not(redactor: Redactor) -> None:
    redactor.add_personal(["Ana O'Brien", "1234 Harbor Blvd", "+1 206-555-0100", "Jo", None])

    clean = redactor.redact("order 2JK3S9VC to Ana O'Brien, 1234 Harbor Blvd, phone +1 206-555-0100 (Jo)")

    assert clean == f"order 2JK3S9VC to {REDACTED}, {REDACTED}, phone {REDACTED} (Jo)"
    assert redactor.redact("Seattle WA 98109, 3 lines, 1234 items") == "Seattle WA 98109, 3 lines, 1234 items"


def test_personal_values_are_bounded_the_oldest_forgotten_first(redactor: Redactor) -> None:
    redactor.add_personal(["Oldest Person", "Second Person", "Third Person"])
    redactor.add_personal(["Oldest Person"])  # seen again: now the newest
    redactor.add_personal(["Fourth Person"])

    assert redactor.redact("Second Person") == "Second Person"
    assert redactor.redact("Oldest Person, Third Person, Fourth Person") == f"{REDACTED}, {REDACTED}, {REDACTED}"


def _capture(logger: logging.Logger, redactor: Redactor) -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return stream


def test_the_filter_redacts_messages_arguments_and_exceptions(redactor: Redactor, plain_records: None) -> None:
    logger = logging.getLogger("test.redaction.filter")
    stream = _capture(logger, redactor)
    try:
        logger.debug("Request Headers: %s", {"x-amz-access-token": "Atza|IwEBIHeaderToken0001"})
        try:
            raise ValueError(f"LWA said no to {CLIENT_SECRET}")
        except ValueError:
            logger.exception("exchange failed")
        logger.info("%s - %s %s", "127.0.0.1", "GET", "/vendor/orders")  # nothing to redact: left as made
    finally:
        logger.handlers.clear()

    out = stream.getvalue()
    assert "IwEBIHeaderToken0001" not in out and CLIENT_SECRET not in out
    assert "exchange failed" in out and "ValueError: LWA said no to [redacted]" in out
    assert "127.0.0.1 - GET /vendor/orders" in out


def test_a_record_with_nothing_to_redact_keeps_its_arguments(redactor: Redactor) -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "%s %s", ("GET", "/x"), None)

    redact_record(record, redactor)

    assert record.args == ("GET", "/x") and record.getMessage() == "GET /x"


def test_a_record_filled_after_it_was_made_is_redacted_by_the_handler_filter(redactor: Redactor) -> None:
    made = redacting_factory(logging.LogRecord, redactor)("x", logging.INFO, __file__, 1, "", (), None)
    made.__dict__.update({"msg": f"forwarded {REFRESH}", "args": None})  # what logging.makeLogRecord does

    RedactingFilter(redactor).filter(made)

    assert REFRESH not in made.getMessage() and REDACTED in made.getMessage()


@pytest.fixture
def installed(plain_records: None) -> None:
    install_log_redaction()  # on top of the plain factory; plain_records restores what was there


@pytest.mark.parametrize("name", ["sp_api.base.client", "httpx", "httpcore.http11", "paramiko.transport", "prefect"])
def test_once_installed_every_logger_of_the_process_is_redacted(
    installed: None, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    remember_secret("sftp-Password-For-Redaction")
    remember_personal("Zoë Recognisable-Name")

    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger=name):
        logging.getLogger(name).debug(
            "sent %s with password sftp-Password-For-Redaction for Zoë Recognisable-Name",
            {"x-amz-access-token": "Atza|IwEBIInstalledToken01"},
        )

    assert caplog.records, "the record was logged"
    text = caplog.text
    for secret in ("IwEBIInstalledToken01", "sftp-Password-For-Redaction", "Recognisable-Name"):
        assert secret not in text


def test_installing_twice_wraps_the_factory_once(installed: None) -> None:
    first = logging.getLogRecordFactory()
    install_log_redaction()
    assert logging.getLogRecordFactory() is first


def test_short_secrets_are_not_remembered(redactor: Redactor) -> None:
    redactor.add_secret("secret")  # a test value: redacting it would blank the word in every line

    assert redactor.redact("a secret") == "a secret"
