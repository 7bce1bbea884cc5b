"""Configuration: file, environment overrides, secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.config import load_config
from mailer.errors import ConfigError
from tests.conftest import Invoke


def test_absent_default_file_means_all_defaults(tmp_path: Path) -> None:
    config = load_config(env={})
    assert config.config_path is None
    assert config.smtp.host == ""
    assert config.smtp.connections == 8
    assert config.db_path == tmp_path / "mailer.db"


def test_explicitly_named_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_example_config_loads_and_equals_the_defaults() -> None:
    example = Path(__file__).parent.parent / "config.example.toml"
    from_file = load_config(example, env={})
    defaults = load_config(env={})
    assert from_file.smtp == defaults.smtp
    assert from_file.sending == defaults.sending
    assert from_file.bounces == defaults.bounces
    assert from_file.sender == defaults.sender
    assert from_file.webhooks == defaults.webhooks


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "mailer.toml"
    path.write_text('[smtp]\nhost = "relay.example.org"\nport = 25\n')
    config = load_config(
        path,
        env={
            "MAILER_SMTP_PORT": "2525",
            "MAILER_SMTP_PASSWORD": "s3cret",
            "MAILER_SECRET_KEY": "k",
            "MAILER_DB": "other.db",
            "MAILER_SENDING_RATE": "12.5",
        },
    )
    assert config.smtp.host == "relay.example.org"
    assert config.smtp.port == 2525
    assert config.smtp.password == "s3cret"
    assert config.web.secret_key == "k"
    assert config.sending.rate == 12.5
    assert config.db_path == tmp_path / "other.db"


def test_relative_mailer_db_is_relative_to_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "mailer.toml"
    path.write_text('[database]\npath = "in-etc.db"\n')
    assert load_config(path, env={}).db_path == tmp_path / "etc" / "in-etc.db"
    assert load_config(path, env={"MAILER_DB": "here.db"}).db_path == tmp_path / "here.db"


@pytest.mark.parametrize(
    ("text", "variable"),
    [
        ('[smtp]\npassword = "oops"\n', "MAILER_SMTP_PASSWORD"),
        ('[webhooks]\nmailgun_key = "oops"\n', "MAILER_WEBHOOKS_MAILGUN_KEY"),
        ('[webhooks]\npostmark_password = "oops"\n', "MAILER_WEBHOOKS_POSTMARK_PASSWORD"),
        ('[webhooks]\nsendgrid_public_key = "oops"\n', "MAILER_WEBHOOKS_SENDGRID_PUBLIC_KEY"),
    ],
)
def test_secret_in_file_is_refused(tmp_path: Path, text: str, variable: str) -> None:
    path = tmp_path / "mailer.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=variable):
        load_config(path, env={})


def test_the_providers_secrets_come_from_the_environment() -> None:
    config = load_config(env={
        "MAILER_WEBHOOKS_MAILGUN_KEY": "key-1",
        "MAILER_WEBHOOKS_POSTMARK_PASSWORD": "pw",
        "MAILER_WEBHOOKS_SENDGRID_PUBLIC_KEY": "MFkw",
    })
    assert (config.webhooks.mailgun_key, config.webhooks.postmark_password) == ("key-1", "pw")
    assert config.webhooks.sendgrid_public_key == "MFkw"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[smtp\n", "not valid TOML"),
        ("[nope]\n", "unknown section"),
        ("[smtp]\nhots = 1\n", "unknown setting smtp.hots"),
        ('[smtp]\nport = "x"\n', "smtp.port must be int"),
        ('[smtp]\ntls = "ssl"\n', "smtp.tls"),
        ("[smtp]\nconnections = 0\n", "smtp.connections must be between 1 and 256"),
        ("[smtp]\nconnect_attempts = 0\n", "smtp.connect_attempts must be between 1 and 100"),
        ("[bounces]\nsoft_threshold = 0\n", "bounces.soft_threshold"),
        ("[bounces]\ndecay_days = -1\n", "bounces.decay_days"),
        ("[sending]\nretry_first = 600.0\nretry_max = 60.0\n", "retry_max"),
        ('[imap]\ntls = "none"\n', "imap.tls"),
        ('[web]\nbase_url = "lists.example.org"\n', r"web\.base_url .* must be an http://"),
        ("[web]\nconfirm_days = 100000000\n", "web.confirm_days"),
        ('[[smtp.relays]]\nhost = "a"\nweight = 0\n', "weight"),
        ('[[smtp.relays]]\nhost = "a"\nport = 0\n', "smtp.port"),
        ('[webhooks]\nses_topic_arn = "bounces"\n', "webhooks.ses_topic_arn .* not an SNS"),
        ('[webhooks]\nses_topic_arn = "arn:aws:sqs:eu-west-1:123456789012:q"\n', "ses_topic"),
        ("[webhooks]\nrate_limit = -1\n", "webhooks.rate_limit"),
        ('[replies]\naddress = "replies+x@lists.example.org"\n', "may not hold '\\+'"),
        ('[replies]\naddress = "Replies <replies@lists.example.org>"\n', "plain address"),
        ('[replies]\nforward_to = "coordinator"\n', "replies.forward_to"),
        ("[replies]\nmax_attachment_mb = 0\n", "replies.max_attachment_mb"),
        ('[inbound]\ndomain = "lists example.org"\n', "inbound.domain"),
        ("[inbound]\nmax_size = 0\n", "inbound.max_size"),
    ],
)
def test_bad_file_gets_one_line_error_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mailer.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path, env={})
    assert str(path.resolve()) in str(info.value) or str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_environment_values_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"smtp\.port must be between 1 and 65535"):
        load_config(env={"MAILER_SMTP_PORT": "70000"})


def test_relays_read_with_passwords_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "mailer.toml"
    path.write_text('[[smtp.relays]]\nhost = "a"\nweight = 3\n[[smtp.relays]]\nhost = "b"\n')
    config = load_config(path, env={"MAILER_SMTP_RELAY2_PASSWORD": "pw"})
    assert [(r.host, r.weight, r.password) for r in config.smtp.relays] == [
        ("a", 3, ""),
        ("b", 1, "pw"),
    ]


def test_cli_reports_bad_config_without_traceback(invoke: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[smtp]\nport = \n")
    result = invoke("--config", str(bad), "lists", "ls")
    assert result.exit_code == 1
    assert "bad.toml" in result.output
    assert "Traceback" not in result.output


def test_init_twice_changes_nothing(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mailer.cli import cli

    runner = CliRunner()
    first = runner.invoke(cli, ["init"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    config_text = (tmp_path / "mailer.toml").read_text()
    (tmp_path / "mailer.toml").write_text(config_text + "\n# mine\n")
    second = runner.invoke(cli, ["init"], catch_exceptions=False)
    assert second.exit_code == 0
    assert "kept" in second.output
    assert (tmp_path / "mailer.toml").read_text().endswith("# mine\n")
    assert (tmp_path / "mailer.db").exists()


def test_init_writes_the_file_mailer_config_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from mailer.cli import cli

    (tmp_path / "etc").mkdir()
    monkeypatch.setenv("MAILER_CONFIG", str(tmp_path / "etc" / "mailer.toml"))
    result = CliRunner().invoke(cli, ["init"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "etc" / "mailer.toml").exists()
    assert not (tmp_path / "mailer.toml").exists()
    assert (tmp_path / "etc" / "mailer.db").exists()
    again = CliRunner().invoke(cli, ["init"], catch_exceptions=False)
    assert again.exit_code == 0
    assert "kept" in again.output


def test_failed_init_leaves_no_config_behind(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mailer.cli import cli

    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "no" / "m.db"), "init"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path / 'no' / 'm.db'}: folder {tmp_path / 'no'} does not exist"
    ]
    assert not (tmp_path / "mailer.toml").exists()


def test_config_saved_with_a_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "mailer.toml"
    path.write_bytes(b'\xef\xbb\xbf[smtp]\nhost = "relay.example.org"\n')
    assert load_config(path, env={}).smtp.host == "relay.example.org"


def test_the_timezone_setting_must_name_a_zone(tmp_path: Path) -> None:
    path = tmp_path / "mailer.toml"
    path.write_text('[sending]\ntimezone = "Europe/Berln"\n')
    with pytest.raises(ConfigError, match=r"sending.timezone: unknown time zone 'Europe/Berln' "
                       r"\(did you mean 'Europe/Berlin'\?\)"):
        load_config(path, env={})
    assert load_config(path, env={"MAILER_SENDING_TIMEZONE": "America/Lima"}).sending.timezone == (
        "America/Lima"
    )
