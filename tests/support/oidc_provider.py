"""A real HTTP server that plays an OIDC identity provider, for the web UI's OIDC sign-in.

`http.server` in a background thread on a free local port, serving:
- `/.well-known/openid-configuration`: the discovery document;
- `/jwks`: the public key its tokens are signed with;
- `/authorize`: records the request and sends the browser back to `redirect_uri` with a code
  and the state (the test follows that redirect by hand);
- `/token`: exchanges a code once, checking the client id, the redirect URI, the client secret
  (HTTP Basic, when `client_secret` is set) and the PKCE verifier against the S256 challenge
  given at `/authorize`; answers with an access token (`access_claims`, aud = `audience`) and an
  ID token (aud = client id, the nonce given at `/authorize`) signed by its RSA key.

The test changes `access_claims`, `id_claims`, `refuse_token` and `jwks_document` to make it
misbehave, and reads `authorize_requests` and `token_requests`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.support.http_server import LocalHttpServer


class OidcProvider:
    def __init__(self, *, client_id: str, audience: str, client_secret: str | None = None) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.audience = audience
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "oidc-1"
        self.access_claims: dict[str, Any] = {"sub": "olga", "roles": ["steward"]}
        self.id_claims: dict[str, Any] = {}  # merged into the ID token's claims
        self.refuse_token = False  # answer every exchange 400 invalid_grant
        self.send_id_token = True
        self.challenge_override: str | None = None  # remembered instead of the one sent
        self.discovery_requests = 0
        self.discovery_override: dict[str, Any] | None = None  # served instead, when set
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self._codes: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._server = LocalHttpServer(self._handler())
        self.port = self._server.port
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.jwks_url = f"{self.issuer}/jwks"
        public = dict(RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True))
        self.jwks_document: dict[str, Any] = {
            "keys": [public | {"kid": self.kid, "use": "sig", "alg": "RS256"}]
        }

    def start(self) -> OidcProvider:
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the port: connections are refused from now on."""
        self._server.stop()

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": self.jwks_url,
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        }

    # --- the endpoints -------------------------------------------------------------------------

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.authorize_requests.append(query)
            code = secrets.token_urlsafe(16)
            self._codes[code] = dict(query)
            if self.challenge_override is not None:
                self._codes[code]["code_challenge"] = self.challenge_override
        back = {"code": code, "state": query.get("state", "")}
        location = query["redirect_uri"] + "?" + urlencode(back)
        return 302, {"Location": location}, b""

    def _token(self, form: dict[str, str], authorization: str | None) -> tuple[int, Any]:
        with self._lock:
            self.token_requests.append(form)
            asked = self._codes.pop(form.get("code", ""), None)
        if self.refuse_token or asked is None:
            return 400, {"error": "invalid_grant"}
        if self.client_secret is not None:
            # RFC 6749 2.3.1: id and secret are form-urlencoded inside the Basic credentials.
            scheme, _, encoded = (authorization or "").partition(" ")
            pair = base64.b64decode(encoded or "").decode() if scheme == "Basic" else ""
            who, _, secret = pair.partition(":")
            if (unquote_plus(who), unquote_plus(secret)) != (self.client_id, self.client_secret):
                return 401, {"error": "invalid_client"}
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if (
            asked.get("code_challenge_method") != "S256"
            or challenge != asked.get("code_challenge")
            or form.get("client_id") != self.client_id
            or form.get("redirect_uri") != asked.get("redirect_uri")
            or form.get("grant_type") != "authorization_code"
        ):
            return 400, {"error": "invalid_grant"}
        now = int(time.time())
        access = {"iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + 300}
        answer: dict[str, Any] = {
            "access_token": self.sign(access | self.access_claims),
            "token_type": "Bearer",
            "expires_in": 300,
        }
        if self.send_id_token:
            identity = {
                "iss": self.issuer,
                "aud": self.client_id,
                "sub": self.access_claims.get("sub", "olga"),
                "iat": now,
                "exp": now + 300,
                "nonce": asked.get("nonce"),
            }
            answer["id_token"] = self.sign(identity | self.id_claims)
        return 200, answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    with provider._lock:
                        provider.discovery_requests += 1
                    self._json(200, provider.discovery_override or provider.discovery())
                elif url.path == "/jwks":
                    self._json(200, provider.jwks_document)
                elif url.path == "/authorize":
                    status, headers, body = provider._authorize(query)
                    self._send(status, headers, body)
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                if urlsplit(self.path).path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                status, answer = provider._token(form, self.headers.get("Authorization"))
                self._json(status, answer)

            def _json(self, status: int, document: Any) -> None:
                body = json.dumps(document).encode()
                self._send(status, {"Content-Type": "application/json"}, body)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
