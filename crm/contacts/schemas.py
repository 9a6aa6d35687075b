from __future__ import annotations

from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.it import codicefiscale

Channel = Literal["web", "sms", "telegram", "email", "phone"]


def normalise_phone(raw: str, region: str = "IT") -> str:
    """E.164 or ValueError; Italian numbers may be written without +39."""
    try:
        num = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(num):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def normalise_fiscal_code(raw: str) -> str:
    try:
        return codicefiscale.validate(raw)
    except StdnumError as exc:
        raise ValueError(f"invalid fiscal code ({exc})") from None


class IdentityIn(BaseModel):
    channel: Channel
    external_id: str = Field(min_length=1, max_length=200)


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    fiscal_code: str | None = None
    phones: list[str] = Field(default_factory=list, max_length=10)
    emails: list[EmailStr] = Field(default_factory=list, max_length=10)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=10)
    preferred_channel: Channel | None = None
    consent_privacy: bool = False
    consent_notifications: bool = True
    notes: str = Field(default="", max_length=2000)

    @field_validator("fiscal_code")
    @classmethod
    def _cf(cls, v: str | None) -> str | None:
        return normalise_fiscal_code(v) if v else None

    @field_validator("phones")
    @classmethod
    def _phones(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(normalise_phone(p) for p in v))

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(e.lower() for e in v))

    @field_validator("identities")
    @classmethod
    def _identities(cls, v: list[IdentityIn]) -> list[IdentityIn]:
        """The same channel identity given twice is one identity (it was a unique-key 500)."""
        return list({(i.channel, i.external_id): i for i in v}.values())


class ContactPatch(BaseModel):
    """Fields left out are unchanged; lists given replace the old ones."""

    model_config = ConfigDict(extra="forbid")
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    fiscal_code: str | None = None
    phones: list[str] | None = Field(default=None, max_length=10)
    emails: list[EmailStr] | None = Field(default=None, max_length=10)
    preferred_channel: Channel | None = None
    consent_privacy: bool | None = None
    consent_notifications: bool | None = None
    notes: str | None = Field(default=None, max_length=2000)

    @field_validator("fiscal_code")
    @classmethod
    def _cf(cls, v: str | None) -> str | None:
        return normalise_fiscal_code(v) if v else None

    @field_validator("phones")
    @classmethod
    def _phones(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else list(dict.fromkeys(normalise_phone(p) for p in v))

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else list(dict.fromkeys(e.lower() for e in v))


class CapturedIn(BaseModel):
    """What the citizen gave about themselves in an assistant's form: fills the contact's empty details; a value
    that differs from one the contact holds is kept as a conflict for an operator to resolve."""

    model_config = ConfigDict(extra="forbid")
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    fiscal_code: str | None = None
    phone: str | None = None
    email: EmailStr | None = None

    @field_validator("first_name", "last_name")
    @classmethod
    def _name(cls, v: str) -> str:
        return " ".join(v.split())

    @field_validator("fiscal_code")
    @classmethod
    def _cf(cls, v: str | None) -> str | None:
        return normalise_fiscal_code(v) if v else None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return normalise_phone(v) if v else None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return v.lower() if v else None


class MergeIn(BaseModel):
    source_id: int = Field(description="duplicate to fold into the target (kept, marked merged)")


class ContactOut(BaseModel):
    id: int
    first_name: str
    last_name: str
    fiscal_code: str | None
    phones: list[str]
    emails: list[str]
    identities: list[IdentityIn]
    preferred_channel: str | None
    consent_privacy: bool
    consent_notifications: bool
    verified_identity: bool
    notes: str
    merged_into_id: int | None
    anonymised: bool
    created_at: str


class CapturedOut(BaseModel):
    filled: list[str] = Field(description="the contact's details that were empty and now hold what the citizen gave")
    conflicts: list[str] = Field(description="details that differ from the contact's: kept for an operator to resolve")
    contact: ContactOut


class ExportMessageOut(BaseModel):
    conversation_id: int
    direction: str
    author: str
    text: str
    at: str


class ContactExportOut(BaseModel):
    """The GDPR export: the contact, their conversations' public messages, and under each table's name every row of
    that table that points at the contact (columns as stored, times in UTC)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, list[dict[str, Any]]] = Field(init=False)
    contact: ContactOut
    exported_at: str
    messages: list[ExportMessageOut] = Field(default_factory=list)


class ContactQuery(BaseModel):
    q: str | None = Field(default=None, description="name, fiscal code, phone or e-mail")
