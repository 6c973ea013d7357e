"""The gateway's traffic as the console shows it (service.gateway_traffic): calls through a real gateway
on loopback, in flight until settled, actual against reserved, spend by provider and by agent; decisions
routed any other way are not gateway calls."""

from __future__ import annotations

import pytest

from tests.standin_provider import Behaviour
from tests.test_gateway import gateway, settled, standin  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(120)


def test_calls_by_provider_and_agent_with_actual_against_reserved(gateway, standin) -> None:  # noqa: F811
    standin.behaviour = Behaviour(usage=(40, 7))
    svc, _, client = gateway()
    for agent in ("cline", "cline", "aider"):
        client.chat.completions.create(
            model="auto:documentation", user=agent, messages=[{"role": "user", "content": "Write the notes"}]
        )
    svc.route_task("documentation", "not through the gateway")
    settled(svc, 3)
    t = svc.gateway_traffic()
    assert len(t["calls"]) == 3 and t["inFlight"] == 0 and t["failed"] == 0
    assert all(c["state"] == "done" and c["provider"] == "standin" for c in t["calls"])
    assert all(c["actualCost"] <= c["reserved"] and c["outputTokens"] == 7 for c in t["calls"])
    assert list(t["byProvider"]) == ["standin"] and t["byProvider"]["standin"]["calls"] == 3
    assert t["byAgent"]["cline"]["calls"] == 2 and t["byAgent"]["aider"]["calls"] == 1
    total = sum(c["actualCost"] for c in t["calls"])
    assert t["byProvider"]["standin"]["spent"] == pytest.approx(total)


def test_a_call_is_in_flight_until_it_is_settled(make_service) -> None:
    svc = make_service()
    call = svc.route_call("documentation", 100, 50, agent="zed")
    t = svc.gateway_traffic()
    assert t["inFlight"] == 1 and t["calls"][0]["state"] == "in flight"
    assert t["byAgent"]["zed"]["spent"] == pytest.approx(call["estimatedCost"])
    svc.record_outcome(call["decisionId"], "error", cost=0.0)
    t = svc.gateway_traffic()
    assert t["inFlight"] == 0 and t["failed"] == 1 and t["calls"][0]["state"] == "failed"
