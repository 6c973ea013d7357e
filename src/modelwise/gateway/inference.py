"""The task type of a chat request, inferred from its messages by a few ordered rules (a first version).

The last user turn is read first, then the system prompt; the first rule that matches names the type,
and `infer` says which rule it was. With no match the type is `code_generation` when the request holds
code, else `knowledge`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# (rule name, task type, pattern); case-insensitive, tried in this order on the last user turn, then on
# the system prompt
RULES: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (name, task, re.compile(pattern, re.IGNORECASE))
    for name, task, pattern in (
        ("stack-trace", "debugging",
         r"Traceback \(most recent call last\)|^\s+at [\w.$<>]+\(.*:\d+\)|panicked at|"
         r"\b(?:Error|Exception):\s|segmentation fault|\bstack ?trace\b"),
        ("debug-words", "debugging", r"\b(?:bug|debug|crash(?:es|ed)?|fails?|failing|broken|doesn'?t work|"
         r"not working|fix (?:this|the|my))\b"),
        ("diff-review", "code_review", r"^(?:diff --git|@@ -\d+(?:,\d+)? \+\d+)|\breview\b|\bpull request\b"),
        ("test-words", "testing", r"\b(?:unit tests?|pytest|jest|junit|vitest|mocha|rspec|test cases?|"
         r"write tests?|add tests?|coverage)\b"),
        ("refactor-words", "refactoring", r"\b(?:refactor\w*|clean ?up|restructure|rename|extract (?:a )?"
         r"(?:function|method|class))\b"),
        ("optimize-words", "optimization", r"\b(?:optimi[sz]e|faster|performance|speed up|latency|"
         r"memory usage|profil\w+)\b"),
        ("architecture-words", "architecture", r"\b(?:architecture|system design|microservices?|"
         r"scalab\w+|design the system)\b"),
        ("design-words", "design", r"\b(?:design|api shape|data model|schema design|interface for)\b"),
        ("docs-words", "documentation", r"\b(?:docstrings?|document(?:ation)?|readme|comments? for|"
         r"explain (?:this|the) code)\b"),
        ("format-words", "formatting", r"\b(?:format|prettier|black|lint|indent\w*|reformat)\b"),
        ("boilerplate-words", "boilerplate", r"\b(?:boilerplate|scaffold\w*|skeleton|template|stub)\b"),
        ("math-words", "math", r"\b(?:prove|proof|integral|derivative|equation|theorem|probability)\b"),
        ("codegen-words", "code_generation", r"\b(?:implement|write (?:a|an|the) (?:function|class|script|"
         r"program|endpoint)|generate code|create (?:a|an) (?:function|class|endpoint|component))\b"),
    )
)
_CODE = re.compile(r"```|^\s*(?:def|class|function|import|from \S+ import|#include|fn|func|public|const)\b",
                   re.MULTILINE)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content
            if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        )
    return ""


def infer(messages: Sequence[Mapping[str, Any]], task_types: Sequence[str]) -> tuple[str, str]:
    """(task type, how it was found: `rule:NAME` or `default`) for a chat request's messages; only types
    in `task_types` are answered (a rule whose type is not configured is skipped)."""
    last_user = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    system = "\n".join(_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    known = set(task_types)
    for text in (last_user[:20_000], system[:20_000]):
        if not text:
            continue
        for name, task, pattern in RULES:
            if task in known and pattern.search(text):
                return task, f"rule:{name}"
    fallback = "code_generation" if _CODE.search(last_user[:20_000]) else "knowledge"
    if fallback not in known:
        fallback = task_types[0]
    return fallback, "default"
