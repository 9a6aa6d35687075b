"""A development and test identity provider: the configuration of ``tests/oidc/provider.mjs`` (node's
``oidc-provider``) and of the desk that trusts it, written under ``var/oidc/``. ``urp run`` starts it beside the CRM
in development, so a newcomer can sign in as a demo citizen; the test suite starts the same provider."""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import KeySet, RSAKey

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "tests" / "oidc" / "provider.mjs"
DEMO_CITIZENS = [
    {
        "id": "mario.rossi",
        "given_name": "Mario",
        "family_name": "Rossi",
        "fiscal_number": "RSSMRA80A01H501U",
        "email": "mario.rossi@example.org",
        "phone_number": "+393331234567",
    },
    {
        "id": "giuseppina.verdi",
        "given_name": "Giuseppina",
        "family_name": "Verdi",
        "fiscal_number": "VRDGPP75C41F205I",
        "email": "giuseppina.verdi@example.org",
    },
    {"id": "luca.bianchi", "given_name": "Luca", "family_name": "Bianchi", "fiscal_number": "BNCLCU90E15L219G"},
]


@dataclass(frozen=True)
class DevProvider:
    issuer: str
    provider_config: Path  # for tests/oidc/provider.mjs
    desk_config: Path  # for URP_OIDC_PROVIDERS_FILE


def available() -> bool:
    return shutil.which("node") is not None and (ROOT / "node_modules" / "oidc-provider").is_dir() and SCRIPT.exists()


def _keys(path: Path, names: list[tuple[str, str]]) -> KeySet:
    if path.exists():
        return KeySet.import_key_set(json.loads(path.read_text()))
    keys = KeySet([RSAKey.generate_key(2048, parameters={"kid": kid, "use": use}, private=True) for kid, use in names])
    path.write_text(json.dumps(keys.as_dict(private=True)))
    path.chmod(0o600)
    return keys


def write_config(
    directory: Path,
    *,
    port: int,
    public_url: str,
    ente_slug: str,
    citizens: list[dict[str, Any]] | None = None,
    encrypt_userinfo: bool = True,
) -> DevProvider:
    """Keys (kept between runs), the provider's configuration with one client (this desk) and the desk's provider
    file. The client is registered as the SPID/CIE profiles want it: private_key_jwt, signed request objects,
    signed (and encrypted) userinfo."""
    directory.mkdir(parents=True, exist_ok=True)
    rp = _keys(directory / "rp-keys.json", [("rp-sig", "sig"), ("rp-enc", "enc")])
    op = _keys(directory / "op-keys.json", [("op-sig", "sig")])
    issuer = f"http://127.0.0.1:{port}"
    public = public_url.rstrip("/")
    client: dict[str, Any] = {
        "client_id": f"{public}/sportello",
        "redirect_uris": [f"{public}/sportello/accesso/spid/callback"],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "RS256",
        "jwks": {"keys": [k.as_dict(private=False) for k in rp.keys]},
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "request_object_signing_alg": "RS256",
        "require_signed_request_object": True,
        "id_token_signed_response_alg": "RS256",
        "userinfo_signed_response_alg": "RS256",
    }
    if encrypt_userinfo:
        client.update(userinfo_encrypted_response_alg="RSA-OAEP-256", userinfo_encrypted_response_enc="A256GCM")
    provider_config = directory / "provider.json"
    provider_config.write_text(
        json.dumps(
            {
                "issuer": issuer,
                "port": port,
                "keys": [k.as_dict(private=True) for k in op.keys],
                "cookie_key": secrets.token_urlsafe(24),
                "clients": [client],
                "citizens": citizens or DEMO_CITIZENS,
            }
        )
    )
    provider_config.chmod(0o600)
    desk_config = directory / "providers.json"
    desk_config.write_text(
        json.dumps(
            {
                ente_slug: [
                    {
                        "slug": "spid",
                        "label": "SPID (prova)",
                        "kind": "spid",
                        "issuer": issuer,
                        "client_id": client["client_id"],
                        "keys_file": "rp-keys.json",
                        "acr_values": "https://www.spid.gov.it/SpidL2",
                    }
                ]
            }
        )
    )
    return DevProvider(issuer=issuer, provider_config=provider_config, desk_config=desk_config)


def command(dev: DevProvider) -> list[str]:
    return ["node", str(SCRIPT), str(dev.provider_config)]
