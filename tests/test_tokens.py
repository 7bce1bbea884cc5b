"""Signed tokens: bound to a purpose, tamper-evident, expiring."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.errors import TokenError
from mailer.tokens import CONFIRM, UNSUBSCRIBE, VERP, Signer, verp_address, verp_token
from tests.clocks import FakeClock

signer = Signer("test-secret")


@given(st.integers(1, 2**40), st.integers(1, 2**20), st.integers(0, 2**30))
def test_unsubscribe_token_round_trips(subscriber: int, list_id: int, campaign: int) -> None:
    claim = signer.verify(signer.unsubscribe(subscriber, list_id, campaign), UNSUBSCRIBE)
    assert (claim.integer(0), claim.integer(1), claim.integer(2)) == (subscriber, list_id, campaign)


def test_token_is_lowercase_and_survives_case_folding() -> None:
    token = signer.verp(12, 345)
    assert token == token.lower()
    assert signer.verify(token.upper(), VERP).integer(1) == 345


def test_purpose_is_bound() -> None:
    token = signer.unsubscribe(1, 2)
    with pytest.raises(TokenError, match="something else"):
        signer.verify(token, CONFIRM)


def test_tampered_token_is_refused() -> None:
    token = signer.unsubscribe(1, 2)
    forged = Signer("other").unsubscribe(1, 2)
    with pytest.raises(TokenError):
        signer.verify(forged, UNSUBSCRIBE)
    payload, sig = token.split("-")
    flipped = ("b" if payload[0] == "a" else "a") + payload[1:]
    with pytest.raises(TokenError):
        signer.verify(f"{flipped}-{sig}", UNSUBSCRIBE)
    with pytest.raises(TokenError):
        signer.verify("garbage", UNSUBSCRIBE)


def test_confirm_token_expires(fake_clock: FakeClock) -> None:
    token = signer.confirm(1, 2, timedelta(days=7))
    fake_clock.advance(days=6)
    assert signer.verify(token, CONFIRM).integer(0) == 1
    fake_clock.advance(days=2)
    with pytest.raises(TokenError, match="expired"):
        signer.verify(token, CONFIRM)


def test_verp_address_round_trip() -> None:
    token = signer.verp(7, 8)
    address = verp_address("bounces@lists.example.org", token)
    assert address == f"bounces+{token}@lists.example.org"
    assert verp_token(address.upper(), "bounces@lists.example.org") == token.upper()
    assert verp_token("someone@lists.example.org", "bounces@lists.example.org") is None
    assert verp_token(f"bounces+{token}@other.org", "bounces@lists.example.org") is None


def test_empty_secret_is_refused() -> None:
    with pytest.raises(TokenError, match="MAILER_SECRET_KEY"):
        Signer("")


def test_confirm_token_carries_its_binding_even_one_that_looks_like_an_expiry() -> None:
    token = signer.confirm(1, 2, timedelta(days=1), bound_to="e1234")
    fields = signer.verify(token, CONFIRM).fields
    assert fields[:3] == ("1", "2", "e1234")
    assert fields[3].startswith("t") and fields[3][1:].isdigit()  # when it was issued
