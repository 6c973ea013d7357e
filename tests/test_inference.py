"""Task inference: its accuracy per task type on the labelled corpus (the part the rules were tuned on
and the word model learned from, and the held-out part, reported and held to a floor), the shipped word
model being the one the corpus trains, the rules' fast paths matching as their plain patterns do, the
request found inside agents' wrappers, the
config's own rules, and through the real gateway: how the type was found is recorded, tools need
function calling, images need vision, and a request no model can serve is a 400 that records nothing."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from modelwise.core.settings import InferenceRule, Settings
from modelwise.gateway.inference import compile_rules, infer, request_of
from tests import inference_corpus
from tests.live import serving
from tests.standin_provider import Standin
from tests.test_gateway import settled

TYPES = Settings().task_types
FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "tok-inference-77"
# floors: what the rules reach today with some room, so a change that loses a type's prompts fails here
FLOOR_TUNE, FLOOR_HELD_OUT, FLOOR_PER_TYPE = 0.97, 0.88, 0.85


def test_corpus_accuracy_per_task_type(capsys):
    doc = inference_corpus.load()
    counts = {t: sum(p["type"] == t for p in doc["prompts"]) for t in TYPES}
    assert len(doc["prompts"]) >= 120 and min(counts.values()) >= 8, counts
    held = [p for p in doc["prompts"] if p["split"] == "held-out"]
    assert 0.2 <= len(held) / len(doc["prompts"]) <= 0.35
    assert {p["client"] for p in doc["prompts"]} == set(doc["clients"])
    result = inference_corpus.evaluate(
        lambda body: infer(body["messages"], TYPES, tools=body.get("tools")), TYPES
    )
    table = inference_corpus.report(result, TYPES)
    with capsys.disabled():
        print("\ntask inference on tests/fixtures/inference_corpus.json\n" + table)

    def accuracy(split: str, t: str | None = None) -> float:
        r = result[split]
        return (r["right"][t] / r["all"][t]) if t else sum(r["right"].values()) / sum(r["all"].values())

    misses = sorted(result["tune"]["wrong"]) + sorted(result["held-out"]["wrong"])
    assert accuracy("tune") >= FLOOR_TUNE, (table, misses)
    assert accuracy("held-out") >= FLOOR_HELD_OUT, (table, misses)
    for t in TYPES:
        right = result["tune"]["right"][t] + result["held-out"]["right"][t]
        assert right / counts[t] >= FLOOR_PER_TYPE, (t, table, misses)


def test_the_request_is_found_inside_agent_wrappers():
    cline = [
        {"role": "system", "content": "You are Cline... run the test suite, fix bugs, write docs " * 100},
        {"role": "user", "content": "<task>\nrename get_usr to get_user everywhere\n</task>\n\n"
                                    "<environment_details>\n# Files\ntests/\nREADME.md\nDockerfile\n"
                                    "</environment_details>"},
        {"role": "assistant", "content": "<read_file><path>a.py</path></read_file>"},
        {"role": "user", "content": "[read_file for 'a.py'] Result:\ndef get_usr(): raise ValueError('x')"},
    ]
    assert request_of(cline) == "rename get_usr to get_user everywhere"
    assert infer(cline, TYPES)[0] == "refactoring"
    claude = [{"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>\nRun tests with pytest; document functions\n"
                                 "</system-reminder>"},
        {"type": "text", "text": "same as yesterday for the sync thing"}]},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "tool_call_id": "1", "content": "Traceback (most recent call last): ..."}]
    assert request_of(claude) == "same as yesterday for the sync thing"
    # nothing matched: with tools (an agent) it is code generation, a bare question is knowledge
    assert infer(claude, TYPES, tools=[{"type": "function"}]) == ("code_generation", "default")
    assert infer([{"role": "user", "content": "hello there"}], TYPES) == ("knowledge", "default")
    # a short, task-specific system prompt counts; an agent's long generic one does not
    short = [{"role": "system", "content": "You are a code reviewer."}, {"role": "user", "content": "here"}]
    assert infer(short, TYPES)[0] == "code_review"
    generic = [{"role": "system", "content": "You are a code reviewer. " * 100},
               {"role": "user", "content": "x"}]
    assert infer(generic, TYPES) == ("code_generation", "default")


def test_config_rules_come_first_and_name_themselves():
    rules = compile_rules((
        InferenceRule("sql", "optimization", pattern=r"EXPLAIN\s+ANALYZE", where="user"),
        InferenceRule("tickets", "debugging", keywords=("JIRA-", "incident"), where="any"),
        InferenceRule("reviewer-bot", "code_review", keywords=("reviewbot",), where="system"),
    ))
    msgs = [{"role": "user", "content": "write docs for this EXPLAIN ANALYZE output"}]
    assert infer(msgs, TYPES, rules=rules) == ("optimization", "rule:sql")
    assert infer(msgs, TYPES) == ("documentation", "rule:docs-words")  # without the rule
    assert infer([{"role": "user", "content": "add docs, see the incident"}], TYPES, rules=rules) == (
        "debugging", "rule:tickets")
    assert infer([{"role": "user", "content": "add docs, see the incidental"}], TYPES, rules=rules)[0] == (
        "documentation")  # keywords are whole words
    system = [{"role": "system", "content": "You are ReviewBot."}, {"role": "user", "content": "write docs"}]
    assert infer(system, TYPES, rules=rules) == ("code_review", "rule:reviewer-bot")
    user_only = [{"role": "system", "content": "EXPLAIN ANALYZE"}, {"role": "user", "content": "write docs"}]
    assert infer(user_only, TYPES, rules=rules)[0] == "documentation"  # `where = "user"` skips the system
    # a rule for a type the configuration does not have is skipped
    assert infer(msgs, ("documentation",), rules=rules) == ("documentation", "rule:docs-words")


def test_the_literal_prefilter_never_hides_a_match():
    """A rule's pattern runs only on text holding one of the literal strings derived from it: on every
    corpus request (and its system prompt), wherever the pattern matches, one of them is there."""
    from modelwise.gateway.inference import _NEEDS, RULES

    doc = inference_corpus.load()
    texts = []
    for p in doc["prompts"]:
        msgs = inference_corpus.request(p, doc["clients"])["messages"]
        texts += [request_of(msgs), *(m["content"] for m in msgs if isinstance(m.get("content"), str))]
    checked = 0
    for (name, _, _, _, pattern), needs in zip(RULES, _NEEDS, strict=True):
        if needs is None:
            continue
        folded, strings, string_set = needs
        assert set(strings) == string_set
        for text in texts:
            if pattern.search(text):
                where = text.lower() if folded else text
                assert any(x in where for x in strings), (name, text[:200])
                checked += 1
    assert checked > 300


def _corpus_texts() -> list[str]:
    doc = inference_corpus.load()
    texts = []
    for p in doc["prompts"]:
        msgs = inference_corpus.request(p, doc["clients"])["messages"]
        texts += [request_of(msgs), *(m["content"] for m in msgs if isinstance(m.get("content"), str))]
    return texts


def test_the_one_pass_string_search_finds_what_searching_each_string_finds():
    """`_Strings.present` (one pass of a trie of every rule's strings) gives exactly the strings a
    substring search for each of them finds, on every corpus text and on texts made of the strings
    themselves run together (where the longest string at a place hides shorter ones)."""
    from modelwise.gateway.inference import _NEEDS, RULES, _strings

    strings = sorted({s for needs, rule in zip(_NEEDS, RULES, strict=True)
                      if needs is not None and needs[0] and rule[3] == "prose" for s in needs[1]})
    texts = [t.lower() for t in _corpus_texts()]
    texts += ["".join(strings[i::7]) for i in range(7)] + [" ".join(reversed(strings))]
    found = _strings()
    for text in texts:
        assert found.present(text) == {s for s in strings if s in text}, text[:200]


def test_trying_only_the_rules_whose_strings_are_present_answers_as_trying_them_all(monkeypatch):
    """`infer` tries a case-insensitive prose rule only where one of its strings is present
    (`_Strings.rules_for`): every corpus request, and each of its texts as a request of its own alone
    and under a short system prompt, gets the type and the rule it gets when every rule is tried."""
    from modelwise.gateway import inference

    doc = inference_corpus.load()
    requests = []
    for p in doc["prompts"]:
        body = inference_corpus.request(p, doc["clients"])
        requests.append((body["messages"], body.get("tools")))
    for text in _corpus_texts():
        requests.append(([{"role": "user", "content": text}], None))
        requests.append(([{"role": "system", "content": text[:1000]},
                          {"role": "user", "content": "please help with this"}], None))

    def read_all():  # each inferred anew, not answered from the requests kept
        out = []
        for msgs, tools in requests:
            inference._SEEN.clear()
            out.append(infer(msgs, TYPES, tools=tools))
        return out

    gated = read_all()
    strings = inference._strings()
    tried: list[int] = []
    real = strings.rules_for

    def some(presents):
        chosen = real(presents)
        tried.append(len(chosen))
        return chosen

    monkeypatch.setattr(strings, "rules_for", some)
    assert read_all() == gated
    assert len(tried) == len(requests)  # (every request was read again)
    assert sum(tried) < 0.5 * len(tried) * len(inference.RULES)  # most rules are skipped, most of the time
    monkeypatch.setattr(strings, "rules_for", lambda presents: list(range(len(inference.RULES))))
    assert read_all() == gated


def test_an_agents_later_turns_are_answered_from_the_requests_kept(monkeypatch):
    """An agent sends its task again with every turn, the tool results after it: the later turns are not
    read again. Whatever the answer depends on (the request, a short system prompt, a long one being
    long, tools, the code the last turn carries, the types, the config's rules) tells the requests
    kept apart, and no more than `KEPT` are kept."""
    from modelwise.gateway import inference

    read: list[str] = []
    real = inference._inferred

    def counted(request, *a):
        read.append(request)
        return real(request, *a)

    monkeypatch.setattr(inference, "_inferred", counted)
    monkeypatch.setattr(inference, "_SEEN", {})
    task = "<task>\nrename get_usr to get_user everywhere\n</task>"
    turns = [{"role": "system", "content": "You are Cline. " * 200}, {"role": "user", "content": task}]
    first = infer(turns, TYPES, tools=[{"type": "function"}])
    for i in range(5):  # each turn: the model's tool call, then its result
        turns += [{"role": "assistant", "content": f"<read_file><path>m{i}.py</path></read_file>"},
                  {"role": "user", "content": f"[read_file for 'm{i}.py'] Result:\ndef get_usr(): ..."}]
        assert infer(turns, TYPES, tools=[{"type": "function"}]) == first
    assert len(read) == 1
    # what is kept holds no prompt: a hash of it, and the answer
    assert all(isinstance(k, int) for k in inference._SEEN) and "get_usr" not in repr(inference._SEEN)

    def fresh(messages, types=TYPES, tools=None, rules=()):
        inference._SEEN.clear()
        return real(inference.request_of(messages), inference.system_of(messages),
                    inference.attached_code(messages), types, tools, rules)

    # pairs that differ in one thing the answer depends on, each with its own answer
    user = [{"role": "user", "content": "here"}]
    review = [{"role": "system", "content": "You are a code reviewer."}, *user]
    long_review = [{"role": "system", "content": "You are a code reviewer. " * 100}, *user]
    code = [{"role": "user", "content": "<task>here</task>\n```py\nx = 1\n```"}]
    rule = compile_rules([InferenceRule(name="here", task_type="math", keywords=("here",))])
    cases = [
        (review, TYPES, None, ()), (long_review, TYPES, None, ()), (user, TYPES, None, ()),
        (user, TYPES, [{"type": "function"}], ()), (code, TYPES, None, ()), (user, TYPES, None, rule),
        (user, ("code_generation", "debugging"), None, ()),
    ]
    answers = [fresh(*c) for c in cases]
    # (each differs from the bare request's: the same request, but for the one thing)
    assert all(a != answers[2] for i, a in enumerate(answers) if i != 2), answers
    inference._SEEN.clear()
    for _ in range(2):  # all kept side by side, each answered as it is read
        assert [infer(*c) for c in cases] == answers
    # an agent's task stays kept while it keeps asking, whatever else is asked between its turns
    assert infer(turns, TYPES, tools=[{"type": "function"}]) == first
    read.clear()
    for i in range(3 * inference.KEPT):
        infer([{"role": "user", "content": f"question {i}"}], TYPES)
        if i % (inference.KEPT // 2) == 0:
            assert infer(turns, TYPES, tools=[{"type": "function"}]) == first
    assert len(read) == 3 * inference.KEPT  # each question once, the task never again
    assert len(inference._SEEN) == inference.KEPT


def test_the_rules_fast_patterns_match_where_their_plain_patterns_do():
    """A rule that starts at a word boundary runs behind a lookahead of the characters its matches can
    start with: on every corpus text it finds the same matches, at the same places, as its plain
    pattern."""
    import re

    from modelwise.gateway.inference import _RULES, RULES

    texts = _corpus_texts()
    fast = 0
    for (name, *_, compiled), (*_, pattern, flags) in zip(RULES, _RULES, strict=True):
        plain = re.compile(pattern, flags)
        fast += compiled.pattern != pattern
        for text in texts:
            assert [m.span() for m in compiled.finditer(text)] == [m.span() for m in plain.finditer(text)], (
                name, text[:200])
    assert fast >= 30  # most rules have the lookahead


def test_the_shipped_word_model_is_the_one_the_corpus_trains():
    """src/modelwise/gateway/inference_words.json is what `python -m tests.inference_corpus --train` makes
    of the corpus's tune prompts today: a prompt added, relabelled or moved to the held-out part
    without training again fails here."""
    from modelwise.gateway.inference import WORDS_FILE

    trained = inference_corpus.train(inference_corpus.load(), TYPES)
    assert WORDS_FILE.read_text() == inference_corpus.dump(trained)


def test_the_word_model_reads_what_no_rule_does_and_stays_out_of_what_it_never_saw():
    from modelwise.gateway import inference

    # no rule reads this; the word model has seen such requests
    asked = [{"role": "user", "content": "what's a monad, in plain words"}]
    assert inference.infer(asked, TYPES) == ("knowledge", "learned")
    # words it never saw: the fallback, as before
    assert infer([{"role": "user", "content": "zxqv blorft"}], TYPES) == ("knowledge", "default")
    # it answers only the configured types
    assert infer(asked, ("code_generation", "debugging"))[1] == "default"
    # a rule's evidence weighs in: the same words with a stack trace are debugging
    traced = [{"role": "user", "content": "what's a monad, in plain words\n\nTraceback (most recent call "
                                          "last):\n  File \"m.py\", line 3\nTypeError: bind"}]
    assert infer(traced, TYPES)[0] == "debugging"


def test_a_long_request_is_read_at_its_start_and_its_end():
    log = "\n".join(f"2026-12-01 12:00:{i % 60:02d} INFO worker {i} processed batch" for i in range(2000))
    assert infer([{"role": "user", "content": log + "\n\nwhy does it stop after batch 1999? fix it"}],
                 TYPES)[0] == "debugging"
    assert infer([{"role": "user", "content": "add docstrings to this module\n" + log}], TYPES)[0] == (
        "documentation")


# -- through the real gateway --------------------------------------------------------------------------


def _registry(tmp_path: Path, caps: dict[str, list[str]], ctx: int | None = None) -> Path:
    """The brief's registry with extra capabilities for some models (and a context window for all)."""
    reg = json.loads((FIXTURES / "brief_registry.json").read_text())
    for m in reg["models"]:
        m["capabilities"] = m["capabilities"] + caps.get(m["id"], [])
        if ctx is not None:
            m["contextWindow"] = ctx
    path = tmp_path / "caps_registry.json"
    path.write_text(json.dumps(reg))
    return path


@pytest.fixture
def gateway(make_service, monkeypatch, tmp_path):
    monkeypatch.setenv("STANDIN_KEY", "sk-standin")
    made = []
    standin = Standin()
    standin.__enter__()

    def start(extra: str = "", caps: dict[str, list[str]] | None = None, ctx: int | None = None):
        cfg = (f'{extra}\n[providers.standin]\nbase_url = "{standin.base_url}"\napi_key_env = "STANDIN_KEY"\n'
               'api = "openai"\nmodels = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4"]\n')
        svc = make_service(registry=_registry(tmp_path, caps or {}, ctx), config=cfg)
        cm = serving(svc, token=TOKEN)
        base = cm.__enter__()
        made.append(cm)
        return svc, standin, openai.OpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0)

    yield start
    for cm in made:
        cm.__exit__(None, None, None)
    standin.__exit__(None, None, None)


TOOL = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]
IMAGE = [{"type": "text", "text": "what is in this screenshot?"},
         {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]


def test_how_the_type_was_found_is_recorded_and_a_config_rule_decides(gateway):
    svc, _, client = gateway('[[gateway.rules]]\nname = "on-call"\ntask_type = "debugging"\n'
                             'keywords = ["pagerduty", "sev1"]\n')
    r = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "write the docs for the SEV1 runbook"}])
    assert r.headers["x-modelwise-task-type"] == "debugging"
    assert r.headers["x-modelwise-task-type-from"] == "rule:on-call"
    r2 = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "write the docs for the runbook"}])
    assert r2.headers["x-modelwise-task-type-from"] == "rule:docs-words"
    got = {svc.decision(x.headers["x-modelwise-decision-id"])["detail"]["taskTypeFrom"] for x in (r, r2)}
    assert got == {"rule:on-call", "rule:docs-words"}


def test_tools_need_function_calling_and_images_vision(gateway):
    svc, standin, client = gateway(caps={"gpt-4o-mini": ["function_calling"], "claude-sonnet-4": ["vision"]})
    # code generation ranks Claude Sonnet 4 first; only GPT-4o Mini can call functions
    r = client.chat.completions.with_raw_response.create(
        model="auto:code_generation", messages=[{"role": "user", "content": "hi"}], tools=TOOL)
    assert r.headers["x-modelwise-model"] == "gpt-4o-mini"
    assert standin.requests[-1]["json"]["tools"] == TOOL
    plain = client.chat.completions.with_raw_response.create(
        model="auto:code_generation", messages=[{"role": "user", "content": "hi"}])
    assert plain.headers["x-modelwise-model"] == "claude-sonnet-4"
    r = client.chat.completions.with_raw_response.create(
        model="auto:code_generation", messages=[{"role": "user", "content": IMAGE}])
    assert r.headers["x-modelwise-model"] == "claude-sonnet-4"
    before = len(standin.requests)
    with pytest.raises(openai.BadRequestError) as err:  # no model has both
        client.chat.completions.create(model="auto:code_generation",
                                       messages=[{"role": "user", "content": IMAGE}], tools=TOOL)
    msg = err.value.body["message"]
    assert "function_calling and vision" in msg and "tools" in msg and "images" in msg and "\n" not in msg
    with pytest.raises(openai.BadRequestError) as err:  # named, but without the capability
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}],
                                       tools=TOOL)
    assert "GPT-4o lacks function_calling" in err.value.body["message"]
    assert len(standin.requests) == before  # no upstream call for either
    assert len(settled(svc, 3)) == 3  # and nothing recorded for them


def test_messages_no_context_window_holds_are_400_for_auto(gateway):
    svc, standin, client = gateway(ctx=1000)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="auto:knowledge",
                                       messages=[{"role": "user", "content": "word " * 2000}])
    assert "any eligible model's context window (the largest is 1,000 tokens)" in err.value.body["message"]
    assert standin.requests == [] and (not svc.ledger_exists() or svc.decisions(limit=5) == [])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('[[gateway.rules]]\ntask_type = "poetry"\nkeywords = ["x"]', "gateway.rules.0.task_type"),
        ('[[gateway.rules]]\ntask_type = "debugging"', "a rule needs a pattern or keywords"),
        ('[[gateway.rules]]\ntask_type = "debugging"\npattern = "(unclosed"', "gateway.rules.0.pattern"),
        ('[[gateway.rules]]\ntask_type = "debugging"\nkeywords = ["x"]\nwhere = "body"',
         "gateway.rules.0.where"),
        ('[[gateway.rules]]\ntask_type = "debugging"\nkeywords = "x"', "gateway.rules.0.keywords"),
        ('[[gateway.rules]]\ntask_type = "debugging"\nkeywords = ["x"]\ncolour = 1',
         "gateway.rules.0.colour"),
    ],
)
def test_bad_rules_exit_2_naming_the_key(cli_env, config, message):
    from tests.conftest import run_cli

    Path(cli_env["MODELWISE_CONFIG"]).write_text(config)
    r = run_cli("route", "documentation", "x", env=cli_env)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
