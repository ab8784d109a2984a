"""Endpoint choice, the live-spending guard, retries and error translation (docs/MTURK.md §1,
§5)."""

from __future__ import annotations

import itertools

import pytest

from app.core.config import (
    MTURK_LIVE_ENDPOINT,
    MTURK_LIVE_SUBMIT,
    MTURK_SANDBOX_ENDPOINT,
    MTURK_SANDBOX_SUBMIT,
    Settings,
)
from app.core.errors import DomainError, ExternalServiceError
from app.mturk.client import MTurkClient, make_mturk_client, resolve_target
from app.mturk.emulator import Emulator
from app.mturk.errors import (
    HIT_DOES_NOT_EXIST,
    MTurkError,
    MTurkLiveNotAllowed,
    MTurkRequestError,
    MTurkUnavailable,
)

from .conftest import client_for, make_hit


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MTURK_ENDPOINT_URL", "MTURK_SANDBOX", "MTURK_ALLOW_LIVE", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)


def settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[arg-type, call-arg]


def test_no_settings_targets_the_sandbox() -> None:
    mt = make_mturk_client(settings())  # nothing set at all
    assert mt.mode == "sandbox"
    assert mt.endpoint_url == MTURK_SANDBOX_ENDPOINT
    assert mt.boto_client.meta.endpoint_url == MTURK_SANDBOX_ENDPOINT
    assert mt.submit_base == MTURK_SANDBOX_SUBMIT
    assert mt.boto_client.meta.region_name == "us-east-1"
    assert mt.boto_client.meta.config.retries["mode"] == "standard"


def test_endpoint_url_setting_targets_the_emulator(emu: Emulator) -> None:
    mt, _ = client_for(emu.url + "/")
    assert mt.mode == "custom" and mt.endpoint_url == emu.url and mt.submit_base == emu.url
    assert mt.get_account_balance()["AvailableBalance"] == "10000.00"


SWITCHES = ["env", "project", "cap"]


@pytest.mark.parametrize(
    "present",
    [set(c) for n in range(3) for c in itertools.combinations(SWITCHES, n)],
    ids=lambda s: "+".join(sorted(s)) or "none",
)
def test_live_is_refused_unless_all_three_switches_are_set(present: set[str]) -> None:
    s = settings(mturk_sandbox=False, mturk_allow_live="env" in present)
    with pytest.raises(MTurkLiveNotAllowed) as info:
        resolve_target(
            s,
            project_allow_live="project" in present,
            spending_cap=25 if "cap" in present else None,
        )
    missing = info.value.extra["missing"]
    assert len(missing) == 3 - len(present)
    assert ("MTURK_ALLOW_LIVE" in info.value.detail) == ("env" not in present)
    assert ("allow_live flag" in info.value.detail) == ("project" not in present)
    assert ("spending cap" in info.value.detail) == ("cap" not in present)
    assert isinstance(info.value, DomainError) and info.value.status_code == 403


def test_live_with_all_three_switches_and_zero_cap_refused() -> None:
    s = settings(mturk_sandbox=False, mturk_allow_live=True)
    with pytest.raises(MTurkLiveNotAllowed, match="spending cap"):
        resolve_target(s, project_allow_live=True, spending_cap=0)
    mt = make_mturk_client(s, project_allow_live=True, spending_cap=100)
    assert (mt.mode, mt.endpoint_url, mt.submit_base) == (
        "live",
        MTURK_LIVE_ENDPOINT,
        MTURK_LIVE_SUBMIT,
    )


def test_live_endpoint_via_endpoint_url_is_guarded_too() -> None:
    s = settings(mturk_endpoint_url=MTURK_LIVE_ENDPOINT)
    with pytest.raises(MTurkLiveNotAllowed):
        resolve_target(s, project_allow_live=True, spending_cap=10)


def test_sandbox_flag_wins_over_live_switches() -> None:
    s = settings(mturk_allow_live=True)
    assert resolve_target(s, project_allow_live=True, spending_cap=10).mode == "sandbox"


def test_request_error_becomes_domain_error_with_turk_code(mt: MTurkClient, emu: Emulator) -> None:
    with pytest.raises(MTurkRequestError) as info:
        mt.get_hit("NOSUCHHIT000000000000000000000")
    err = info.value
    assert isinstance(err, ExternalServiceError)
    assert err.turk_error_code == HIT_DOES_NOT_EXIST
    assert err.aws_code == "RequestError" and err.http_status == 400
    assert err.operation == "GetHIT" and err.request_id
    assert err.status_code == 404 and err.extra["turk_error_code"] == HIT_DOES_NOT_EXIST
    assert emu.calls["GetHIT"] == 1  # a RequestError is never retried


def test_service_fault_is_retried_then_surfaces_as_unavailable(emu: Emulator) -> None:
    mt, oracle = client_for(emu.url, max_attempts=2)
    emu.faults.fail_next("GetAccountBalance", "after_commit", 2)
    with pytest.raises(MTurkUnavailable) as info:
        mt.get_account_balance()
    assert info.value.http_status == 500 and info.value.aws_code == "ServiceFault"
    assert emu.calls["GetAccountBalance"] == 2
    emu.faults.fail_next("GetAccountBalance", "after_commit", 1)
    assert mt.get_account_balance()["ResponseMetadata"]["RetryAttempts"] == 1
    assert oracle.problems == []


def test_unreachable_endpoint_is_an_mturk_error() -> None:
    mt = make_mturk_client(settings(mturk_endpoint_url="http://127.0.0.1:9"), max_attempts=1)
    with pytest.raises(MTurkUnavailable, match="unreachable"):
        mt.get_account_balance()


def test_validation_exception_maps_to_422(mt: MTurkClient) -> None:
    with pytest.raises(MTurkRequestError) as info:
        make_hit(mt, reward="abc")
    assert info.value.aws_code == "ValidationException" and info.value.status_code == 422
    assert "at 'reward' failed to satisfy constraint" in info.value.detail


def test_mturk_error_is_importable_from_client() -> None:
    from app.mturk import client

    assert client.MTurkError is MTurkError
