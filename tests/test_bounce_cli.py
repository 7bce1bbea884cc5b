"""``mailer bounces parse``: one JSON line per file, no database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mailer.cli import cli
from tests import bounce_samples as samples


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "bounces"
    folder.mkdir()
    (folder / "b.eml").write_bytes(samples.qmail())
    (folder / "a.eml").write_bytes(samples.arf())
    return folder


def test_parse_json_prints_one_object_per_file_sorted(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    result = CliRunner().invoke(cli, ["bounces", "parse", "--json", str(folder)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [Path(line["file"]).name for line in lines] == ["a.eml", "b.eml"]
    assert lines[0]["events"][0]["kind"] == "complaint"
    assert lines[1]["events"] == [
        {
            "recipient": "dave@example.org",
            "kind": "hard",
            "status": "5.1.1",
            "reason": "userunknown",
            "diagnostic": lines[1]["events"][0]["diagnostic"],
            "campaign": None,
            "subscriber": None,
        }
    ]


def test_parse_needs_no_database(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    result = CliRunner().invoke(cli, ["bounces", "parse", str(folder / "b.eml")],
                                catch_exceptions=False)
    assert result.exit_code == 0
    assert "dave@example.org" in result.output and "userunknown" in result.output
    assert not (tmp_path / "mailer.db").exists()


def test_parse_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bounces", "parse", str(tmp_path / "nope.eml")])
    assert result.exit_code == 1
    assert "no such file" in result.output
    assert "Traceback" not in result.output


def test_parse_reads_verp_tokens_with_the_configured_key(tmp_path: Path) -> None:
    from mailer import tokens

    signer = tokens.Signer("k3y")
    address = tokens.verp_address("bounces@example.com", signer.verp(7, 9))
    (tmp_path / "v.eml").write_bytes(samples.verp_dsn(address))
    (tmp_path / "mailer.toml").write_text('[bounces]\nreturn_path = "bounces@example.com"\n')
    result = CliRunner(env={"MAILER_SECRET_KEY": "k3y"}).invoke(
        cli, ["--config", str(tmp_path / "mailer.toml"), "bounces", "parse", "--json",
              str(tmp_path / "v.eml")], catch_exceptions=False,
    )
    event = json.loads(result.output)["events"][0]
    assert (event["campaign"], event["subscriber"]) == (7, 9)
