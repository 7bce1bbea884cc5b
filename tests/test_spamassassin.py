"""The example letter as mailer sends it, scored by Debian's SpamAssassin (local tests only).

Rules about what a letter *says* depend on the letter; the rules listed here
are about how mailer *builds* a message (MIME structure, HTML, headers,
hidden text). None of them may fire. The list is checked against the rules
SpamAssassin actually ships, so a misspelt name cannot pass unnoticed.
"""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import SECRET, Invoke
from tests.sample_files import pdf, png

ROOT = Path(__file__).resolve().parent.parent
RULES = Path("/usr/share/spamassassin")

pytestmark = pytest.mark.skipif(
    shutil.which("spamassassin") is None or not RULES.is_dir(),
    reason="needs Debian's spamassassin (.ci/apt-packages, make system-deps)",
)

#: Rules that fire because of how a message is built, not what it says.
CONSTRUCTION_RULES = [
    # hidden or unreadable text
    "HTML_FONT_LOW_CONTRAST", "HTML_FONT_SIZE_HUGE", "HTML_FONT_TINY_NORDNS",
    "HTML_FONT_FACE_BAD", "HTML_OFF_PAGE", "TVD_VIS_HIDDEN",
    # an HTML-only or lopsided multipart/alternative
    "MIME_HTML_ONLY", "MIME_HTML_MOSTLY", "MIME_HTML_ONLY_MULTI", "MPART_ALT_DIFF",
    "MPART_ALT_DIFF_COUNT", "HTML_MIME_NO_HTML_TAG", "HTML_MISSING_CTYPE",
    # images instead of text
    "HTML_IMAGE_ONLY_04", "HTML_IMAGE_ONLY_08", "HTML_IMAGE_ONLY_12", "HTML_IMAGE_ONLY_16",
    "HTML_IMAGE_ONLY_20", "HTML_IMAGE_ONLY_24", "HTML_IMAGE_ONLY_28", "HTML_IMAGE_ONLY_32",
    "HTML_IMAGE_RATIO_02", "HTML_IMAGE_RATIO_04", "HTML_IMAGE_RATIO_06", "HTML_IMAGE_RATIO_08",
    "HTML_SHORT_LINK_IMG_1", "HTML_SHORT_LINK_IMG_2", "HTML_SHORT_LINK_IMG_3",
    # broken markup
    "HTML_TAG_BALANCE_BODY", "HTML_TAG_BALANCE_HEAD", "HTML_EXTRA_CLOSE", "HTML_BADATTR",
    "HTML_TITLE_SUBJ_DIFF", "HTML_OBFUSCATE_05_10", "HTML_OBFUSCATE_10_20",
    # encodings
    "MIME_QP_LONG_LINE", "MIME_BASE64_TEXT", "BASE64_LENGTH_78_79", "BASE64_LENGTH_79_INF",
    "MIME_BAD_ISO_CHARSET", "MIME_CHARSET_FARAWAY", "HTML_CHARSET_FARAWAY",
    "MIME_HEADER_CTYPE_ONLY", "FROM_EXCESS_BASE64",
    # boundaries
    "MIME_BOUND_DIGITS_15", "MIME_BOUND_DD_DIGITS", "MIME_BOUND_MANY_HEX",
    # missing or malformed headers
    "MISSING_DATE", "MISSING_FROM", "MISSING_HEADERS", "MISSING_MID", "MISSING_SUBJECT",
    "MISSING_MIME_HB_SEP", "MISSING_HB_SEP", "INVALID_DATE", "INVALID_MSGID", "MSGID_RANDY",
    "MSGID_SHORT", "MSGID_SPAM_LETTERS", "MSGID_SPAM_CAPS", "MSGID_MULTIPLE_AT",
    "MSGID_NOFQDN1", "HEADER_COUNT_CTYPE", "HEADER_COUNT_SUBJECT",
    "TO_NO_BRKTS_HTML_ONLY", "TO_NO_BRKTS_HTML_IMG", "DATE_IN_FUTURE_03_06",
    "DATE_IN_PAST_03_06",
]


def _shipped_rules() -> set[str]:
    names: set[str] = set()
    for path in RULES.glob("*.cf"):
        text = path.read_text(encoding="utf-8", errors="replace")
        names.update(re.findall(r"^\s*(?:header|body|rawbody|full|meta|uri|mimeheader)\s+"
                                r"([A-Z][A-Z0-9_]+)", text, re.M))
    return names


def test_the_construction_rules_are_rules_spamassassin_has() -> None:
    shipped = _shipped_rules()
    assert [name for name in CONSTRUCTION_RULES if name not in shipped] == []


def _sent_letter(tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch,
                 source: str) -> bytes:
    """The letter as ``mailer send`` writes it for a member (through the Maildir outbox)."""
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_WEB_BASE_URL", "https://lists.example.org")
    monkeypatch.setenv("MAILER_SENDER_FROM_ADDRESS", "Union News <news@example.org>")
    monkeypatch.setenv("MAILER_SENDER_CONTACT_ADDRESS", "Harbour Road 12, 20457 Hamburg")
    letter = tmp_path / "letter.md"
    letter.write_text(source, encoding="utf-8")
    for args in (
        ("lists", "create", "members", "--title", "Members of the union"),
        ("subscribers", "add", "jonas.weber@example.org", "--list", "members",
         "--name", "Jonas Weber", "--attr", "branch=Harbour district"),
        ("send", str(letter), "--list", "members", "--yes"),
    ):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    (path,) = (tmp_path / "outbox" / "new").iterdir()
    return path.read_bytes()


def _fired(message: bytes, home: Path) -> dict[str, float]:
    """The rules SpamAssassin's local tests fire on ``message``, with their points."""
    done = subprocess.run(
        ["spamassassin", "-L", "-t"],
        input=message, capture_output=True, timeout=120, check=False,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"},
    )
    assert done.returncode == 0, done.stderr.decode()
    report = done.stdout.decode("utf-8", "replace").split("Content analysis details:", 1)[1]
    return {
        match.group(2): float(match.group(1))
        for match in re.finditer(r"^\s*(-?\d+\.\d+)\s+([A-Z][A-Z0-9_]+)\s", report, re.M)
    }


@pytest.mark.parametrize("preheader", [True, False])
def test_the_example_letter_fires_no_rule_about_how_it_is_built(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, preheader: bool
) -> None:
    source = (ROOT / "letters" / "example.md").read_text(encoding="utf-8")
    if not preheader:
        source = re.sub(r"^preheader:.*\n", "", source, flags=re.M)
    message = _sent_letter(tmp_path, invoke, monkeypatch, source)
    fired = _fired(message, tmp_path)
    assert "HTML_MESSAGE" in fired, fired  # the report was read (and the HTML part found)
    assert sorted(set(fired) & set(CONSTRUCTION_RULES)) == []
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    html_part = parsed.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    # SpamAssassin's own sub-rule for tiny fonts (it only scores together with missing rDNS).
    assert not re.search(r"font-size:\s{0,5}[0-4]px;", html, re.I)
    assert ('class="preheader"' in html) == preheader


def test_a_letter_with_an_attachment_and_an_image_fires_no_rule_about_how_it_is_built(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "resolution.pdf").write_bytes(pdf())
    (tmp_path / "picket.png").write_bytes(png(width=320, height=160))
    source = (ROOT / "letters" / "example.md").read_text(encoding="utf-8")
    source = source.replace("list: members\n", "list: members\nattachments: resolution.pdf\n")
    source = source.replace(
        "## What this means for you",
        "![The picket line at gate 2](picket.png)\n\nThe [resolution](resolution.pdf) is "
        "attached.\n\n## What this means for you",
    )
    message = _sent_letter(tmp_path, invoke, monkeypatch, source)
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    fired = _fired(message, tmp_path)
    assert "HTML_MESSAGE" in fired, fired
    assert sorted(set(fired) & set(CONSTRUCTION_RULES)) == []
