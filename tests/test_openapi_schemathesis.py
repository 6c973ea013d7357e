"""schemathesis over every operation of the service's own /openapi.json: generated valid and invalid
requests never get a 5xx or a traceback, every answer matches its documented status and schema, a server
with a token refuses requests without it, and a rejected request writes nothing to the ledger.

The app runs in-process (ASGI) with a token, as `modelwise serve` runs off loopback, and with group
commit, as `modelwise serve` does; the live server is tested in tests/test_server.py.
Examples per operation: MODELWISE_SCHEMATHESIS_EXAMPLES (default 25)."""

from __future__ import annotations

import os
from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.formats import register_string_format

from modelwise.server import TIME_FORMAT, create_app
from tests.conftest import BRIEF_REGISTRY, LedgerWatch

TOKEN = "schemathesis-token"
EXAMPLES = int(os.environ.get("MODELWISE_SCHEMATHESIS_EXAMPLES", "25"))

# The time expressions `since`/`until` take (documented as the custom format TIME_FORMAT): 7d, 24h, 30m,
# 2w, today, yesterday, a date or an ISO time. Without this strategy schemathesis would send any string
# as "valid" data, and the service rightly refuses "abc" with 422.
_times = st.one_of(
    st.builds(lambda n, u: f"{n}{u}", st.integers(0, 3650), st.sampled_from("dhmw")),
    st.sampled_from(["today", "yesterday", "Today"]),
    st.dates(date(1970, 1, 2), date(9999, 12, 30)).map(date.isoformat),
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)
register_string_format(TIME_FORMAT, _times)

CONFIG = SchemathesisConfig.from_str(
    f"""
[auth.openapi.bearer]
bearer = "{TOKEN}"

[checks.positive_data_acceptance]
# 402: a valid task the day's budget cannot pay for is refused (and recorded): docs/design.md, "HTTP service".
# 404: a well-formed decision id that does not exist.
expected-statuses = ["2xx", "402", "404"]

[checks.negative_data_rejection]
# the defaults, and 413: a description over its maxLength is also a body over 1 MiB
# (docs/design.md, "HTTP service")
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"""
)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from modelwise.service import TokenOptimizationService

    tmp = tmp_path_factory.mktemp("schemathesis")
    cfg = tmp / "config.toml"
    cfg.write_text('daily_budget = 1.0\ntimezone = "UTC"\n')
    svc = TokenOptimizationService(registry=BRIEF_REGISTRY, ledger=tmp / "ledger.sqlite3", config=cfg)
    svc.enable_group_commit()
    first = svc.route_task("documentation", "the ledger exists before the first case", agent="setup")
    svc.record_outcome(first["decisionId"], "success")
    app = create_app(svc, token=TOKEN)
    watch = LedgerWatch(tmp / "ledger.sqlite3")
    yield app, watch
    watch.close()
    svc.close()


@pytest.fixture(scope="module")
def api_schema(served):
    app, _ = served
    return schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=CONFIG, headers={"Authorization": f"Bearer {TOKEN}"}
    )


@pytest.fixture
def ledger(served) -> LedgerWatch:
    return served[1]


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much
    ],
)
def test_every_operation_conforms(case, ledger):
    before = ledger.version()
    response = case.call_and_validate()
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    if 400 <= response.status_code < 500 and response.status_code != 402:  # a 402 refusal is recorded
        body = response.json()
        assert set(body) == {"detail"} and body["detail"] and "\n" not in body["detail"], body
        assert ledger.version() == before, f"a rejected request wrote to the ledger: {response.text}"
