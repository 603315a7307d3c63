"""Which value of a deal fills each Money S3 field the accountant asks for.

Each of ``MONEY_S3_DOCUMENT_TYPE``, ``MONEY_S3_NUMBER_SERIES``, ``MONEY_S3_COST_CENTRE``,
``MONEY_S3_JOB``, ``MONEY_S3_ACTIVITY``, ``MONEY_S3_PARTNER_DOCUMENT`` and ``MONEY_S3_NOTE``
is a constant (``HL``), or one of the deal's fields in braces: ``{code}``, ``{name}``,
``{description}`` (the deal's note), ``{category}``, ``{type}``, ``{owner}``, or a custom
field by the name RAYNET shows for it, ``{custom:Číslo zakázky}`` (``GET customField/config/``
lists them). RAYNET's own Money export carries the deal's note; so does the bridge, into the
order's note, unless told otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from webhook.order import Bookkeeping

CASE_FIELDS = ("code", "name", "description", "category", "type", "owner")
CUSTOM = "custom:"
_REFERENCE = re.compile(r"^\{(.+)\}$", re.DOTALL)


class MappingError(ValueError):
    """A value that names no field RAYNET has; the message says which."""


@dataclass(frozen=True)
class CaseFields:
    """The values of a deal a mapping can take: its own fields and its custom fields (by
    RAYNET's generated key, as the API sends them)."""

    own: Mapping[str, str | None]
    custom: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldSource:
    """A constant, a field of the deal, or a custom field (by its name as users see it)."""

    constant: str | None = None
    case_field: str | None = None
    custom_label: str | None = None

    @classmethod
    def parse(cls, text: str) -> FieldSource:
        match = _REFERENCE.match(text.strip())
        if match is None:
            return cls(constant=text.strip())
        name = match[1].strip()
        if name.startswith(CUSTOM) and name.removeprefix(CUSTOM).strip():
            return cls(custom_label=name.removeprefix(CUSTOM).strip())
        if name in CASE_FIELDS:
            return cls(case_field=name)
        raise MappingError(
            f"{{{name}}} is not a field of a business case: use one of "
            + ", ".join(f"{{{choice}}}" for choice in CASE_FIELDS)
            + ", or {custom:<name of the custom field>}"
        )

    def value(self, fields: CaseFields, custom_keys: Mapping[str, str]) -> str | None:
        """The value for one deal; ``custom_keys`` maps custom field names to RAYNET's keys
        (a name not there is taken as the key itself, as saved responses carry keys)."""
        if self.constant is not None:
            return self.constant or None
        if self.case_field is not None:
            return fields.own.get(self.case_field) or None
        assert self.custom_label is not None
        key = custom_keys.get(self.custom_label, self.custom_label)
        return fields.custom.get(key) or None

    def __str__(self) -> str:
        if self.constant is not None:
            return self.constant
        return "{" + (self.case_field or CUSTOM + (self.custom_label or "")) + "}"


@dataclass(frozen=True)
class BookkeepingMap:
    """Where each Money S3 bookkeeping field comes from; None leaves it to Money S3."""

    document_type: FieldSource | None = None
    number_series: FieldSource | None = None
    cost_centre: FieldSource | None = None
    job: FieldSource | None = None
    activity: FieldSource | None = None
    partner_document: FieldSource | None = field(
        default_factory=lambda: FieldSource(case_field="code")
    )
    note: FieldSource | None = field(default_factory=lambda: FieldSource(case_field="description"))

    def custom_labels(self) -> set[str]:
        return {s.custom_label for s in self.sources().values() if s and s.custom_label}

    def sources(self) -> dict[str, FieldSource | None]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def resolve(self, fields: CaseFields, custom_keys: Mapping[str, str]) -> Bookkeeping:
        known = {*custom_keys, *custom_keys.values(), *fields.custom}
        return Bookkeeping(
            **{
                name: source.value(fields, custom_keys) if source else None
                for name, source in self.sources().items()
            },
            unknown_custom_fields=tuple(sorted(self.custom_labels() - known)),
        )
