"""Compiling and rendering letters: HTML layout, text part, templates and their errors."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mailer.config import Config, SenderConfig, TemplatesConfig, WebConfig
from mailer.errors import TemplateError
from mailer.letters.compile import CompiledLetter, compile_letter, sample_recipient
from mailer.letters.source import load_letter, parse_letter
from mailer.store.models import MailingList, Recipient
from mailer.tokens import Signer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "letters" / "example.md"
SIGNER = Signer("render-tests")
MEMBERS = MailingList(1, "members", "Members", "", False, False, "")
PUBLIC = MailingList(2, "news", "News", "", True, True, "")
CONFIG = Config(web=WebConfig(base_url="https://news.example.org", secret_key="k"))
ANA = Recipient("ana@example.org", "Ana", {"city": "Kiel"}, subscriber_id=5)


def write_letter(folder: Path, body: str, front: str = 'subject: "Hello"') -> Path:
    path = folder / "letter.md"
    path.write_text(f"---\n{front}\n---\n\n{body}", encoding="utf-8")
    return path


def compile_path(path: Path, config: Config = CONFIG, **kwargs: object) -> CompiledLetter:
    return compile_letter(
        load_letter(path), config=config, mailing_list=MEMBERS, signer=SIGNER, **kwargs
    )  # type: ignore[arg-type]


# --- HTML -------------------------------------------------------------------------------


def test_example_letter_renders_with_inlined_css_and_the_layout_parts() -> None:
    compiled = compile_letter(
        load_letter(EXAMPLE), config=CONFIG, mailing_list=PUBLIC, signer=SIGNER, campaign_id=9
    )
    html, _ = compiled.render(sample_recipient(compiled.letter))
    assert html.startswith("<!DOCTYPE html>")
    assert re.search(r'<p style="[^"]*margin', html), "paragraph styles are inlined"
    assert html.count("<style") == 1, "only the media-query block stays a style tag"
    assert "prefers-color-scheme: dark" in html
    assert 'name="color-scheme" content="light dark"' in html
    assert 'class="preheader"' in html and "The strike starts on Thursday" in html
    assert "max-width: 640px" in html
    assert 'role="presentation"' in html
    assert "Jonas Weber" in html  # the sample subscriber from the front matter
    assert compiled.unsubscribe_url(sample_recipient(compiled.letter)) in html
    assert 'href="https://news.example.org/archive/9"' in html
    assert "27 November 2026" in html


def test_no_archive_link_without_a_campaign() -> None:
    html, text = compile_path(EXAMPLE).render(ANA)
    assert "/archive/" not in html and "/archive/" not in text


def test_no_archive_link_in_a_letter_to_a_private_list() -> None:
    """A private list has no archive: a "view online" link would lead to a 404."""
    compiled = compile_path(EXAMPLE, campaign_id=9)
    html, text = compiled.render(ANA)
    assert "/archive/" not in html and "/archive/" not in text
    assert b"List-Archive" not in compiled.build(ANA).data


def test_subscriber_data_is_escaped_in_html_but_not_in_text(tmp_path: Path) -> None:
    path = write_letter(
        tmp_path, "Dear {{ subscriber.name }} from {{ subscriber.attributes.city }}\n"
    )
    person = Recipient("x@example.org", '<script>alert("x")</script>', {"city": "A & B"})
    html, text = compile_path(path).render(person)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "A &amp; B" in html
    assert '<script>alert("x")</script>' in text and "A & B" in text


def test_template_expressions_survive_markdown_and_css_inlining(tmp_path: Path) -> None:
    body = (
        'Dear {{ subscriber.name or "friends" }},\n\n'
        "{% if subscriber.attributes.city == 'Kiel' %}See you in *Kiel*.{% endif %}\n\n"
        "[Your page](https://example.org/m/{{ subscriber.id }})\n"
    )
    html, text = compile_path(write_letter(tmp_path, body)).render(ANA)
    assert "Dear Ana," in html and "See you in <em>Kiel</em>." in html
    assert 'href="https://example.org/m/5"' in html
    assert "Dear Ana," in text and "See you in Kiel." in text
    assert "[1] https://example.org/m/5" in text


# --- text -------------------------------------------------------------------------------


def test_text_part_is_wrapped_at_72_with_numbered_link_references() -> None:
    _, text = compile_path(EXAMPLE).render(ANA)
    for line in text.splitlines():
        assert len(line) <= 72 or re.search(r"https?://\S{20,}", line), line
    assert "solidarity page [1]" in text
    assert "[1] https://example.org/solidarity/form" in text
    assert "https://example.org/solidarity." in text  # an autolink is shown as itself


def test_text_part_is_made_from_the_source_not_the_html(tmp_path: Path) -> None:
    body = (
        "# Title\n\nSome **bold** and _em_ and `code`.\n\n"
        "- one\n- two\n\n1. first\n2. second\n\n"
        "> quoted line\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "![Logo](https://example.org/logo.png)\n\n"
        "Line one  \nline two\n"
    )
    _, text = compile_path(write_letter(tmp_path, body)).render(ANA)
    assert "<" not in text.split("-- \n")[0]
    assert "Title\n=====" in text
    assert "Some bold and em and code." in text
    assert "* one\n* two" in text
    assert "1. first\n2. second" in text
    assert "> quoted line" in text
    assert "a | b" in text and "1 | 2" in text
    assert "[Logo] [1]" in text and "[1] https://example.org/logo.png" in text
    assert "Line one\nline two" in text


def test_a_personalised_paragraph_is_wrapped_after_rendering(tmp_path: Path) -> None:
    body = "Dear {{ subscriber.name }}, " + "this sentence goes on and on " * 8 + "\n"
    person = Recipient("x@example.org", "Bartholomew " * 5, {})
    _, text = compile_path(write_letter(tmp_path, body)).render(person)
    paragraph = text.split("Dear ", 1)[1].split("\n\n", 1)[0]
    assert all(len(line) <= 72 for line in paragraph.splitlines())
    assert "\x02" not in text and "\x03" not in text


# --- templates --------------------------------------------------------------------------


def test_user_templates_override_the_defaults_file_by_file(tmp_path: Path) -> None:
    overrides = tmp_path / "mytemplates"
    overrides.mkdir()
    (overrides / "letter.txt.j2").write_text("CUSTOM TEXT\n{{ body }}\n{{ unsubscribe_url }}\n")
    config = Config(templates=TemplatesConfig(path=str(overrides)), web=CONFIG.web)
    html, text = compile_path(EXAMPLE, config).render(ANA)
    assert text.startswith("CUSTOM TEXT")
    assert 'class="preheader"' in html  # the HTML layout still comes from the defaults


def test_templates_folder_beside_the_config_file_is_used(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "letter.html.j2").write_text(
        '<html><body><p>MINE</p>{{ body }}<a href="{{ unsubscribe_url }}">u</a></body></html>'
    )
    config = Config(config_path=tmp_path / "mailer.toml", web=CONFIG.web)
    html, _ = compile_path(EXAMPLE, config).render(ANA)
    assert "MINE" in html


def test_front_matter_template_key_picks_the_layout(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "short.html.j2").write_text("<p>SHORT</p>{{ body }}")
    (folder / "short.txt.j2").write_text("SHORT\n{{ body }}")
    path = write_letter(tmp_path, "Hi\n", 'subject: "x"\ntemplate: short')
    html, text = compile_path(path, templates=folder).render(ANA)
    assert "SHORT" in html and text.startswith("SHORT")


def test_undefined_variable_names_letter_file_line_and_subscriber(tmp_path: Path) -> None:
    body = "Dear {{ subscriber.name }},\n\nsecond\n\nYour {{ subscriber.attributes.branch }}\n"
    path = write_letter(tmp_path, body)
    compiled = compile_path(path)
    with pytest.raises(TemplateError) as raised:
        compiled.build(ANA)
    error = raised.value
    assert error.path == str(path)
    assert error.line == 9  # front matter is lines 1-3, a blank line, then the body at 5
    assert error.subscriber == "ana@example.org"
    assert "branch" in str(error) and f"{path}:9:" in str(error)


def test_undefined_variable_in_a_layout_names_the_layout_file(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "letter.txt.j2").write_text("Hello\n{{ body }}\n{{ letter.nonexistent }}\n")
    with pytest.raises(TemplateError) as raised:
        compile_path(EXAMPLE, templates=folder).render(ANA)
    assert raised.value.path == str(folder / "letter.txt.j2")
    assert raised.value.line == 3
    assert raised.value.subscriber == "ana@example.org"


def test_syntax_error_in_the_body_names_the_line(tmp_path: Path) -> None:
    path = write_letter(tmp_path, "ok\n\nDear {{ subscriber.name \n")
    with pytest.raises(TemplateError) as raised:
        compile_path(path)
    assert raised.value.path == str(path) and raised.value.line == 7


def test_missing_layout_is_a_clear_error(tmp_path: Path) -> None:
    path = write_letter(tmp_path, "Hi\n", 'subject: "x"\ntemplate: nosuch')
    with pytest.raises(TemplateError, match=r"nosuch\.html\.j2"):
        compile_path(path)


def test_compiled_letter_can_be_rebuilt_from_the_stored_source() -> None:
    letter = load_letter(EXAMPLE)
    again = parse_letter(letter.source, letter.path)
    assert again == letter


# --- packaging --------------------------------------------------------------------------


def test_default_templates_and_catalogues_ship_inside_the_wheel(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("mailer-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "mailer/templates/letter.html.j2" in names
    assert "mailer/templates/letter.txt.j2" in names
    for language in ("es", "de", "fr", "pt"):
        assert f"mailer/locale/{language}/LC_MESSAGES/mailer.po" in names

    target = tmp_path / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    probe = (
        "import mailer, mailer.resources as r; from pathlib import Path;"
        "from mailer.config import Config; from mailer.letters.source import parse_letter;"
        "from mailer.letters.compile import compile_letter; from mailer.tokens import Signer;"
        "from mailer.store.models import Recipient;"
        "l = parse_letter('---\\nsubject: Hi\\nlanguage: de\\n---\\nHello\\n', Path('x.md'));"
        "c = compile_letter(l, config=Config(), mailing_list=None, signer=Signer('k'));"
        "import mailer.i18n as i;"
        "print(mailer.__file__); print(r.default_templates()); print(i.LOCALE_DIR);"
        "html = c.render(Recipient('a@example.org'))[0];"
        "print('class=\"container\"' in html and '>Abmelden</a>' in html)"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    module_file, templates, locale, rendered = run.stdout.splitlines()
    assert module_file.startswith(str(target))
    assert templates == str(target / "mailer" / "templates")
    assert locale == str(target / "mailer" / "locale")
    assert rendered == "True"


def test_escaped_braces_in_markdown_stay_literal(tmp_path: Path) -> None:
    path = write_letter(tmp_path, "Write \\{\\{ like this \\}\\} and &#123;% this %&#125;\n")
    html, text = compile_path(path).render(ANA)
    assert "Write {{ like this }} and {% this %}" in html
    assert "Write {{ like this }} and {% this %}" in text


def test_values_fixed_for_the_letter_are_escaped_once_at_compile_time(tmp_path: Path) -> None:
    from mailer.config import SenderConfig

    config = Config(sender=SenderConfig(organization="Smith & Sons <Ltd>"), web=CONFIG.web)
    path = write_letter(tmp_path, "From {{ sender.organization }} to {{ subscriber.name }}\n")
    html, text = compile_path(path, config).render(ANA)
    assert "From Smith &amp; Sons &lt;Ltd&gt; to Ana" in html
    assert "<Ltd>" not in html
    assert "From Smith & Sons <Ltd> to Ana" in text
    assert text.startswith("Smith & Sons <Ltd> · ")


def test_text_that_looks_like_an_internal_placeholder_stays_as_written(tmp_path: Path) -> None:
    path = write_letter(
        tmp_path, "Codes JnJx0xJnJ, JnJx7xJnJ and JnJbodyJnJ for {{ subscriber.name }}\n"
    )
    html, text = compile_path(path).render(ANA)
    for part in (html, text):
        assert "Codes JnJx0xJnJ, JnJx7xJnJ and JnJbodyJnJ for Ana" in part


def test_a_fixed_value_ending_in_a_brace_does_not_open_a_tag(tmp_path: Path) -> None:
    path = write_letter(
        tmp_path,
        "Hello {{ letter.author }}{{ subscriber.name }}\n",
        front='subject: "Hi"\nauthor: "x{"',
    )
    html, text = compile_path(path).render(ANA)
    assert "Hello x{Ana" in html and "Hello x{Ana" in text


def test_a_nested_tight_list_has_no_blank_line_and_a_br_leaves_no_leading_space(
    tmp_path: Path,
) -> None:
    body = "- one\n  - one a\n  - one b\n- two\n\nfirst line<br> second line\n"
    _, text = compile_path(write_letter(tmp_path, body)).render(ANA)
    assert "* one\n  * one a\n  * one b\n* two" in text
    assert "first line\nsecond line" in text


def test_a_layout_may_write_the_body_as_body_safe(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "letter.html.j2").write_text("<p>MINE</p>{{ body|safe }}")
    (folder / "letter.txt.j2").write_text("MINE\n{{ body | safe }}")
    path = write_letter(tmp_path, "Hi **{{ subscriber.name }}**\n")
    html, text = compile_path(path, templates=folder).render(ANA)
    assert "<p>Hi <strong>Ana</strong></p>" in html
    assert text == "MINE\nHi Ana"


def test_an_unknown_filter_in_the_body_names_the_line(tmp_path: Path) -> None:
    path = write_letter(tmp_path, "Hello\n\nDear {{ subscriber.name | shout }}\n")
    with pytest.raises(TemplateError) as raised:
        compile_path(path)
    assert raised.value.line == 7
    assert "shout" in str(raised.value)


def test_a_loop_variable_named_like_a_letter_value_is_the_loop_value(tmp_path: Path) -> None:
    body = "{% for list in subscriber.attributes.picks %}\n* {{ list }}\n{% endfor %}\n"
    path = write_letter(tmp_path, body)
    person = Recipient("p@example.org", "P", {"picks": ["one", "two"]})
    html, text = compile_path(path).render(person)
    assert "* one" in text and "* two" in text
    assert ">one" in html and ">two" in html


def test_the_text_part_keeps_to_72_columns_wide_tables_and_footer_included(
    tmp_path: Path,
) -> None:
    body = (
        "Dear {{ subscriber.name }},\n\n"
        "| Branch | Meeting place | Contact |\n|---|---|---|\n"
        "| Harbour district | Community hall at Hafenstraße 12, first floor, room 3 | "
        "Miriam Okafor, m.okafor@example.org, +49 40 555 01 23 |\n"
        "| North | Library | Jonas |\n"
    )
    path = write_letter(tmp_path, body)
    config = Config(
        web=CONFIG.web,
        sender=SenderConfig(
            organization="The International Federation of Transport Workers' Unions",
            contact_address="International Federation of Transport Workers' Unions\n"
            "Harbour Road 12, 20457 Hamburg, Germany",
        ),
    )
    person = Recipient("a.very.long.address.of.a.member@regional-branch.example.org",
                       "Ana", {}, subscriber_id=5)
    _, text = compile_path(path, config, campaign_id=3).render(person)
    too_long = [line for line in text.splitlines() if len(line) > 72 and " " in line.strip()]
    assert too_long == []
    assert "Meeting place: Community hall at Hafenstraße 12, first floor, room" in text
    assert "Harbour Road 12, 20457 Hamburg, Germany" in text


def test_the_contact_address_is_printed_as_text_not_as_a_mail_link(tmp_path: Path) -> None:
    config = Config(
        web=CONFIG.web,
        sender=SenderConfig(contact_address="Union of Port Workers\nHarbour Road 12"),
    )
    html, text = compile_path(write_letter(tmp_path, "Hi\n"), config).render(ANA)
    assert "Union of Port Workers<br>Harbour Road 12" in html
    assert "mailto:Union" not in html
    assert "Union of Port Workers\nHarbour Road 12\n" in text
    assert 'href="mailto:newsletter@example.org"' in html  # questions go to the sender
