"""Letter sources and the ``mailer letters`` commands."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailer.cli import cli
from mailer.errors import InputError
from mailer.letters.check import mime_defects
from mailer.letters.mime import OutgoingMessage
from mailer.letters.source import load_letter, new_letter, parse_letter, slugify
from tests.clocks import FakeClock

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "letters" / "example.md"


def write(folder: Path, text: str, name: str = "letter.md") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- parsing ----------------------------------------------------------------------------


def test_yaml_front_matter_and_body() -> None:
    text = "---\nsubject: Hi\nlist: members\nmood: calm\n---\n\nDear all,\n"
    letter = parse_letter(text, Path("a.md"))
    assert letter.subject == "Hi"
    assert letter.list_name == "members"
    assert letter.meta["mood"] == "calm"
    assert letter.body == "Dear all,\n"
    assert letter.body_line == 7
    assert letter.source == text
    assert letter.template == "letter"


def test_toml_front_matter_is_accepted() -> None:
    letter = parse_letter('+++\nsubject = "Hi"\ndate = 2026-01-05\n+++\nBody\n', Path("a.md"))
    assert letter.subject == "Hi" and letter.date == dt.date(2026, 1, 5)
    assert letter.body_line == 5


def test_a_number_is_read_as_text() -> None:
    letter = parse_letter("---\nsubject: 2026\nauthor: 7\n---\nb\n", Path("a.md"))
    assert letter.subject == "2026" and letter.meta["author"] == "7"


def test_date_defaults_to_today(fake_clock: FakeClock) -> None:
    letter = parse_letter("---\nsubject: x\n---\nb\n", Path("a.md"))
    assert letter.date == fake_clock.now.date()


def test_windows_line_ends_and_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "w.md"
    path.write_bytes("\ufeff---\r\nsubject: Grüße\r\n---\r\nLine\r\n".encode())
    letter = load_letter(path)
    assert letter.subject == "Grüße" and letter.body == "Line\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("Just text\n", 1, "front matter"),
        ("---\nsubject: x\n", 1, "not closed"),
        ("---\nlist: members\n---\nbody\n", 1, "subject"),
        ("---\nsubject: x\ndate: soon\n---\nbody\n", 3, "not a date"),
        ("---\nsubject: x\nlist: [a, b]\n---\nbody\n", 3, "must be text"),
        ("---\nsubject: x\n  bad: [indent\n---\nbody\n", None, "not valid YAML"),
        ("---\nsubject: x\ntemplate: ../../etc\n---\nbody\n", 3, "not a template name"),
    ],
)
def test_bad_sources_name_file_and_line(text: str, line: int | None, words: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_letter(text, Path("bad.md"))
    assert raised.value.path == "bad.md"
    if line is not None:
        assert raised.value.line == line
    assert words in str(raised.value)


def test_missing_or_binary_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_letter(tmp_path / "none.md")
    (tmp_path / "bin.md").write_bytes(b"---\nsubject: \xff\n---\n")
    with pytest.raises(InputError, match="UTF-8") as raised:
        load_letter(tmp_path / "bin.md")
    assert raised.value.line == 2


def test_example_letter_is_a_strike_information_letter() -> None:
    letter = load_letter(EXAMPLE)
    assert "strike" in letter.subject.lower()
    assert "solidarity" in letter.body.lower()
    assert "{{ subscriber.name" in letter.body
    assert "**Contact**" in letter.body


# --- new --------------------------------------------------------------------------------


def test_new_letter_writes_a_dated_skeleton_that_parses(tmp_path: Path) -> None:
    path = new_letter(
        "Streik: Solidarität!", directory=tmp_path, list_name="members", today=dt.date(2026, 5, 1)
    )
    assert path.name == "2026-05-01-streik-solidaritat.md"
    letter = load_letter(path)
    assert letter.subject == "Streik: Solidarität!"
    assert letter.list_name == "members"
    for part in ("Dear {{ subscriber.name", "With best regards", "Contact"):
        assert part in letter.body
    with pytest.raises(InputError, match="exists"):
        new_letter("Streik: Solidarität!", directory=tmp_path, today=dt.date(2026, 5, 1))


def test_slugify() -> None:
    assert slugify("  Hello, World! ") == "hello-world"
    assert slugify("!!!") == "letter"


def test_cli_new(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["letters", "new", "Winter meeting", "--list", "members"])
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path.parent == Path("letters") and path.exists()
    assert load_letter(path).list_name == "members"


# --- render -----------------------------------------------------------------------------


def test_render_sample_as_eml_parses_and_warns_about_the_throwaway_key() -> None:
    result = CliRunner().invoke(cli, ["letters", "render", str(EXAMPLE), "--sample"])
    assert result.exit_code == 0, result.output
    assert "throwaway key" in result.stderr
    message = email.message_from_bytes(result.stdout_bytes, policy=email.policy.default)
    assert message["To"] == "Jonas Weber <jonas.weber@example.org>"
    assert message.get_content_type() == "multipart/alternative"


@pytest.mark.parametrize(("fmt", "marker"), [("html", "<!DOCTYPE html>"), ("text", "[1] ")])
def test_render_formats_to_a_file(tmp_path: Path, fmt: str, marker: str) -> None:
    out = tmp_path / f"out.{fmt}"
    result = CliRunner(env={"MAILER_SECRET_KEY": "s"}).invoke(
        cli, ["letters", "render", str(EXAMPLE), "--format", fmt, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "throwaway" not in result.stderr
    assert marker in out.read_text(encoding="utf-8")


def test_render_for_a_subscriber_from_the_database(invoke: object, db_path: Path) -> None:
    runner = CliRunner(env={"MAILER_SECRET_KEY": "s"})
    base = ["--db", str(db_path)]
    assert runner.invoke(cli, [*base, "lists", "create", "members"]).exit_code == 0
    added = runner.invoke(
        cli, [*base, "subscribers", "add", "eva@example.org", "--list", "members", "--name", "Eva"]
    )
    assert added.exit_code == 0, added.output
    result = runner.invoke(
        cli,
        [*base, "letters", "render", str(EXAMPLE), "--to", "eva@example.org", "--format", "text"],
    )
    assert result.exit_code == 0, result.output
    assert "Dear Eva," in result.stdout
    missing = runner.invoke(cli, [*base, "letters", "render", str(EXAMPLE), "--to", "no@x.org"])
    assert missing.exit_code == 1
    assert "no subscriber" in missing.output and "Traceback" not in missing.output


def test_render_refuses_to_and_sample_together() -> None:
    result = CliRunner().invoke(
        cli, ["letters", "render", str(EXAMPLE), "--to", "a@example.org", "--sample"]
    )
    assert result.exit_code == 2


def test_render_of_a_broken_letter_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "---\nsubject: x\n---\n\nHi {{ subscriber.attributes.nope }}\n")
    result = CliRunner().invoke(cli, ["letters", "render", str(path)])
    assert result.exit_code == 1
    assert f"{path}:5:" in result.output and "nope" in result.output
    assert "Traceback" not in result.output


# --- check ------------------------------------------------------------------------------


def run_check(path: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner(
        env=env or {"MAILER_WEB_BASE_URL": "https://news.example.org", "MAILER_SECRET_KEY": "s"}
    ).invoke(cli, ["letters", "check", str(path), *extra])
    return result.exit_code, result.output


def test_check_passes_the_example_letter_with_https() -> None:
    code, output = run_check(EXAMPLE)
    assert code == 0, output
    assert "0 error(s), 0 warning(s)" in output


def test_check_warns_about_plain_http_unsubscribe_url() -> None:
    code, output = run_check(EXAMPLE, env={"MAILER_SECRET_KEY": "s"})
    assert code == 0
    assert "unsubscribe URL is plain http://" in output


@pytest.mark.parametrize(
    ("front", "body", "warning"),
    [
        ("subject: " + "Long subject " * 8, "Hi\n", "subject is"),
        ("subject: x", "![](https://example.org/a.png)\n", "without alt text"),
        ("subject: x", '<img src="https://example.org/b.png">\n', "without alt text"),
        ("subject: x", "[site](http://example.org/)\n", "plain http://"),
        ("subject: x", ("Lorem ipsum dolor sit amet. " * 40 + "\n\n") * 150, "over 100 KB"),
    ],
)
def test_check_finds_each_problem(tmp_path: Path, front: str, body: str, warning: str) -> None:
    code, output = run_check(write(tmp_path, f"---\n{front}\n---\n\n{body}"))
    assert code == 0, output
    assert warning in output


def test_check_warns_when_the_layout_drops_the_unsubscribe_link(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "letter.html.j2").write_text("<html><body>{{ body }}</body></html>")
    (templates / "letter.txt.j2").write_text("{{ body }}")
    code, output = run_check(
        EXAMPLE,
        env={
            "MAILER_TEMPLATES_PATH": str(templates),
            "MAILER_SECRET_KEY": "s",
            "MAILER_WEB_BASE_URL": "https://n.example.org",
        },
    )
    assert code == 0
    assert "no unsubscribe link in the body" in output
    assert "no unsubscribe link in the text part" in output


def test_check_reports_template_errors_for_list_members(db_path: Path, tmp_path: Path) -> None:
    runner = CliRunner(env={"MAILER_SECRET_KEY": "s"})
    base = ["--db", str(db_path)]
    runner.invoke(cli, [*base, "lists", "create", "members"], catch_exceptions=False)
    for i in range(8):
        attrs = ["--attr", "branch=Harbour"] if i == 0 else []
        result = runner.invoke(
            cli,
            [*base, "subscribers", "add", f"m{i}@example.org", "--list", "members", *attrs],
        )
        assert result.exit_code == 0, result.output
    path = write(
        tmp_path,
        "---\nsubject: x\nlist: members\n---\n\nBranch {{ subscriber.attributes.branch }}\n",
    )
    result = runner.invoke(cli, [*base, "letters", "check", str(path), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["checked"] == 8
    assert report["error_count"] == 7
    assert len(report["errors"]) == 5
    first = report["errors"][0]
    assert f"{path}:6:" in first and "(subscriber m1@example.org)" in first
    plain = runner.invoke(cli, [*base, "letters", "check", str(path)])
    assert plain.exit_code == 1
    assert "... 2 more error(s)" in plain.output and "7 error(s)" in plain.output


def test_check_does_not_call_utf8_addresses_of_an_smtputf8_message_defects(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        '---\nsubject: Hi\nfrom: "Jörg <jörg@example.org>"\nsample:\n  email: "zoë@example.org"\n'
        "---\n\nHello, [unsubscribe]({{ unsubscribe_url }})\n",
    )
    code, output = run_check(path)
    assert code == 0, output
    assert "defect" not in output
    assert "0 error(s), 0 warning(s)" in output


def test_mime_defects_still_reports_a_broken_message() -> None:
    broken = OutgoingMessage(
        recipient="a@example.org",
        message_id="x@example.org",
        parts=(
            b"To: a@example.org\r\nFrom: <a@example.org\r\nContent-Type: multipart/mixed\r\n\r\nx",
        ),
        smtputf8=False,
    )
    assert any("MIME defect" in warning for warning in mime_defects(broken))


def test_new_refuses_a_list_name_that_is_no_list_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["letters", "new", "A title", "--list", "x #y: z", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "list name 'x #y: z'" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_check_of_a_list_without_active_members_says_nothing_was_checked(
    db_path: Path, tmp_path: Path
) -> None:
    runner = CliRunner(env={"MAILER_SECRET_KEY": "s"})
    base = ["--db", str(db_path)]
    runner.invoke(cli, [*base, "lists", "create", "members"], catch_exceptions=False)
    path = write(tmp_path, "---\nsubject: x\nlist: members\n---\n\nHi {{ subscriber.name }}\n")
    result = runner.invoke(cli, [*base, "letters", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "checked 0 message(s)" in result.output
    assert "no message was rendered" in result.output


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("---\nsubject: x\nauthor: bell\x07\n---\nbody\n", 3),
        ('+++\nsubject = "x"\nauthor = \n+++\nbody\n', 3),
    ],
)
def test_a_front_matter_error_is_one_line(text: str, line: int | None) -> None:
    with pytest.raises(InputError) as raised:
        parse_letter(text, Path("bad.md"))
    assert "\n" not in str(raised.value)
    if line is not None:
        assert raised.value.line == line


def test_new_refuses_a_title_with_a_control_character(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="title"):
        new_letter("bell\x07 x", directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "expression",
    [
        "cycler.__init__.__globals__.os.popen('touch {marker}').read()",
        "lipsum.__globals__['os'].system('touch {marker}')",
        "subscriber.attributes.update({{'x': 1}}) or ''.__class__.__mro__[1].__subclasses__()",
    ],
)
def test_a_letter_cannot_reach_python_through_its_template(
    tmp_path: Path, expression: str
) -> None:
    marker = tmp_path / "owned"
    body = "{{ " + expression.format(marker=marker) + " }}"
    path = write(tmp_path, f"---\nsubject: x\n---\n\nHello\n\n{body}\n")
    for command in ("render", "check"):
        result = CliRunner().invoke(cli, ["letters", command, str(path)])
        assert result.exit_code == 1, result.output
        assert f"{path}:7:" in result.output and "Traceback" not in result.output
    assert not marker.exists()


def test_an_impossible_date_in_the_front_matter_is_one_line_naming_its_line(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "---\nsubject: x\nauthor: Ann\ndate: 2026-13-45\n---\n\nhi\n")
    for command in ("render", "check"):
        result = CliRunner().invoke(cli, ["letters", command, str(path)])
        assert result.exit_code == 1
        assert f"{path}:4: date: '2026-13-45' is not a date" in result.output
        assert "Traceback" not in result.output


def test_other_dates_in_the_front_matter_stay_text_for_the_templates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "---\nsubject: x\ndeadline: 2026-12-07\n---\n\nBy {{ letter.deadline | long_date }}.\n",
    )
    result = CliRunner().invoke(cli, ["letters", "render", str(path), "--format", "text"])
    assert result.exit_code == 0, result.output
    assert "By 7 December 2026." in result.output


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Информационное письмо", "informatsionnoe-pismo"),
        ("情報", "qing-bao"),
        ("Großer Streik am Hafen", "grosser-streik-am-hafen"),
        ("Strike at Nordhafen: 3 December!", "strike-at-nordhafen-3-december"),
    ],
)
def test_titles_in_any_script_become_readable_slugs(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_the_skeleton_keeps_signature_and_contact_lines_apart(tmp_path: Path) -> None:
    path = new_letter("Assembly", directory=tmp_path, today=dt.date(2026, 11, 30))
    result = CliRunner().invoke(cli, ["letters", "render", str(path), "--format", "html"])
    assert result.exit_code == 0, result.output
    assert "Your name<br" in result.output and "Name<br" in result.output
