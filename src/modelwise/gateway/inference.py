"""The task type of a chat request, inferred from its messages: the user's request (found inside the
wrappers IDE agents put around it), its code blocks, stack traces and diffs, a short task-specific system
prompt and the presence of tools. Users' rules from the config are tried first; `infer` says which rule
decided."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

MAX_TEXT = 20_000  # characters kept of a turn's start and of its end (a turn can hold whole files)
# What the rules read of the request: its start and its end (where people say what they want), and more
# of it for traces, diffs and code. Regular expressions cost time per character; these bound it.
HEAD, TAIL, HEAD_FULL = 800, 300, 3_000
SHORT_SYSTEM = 1_500  # a longer system prompt is an agent's generic one and says nothing of the task
CI = re.IGNORECASE
ML = re.MULTILINE

# What agents wrap around the user's words: dropped (their file lists and reminders name tests, READMEs
# and Dockerfiles whatever the task), or the request itself taken from inside them.
_DROP = re.compile(
    r"<(environment_details|system-reminder|additional_data|attached_files|cursor_commands)>.*?</\1>", re.S
)
_INSIDE = re.compile(r"<(task|user_query|user_request|feedback)>(.*?)</\1>", re.S)
_TOOL_RESULT = re.compile(r"^\s*\[[\w-]+(?: for [^\]]*)?\] Result:", re.S)  # Cline's tool results
_FENCED = re.compile(r"```[^\n]*\n.*?(?:```|\Z)", re.S)
_ASK = re.compile(r"^\s*/(?:ask|code|architect)\s+")  # Aider's chat modes

# (name, task type, weight, where, pattern). `where`: "prose" (the request without its code blocks),
# "full" (with them: traces, diffs and notation are read wherever they are), "code" (code blocks only).
# The type with the most weight wins; ties go to the type listed first in PRIORITY.
_RULES: tuple[tuple[str, str, int, str, str, int], ...] = (
    ("stack-trace", "debugging", 4, "full",
     r"Traceback \(most recent call last\)|^\s+at [\w.$<>\[\] ]+ ?\(\S*:\d+(?::\d+)?\)|panicked at|"
     r"^goroutine \d+ \[|Exception in thread|Segmentation fault|core dumped|^\s*(?:\w+\.)*\w*(?:Error|"
     r"Exception)(?::|$)|error\[E\d{3,4}\]|Uncaught \w*Error|^FAILED \S+::|fatal error:|^E\s{3}\w+Error|"
     r"^\s*File \"[^\"]+\", line \d+|\b\w*(?:Error|Exception): \S|Failed to compile|npm ERR!|error TS\d+|"
     r"^ERROR in |exit (?:code|status) [1-9]|\b[45]\d\d (?:Method Not Allowed|Not Found|Internal Server "
     r"Error|Bad Request|Unauthorized|Forbidden|Bad Gateway)\b",
     ML),
    ("failure-words", "debugging", 2, "prose",
     r"\b(?:bugs?|debug\w*|crash\w*|broken|breaks|regression|exceptions?|stack ?trace|throws?|thrown|"
     r"hangs?|hanging|freez\w+|deadlock\w*|segfault\w*|fails?|failing|failed|doesn'?t work|does not work|"
     r"not working|isn'?t working|stopped working|wrong (?:result|output|value|answer)|returns? "
     r"(?:None|null|undefined|NaN|nil)|unexpected\w*|(?:an?|the|this|that) error|errors? (?:with|when|on|"
     r"in|about)|getting (?:an? |this |the )?\S*error|why (?:does|is|do|did|am|are|isn'?t|doesn'?t) "
     r"(?:this|it|my|the)\b|what'?s wrong|what am I doing wrong|what'?s the bug|root cause|investigate|"
     r"track (?:it|this) down|find (?:the|out) (?:cause|bug|problem|why)|intermittent\w*|sometimes|only "
     r"(?:happens|when|in production)|happens only|is wrong|which is wrong|incorrect\w*|isn'?t (?:right|"
     r"correct)|nothing (?:changed|happens|shows|appears)|(?:can'?t|cannot|can not|unable to|couldn'?t|"
     r"could not) (?:see|open|find|load|connect|access|import|resolve|run|start|get|reach)|not loading|"
     r"won'?t (?:load|start|run|compile|work|build)|still (?:issues|failing|broken|not)|issues? (?:with|"
     r"opening|when|in|while)|(?:have|having|got) (?:a|an|this|some) (?:problem|issue)|giving (?:me|us) "
     r"(?:an? )?(?:issues?|errors?|problems?|trouble)|problem with|what is the issue|"
     r"what'?s the issue|what'?s going on|what is going on|gets? stuck|stuck (?:at|on|in)|is (?:not|n'?t) "
     r"(?:working|showing|updating|saving|loading))\b", CI),
    ("fix-words", "debugging", 2, "prose", r"\b(?:fix(?:es|ed|ing)?|solve this|resolve this)\b", CI),
    ("diff", "code_review", 3, "full",
     r"^diff --git |^@@ -\d+(?:,\d+)? \+\d+|^index [0-9a-f]{7,}\.\.[0-9a-f]{7,}|^(?:---|\+\+\+) [ab]/", ML),
    ("review-words", "code_review", 4, "prose",
     r"\b(?:review\w*|pull request|merge request|(?-i:PR)|LGTM|critique\w*|feedback on|sanity[- ]check|"
     r"second pair of eyes|look (?:over|through) (?:this|my|the)|anything (?:wrong|off|missing|"
     r"problematic)|did I miss|(?:see|spot|find|notice) any (?:issues|problems|bugs|race conditions|"
     r"mistakes)|what would a (?:senior )?(?:engineer|reviewer|dev\w*) say|is (?:this|it) (?:safe|"
     r"idiomatic|correct|ok|okay|good practice)|before (?:I|we) (?:push|merge|commit|ship)|(?:seem|look)s? "
     r"(?:right|correct|ok|okay|good) to you|is (?:this|that|it) (?:right|correct))\b", CI),
    ("test-writing", "testing", 4, "prose",
     r"\b(?:(?:write|add|create|generate|need|improve|more|missing)\s+(?:\S+\s+){0,3}?(?:unit |integration "
     r"|e2e |end-to-end |regression |snapshot |property-based |table-driven )?(?:tests?|specs?|test "
     r"cases?|test suite)|unit tests?|integration tests?|end-to-end tests?|e2e tests?|test coverage|"
     r"coverage|property-based|table-driven tests?|snapshot tests?|test cases?|tests? for)\b", CI),
    ("test-frameworks", "testing", 2, "prose",
     r"\b(?:tests?|testing|test ?suites?|e2e|pytest|jest|vitest|mocha|jasmine|junit\w*|testng|rspec|"
     r"minitest|phpunit|playwright|cypress|"
     r"selenium|hypothesis|unittest|go test|httptest|mockito|testing-library|mock(?:s|ing|ed)?|"
     r"fixtures?)\b", CI),
    ("test-code", "testing", 1, "code",
     r"^\s*(?:import pytest|from unittest|@Test\b|describe\(|it\(['\"]|func Test\w+\(t \*testing\.T\))",
     ML),
    ("refactor-words", "refactoring", 4, "prose",
     r"\b(?:refactor\w*|restructur\w*|reorgani[sz]\w*|clean (?:this |it |that |the code )?up|"
     r"decouple\w*|de-?duplicat\w*|duplicat\w*|repetitive|(?-i:DRY)|without changing (?:the )?behaviou?r|"
     r"modernis\w*|moderniz\w*|too (?:nested|long|complex|complicated)|hard to (?:read|follow|maintain)|"
     r"early returns?|readab\w+)\b", CI),
    ("restructure-verbs", "refactoring", 3, "prose",
     r"\b(?:rename\w*|extract (?:\S+ ){0,5}?(?:into|to|as|out)|extract (?:a|an|the) (?:method|function|class|"
     r"helper|module|component|hook|interface)|simplif\w*|split (?:\S+ ){0,6}into|"
     r"move (?:\S+ ){0,8}(?:in)?to (?:a |an |"
     r"its own |their own )?(?:separate|new|own|different)|convert (?:\S+ ){0,6}(?:to|into)|migrate "
     r"(?:\S+ ){0,6}(?:to|from)|replace (?:\S+ ){0,8}with|inline (?:this|the)|separate (?:\S+ ){0,4}(?:out|"
     r"from|into))\b", CI),
    ("docs-words", "documentation", 4, "prose",
     r"\b(?:docstrings?|jsdoc|javadoc|tsdoc|rustdoc|godoc|doc ?comments?|sphinx|readme|changelog|"
     r"contributing(?:\.md)?|docs|documentation|documented|documenting|document (?:the|this|these|each|"
     r"all|every|our|my|it|how|what|its|their)|(?:inline |code )?comments? "
     r"(?:explaining|to explain|describing|for|to)|add (?:\S+ ){0,2}comments|release notes|man page|"
     r"user guide|how-to guide)\b", CI),
    ("format-words", "formatting", 4, "prose",
     r"\b(?:(?:re)?format\w*|pep ?8|indent\w*|whitespace|tabs? (?:to|into|with) (?:\d+ )?spaces|"
     r"trailing (?:whitespace|commas?|spaces)|sort (?:the |all )?imports|unused imports|line too long|"
     r"pretty[- ]?print\w*|markdown table|wrap (?:these |the |all )?lines|align\w*|uppercas\w*|"
     r"lowercas\w*|camel ?case|snake[_ ]case|line endings|code style)\b", CI),
    ("format-tools", "formatting", 2, "prose",
     r"\b(?:prettier|(?:run|apply|use|with|using) black|black (?:formatting|style|formatter)|isort|gofmt|"
     r"rustfmt|clang-format|autopep8|yapf|ruff|eslint|stylelint|flake8|"
     r"pylint|lint\w*|E\d{3}|F\d{3})\b", CI),
    ("lint-errors", "formatting", 2, "prose",
     r"\b(?:lint\w*|ruff|eslint|flake8|pylint|stylelint|style|formatting) (?:errors?|warnings?|issues?|"
     r"violations?|complaints?)\b", CI),
    ("scaffold-words", "boilerplate", 4, "prose",
     r"\b(?:boilerplate|scaffold\w*|skeleton|starter|template|stubs?|set ?up a new|new project|bootstrap "
     r"(?:a|an|the)|from scratch|cookiecutter|create-react-app)\b", CI),
    ("project-files", "boilerplate", 3, "prose",
     r"(?:\bset ?up (?:a|an|the|my|our) (?:\S+ ){0,3}?(?:project|app|application|foundation|repo\w*|"
     r"environment|skeleton|structure|service)\b|\bproject structure\b|\b(?:dockerfile|"
     r"docker-compose(?:\.ya?ml)?|makefile|github actions|ci (?:workflow|pipeline|"
     r"config)|workflow|tsconfig(?:\.json)?|pyproject\.toml|setup\.py|package\.json|manifest(?: v3)?|"
     r"gitignore|helm chart|crud|dataclass|dto|pojo|getters?|setters?|from_dict)\b|\.eslintrc|"
     r"\.github/workflows)", CI),
    ("math-words", "math", 4, "prose",
     r"\b(?:prove|proof|integral|integrate|derivative|differentiat\w*|eigen\w*|theorem|lemma|probabilit\w*|"
     r"expected (?:value|number)|variance|combinator\w*|how many ways|permutations?|recurrence|closed[- ]"
     r"form|irrational|prime factor\w*|modulo|equations?|solve for|matri(?:x|ces)|determinant|positive "
     r"definite|latex|find x|logarithm\w*|polynomial\w*|series converge\w*|limit of|normal equation)\b", CI),
    ("math-notation", "math", 2, "full",
     r"\b[a-z]\s*\^\s*\(?[\da-z]|\bsqrt\s*\(|[∫∑√π∞≤≥]|\bd[xy]\b|\b\d+\s*[a-z]\s*[+\-]\s*\d+\s*=", CI),
    ("architecture-words", "architecture", 4, "prose",
     r"\b(?:architect\w*|system design|microservices?|monolith\w*|service boundar\w*|event[- ]driven|"
     r"message (?:queue|bus|broker)|kafka|rabbitmq|pub/?sub|scalab\w+|horizontally|high[- ]level design|"
     r"infrastructure|multi[- ](?:tenant|region)|regions|failover|disaster recovery|high availability|"
     r"(?-i:ADR)|cqrs|event sourcing|monorepo|how should (?:I|we) structure|plugin system|distributed system|"
     r"load balanc\w*|sharding|background jobs|resilient)\b", CI),
    ("design-words", "design", 4, "prose",
     r"\b(?:design (?:a|an|the) (?:\S+ ){0,3}?(?:api|schema|interface|data ?model|class(?:es)?|module|"
     r"format|protocol|endpoints?|database|tables?|types?|library|sdk)|api design|(?:rest|graphql|grpc) "
     r"(?:api|schema|endpoints?)|database schema|schema (?:for|design)|data models?|model (?:\S+ ){0,4}"
     r"(?:in postgres|in the database|relationships?)|many-to-many|entity[- ]relationship|ERD|class "
     r"hierarch\w*|design patterns?|(?:clean|good|nice) interface|abstraction|public api|function "
     r"signatures|json format|payload format|versioning|version it|(?:which|what) pattern)\b", CI),
    ("design-word", "design", 2, "prose", r"\bdesign\w*\b", CI),
    ("design-questions", "design", 3, "prose",
     r"\b(?:inherit\w*|inheritance|composition over|should (?:it|they|this|these|we|I) (?:be|just|remain|"
     r"stay|live|belong)|does (?:this|it|that) make sense|best (?:way|practice) to (?:structure|organi[sz]e|"
     r"model|represent|create)|what (?:would|should) go in|responsibilit\w*|where should \S+ (?:go|live)|"
     r"global (?:settings?|state|config\w*)|(?:one|single) source of truth)\b", CI),
    ("planning", "architecture", 3, "prose",
     r"\b(?:(?:create|make|write|draft|propose) a (?:\S+ )?plan|plan (?:for|how|out)|roadmap)\b", CI),
    ("performance-words", "optimization", 4, "prose",
     r"\b(?:optimi[sz]\w*|faster|speed (?:it |this |them )?up|slow\w*|performan\w*|latency|throughput|"
     r"bottleneck\w*|profil\w*|memory usage|memory footprint|out of memory|OOM\w*|cpu usage|complexity|"
     r"efficien\w*|cold start|startup time|re-?renders?|snappy|laggy|takes? \d+(?:\.\d+)? ?(?:s|ms|"
     r"seconds|minutes)\b|n\+1|sequential scan|what index|index(?:es)? (?:should|to add)|vectori[sz]\w*|"
     r"cache (?:the|its|these|those) (?:results?|responses?|calls?)|memoi[sz]\w*|shrink|binary size|"
     r"bundle size|reduce (?:the )?(?:size|time|memory|cpu|allocations|load|number of queries))"
     r"|\bO\(n(?:\^?\d| log n)\)", CI),
    ("codegen-words", "code_generation", 3, "prose",
     r"\b(?:implement\w*|(?:write|create|build|generate|give me|make) (?:me )?(?:a|an|the|some)? ?(?:\S+ )"
     r"{0,3}?(?:function|class|method|script|program|endpoint|component|hook|query|regex|one-liner|cli|"
     r"parser|module|handler|middleware|service|page|form|widget|command|snippet|code)|add (?:a|an|the|"
     r"some) (?:\S+ ){0,3}?(?:endpoint|flag|option|feature|button|field|column|route|function|method|"
     r"command|page|setting|parameter|argument|handler)|add (?:pagination|validation|caching|logging|"
     r"retries|support for|auth\w*|a way to)|make (?:the|it|this) (?:\S+ )?(?:accept|support|handle|"
     r"return|send|use|work with)|one-liner)\b", CI),
    ("question", "knowledge", 2, "prose",
     r"^\s*(?:what|what'?s|how|why|when|which|where|who|is|are|does|do|isn'?t|aren'?t)\b[^\n]*\?|"
     r"\b(?:what|where|why|how|which|who)\b[^.!?\n]*\?|\bam I (?:right|correct|missing)|"
     r"\b(?:what (?:is|are|does)|how does|meaning of|purpose of|pros and cons|tell me about|"
     r"don'?t change anything|overview|summar(?:y|ies|i[sz]e\w*)|walk me through|represents?)\b", CI),
    ("explain", "knowledge", 3, "prose", r"\b(?:explain\w*|ELI5|difference between|just explain)\b", CI),
)
PRIORITY = ("debugging", "code_review", "testing", "math", "formatting", "documentation", "optimization",
            "refactoring", "architecture", "design", "boilerplate", "code_generation", "knowledge")

RULES: tuple[tuple[str, str, int, str, re.Pattern[str]], ...] = tuple(
    (name, task, weight, where, re.compile(pattern, flags))
    for name, task, weight, where, pattern, flags in _RULES
)


def _required(seq: Any) -> set[str] | None:
    """Strings one of which every match of the parsed pattern `seq` contains (its longest run of
    literal characters, or those of a group it cannot skip), or None when there is no such set."""
    from re import _constants as c  # type: ignore[attr-defined]

    best = run = ""
    groups: list[Any] = []
    for op, av in seq:
        if op is c.LITERAL:
            run += chr(av)
            continue
        best, run = max(best, run, key=len), ""
        if op is c.BRANCH:
            groups.append(av[1])
        elif op is c.SUBPATTERN:
            groups.append([av[-1]])
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
            groups.append([av[2]])
    best = max(best, run, key=len)
    if len(best) >= 3:
        return {best}
    for branches in groups:
        found: set[str] | None = set()
        for b in branches:
            r = _required(b)
            if r is None:
                found = None
                break
            found |= r  # type: ignore[operator]
        if found:
            return found
    return {best} if best else None


def _prefilter(pattern: re.Pattern[str]) -> tuple[bool, tuple[str, ...], re.Pattern[str]] | None:
    """(case-insensitive, the strings one of which any match contains, a pattern of them); None: no
    such strings."""
    from re import _parser  # type: ignore[attr-defined]

    found = _required(_parser.parse(pattern.pattern, pattern.flags))
    if not found:
        return None
    folded = bool(pattern.flags & re.IGNORECASE)
    strings = tuple(sorted({f.lower() if folded else f for f in found}, key=lambda f: (-len(f), f)))
    return folded, strings, re.compile("|".join(map(re.escape, strings)))


# a rule's regular expression runs only on text that holds one of its literal strings (a fast scan)
_NEEDS = [_prefilter(pattern) for *_, pattern in RULES]
_RANK = {t: i for i, t in enumerate(PRIORITY)}


def _evidence(pattern: re.Pattern[str], text: str, lowered: str, needs: Any) -> float:
    """How strongly `text` matches a rule: 0 for no match, 1 for one phrase, up to 2 for three or more
    different phrases (more of the same kind of evidence counts, with diminishing weight)."""
    if needs is not None:
        folded, strings, any_of = needs
        where = lowered if folded else text
        # a short text is scanned fastest by one pattern of the strings, a long one string by string
        if not (any_of.search(where) if len(where) < 400 else any(s in where for s in strings)):
            return 0.0
    found = set()
    for m in pattern.finditer(text):
        found.add(m.group(0).lower())
        if len(found) >= 3:
            break
    return 0.0 if not found else 1.0 + 0.5 * (len(found) - 1)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content
            if isinstance(p, Mapping) and p.get("type", "text") == "text" and isinstance(p.get("text"), str)
        )
    return ""


def request_of(messages: Sequence[Mapping[str, Any]]) -> str:
    """The user's own request: the last user turn that is not a tool's result, inside the tag an agent
    wraps it in (Cline's <task>, Cursor's <user_query>), without the context the agent adds."""
    for m in reversed(messages):
        if m.get("role") != "user":
            continue
        raw = _text(m.get("content"))
        if len(raw) > 2 * MAX_TEXT:  # its start and its end
            raw = raw[:MAX_TEXT] + "\n" + raw[-MAX_TEXT:]
        if not raw or _TOOL_RESULT.match(raw):
            continue
        inside = [body for _, body in _INSIDE.findall(raw)]
        text = "\n".join(inside) if inside else _DROP.sub("", raw)
        if text.strip():
            return _ASK.sub("", text.strip())
    return ""


def attached_code(messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the last user turn carries code (a fenced block, also in an agent's attached files)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return "```" in _text(m.get("content"))[:MAX_TEXT * 2]
    return False


def compile_rules(rules: Sequence[Any]) -> tuple[tuple[str, str, str, re.Pattern[str]], ...]:
    """The config's `[[gateway.rules]]` (InferenceRule records) as (name, task type, where, regex):
    the pattern, or any of the keywords as whole words, case-insensitive."""
    out = []
    for r in rules:
        parts = [f"(?:{r.pattern})"] if r.pattern else []
        if r.keywords:
            parts.append(r"\b(?:" + "|".join(re.escape(k) for k in r.keywords) + r")\b")
        out.append((r.name, r.task_type, r.where, re.compile("|".join(parts), CI | ML)))
    return tuple(out)


def infer(
    messages: Sequence[Mapping[str, Any]],
    task_types: Sequence[str],
    tools: Any = None,
    rules: Sequence[tuple[str, str, str, re.Pattern[str]]] = (),
) -> tuple[str, str]:
    """(task type, how it was found: `rule:NAME` or `default`) for a chat request. `rules` (from
    `compile_rules`) are tried first, in order, and the first that matches decides; then the built-in
    rules weigh in on the request, its code and a short system prompt (at half weight). With no match:
    code generation when the request holds code or tools come with it, else knowledge. Only types in
    `task_types` are answered."""
    request = request_of(messages)
    system = "\n".join(_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    known = set(task_types)
    for name, task, where, pattern in rules:
        if task not in known:
            continue
        if (where != "system" and pattern.search(request)) or (
            where != "user" and pattern.search(system[:MAX_TEXT])
        ):
            return task, f"rule:{name}"
    code = "\n".join(_FENCED.findall(request))
    prose = _FENCED.sub("\n", request)
    if len(prose) > HEAD + TAIL:
        prose = prose[:HEAD] + "\n" + prose[-TAIL:]
    parts = [("prose", prose, 1.0), ("full", request[:HEAD_FULL], 1.0), ("code", code[:HEAD_FULL], 1.0)]
    if 0 < len(system) <= SHORT_SYSTEM:
        parts.append(("prose", system, 0.5))
    texts = [(part, text, text.lower(), k) for part, text, k in parts if text]
    score: dict[str, float] = {}
    best: dict[str, tuple[float, str]] = {}
    for (name, task, weight, where, pattern), needs in zip(RULES, _NEEDS, strict=True):
        if task not in known:
            continue
        w = max((k * weight * _evidence(pattern, text, lowered, needs)
                 for part, text, lowered, k in texts if part == where), default=0.0)
        if w:
            score[task] = score.get(task, 0.0) + w
            if w > best.get(task, (0.0, ""))[0]:
                best[task] = (w, name)
    if score:
        task = min(score, key=lambda t: (-score[t], _RANK.get(t, len(_RANK))))
        return task, f"rule:{best[task][1]}"
    # an agent (tools, or its long system prompt) or code in the request: most likely writing code
    agent = bool(tools) or len(system) > SHORT_SYSTEM
    fallback = "code_generation" if agent or code or attached_code(messages) else "knowledge"
    if fallback not in known:
        fallback = task_types[0]
    return fallback, "default"
