"""The fingerprint key: HMAC key of every write-only secret's fingerprint in state and saved plans.

It is never stored beside the fingerprints (state alone cannot be brute-forced offline). It comes from
`VOXPLAN_FINGERPRINT_KEY` (CI: a secret shared by every runner of a stack; 32+ bytes as hex or base64),
else from a key file under the user's config dir (`$XDG_CONFIG_HOME/voxplan/fingerprint.key`, made 0600
on first use). State records only the key's id, so a run with another key stops instead of re-sending
every secret. An empty or malformed key stops the run; it is never silently replaced.

Rotation: set the new key and run `voxplan apply`: each secret is re-sent once and fingerprinted anew.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from voxplan.core.errors import StateError

ENV = "VOXPLAN_FINGERPRINT_KEY"
MIN_BYTES = 32


def key_file(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "voxplan" / "fingerprint.key"


def decode(text: str, source: str) -> bytes:
    text = text.strip()
    if not text:
        raise StateError(f"{source} is empty; it must hold a fingerprint key of {MIN_BYTES}+ bytes (hex or base64)")
    raw: bytes | None = None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) < MIN_BYTES:
        raise StateError(f"{source} is not a fingerprint key of {MIN_BYTES}+ bytes as hex or base64 "
                         "(make one with: python -c 'import secrets; print(secrets.token_hex(32))')")
    return raw


def load_key(env: Mapping[str, str] | None = None, *, create: bool = True) -> bytes:
    env = os.environ if env is None else env
    if ENV in env:
        return decode(env[ENV], ENV)
    path = key_file(env)
    try:
        return decode(path.read_text(), str(path))
    except FileNotFoundError:
        if not create:
            raise StateError(f"no fingerprint key: set {ENV} or create {path}") from None
    except OSError as exc:
        raise StateError(f"cannot read the fingerprint key {path}: {exc.strerror}") from None
    key = os.urandom(MIN_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return decode(path.read_text(), str(path))
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return key


def key_id(key: bytes) -> str:
    """Names the key without revealing anything about it or the secrets it fingerprints."""
    return "k1:" + hmac.new(key, b"voxplan fingerprint key id", hashlib.sha256).hexdigest()[:16]
