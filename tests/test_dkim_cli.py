"""``mailer dkim keygen`` and ``mailer dkim record``: a key of the owner's alone, and the
record to publish, which verifies the signatures made with the key."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.config import load_config
from mailer.dispatch.dkim import DkimSigner
from mailer.dispatch.dkim_keys import DkimKey, load_keys
from tests.conftest import Invoke
from tests.dkim_helpers import MIXED, dkimpy_results


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that lets everyone read new files: the key must be 0600 all the same."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_keygen_writes_an_owner_only_key_and_the_record_that_verifies_it(
    invoke: Invoke, tmp_path: Path, algorithm: str, open_umask: None
) -> None:
    result = invoke("dkim", "keygen", "--domain", "Lists.Example.org", "--selector", "s2026",
                    "--algorithm", algorithm, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    path = Path(shown["key_file"])
    assert path == tmp_path / "dkim-s2026.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert shown["name"] == "s2026._domainkey.lists.example.org"
    assert shown["value"].startswith(f"v=DKIM1; k={algorithm}; p=")
    assert "".join(shown["strings"]) == shown["value"]
    assert all(len(part.encode()) <= 255 for part in shown["strings"])
    env = {f"MAILER_DKIM_{name.upper()}": value for name, value in shown["settings"].items()}
    [key] = load_keys(load_config(env=env))
    published = DkimKey(key.algorithm, key.domain, key.selector, key.private_key)
    assert published.record_value == shown["value"]
    signed = DkimSigner([key]).sign(MIXED)
    assert dkimpy_results(signed, [published]) == [True]


def test_keygen_says_what_to_set_and_what_to_publish(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("dkim", "keygen", "--domain", "example.org", "--selector", "e1",
                    "--algorithm", "ed25519", "-o", "keys/e1.pem")
    assert result.exit_code == 1  # the folder keys/ does not exist
    (tmp_path / "keys").mkdir()
    result = invoke("dkim", "keygen", "--domain", "example.org", "--selector", "e1",
                    "--algorithm", "ed25519", "-o", "keys/e1.pem")
    assert result.exit_code == 0, result.output
    assert f'key_file = "{tmp_path / "keys" / "e1.pem"}"' in result.output
    assert 'algorithm = "ed25519-sha256"' in result.output
    assert "name:  e1._domainkey.example.org" in result.output
    assert 'e1._domainkey.example.org. IN TXT ( "v=DKIM1; k=ed25519; p=' in result.output


def test_keygen_takes_the_settings_the_environment_will_sign_with(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With [dkim] given in the environment, keygen puts the key where signing reads it,
    and `dkim record` then prints the same record."""
    path = tmp_path / "keys" / "s2026.key"
    path.parent.mkdir()
    for name, value in (("DOMAIN", "lists.example.org"), ("SELECTOR", "s2026"),
                        ("KEY_FILE", str(path))):
        monkeypatch.setenv(f"MAILER_DKIM_{name}", value)
    made = invoke("dkim", "keygen", "--json")
    assert made.exit_code == 0, made.output
    shown = json.loads(made.output)
    assert Path(shown["key_file"]) == path and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert shown["name"] == "s2026._domainkey.lists.example.org"
    [record] = json.loads(invoke("dkim", "record", "--json").output)
    assert record["value"] == shown["value"]
    again = invoke("dkim", "keygen", "--selector", "s2027")  # the file exists now
    assert again.exit_code == 1 and "never overwritten" in again.output


def test_keygen_never_writes_over_a_file(invoke: Invoke, tmp_path: Path) -> None:
    existing = tmp_path / "dkim-s1.key"
    existing.write_text("my old key")
    result = invoke("dkim", "keygen", "--domain", "example.org", "--selector", "s1")
    assert result.exit_code == 1
    assert "exists already; a key is never overwritten" in result.output
    assert existing.read_text() == "my old key"


@pytest.mark.parametrize("target", ["mailer.db", "mailer.db-wal", "mailer.toml"])
def test_keygen_refuses_the_files_mailer_depends_on(
    invoke: Invoke, tmp_path: Path, target: str
) -> None:
    (tmp_path / "mailer.toml").write_text("")
    result = invoke("--config", str(tmp_path / "mailer.toml"), "dkim", "keygen",
                    "--domain", "example.org", "--selector", "s1", "-o", target)
    assert result.exit_code == 2, result.output
    assert "refusing to write over" in result.output


def test_keygen_refuses_a_name_dns_cannot_hold(invoke: Invoke) -> None:
    result = invoke("dkim", "keygen", "--domain", "example.org", "--selector", "s 1")
    assert result.exit_code == 2
    assert "--selector 's 1' must be a DNS name" in result.output


def test_record_prints_each_configured_key(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = {}
    for selector, algorithm in (("r1", "rsa"), ("e1", "ed25519")):
        result = invoke("dkim", "keygen", "--domain", "example.org", "--selector", selector,
                        "--algorithm", algorithm, "--json")
        made[selector] = json.loads(result.output)
    monkeypatch.setenv("MAILER_DKIM_DOMAIN", "example.org")
    monkeypatch.setenv("MAILER_DKIM_SELECTOR", "r1")
    monkeypatch.setenv("MAILER_DKIM_KEY_FILE", made["r1"]["key_file"])
    monkeypatch.setenv("MAILER_DKIM_SELECTOR_ED25519", "e1")
    monkeypatch.setenv("MAILER_DKIM_KEY_FILE_ED25519", made["e1"]["key_file"])
    result = invoke("dkim", "record", "--json")
    assert result.exit_code == 0, result.output
    assert [r["value"] for r in json.loads(result.output)] == [
        made["r1"]["value"], made["e1"]["value"],
    ]
    text = invoke("dkim", "record").output
    assert "name:  r1._domainkey.example.org" in text
    assert "name:  e1._domainkey.example.org" in text


def test_record_without_dkim_says_how_to_set_it(invoke: Invoke) -> None:
    result = invoke("dkim", "record")
    assert result.exit_code == 1
    assert "mailer dkim keygen" in result.output
    assert "Traceback" not in result.output
