"""A real OpenID provider for the sign-in tests: npm's certified `oidc-provider`
(`tests/oidc/provider.js`, installed with `npm ci` from the lock file beside it) on a free
loopback port, with one client and a few users and groups; restartable with new signing keys
(a rotation), stopped after."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import KeySet, RSAKey

from tests.conftest import system_binary

HERE = Path(__file__).parent
CLIENT_ID, CLIENT_SECRET = "warroom-console", "a-client-secret-0123456789abcdef"
#: name → e-mail and groups at the provider.
USERS = {
    "vera": {"email": "vera@example.com", "groups": ["eng"]},
    "dana-oncall": {"email": "dana@example.com", "groups": ["eng", "sre"]},
    "ada": {"email": "ada@example.com", "groups": ["sre-leads"]},
    "nobody": {"email": "nobody@example.com", "groups": ["sales"]},
}
ROLES = "{sre: responder, eng: viewer, sre-leads: admin}"


def installed() -> Path:
    """tests/oidc/node_modules, `npm ci` first when it is missing (as `.ci/run` does)."""
    modules = HERE / "node_modules"
    if not (modules / "oidc-provider").is_dir():
        npm = system_binary("npm")
        subprocess.run(
            [npm, "ci", "--prefix", str(HERE), "--no-audit", "--no-fund"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return modules


def signing_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class OpenIdProvider:
    port: int
    redirect_uri: str
    post_logout_uri: str
    keys: list[RSAKey] = field(default_factory=lambda: [signing_key("key-1")])
    _proc: subprocess.Popen[str] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OpenIdProvider:
        installed()
        jwks = KeySet(list(self.keys)).as_dict(private=True)
        env = {
            **os.environ,
            "PORT": str(self.port),
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": CLIENT_SECRET,
            "REDIRECT_URI": self.redirect_uri,
            "POST_LOGOUT_URI": self.post_logout_uri,
            "JWKS": json.dumps(jwks),
            "USERS": json.dumps(USERS),
            "DEBUG": "",
        }
        self._proc = subprocess.Popen(
            [system_binary("node"), str(HERE / "provider.js")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration").is_success:
                    return self
            except httpx.HTTPError:
                pass
            if self._proc.poll() is not None:
                raise AssertionError(f"the OpenID provider exited: {self._proc.stdout.read()}")  # type: ignore[union-attr]
            time.sleep(0.1)
        self.stop()
        raise AssertionError("the OpenID provider did not start within 30 s")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.communicate()
            self._proc = None

    def rotate(self, kid: str) -> RSAKey:
        """Restart with a new signing key only (the old one no longer published)."""
        self.stop()
        self.keys = [signing_key(kid)]
        self.start()
        return self.keys[0]

    def env(self) -> dict[str, Any]:
        """warroom's settings for this provider."""
        return {
            "WARROOM_OIDC_ISSUER": self.issuer,
            "WARROOM_OIDC_CLIENT_ID": CLIENT_ID,
            "WARROOM_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "WARROOM_OIDC_ROLES": ROLES,
        }
