"""The labelled corpus of tests/fixtures/inference_corpus.json as the chat requests each client sends (its
system prompt, message layout and tools around the user's request), the task inference's accuracy on
it per task type, and the training of the word model the inference ships
(src/modelwise/gateway/inference_words.json) on the corpus's `tune` prompts. `python -m
tests.inference_corpus` prints the report; `--train` writes the word model again."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "fixtures" / "inference_corpus.json"
FENCE = "```"


def load() -> dict[str, Any]:
    return json.loads(CORPUS.read_text())


def _lang(path: str) -> str:
    ext = path.rsplit(".", 1)[-1]
    return {"py": "python", "ts": "typescript", "jsx": "jsx", "go": "go", "rs": "rust", "java": "java",
            "sql": "sql", "json": "json"}.get(ext, ext)


def request(p: dict[str, Any], clients: dict[str, Any]) -> dict[str, Any]:
    """The chat request body (`messages`, and `tools` for the clients that send them) for prompt `p`."""
    c = clients[p["client"]]
    task, code = p["task"], p.get("code")
    fenced = f"{FENCE}{_lang(code['path'])} {code['path']}\n{code['text']}{FENCE}" if code else ""
    system = p.get("system", c.get("system"))
    msgs: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    tools = c.get("tools")
    follow = p.get("followup")
    kind = p["client"]
    if kind == "cline":
        body = f"<task>\n{task}\n</task>" + (f"\n\n{fenced}" if fenced else "")
        env = c["environment"].replace("{file}", code["path"] if code else "src/index.ts")
        msgs.append({"role": "user", "content": f"{body}\n\n{env}"})
        if follow:
            path = follow["path"]
            msgs.append({"role": "assistant", "content": f"<read_file>\n<path>{path}</path>\n</read_file>"})
            msgs.append({"role": "user",
                         "content": f"[read_file for '{path}'] Result:\n{follow['text']}\n\n{env}"})
    elif kind == "claude_code":
        text = task + (f"\n\n{fenced}" if fenced else "")
        msgs.append({"role": "user", "content": [{"type": "text", "text": c["reminder"]},
                                                 {"type": "text", "text": text}]})
        if follow:
            msgs.append({"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "Read", "arguments": json.dumps({"file_path": follow["path"]})}}]})
            lines = follow["text"].splitlines()
            numbered = "\n".join(f"{i + 1:>6}\u2192{line}" for i, line in enumerate(lines))
            msgs.append({"role": "tool", "tool_call_id": "call_1", "content": numbered})
    elif kind == "cursor":
        extra = ""
        if code:
            extra = (
                "<additional_data>\nBelow are some potentially helpful/relevant pieces of information for "
                "figuring out to respond\n<attached_files>\n<file_contents>\n"
                f"{FENCE}path={code['path']}, lines=1-{code['text'].count(chr(10))}\n{code['text']}{FENCE}\n"
                "</file_contents>\n</attached_files>\n</additional_data>\n\n"
            )
        msgs.append({"role": "user", "content": f"{extra}<user_query>\n{task}\n</user_query>"})
    elif kind == "continue":
        msgs.append({"role": "user", "content": (f"{fenced}\n\n" if fenced else "") + task})
    elif kind == "aider":
        ex_user, ex_assistant, ex_user2 = c["examples"]
        msgs += [
            {"role": "user", "content": ex_user}, {"role": "assistant", "content": ex_assistant},
            {"role": "user", "content": ex_user2},
            {"role": "assistant", "content": "Ok, I will move hello() into hello.py."},
            {"role": "user", "content": "I switched to a new code base. Please don't consider the above "
                                        "files or try to edit them any longer."},
            {"role": "assistant", "content": "Ok."},
            {"role": "user", "content": c["repo_map"]},
            {"role": "assistant", "content": "Ok, I won't try and edit those files without asking first."},
        ]
        if code:
            added = f"{code['path']}\n{FENCE}\n{code['text']}{FENCE}"
            msgs += [{"role": "user", "content": "I have *added these files to the chat* so you can go ahead "
                                                 f"and edit them.\n\n{added}"},
                     {"role": "assistant", "content": "Ok, any changes I propose will be to those files."}]
        msgs.append({"role": "user", "content": task})
    else:  # a plain SDK call
        msgs.append({"role": "user", "content": task + (f"\n\n{fenced}" if fenced else "")})
    out: dict[str, Any] = {"messages": msgs}
    if tools:
        out["tools"] = tools
    return out


def evaluate(infer: Any, types: tuple[str, ...]) -> dict[str, dict[str, Counter]]:
    """{split: {"right": Counter(type), "all": Counter(type)}} over the corpus, with `infer(request)`
    answering (task type, how)."""
    doc = load()
    out: dict[str, dict[str, Counter]] = {}
    for p in doc["prompts"]:
        got, _ = infer(request(p, doc["clients"]))
        tally = out.setdefault(p["split"], {"right": Counter(), "all": Counter(), "wrong": Counter()})
        tally["all"][p["type"]] += 1
        if got == p["type"]:
            tally["right"][p["type"]] += 1
        else:
            tally["wrong"][f"{p['id']} -> {got}"] += 1
    return out


def report(result: dict[str, dict[str, Counter]], types: tuple[str, ...]) -> str:
    lines = [f"{'task type':<16} {'tune':>10} {'held-out':>10} {'all':>10}"]

    def cell(right: int, n: int) -> str:
        return f"{right}/{n}" if n else "-"

    for t in (*types, None):
        cells = []
        for split in ("tune", "held-out", None):
            tallies = [result[s] for s in ((split,) if split else ("tune", "held-out")) if s in result]
            right = sum(x["right"][t] if t else sum(x["right"].values()) for x in tallies)
            n = sum(x["all"][t] if t else sum(x["all"].values()) for x in tallies)
            cells.append(cell(right, n) + (f" {right / n:4.0%}" if n and t is None else ""))
        lines.append(f"{t or 'all types':<16} " + " ".join(f"{c:>10}" for c in cells))
    return "\n".join(lines)


ALPHA = 0.5  # the word model's smoothing
MIN_PROMPTS = 2  # a word (or pair) the model keeps is in at least this many of the prompts it learns from


def train(doc: dict[str, Any], types: tuple[str, ...]) -> dict[str, Any]:
    """The word model (`gateway.inference.WordModel`'s file) learned from the corpus's `tune` prompts only,
    so that the held-out ones measure it as they measure the rules: per type, how many prompts, and for
    each word or pair in at least MIN_PROMPTS of them, how many prompts of each type hold it."""
    from modelwise.gateway.inference import features

    index = {t: i for i, t in enumerate(types)}
    prompts = [0] * len(types)
    counts: dict[str, list[int]] = {}
    for p in doc["prompts"]:
        if p["split"] != "tune":
            continue
        i = index[p["type"]]
        prompts[i] += 1
        for f in features(request(p, doc["clients"])["messages"]):
            counts.setdefault(f, [0] * len(types))[i] += 1
    kept = {f: row for f, row in sorted(counts.items()) if sum(row) >= MIN_PROMPTS}
    return {"about": "A Bernoulli naive Bayes over the words and word pairs of a request's prose, learned by "
                     "`python -m tests.inference_corpus --train` from the tune prompts of "
                     "tests/fixtures/inference_corpus.json (modelwise.gateway.inference.WordModel)",
            "alpha": ALPHA, "types": list(types), "prompts": prompts, "counts": kept}


def dump(model: dict[str, Any]) -> str:
    """The model file's text: one word per line, so that a retraining's diff shows what changed."""
    head = {k: v for k, v in model.items() if k != "counts"}
    lines = [f"{json.dumps(f)}: {json.dumps(row, separators=(',', ':'))}"
             for f, row in model["counts"].items()]
    return json.dumps(head, indent=1)[:-2] + ',\n "counts": {\n' + ",\n".join(lines) + "\n }\n}\n"


def main(argv: list[str] | None = None) -> None:
    import sys

    from modelwise.core.settings import Settings
    from modelwise.gateway.inference import WORDS_FILE, infer

    types = Settings().task_types
    if "--train" in (sys.argv[1:] if argv is None else argv):
        model = train(load(), types)
        WORDS_FILE.write_text(dump(model))
        print(f"{WORDS_FILE}: {len(model['counts'])} words and pairs from {sum(model['prompts'])} prompts")
        return
    result = evaluate(lambda body: infer(body["messages"], types, tools=body.get("tools")), types)
    print(report(result, types))


if __name__ == "__main__":
    main()
