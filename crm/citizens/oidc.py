"""SPID/CIE sign-in through OpenID Connect, behind a small interface (``IdentityProvider``).

The SPID and CIE OIDC profiles ask of a relying party: the authorization code flow with PKCE (S256), a signed request
object carrying every parameter, ``private_key_jwt`` client authentication at the token endpoint, the claims named
in the ``claims`` parameter, the level of assurance as ``acr_values`` (SpidL1-3), and a userinfo answer that is a
signed JWT, usually encrypted for the relying party. Authlib does the OAuth 2.0 client part (PKCE, the client
assertion, the token request over httpx); joserfc, from the same maintainer, does the JOSE part (request object,
ID token and userinfo verification, decryption). Federation trust chains (entity statements) are not implemented: a
provider is configured by its issuer and discovered through ``/.well-known/openid-configuration``.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwe, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from stdnum.it import codicefiscale

FISCAL_CLAIMS = ("https://attributes.eid.gov.it/fiscal_number", "fiscal_number")
LEVELS = {
    "https://www.spid.gov.it/SpidL1": 1,
    "https://www.spid.gov.it/SpidL2": 2,
    "https://www.spid.gov.it/SpidL3": 3,
    "CIE_L1": 1,
    "CIE_L2": 2,
    "CIE_L3": 3,
}
DEFAULT_CLAIMS = {
    "userinfo": {
        "given_name": None,
        "family_name": None,
        "email": None,
        "phone_number": None,
        FISCAL_CLAIMS[0]: {"essential": True},
    },
    "id_token": {"acr": None},
}
# what the SPID/CIE profiles use for the userinfo JWE (key management, content encryption)
JWE_ALGORITHMS = ["RSA-OAEP-256", "RSA-OAEP", "A256GCM", "A128GCM", "A128CBC-HS256", "A256CBC-HS512"]
# providers put informative members in the JWE header (e.g. iss, aud, cty): accepted, not required
JWE_REGISTRY = jwe.JWERegistry(algorithms=JWE_ALGORITHMS, strict_check_header=False)
DISCOVERY_TTL = 3600.0
HTTP_TIMEOUT = 10.0


class SignInFailed(Exception):
    """The sign-in did not produce a verified identity. ``reason`` is for the logs (no personal data), the Italian
    text is what the citizen reads."""

    def __init__(
        self, reason: str, citizen_message: str = "Non è stato possibile completare l'accesso. Riprovi."
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.citizen_message = citizen_message


@dataclass(frozen=True)
class ProviderConfig:
    """One identity provider of one ente (an ente may have several: SPID, CIE, a test provider)."""

    slug: str
    label: str
    issuer: str
    client_id: str
    keys: KeySet  # the relying party's private keys: ``use: sig`` signs, ``use: enc`` decrypts userinfo
    scope: str = "openid"
    acr_values: str = "https://www.spid.gov.it/SpidL2"
    claims: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_CLAIMS))
    kind: str = "spid"  # spid | cie: which button and logo the sign-in page shows

    def signing_key(self) -> RSAKey:
        for k in self.keys.keys:
            if isinstance(k, RSAKey) and k.get("use", "sig") == "sig":
                return k
        raise ValueError(f"provider {self.slug}: no signing key")

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [k.as_dict(private=False) for k in self.keys.keys]}


@dataclass(frozen=True)
class AuthRequest:
    """What the relying party keeps between the redirect and the callback (server-side, one use)."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class VerifiedIdentity:
    subject: str
    fiscal_code: str
    given_name: str
    family_name: str
    email: str | None
    phone: str | None
    acr: str
    level: int
    provider: str


class IdentityProvider(Protocol):
    """The door the desk uses: the only two things a sign-in needs."""

    async def begin(self, provider: ProviderConfig, redirect_uri: str) -> AuthRequest: ...

    async def finish(
        self, provider: ProviderConfig, redirect_uri: str, params: dict[str, str], pending: AuthRequest
    ) -> VerifiedIdentity: ...


def fiscal_code_of(claims: dict[str, Any]) -> str:
    """The codice fiscale from SPID/CIE claims ("TINIT-RSSMRA80A01H501U"), checked (checksum and all)."""
    raw = next((str(claims[c]) for c in FISCAL_CLAIMS if claims.get(c)), "")
    cf = re.sub(r"^TINIT-", "", raw.strip().upper())
    if not codicefiscale.is_valid(cf):
        raise SignInFailed(
            "no valid fiscal code released",
            "Il fornitore di identità non ha comunicato un codice fiscale valido: l'accesso non è possibile.",
        )
    return cf


class OidcClient:
    """``IdentityProvider`` on Authlib + joserfc. Provider metadata and keys are cached per issuer for an hour;
    an unknown ``kid`` refreshes them once (key rotation)."""

    def __init__(self, *, timeout: float = HTTP_TIMEOUT) -> None:
        self.timeout = timeout
        self._meta: dict[str, tuple[float, dict[str, Any], KeySet]] = {}

    async def _metadata(self, issuer: str, refresh: bool = False) -> tuple[dict[str, Any], KeySet]:
        cached = self._meta.get(issuer)
        if cached and not refresh and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1], cached[2]
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                r = await http.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
                r.raise_for_status()
                meta = r.json()
                if meta.get("issuer") != issuer:
                    raise SignInFailed("issuer mismatch in discovery")
                k = await http.get(meta["jwks_uri"])
                k.raise_for_status()
                keys = KeySet.import_key_set(k.json())
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise SignInFailed(
                f"provider unreachable: {type(exc).__name__}",
                "Il fornitore di identità non risponde. Riprovi tra qualche minuto.",
            ) from None
        self._meta[issuer] = (time.monotonic(), meta, keys)
        return meta, keys

    async def begin(self, provider: ProviderConfig, redirect_uri: str) -> AuthRequest:
        meta, _ = await self._metadata(provider.issuer)
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        challenge = create_s256_code_challenge(verifier)
        now = int(time.time())
        params = {
            "client_id": provider.client_id,
            "response_type": "code",
            "scope": provider.scope,
            "redirect_uri": redirect_uri,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "acr_values": provider.acr_values,
            "prompt": "consent login",
            "claims": provider.claims,
        }
        key = provider.signing_key()
        request_object = jwt.encode(
            {"alg": "RS256", "kid": key.kid, "typ": "oauth-authz-req+jwt"},
            {
                **params,
                "iss": provider.client_id,
                "aud": meta["issuer"],
                "iat": now,
                "exp": now + 300,
                "jti": secrets.token_urlsafe(12),
            },
            key,
        )
        # the profile repeats the essentials outside the request object; the signed copy is the one that counts
        query = {
            k: params[k]
            for k in (
                "client_id",
                "response_type",
                "scope",
                "code_challenge",
                "code_challenge_method",
                "redirect_uri",
                "acr_values",
                "state",
                "nonce",
                "prompt",
            )
        }
        query["request"] = request_object
        return AuthRequest(
            url=f"{meta['authorization_endpoint']}?{urlencode(query)}", state=state, nonce=nonce, code_verifier=verifier
        )

    async def finish(
        self, provider: ProviderConfig, redirect_uri: str, params: dict[str, str], pending: AuthRequest
    ) -> VerifiedIdentity:
        if params.get("error"):
            cancelled = params["error"] == "access_denied"
            raise SignInFailed(
                f"provider error {params['error'][:40]}",
                "Accesso annullato." if cancelled else "Il fornitore di identità ha rifiutato l'accesso.",
            )
        if not secrets.compare_digest(params.get("state", ""), pending.state):
            raise SignInFailed("state mismatch", "La richiesta di accesso non è valida o è scaduta. Riprovi.")
        if not params.get("code"):
            raise SignInFailed("no authorization code")
        if params.get("iss") and params["iss"] != provider.issuer:  # RFC 9207: mix-up defence
            raise SignInFailed("iss mismatch on callback")
        meta, _ = await self._metadata(provider.issuer)
        key = provider.signing_key()
        client = AsyncOAuth2Client(
            client_id=provider.client_id,
            client_secret=key,
            token_endpoint_auth_method=PrivateKeyJWT(meta["token_endpoint"], headers={"kid": key.kid}),
            timeout=self.timeout,
        )
        try:
            async with client:
                token = await client.fetch_token(
                    meta["token_endpoint"],
                    grant_type="authorization_code",
                    code=params["code"],
                    redirect_uri=redirect_uri,
                    code_verifier=pending.code_verifier,
                )
                id_claims = await self._id_token(provider, meta, str(token.get("id_token") or ""), pending.nonce)
                r = await client.get(meta["userinfo_endpoint"])
                r.raise_for_status()
                info = await self._userinfo(provider, r)
        except SignInFailed:
            raise
        except (httpx.HTTPError, ValueError, KeyError, JoseError) as exc:
            raise SignInFailed(f"token or userinfo request failed: {type(exc).__name__}") from None
        except Exception as exc:  # Authlib's OAuth errors (invalid_grant ...) have no common base worth importing
            raise SignInFailed(f"token request refused: {type(exc).__name__}") from None
        if info.get("sub") != id_claims["sub"]:
            raise SignInFailed("userinfo subject differs from the ID token's")
        acr = str(id_claims.get("acr") or "")
        given = str(info.get("given_name") or "").strip()[:100]
        family = str(info.get("family_name") or "").strip()[:100]
        return VerifiedIdentity(
            subject=str(id_claims["sub"]),
            fiscal_code=fiscal_code_of(info),
            given_name=given,
            family_name=family,
            email=(str(info["email"])[:254] if info.get("email") else None),
            phone=(str(info["phone_number"])[:20] if info.get("phone_number") else None),
            acr=acr,
            level=LEVELS.get(acr, 0),
            provider=provider.slug,
        )

    async def _verified(self, provider: ProviderConfig, token: str) -> dict[str, Any]:
        """Verify a JWS from the provider with its published keys (refetched once for an unknown key id)."""
        for refresh in (False, True):
            _, keys = await self._metadata(provider.issuer, refresh=refresh)
            try:
                return dict(jwt.decode(token, keys, algorithms=["RS256", "PS256", "ES256"]).claims)
            except JoseError as exc:
                if refresh or "key" not in type(exc).__name__.lower() and "kid" not in str(exc).lower():
                    raise SignInFailed(f"signature check failed: {type(exc).__name__}") from None
        raise SignInFailed("signature check failed")  # pragma: no cover

    async def _id_token(self, provider: ProviderConfig, meta: dict[str, Any], token: str, nonce: str) -> dict[str, Any]:
        if not token:
            raise SignInFailed("no ID token")
        claims = await self._verified(provider, token)
        now = time.time()
        aud = claims.get("aud")
        if claims.get("iss") != meta["issuer"]:
            raise SignInFailed("ID token issuer mismatch")
        if provider.client_id not in (aud if isinstance(aud, list) else [aud]):
            raise SignInFailed("ID token audience mismatch")
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - 30:
            raise SignInFailed("ID token expired")
        if not secrets.compare_digest(str(claims.get("nonce") or ""), nonce):
            raise SignInFailed("ID token nonce mismatch")
        if not claims.get("sub"):
            raise SignInFailed("ID token without subject")
        return claims

    async def _userinfo(self, provider: ProviderConfig, r: httpx.Response) -> dict[str, Any]:
        body = r.text.strip()
        if "json" in r.headers.get("content-type", "") and body.startswith("{"):
            return dict(json.loads(body))
        if body.count(".") == 4:  # JWE: decrypt with our key, then the signed JWT inside
            try:
                body = jwe.decrypt_compact(body, provider.keys, registry=JWE_REGISTRY).plaintext.decode()  # type: ignore[union-attr]
            except JoseError as exc:
                raise SignInFailed(f"userinfo decryption failed: {type(exc).__name__}") from None
        return await self._verified(provider, body)
