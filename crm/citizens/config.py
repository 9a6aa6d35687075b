"""Where the identity providers of each ente are configured: a JSON file named by ``URP_OIDC_PROVIDERS_FILE``
(keys stay in files of their own, never in the database)::

    {"borgo-aurelio": [{"slug": "spid", "label": "SPID", "kind": "spid", "issuer": "https://...",
                        "client_id": "https://comune.example.it/sportello", "keys_file": "/etc/urp/rp-keys.json",
                        "acr_values": "https://www.spid.gov.it/SpidL2"}]}

``keys_file`` holds the relying party's private JWK set (one ``use: sig`` RSA key, optionally a ``use: enc`` one for
the userinfo JWE); relative paths are read from the file's own directory.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm.citizens.oidc import DEFAULT_CLAIMS, ProviderConfig


class CitizenSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="URP_", env_file=".env", extra="ignore")

    oidc_providers_file: Path | None = None
    citizen_session_minutes: int = Field(default=480, ge=5, le=24 * 60, description="absolute session lifetime")
    citizen_idle_minutes: int = Field(default=30, ge=5, le=24 * 60, description="signed out after this idle time")
    dev_oidc_port: int = 8090  # `urp run` in development: the demo provider's port
    # segnala disservizio: the map is an aid (the address field alone suffices); any XYZ tile server
    map_tiles_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_attribution: str = "&copy; contributori di OpenStreetMap"
    map_center: str = "42.4168,12.1051"  # latitude,longitude the map opens on


class _ProviderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str = Field(pattern=r"^[a-z0-9-]{2,30}$")
    label: str = Field(min_length=2, max_length=40)
    kind: str = Field(default="spid", pattern=r"^(spid|cie)$")
    issuer: str = Field(min_length=8)
    client_id: str = Field(min_length=1)
    keys_file: str
    scope: str = "openid"
    acr_values: str = "https://www.spid.gov.it/SpidL2"


def load_providers(path: Path) -> dict[str, list[ProviderConfig]]:
    raw = json.loads(path.read_text())
    out: dict[str, list[ProviderConfig]] = {}
    for ente_slug, items in raw.items():
        for item in items:
            p = _ProviderIn.model_validate(item)
            keys_path = Path(p.keys_file)
            if not keys_path.is_absolute():
                keys_path = path.parent / keys_path
            keys = KeySet.import_key_set(json.loads(keys_path.read_text()))
            out.setdefault(ente_slug, []).append(
                ProviderConfig(
                    slug=p.slug,
                    label=p.label,
                    kind=p.kind,
                    issuer=p.issuer,
                    client_id=p.client_id,
                    keys=keys,
                    scope=p.scope,
                    acr_values=p.acr_values,
                    claims=dict(DEFAULT_CLAIMS),
                )
            )
    return out


@lru_cache
def get_citizen_settings() -> CitizenSettings:
    return CitizenSettings()
