"""``mailer bounces ls`` filters: any spelling of an address, an existing campaign, a sane limit."""

from __future__ import annotations

import json
from pathlib import Path

from tests import bounce_samples as samples
from tests.conftest import Invoke


def _ingest(invoke: Invoke, tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / f"m{len(list(tmp_path.glob('m*.eml')))}.eml"
    path.write_bytes(raw)
    result = invoke("bounces", "ingest", str(path))
    assert result.exit_code == 0, result.output


def test_email_filter_finds_a_subscriber_however_the_address_is_written(
    invoke: Invoke, tmp_path: Path
) -> None:
    assert invoke("lists", "create", "news").exit_code == 0
    added = invoke("subscribers", "add", "alice@b\u00fccher.example", "--list", "news")
    assert added.exit_code == 0, added.output
    _ingest(invoke, tmp_path, samples.postfix_dsn_user_unknown("alice@xn--bcher-kva.example"))
    for spelling in ("alice@b\u00fccher.example", "ALICE@B\u00dcCHER.EXAMPLE",
                     "alice@xn--bcher-kva.example"):
        rows = json.loads(invoke("bounces", "ls", "--email", spelling, "--json").output)
        assert [r["kind"] for r in rows] == ["hard"], spelling


def test_unknown_campaign_is_a_one_line_error(invoke: Invoke) -> None:
    result = invoke("bounces", "ls", "--campaign", "99")
    assert result.exit_code == 1
    assert "99" in result.output and "Traceback" not in result.output


def test_limit_below_one_is_refused(invoke: Invoke, tmp_path: Path) -> None:
    _ingest(invoke, tmp_path, samples.postfix_dsn_user_unknown("carol@example.org"))
    _ingest(invoke, tmp_path, samples.exim("dan@example.org"))
    assert len(json.loads(invoke("bounces", "ls", "--limit", "1", "--json").output)) == 1
    for bad in ("0", "-1"):
        result = invoke("bounces", "ls", "--limit", bad)
        assert result.exit_code == 2, (bad, result.output)
