"""The ``[dkim]`` settings and the keys they name: read, checked, refused in one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mailer.config import load_config
from mailer.dispatch.dkim_keys import DkimKeyError, load_keys
from mailer.errors import ConfigError
from tests.dkim_helpers import key_file, new_key

RSA = new_key("rsa-sha256", "s2026")
ED25519 = new_key("ed25519-sha256", "e2026")


def _env(path: Path, **extra: str) -> dict[str, str]:
    return {
        "MAILER_DKIM_DOMAIN": "example.org",
        "MAILER_DKIM_SELECTOR": "s2026",
        "MAILER_DKIM_KEY_FILE": str(path),
        **extra,
    }


def _pem(key: object) -> str:
    assert hasattr(key, "private_bytes")
    return str(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


def test_a_key_file_of_its_owner_alone_is_read(tmp_path: Path) -> None:
    [key] = load_keys(load_config(env=_env(key_file(tmp_path, RSA))))
    assert (key.algorithm, key.domain, key.selector) == ("rsa-sha256", "example.org", "s2026")
    assert key.public_key == RSA.public_key


@pytest.mark.parametrize(("mode", "who"), [(0o640, "its group"), (0o604, "others")])
def test_a_key_file_others_may_read_is_refused_in_one_line(
    tmp_path: Path, mode: int, who: str
) -> None:
    path = key_file(tmp_path, RSA)
    path.chmod(mode)
    with pytest.raises(DkimKeyError) as caught:
        load_keys(load_config(env=_env(path)))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"dkim.key_file {path}: readable by {who} (mode 0{mode:o})")
    assert f"chmod 600 {path}" in message


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DkimKeyError, match=r"dkim.key_file .*nope.key: cannot read"):
        load_keys(load_config(env=_env(tmp_path / "nope.key")))


def test_the_key_may_come_from_the_environment_with_escaped_line_breaks() -> None:
    pem = _pem(ED25519.private_key).replace("\n", "\\n")
    config = load_config(env={
        "MAILER_DKIM_DOMAIN": "example.org", "MAILER_DKIM_SELECTOR": "e2026",
        "MAILER_DKIM_ALGORITHM": "ed25519-sha256", "MAILER_DKIM_PRIVATE_KEY": pem,
    })
    [key] = load_keys(config)
    assert key.public_key == ED25519.public_key


def test_a_private_key_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mailer.toml"
    path.write_text('[dkim]\ndomain = "example.org"\nprivate_key = "-----BEGIN"\n')
    with pytest.raises(ConfigError, match="MAILER_DKIM_PRIVATE_KEY in the environment"):
        load_config(path, env={})


def test_two_keys_rsa_then_ed25519(tmp_path: Path) -> None:
    env = _env(key_file(tmp_path, RSA), MAILER_DKIM_SELECTOR_ED25519="e2026",
               MAILER_DKIM_KEY_FILE_ED25519=str(key_file(tmp_path, ED25519)))
    keys = load_keys(load_config(env=env))
    assert [(k.algorithm, k.selector) for k in keys] == [
        ("rsa-sha256", "s2026"), ("ed25519-sha256", "e2026"),
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"MAILER_DKIM_ALGORITHM": "ed25519-sha256"},
         "an RSA key, but ed25519-sha256 signs with an Ed25519 key"),
        ({"MAILER_DKIM_SELECTOR_ED25519": "e1", "MAILER_DKIM_KEY_FILE_ED25519": "{rsa}"},
         "an RSA key, but ed25519-sha256 signs with an Ed25519 key"),
    ],
)
def test_a_key_of_the_wrong_kind_is_refused(
    tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    path = key_file(tmp_path, RSA)
    env = _env(path, **{k: v.format(rsa=path) for k, v in extra.items()})
    with pytest.raises(DkimKeyError, match=message):
        load_keys(load_config(env=env))


def test_keys_dkim_cannot_use_are_refused(tmp_path: Path) -> None:
    curve = tmp_path / "ec.key"
    curve.write_text(_pem(ec.generate_private_key(ec.SECP256R1())))
    curve.chmod(0o600)
    with pytest.raises(DkimKeyError, match="neither an RSA nor an Ed25519 key"):
        load_keys(load_config(env=_env(curve)))
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key")
    garbage.chmod(0o600)
    with pytest.raises(DkimKeyError, match="not a PEM private key"):
        load_keys(load_config(env=_env(garbage)))


def test_an_encrypted_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "locked.key"
    path.write_bytes(RSA.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ))
    path.chmod(0o600)
    with pytest.raises(DkimKeyError, match="encrypted; mailer needs it without a passphrase"):
        load_keys(load_config(env=_env(path)))


def test_a_short_rsa_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.key"
    made = subprocess.run(["openssl", "genrsa", "-out", str(path), "512"], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a 512-bit key here: {made.stderr.decode()}")
    path.chmod(0o600)
    with pytest.raises(DkimKeyError, match="512 bits; receivers ignore signatures made with"):
        load_keys(load_config(env=_env(path)))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MAILER_DKIM_SELECTOR": "s1"}, "set dkim.domain"),
        ({"MAILER_DKIM_DOMAIN": "example.org"}, "set dkim.selector"),
        ({"MAILER_DKIM_DOMAIN": "example.org", "MAILER_DKIM_SELECTOR": "s1"},
         "set dkim.key_file or MAILER_DKIM_PRIVATE_KEY"),
        ({"MAILER_DKIM_DOMAIN": "example.org", "MAILER_DKIM_SELECTOR": "s1",
          "MAILER_DKIM_KEY_FILE": "k", "MAILER_DKIM_PRIVATE_KEY": "pem"},
         "both dkim.key_file and MAILER_DKIM_PRIVATE_KEY are set"),
        ({"MAILER_DKIM_DOMAIN": "bücher.example", "MAILER_DKIM_SELECTOR": "s1",
          "MAILER_DKIM_KEY_FILE": "k"}, "must be a DNS name in ASCII"),
        ({"MAILER_DKIM_DOMAIN": "example.org", "MAILER_DKIM_SELECTOR": "s 1",
          "MAILER_DKIM_KEY_FILE": "k"}, "dkim.selector 's 1' must be a DNS name"),
        ({"MAILER_DKIM_DOMAIN": "example.org", "MAILER_DKIM_SELECTOR": "s1",
          "MAILER_DKIM_KEY_FILE": "k", "MAILER_DKIM_ALGORITHM": "rsa-sha1"},
         "dkim.algorithm must be one of rsa-sha256, ed25519-sha256"),
        ({"MAILER_DKIM_DOMAIN": "example.org", "MAILER_DKIM_SELECTOR": "s1",
          "MAILER_DKIM_KEY_FILE": "k", "MAILER_DKIM_ALGORITHM": "ed25519-sha256",
          "MAILER_DKIM_SELECTOR_ED25519": "e1", "MAILER_DKIM_KEY_FILE_ED25519": "e"},
         "selector_ed25519 adds an Ed25519 signature beside the RSA one"),
        ({"MAILER_DKIM_DOMAIN": "example.org", "MAILER_DKIM_SELECTOR": "s1",
          "MAILER_DKIM_KEY_FILE": "k", "MAILER_DKIM_SELECTOR_ED25519": "e1"},
         "set dkim.key_file_ed25519 or MAILER_DKIM_PRIVATE_KEY_ED25519"),
    ],
)
def test_settings_that_belong_together(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env=env)


def test_without_dkim_nothing_is_signed() -> None:
    assert load_keys(load_config(env={})) == ()
