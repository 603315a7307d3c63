"""One instance's settings from environment variables, validated once at start-up.

Every problem is reported together, each naming its variable. Secrets (the API key and the
webhook token) are kept out of ``repr`` and out of every message.

Somewhat over our usual module size on purpose: every variable of an instance is read
here (only ``BRIDGE_CONFIG``, which lists instances, is read in ``instances.py``), so one
file answers "what can I set, and what does it accept?".
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlparse, urlsplit, urlunsplit

from webhook.delivery import DEFAULT_FOLDER
from webhook.errors import ConfigError
from webhook.i18n import DEFAULT_LANGUAGE, LANGUAGES
from webhook.moneys3.builder import ExportOptions, StockKey, Warehouse
from webhook.moneys3.numbering import DEFAULT_PREFIX, OrderNumbering
from webhook.moneys3.review import VatRates
from webhook.raynet.client import CREDENTIAL_VARIABLES, DEFAULT_API_URL, RaynetCredentials
from webhook.raynet.mapping import BookkeepingMap, FieldSource, MappingError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
T = TypeVar("T")
ORDER_PREFIX = re.compile(r"^[A-Z0-9]{1,3}$")
ISO_CODE = re.compile(r"^[A-Z]{3}$")
SECRET_LENGTH = 16
# The bookkeeping fields the accountant can have filled in: variable, field of the map,
# Money S3's limit for a constant (None: free text).
BOOKKEEPING_VARIABLES = (
    ("MONEY_S3_DOCUMENT_TYPE", "document_type", 10),
    ("MONEY_S3_NUMBER_SERIES", "number_series", 5),
    ("MONEY_S3_COST_CENTRE", "cost_centre", 10),
    ("MONEY_S3_JOB", "job", 10),
    ("MONEY_S3_ACTIVITY", "activity", 10),
    ("MONEY_S3_PARTNER_DOCUMENT", "partner_document", 20),
    ("MONEY_S3_NOTE", "note", None),
)


@dataclass(frozen=True)
class WorkerSettings:
    max_attempts: int = 10
    lease_seconds: float = 120.0
    poll_seconds: float = 0.2
    threads: int = 8  # RAYNET requests stay at 3 at a time (RaynetClient); AWS waits overlap
    backoff_base: float = 5.0
    backoff_max: float = 3600.0
    reconcile_interval: float = 0.0  # 0: no periodic reconciliation


@dataclass(frozen=True)
class SmtpSettings:
    """``SMTP_URL``, ``NOTIFY_EMAIL`` and ``NOTIFY_FROM``: the accountant's e-mail."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, recipients: str, sender: str | None) -> SmtpSettings:
        """From ``SMTP_URL``, ``NOTIFY_EMAIL`` and ``NOTIFY_FROM``; secrets stay out of errors."""
        parsed = urlparse(url)
        shape = (
            "SMTP_URL must look like smtp://user:password@host:587?starttls=1 "
            "or smtps://user:password@host:465"
        )
        if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
            raise ConfigError(shape)
        try:
            port = parsed.port
        except ValueError:
            raise ConfigError(f"{shape}: its port is not a number from 1 to 65535") from None
        addresses = tuple(a.strip() for a in recipients.split(",") if a.strip())
        if not addresses or any("@" not in a for a in addresses):
            raise ConfigError("NOTIFY_EMAIL must be one or more e-mail addresses, comma-separated")
        implicit = parsed.scheme == "smtps"
        options = parse_qs(parsed.query)
        return cls(
            host=parsed.hostname,
            port=port or (465 if implicit else 25),
            implicit_tls=implicit,
            starttls=options.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            sender=sender or f"raynet-bridge@{parsed.hostname}",
            recipients=addresses,
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
        )


def without_user_info(url: str) -> str:
    """A URL as it may be shown: whatever stands before ``@`` in its host part is left out."""
    parsed = urlparse(url)
    if "@" not in parsed.netloc:
        return url
    return parsed._replace(netloc=parsed.netloc.rpartition("@")[2]).geturl()


@dataclass(frozen=True)
class Settings:
    instance: str = ""  # the name in BRIDGE_CONFIG; "" for the environment's own instance
    raynet: RaynetCredentials | None = None
    stock: bool = False
    warehouse: Warehouse | None = None
    stock_key: StockKey = StockKey.CATALOGUE
    home_currency: str = "CZK"
    raynet_base_currency: str | None = None  # what RAYNET's exchange rates convert into
    agenda_ico: str | None = None
    order_numbering: OrderNumbering = OrderNumbering.CASE
    order_prefix: str = DEFAULT_PREFIX
    vat_rates: VatRates = field(default_factory=VatRates)
    strict_vat: bool = False
    strict_ids: bool = False
    bookkeeping: BookkeepingMap = field(default_factory=BookkeepingMap)
    export_location_label: str | None = None  # the share as the accountant sees it
    xsd_dir: Path | None = None
    export_target: str = DEFAULT_FOLDER
    s3_sse: str | None = None
    s3_kms_key_id: str | None = None
    state_db: Path = Path("./var/state.db")
    webhook_token: str | None = field(default=None, repr=False)
    webhook_allow_no_token: bool = False
    webhook_max_body: int = 64 * 1024
    sync_enabled: bool = True
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    log_level: str = "INFO"
    log_json: bool = True
    admin_token: str | None = field(default=None, repr=False)
    admin_cookie_secure: bool = False
    button_key: str | None = field(default=None, repr=False)  # ?key= in the button's URL
    rate_limit_storage: str | None = None  # RATE_LIMIT_STORAGE; None: SQLite by the state
    trusted_proxies: int = 0  # proxies in front whose X-Forwarded-For/-Proto are believed
    smtp: SmtpSettings | None = None  # e-mail to the accountant, when configured
    report_hour: int | None = 7  # the daily report after this hour (host time); None: off
    report_recipients: tuple[str, ...] = ()  # REPORT_EMAIL: ops, besides NOTIFY_EMAIL
    language: str = DEFAULT_LANGUAGE  # of e-mails, reports, posts in RAYNET
    write_back: bool = True  # RAYNET_WRITE_BACK: external id and post on each case
    lock_exported: bool = False  # RAYNET_LOCK_EXPORTED: lock a case once exported
    queue_url: str | None = None  # SQS FIFO: receivers and workers on many hosts
    state_table: str | None = None  # DynamoDB table of case states, with QUEUE_URL
    queue_wait_seconds: int = 10  # SQS long poll
    public_url: str | None = None  # where RAYNET reaches this bridge, e.g. https://host
    technical_contacts: tuple[str, ...] = ()  # RAYNET e-mails them when webhooks fail
    money_reports: str | None = None  # MONEY_S3_REPORTS: Money's import reports (folder, s3://)
    money_reports_every: float = 60.0  # seconds between looks there
    import_overdue_days: int = 2  # working days a file may wait unimported before a warning
    change_check_every: float | None = 600.0  # an exported case read again at most this often

    def export_options(self, stock: bool | None = None) -> ExportOptions:
        """The Money S3 options; ``stock`` overrides MONEY_S3_STOCK for one export."""
        return ExportOptions(
            stock=self.stock if stock is None else stock,
            warehouse=self.warehouse,
            stock_key=self.stock_key,
            home_currency=self.home_currency,
            agenda_ico=self.agenda_ico,
            numbering=self.order_numbering,
            number_prefix=self.order_prefix,
            vat_rates=self.vat_rates,
            strict_vat=self.strict_vat,
            strict_ids=self.strict_ids,
        )

    def rate_limit_storage_uri(self) -> str:
        """Where the rate limits count: RATE_LIMIT_STORAGE, else a file by the state file.
        A Redis that hangs must not hang a press or a login: 2 s timeouts unless given."""
        if not self.rate_limit_storage:
            return f"sqlite://{self.state_db.parent.resolve()}/limits.db"
        url = urlsplit(self.rate_limit_storage)
        if not url.scheme.startswith("redis"):
            return self.rate_limit_storage
        given = dict(parse_qsl(url.query))
        timeouts = {"socket_timeout": "2", "socket_connect_timeout": "2"}
        return urlunsplit(url._replace(query=urlencode({**timeouts, **given})))

    @property
    def webhook_path(self) -> str:
        """Where this instance receives RAYNET's webhooks."""
        return f"/webhooks/raynet/{self.instance}" if self.instance else "/webhooks/raynet"

    def webhook_url(self) -> str | None:
        """The URL RAYNET's webhook must call, when PUBLIC_URL says where the bridge is."""
        return self.public_url + self.webhook_path if self.public_url else None

    def dashboard_url(self) -> str | None:
        suffix = f"?instance={self.instance}" if self.instance else ""
        return f"{self.public_url}/admin/{suffix}" if self.public_url else None

    def check_receiver(self) -> None:
        """The receiver may only run with a token, unless explicitly allowed without."""
        if self.webhook_token is None and not self.webhook_allow_no_token:
            raise ConfigError(
                "WEBHOOK_TOKEN is not set: choose a long random secret and enter the same "
                "value as the webhook's security token in RAYNET "
                "(WEBHOOK_ALLOW_NO_TOKEN=1 accepts webhooks without one, for local trials only)"
            )

    def summary(self) -> list[tuple[str, str]]:
        """The configuration as ops would check it, secrets shown only as set or not."""

        def secret(value: str | None) -> str:
            return "set (hidden)" if value else "not set"

        raynet = self.raynet
        mapping = [
            (variable, str(source) if source else "not set")
            for variable, name, _ in BOOKKEEPING_VARIABLES
            for source in (getattr(self.bookkeeping, name),)
        ]
        return [
            ("RAYNET_API_URL", without_user_info(raynet.api_url) if raynet else "not set"),
            ("RAYNET_INSTANCE", raynet.instance if raynet else "not set"),
            ("RAYNET_USERNAME", raynet.username if raynet else "not set"),
            ("RAYNET_API_KEY", secret(raynet.api_key if raynet else None)),
            ("WEBHOOK_TOKEN", secret(self.webhook_token)),
            ("ADMIN_TOKEN", secret(self.admin_token)),
            ("BUTTON_KEY", secret(self.button_key)),
            ("EXPORT_TARGET", self.export_target),
            ("STATE_DB", str(self.state_db)),
            ("SYNC_ENABLED", "1" if self.sync_enabled else "0"),
            ("MONEY_S3_STOCK", "1" if self.stock else "0"),
            ("MONEY_S3_STOCK_KEY", self.stock_key.value),
            ("MONEY_S3_WAREHOUSE", self.warehouse.code if self.warehouse else "not set"),
            ("MONEY_S3_HOME_CURRENCY", self.home_currency),
            ("RAYNET_BASE_CURRENCY", self.raynet_base_currency or "not set"),
            ("MONEY_S3_VAT_RATES", f"{self.vat_rates.reduced},{self.vat_rates.standard}"),
            ("MONEY_S3_STRICT_VAT", "1" if self.strict_vat else "0"),
            ("MONEY_S3_STRICT_IDS", "1" if self.strict_ids else "0"),
            *mapping,
            ("MONEY_S3_ORDER_NUMBER", self.order_numbering.value),
            ("MONEY_S3_ORDER_PREFIX", self.order_prefix),
            ("MONEY_S3_XSD_DIR", str(self.xsd_dir) if self.xsd_dir else "not set"),
            ("WORKER_MAX_ATTEMPTS", str(self.worker.max_attempts)),
            ("SMTP_URL", f"{self.smtp.host}:{self.smtp.port}" if self.smtp else "not set"),
            ("NOTIFY_EMAIL", ", ".join(self.smtp.recipients) if self.smtp else "not set"),
            ("REPORT_HOUR", "off" if self.report_hour is None else str(self.report_hour)),
            ("REPORT_EMAIL", ", ".join(self.report_recipients) or "not set"),
            ("BRIDGE_LANGUAGE", self.language),
            ("RAYNET_WRITE_BACK", "1" if self.write_back else "0"),
            ("RAYNET_LOCK_EXPORTED", "1" if self.lock_exported else "0"),
            ("PUBLIC_URL", self.public_url or "not set"),
            ("EXPORT_LOCATION_LABEL", self.export_location_label or "not set"),
            ("RAYNET_TECHNICAL_CONTACT", ", ".join(self.technical_contacts) or "not set"),
            ("MONEY_S3_REPORTS", self.money_reports or "not set"),
            ("MONEY_S3_REPORTS_EVERY", f"{self.money_reports_every:g}"),
            ("MONEY_S3_IMPORT_OVERDUE", str(self.import_overdue_days)),
            (
                "CHANGE_CHECK_EVERY",
                "off" if self.change_check_every is None else f"{self.change_check_every:g}",
            ),
        ]

    def require_raynet(self) -> RaynetCredentials:
        if self.raynet is None:
            raise ConfigError(f"RAYNET API access is not configured: set {CREDENTIAL_VARIABLES}")
        return self.raynet


class _Reader:
    """Reads variables and collects problems instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or default

    def flag(self, name: str, default: bool) -> bool:
        raw = self.environ.get(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        self.problems.append(f"{name} must be 0 or 1, not {raw!r}")
        return default

    def number(self, name: str, default: T, convert: Callable[[str], T], minimum: float) -> T:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = convert(raw)
        except ValueError:
            self.problems.append(f"{name} must be a number, not {raw!r}")
            return default
        if value < minimum:  # type: ignore[operator]
            self.problems.append(f"{name} must be at least {minimum}, not {raw!r}")
            return default
        return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``environ`` (default ``os.environ``); ``ConfigError`` lists all problems."""
    read = _Reader(os.environ if environ is None else environ)
    settings = Settings(
        raynet=_raynet(read),
        **_money_s3(read),
        xsd_dir=_xsd_dir(read),
        export_target=read.text("EXPORT_TARGET") or DEFAULT_FOLDER,
        s3_sse=_sse(read),
        s3_kms_key_id=read.text("S3_SSE_KMS_KEY_ID"),
        state_db=Path(read.text("STATE_DB", "./var/state.db") or "./var/state.db"),
        webhook_token=_secret(read, "WEBHOOK_TOKEN"),
        webhook_allow_no_token=read.flag("WEBHOOK_ALLOW_NO_TOKEN", False),
        webhook_max_body=read.number("WEBHOOK_MAX_BODY", 64 * 1024, int, 1024),
        sync_enabled=read.flag("SYNC_ENABLED", True),
        log_level=_log_level(read),
        log_json=_log_format(read) == "json",
        admin_token=_secret(read, "ADMIN_TOKEN"),
        admin_cookie_secure=read.flag("ADMIN_COOKIE_SECURE", False),
        button_key=_secret(read, "BUTTON_KEY"),
        rate_limit_storage=read.text("RATE_LIMIT_STORAGE"),
        trusted_proxies=read.number("TRUSTED_PROXIES", 0, int, 0),
        smtp=_smtp(read),
        report_hour=_report_hour(read),
        report_recipients=_addresses(read, "REPORT_EMAIL"),
        language=_language(read),
        write_back=read.flag("RAYNET_WRITE_BACK", True),
        lock_exported=read.flag("RAYNET_LOCK_EXPORTED", False),
        **_distributed(read),
        public_url=_public_url(read),
        technical_contacts=_addresses(read, "RAYNET_TECHNICAL_CONTACT"),
        export_location_label=read.text("EXPORT_LOCATION_LABEL"),
        money_reports=_money_reports(read),
        money_reports_every=read.number("MONEY_S3_REPORTS_EVERY", 60.0, float, 5),
        import_overdue_days=read.number("MONEY_S3_IMPORT_OVERDUE", 2, int, 1),
        change_check_every=read.number("CHANGE_CHECK_EVERY", 600.0, float, 0) or None,
        worker=WorkerSettings(
            max_attempts=read.number("WORKER_MAX_ATTEMPTS", 10, int, 1),
            lease_seconds=read.number("WORKER_LEASE_SECONDS", 120.0, float, 5),
            poll_seconds=read.number("WORKER_POLL_SECONDS", 0.2, float, 0.01),
            threads=read.number("WORKER_THREADS", 8, int, 1),
            backoff_base=read.number("WORKER_BACKOFF_BASE", 5.0, float, 0.01),
            backoff_max=read.number("WORKER_BACKOFF_MAX", 3600.0, float, 0.01),
            reconcile_interval=_reconcile_interval(read),
        ),
    )
    if read.problems:
        raise ConfigError("invalid configuration: " + "; ".join(read.problems))
    return settings


def _money_reports(read: _Reader) -> str | None:
    """Where Money S3 writes its import reports: a folder, or ``s3://bucket/prefix``."""
    where = read.text("MONEY_S3_REPORTS")
    if where and where.startswith("s3://") and not urlparse(where).netloc:
        read.problems.append(
            f"MONEY_S3_REPORTS must name a bucket: s3://bucket/prefix, not {where!r}"
        )
    return where


def _raynet(read: _Reader) -> RaynetCredentials | None:
    names = ("RAYNET_USERNAME", "RAYNET_API_KEY", "RAYNET_INSTANCE")
    values = {name: read.text(name) for name in names}
    api_url = read.text("RAYNET_API_URL", DEFAULT_API_URL) or DEFAULT_API_URL
    parsed = urlparse(api_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        shown = without_user_info(api_url)
        read.problems.append(f"RAYNET_API_URL must be an http(s) URL, not {shown!r}")
    elif "@" in parsed.netloc:
        read.problems.append(
            "RAYNET_API_URL must not carry a user or password: set RAYNET_USERNAME and "
            "RAYNET_API_KEY instead"
        )
    missing = [name for name, value in values.items() if value is None]
    if len(missing) == len(names):
        return None  # not configured at all: commands that need RAYNET say so
    if missing:
        read.problems.append(f"{', '.join(missing)} not set (RAYNET access needs all three)")
        return None
    return RaynetCredentials(
        username=values["RAYNET_USERNAME"] or "",
        api_key=values["RAYNET_API_KEY"] or "",
        instance=values["RAYNET_INSTANCE"] or "",
        api_url=api_url,
    )


def _money_s3(read: _Reader) -> dict[str, Any]:
    warehouse_code = read.text("MONEY_S3_WAREHOUSE")
    warehouse_name = read.text("MONEY_S3_WAREHOUSE_NAME", "Hlavní sklad") or "Hlavní sklad"
    stock = read.flag("MONEY_S3_STOCK", False)
    if warehouse_code and len(warehouse_code) > 20:
        read.problems.append("MONEY_S3_WAREHOUSE is longer than Money S3's 20 characters")
    home = (read.text("MONEY_S3_HOME_CURRENCY", "CZK") or "CZK").upper()
    if not re.fullmatch(r"[A-Z]{3}", home):
        read.problems.append(f"MONEY_S3_HOME_CURRENCY must be an ISO code like CZK, not {home!r}")
    agenda_ico = read.text("MONEY_S3_AGENDA_ICO")
    if agenda_ico and len(agenda_ico) > 10:
        read.problems.append("MONEY_S3_AGENDA_ICO is longer than an IČO (10 characters)")
    numbering = (read.text("MONEY_S3_ORDER_NUMBER", "case") or "case").lower()
    if numbering not in {mode.value for mode in OrderNumbering}:
        read.problems.append(f"MONEY_S3_ORDER_NUMBER must be case or money, not {numbering!r}")
        numbering = "case"
    prefix = (read.text("MONEY_S3_ORDER_PREFIX", DEFAULT_PREFIX) or DEFAULT_PREFIX).upper()
    if not ORDER_PREFIX.match(prefix):
        read.problems.append(
            f"MONEY_S3_ORDER_PREFIX must be 1 to 3 letters or digits, not {prefix!r}"
        )
    base = read.text("RAYNET_BASE_CURRENCY")
    if base is not None and not ISO_CODE.match(base.upper()):
        read.problems.append(f"RAYNET_BASE_CURRENCY must be an ISO code like CZK, not {base!r}")
        base = None
    return {
        "stock": stock,
        "warehouse": Warehouse(warehouse_code, warehouse_name) if warehouse_code else None,
        "stock_key": _choice(read, "MONEY_S3_STOCK_KEY", StockKey, StockKey.CATALOGUE),
        "home_currency": home,
        "raynet_base_currency": base.upper() if base else None,
        "agenda_ico": agenda_ico,
        "order_numbering": OrderNumbering(numbering),
        "order_prefix": prefix,
        "vat_rates": _vat_rates(read),
        "strict_vat": read.flag("MONEY_S3_STRICT_VAT", False),
        "strict_ids": read.flag("MONEY_S3_STRICT_IDS", False),
        "bookkeeping": _bookkeeping(read),
    }


E = TypeVar("E", bound=enum.Enum)


def _choice(read: _Reader, name: str, choices: type[E], default: E) -> E:
    value = (read.text(name) or default.value).lower()
    for choice in choices:
        if choice.value == value:
            return choice
    names = " or ".join(str(choice.value) for choice in choices)
    read.problems.append(f"{name} must be {names}, not {value!r}")
    return default


def _vat_rates(read: _Reader) -> VatRates:
    """MONEY_S3_VAT_RATES: the agenda's reduced and standard rates, ``12,21``."""
    raw = read.text("MONEY_S3_VAT_RATES", "12,21") or "12,21"
    try:
        reduced, standard = (Decimal(part.strip()) for part in raw.split(","))
    except (ValueError, ArithmeticError):
        reduced = standard = Decimal(-1)
    if not Decimal(0) < reduced < standard < Decimal(100):
        read.problems.append(
            "MONEY_S3_VAT_RATES must be the agenda's reduced and standard VAT rates, "
            f"like 12,21, not {raw!r}"
        )
        return VatRates()
    return VatRates(reduced, standard)


def _bookkeeping(read: _Reader) -> BookkeepingMap:
    """The MONEY_S3_* variables of the bookkeeping fields: a constant or {a field}."""
    chosen: dict[str, FieldSource | None] = {}
    for variable, name, limit in BOOKKEEPING_VARIABLES:
        if variable not in read.environ:
            continue  # the map's default: the case code, the deal's note, or nothing
        raw = read.text(variable)
        if raw is None:
            chosen[name] = None  # set empty: left to Money S3
            continue
        try:
            source = FieldSource.parse(raw)
        except MappingError as error:
            read.problems.append(f"{variable}: {error}")
            continue
        if source.constant is not None and limit is not None and len(source.constant) > limit:
            read.problems.append(
                f"{variable} {source.constant!r} is longer than Money S3's {limit} characters"
            )
        chosen[name] = source
    return BookkeepingMap(**chosen)


def _public_url(read: _Reader) -> str | None:
    value = read.text("PUBLIC_URL")
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query:
        read.problems.append(
            f"PUBLIC_URL must be the bridge's address as RAYNET reaches it, like "
            f"https://bridge.firma.cz, not {value!r}"
        )
        return None
    return value.rstrip("/")


def _addresses(read: _Reader, name: str) -> tuple[str, ...]:
    addresses = tuple(a.strip() for a in (read.text(name) or "").split(",") if a.strip())
    if any("@" not in address for address in addresses):
        read.problems.append(f"{name} must be e-mail addresses, comma-separated")
        return ()
    return addresses


def _xsd_dir(read: _Reader) -> Path | None:
    value = read.text("MONEY_S3_XSD_DIR")
    if value is None:
        return None
    path = Path(value)
    if not (path / "_Document.xsd").is_file():
        read.problems.append(f"MONEY_S3_XSD_DIR: no _Document.xsd in {value!r}")
    return path


def _sse(read: _Reader) -> str | None:
    value = read.text("S3_SSE")
    if value and value not in ("AES256", "aws:kms"):
        read.problems.append(f"S3_SSE must be AES256 or aws:kms, not {value!r}")
    return value


def _log_level(read: _Reader) -> str:
    level = (read.text("LOG_LEVEL", "INFO") or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        read.problems.append(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
        return "INFO"
    return level


def _log_format(read: _Reader) -> str:
    value = (read.text("LOG_FORMAT", "json") or "json").lower()
    if value not in ("json", "text"):
        read.problems.append(f"LOG_FORMAT must be json or text, not {value!r}")
        return "json"
    return value


def _secret(read: _Reader, name: str) -> str | None:
    """A secret of ours: long enough not to be guessed."""
    token = read.text(name)
    if token is not None and len(token) < SECRET_LENGTH:
        read.problems.append(f"{name} must be at least {SECRET_LENGTH} characters")
    return token


def _reconcile_interval(read: _Reader) -> float:
    interval = read.number("RECONCILE_INTERVAL", 0.0, float, 0)
    if 0 < interval < 60:
        read.problems.append("RECONCILE_INTERVAL must be 0 (off) or at least 60 seconds")
        return 0.0
    return interval


def _report_hour(read: _Reader) -> int | None:
    value = (read.text("REPORT_HOUR", "7") or "7").lower()
    if value == "off":
        return None
    if not value.isdigit() or not 0 <= int(value) <= 23:
        read.problems.append(f"REPORT_HOUR must be an hour 0 to 23, or off, not {value!r}")
        return None
    return int(value)


def _language(read: _Reader) -> str:
    value = (read.text("BRIDGE_LANGUAGE", DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE).lower()
    if value not in LANGUAGES:
        choices = ", ".join(LANGUAGES)
        read.problems.append(f"BRIDGE_LANGUAGE must be one of {choices}, not {value!r}")
        return DEFAULT_LANGUAGE
    return value


def _smtp(read: _Reader) -> SmtpSettings | None:
    url, recipients = read.text("SMTP_URL"), read.text("NOTIFY_EMAIL")
    sender = read.text("NOTIFY_FROM")
    if url is None and recipients is None:
        return None
    if url is None or recipients is None:
        read.problems.append("e-mail needs both SMTP_URL and NOTIFY_EMAIL")
        return None
    try:
        return SmtpSettings.parse(url, recipients, sender)
    except ConfigError as error:
        read.problems.append(str(error))
        return None


def _distributed(read: _Reader) -> dict[str, Any]:
    """QUEUE_URL and STATE_TABLE: the state leaves this host, so must the files' ledger."""
    queue_url, table = read.text("QUEUE_URL"), read.text("STATE_TABLE")
    wait = read.number("QUEUE_WAIT_SECONDS", 10, int, 0)
    if wait > 20:
        read.problems.append("QUEUE_WAIT_SECONDS must be 0 to 20 (SQS's longest poll)")
    if queue_url is None and table is None:
        return {}
    if queue_url is None or table is None:
        read.problems.append("QUEUE_URL and STATE_TABLE go together (SQS queue, DynamoDB table)")
    elif not queue_url.startswith(("https://", "http://")) or not queue_url.endswith(".fifo"):
        read.problems.append(
            f"QUEUE_URL must be an SQS FIFO queue URL (…/name.fifo), not {queue_url!r}"
        )
    target = read.text("EXPORT_TARGET") or ""
    if not target.startswith("s3://"):
        read.problems.append(
            "QUEUE_URL needs EXPORT_TARGET=s3://…: with no state on any host, "
            "the bucket's conditional writes keep each file unique"
        )
    return {"queue_url": queue_url, "state_table": table, "queue_wait_seconds": wait}
