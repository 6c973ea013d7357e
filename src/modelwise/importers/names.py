"""Model-name normalisation shared by the registry importer: LiteLLM keys, arena names, display names."""

from __future__ import annotations

import re

# Prefixes that cloud catalogues put before a model name (`us.anthropic.claude-...`, `bedrock_mantle/...`).
REGION_PREFIXES = ("us-gov", "us", "eu", "apac", "global", "jp", "au", "ca", "in")
VENDOR_PREFIXES = (
    "anthropic", "meta", "amazon", "mistral", "mistralai", "cohere", "ai21", "deepseek", "openai", "qwen",
    "xai", "zai", "moonshot", "moonshotai", "google", "minimax", "writer", "nvidia", "twelvelabs",
)
# Reseller product prefixes before the model's own name (`databricks-claude-opus-4-5`, `FW-GLM-5`).
PRODUCT_PREFIX_RE = re.compile(
    r"^(?:databricks-|snowflake-|openai-|anthropic-|fw-|cohere-|meta-textgeneration-|perplexity-|coding-|"
    r"zai-|gemini-(?=gemma))",
    re.IGNORECASE,
)
# Tokens that name a packaging of the same weights, not a different model.
NOISE_TOKENS = frozenset({
    "instruct", "it", "hf", "versatile", "fp8", "bf16", "fp16", "maas", "gguf", "mxfp", "mxfp4", "cloud",
})
# Tokens dropped in the second matching tier: snapshot markers.
SNAPSHOT_TOKENS = frozenset({"latest", "preview", "exp", "beta"})
# Tokens dropped in the third matching tier: reasoning-effort settings of the arena's variants.
EFFORT_TOKENS = frozenset({
    "high", "xhigh", "medium", "low", "minimal", "max", "thinking", "nothinking", "non", "reasoning",
    "16k", "24k", "32k", "default",
})

_DATE_RE = re.compile(r"^(?:20\d{6}|\d{6}|\d{4}|20\d{2})$")


def strip_listing(key: str) -> str:
    """The model part of a LiteLLM key: last path segment, no region/vendor prefix, no deployment suffix.

    `bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0` -> `claude-3-5-haiku-20241022`,
    `vertex_ai/claude-opus-4@20250514` -> `claude-opus-4`, `fireworks_ai/accounts/x/models/y` -> `y`.
    """
    name = key.rsplit("/", 1)[-1]
    changed = True
    while changed:
        changed = False
        head, dot, rest = name.partition(".")
        if dot and rest and head.lower() in REGION_PREFIXES + VENDOR_PREFIXES:
            if head.lower() == "deepseek" and not rest.lower().startswith("deepseek"):
                rest = "deepseek-" + rest  # bedrock: deepseek.v3-v1:0 -> deepseek-v3
            name, changed = rest, True
    name = PRODUCT_PREFIX_RE.sub("", name, count=1) or name
    name = name.split("@", 1)[0]
    name = re.sub(r"-v?\d+:\d+$", "", name)  # bedrock revision: -v1:0, -1:0
    name = re.sub(r":(?:free|\d+)$", "", name)  # reseller tier or revision: :free, :0
    name = name.replace(":", "-")
    if name.lower().endswith("-maas"):
        name = name[: -len("-maas")]
    return name


def tokens(name: str) -> list[str]:
    """Lower-case tokens of a model name with version separators unified (`3p1`, `3-1`, `3.1` -> `3.1`)."""
    s = name.lower().strip()
    s = re.sub(r"\s*\(([^)]*)\)\s*", r"-\1", s)  # "mimo-v2-flash (thinking)" -> "mimo-v2-flash-thinking"
    s = re.sub(r"(20\d{2})-(\d{2})-(\d{2})", r"\1\2\3", s)  # 2024-08-06 -> 20240806
    s = re.sub(r"(?<![\d.])(\d{2})-(20\d{2})(?!\d)", r"\2\1", s)  # 09-2025 -> 202509
    s = re.sub(r"(?<=-)(\d{2})-(\d{2})(?=-|$)", r"\1\2", s)  # preview-02-05 -> 0205
    s = re.sub(r"(?<=\d)p(?=\d)", ".", s)  # fireworks: llama-v3p1 -> llama-v3.1
    s = re.sub(r"(?<=\d)-(?=\d(?![\dbkmx]))", ".", s)  # claude-3-5 -> claude-3.5, not 4-20250514 or 3-8b
    s = s.replace("no-thinking", "nothinking").replace("non-thinking", "nothinking")
    parts = [p for p in re.split(r"[-_\s/]+", s) if p]
    out: list[str] = []
    for p in parts:
        # llama3.1 -> llama 3.1 ; qwen3 -> qwen 3 ; version glued to the family name
        m = re.fullmatch(r"(llama|qwen|gemma|phi|mistral|mixtral|glm|yi)(\d[\d.]*)", p)
        if m:
            out.extend([m.group(1), m.group(2)])
        elif out and out[-1] == "llama" and re.fullmatch(r"v\d[\d.]*", p):
            out.append(p[1:])  # fireworks: llama-v3.1 -> llama 3.1
        else:
            out.append(p)
    if out[:2] in (["meta", "llama"], ["amazon", "nova"]):
        out = out[1:]
    if out[:1] == ["nova"] and len(out) > 2 and re.fullmatch(r"v\d+(?:\.0)?", out[-1]):
        out = out[:-1]  # amazon-nova-pro-v1.0 / nova-pro-v1 -> nova pro
    return out


def match_key(name: str, tier: int = 0) -> str:
    """Normalised comparison key. Tier 0: packaging noise removed; tier 1: also snapshot dates and
    `latest`/`preview`; tier 2: also reasoning-effort suffixes (`-high`, `-thinking-32k`, ...)."""
    toks = [t for t in tokens(name) if t not in NOISE_TOKENS]
    if tier >= 1:
        toks = [t for t in toks if t not in SNAPSHOT_TOKENS and not is_date(t)]
    if tier >= 2:
        while toks and toks[-1] in EFFORT_TOKENS:
            toks.pop()
    return "".join(t.replace(".", "") if t.isdigit() else t for t in toks).replace(".", "")


def family_key(name: str) -> str:
    """The model family: the tier-0 key without snapshot dates and `latest` (`gpt-4o-2024-08-06`,
    `gpt-4o` and `gpt-4o-latest` share one; `-preview`/`-exp` variants keep theirs)."""
    toks = [t for t in tokens(name) if t not in NOISE_TOKENS and t != "latest" and not is_date(t)]
    return "".join(t.replace(".", "") if t.isdigit() else t for t in toks).replace(".", "")


def is_date(tok: str) -> bool:
    """A snapshot date token: 20250514, 0711, 2024, 250219 (also as 2024.08.06 after normalisation)."""
    if "." in tok and all(part.isdigit() for part in tok.split(".")):
        parts = tok.split(".")
        return len(parts[0]) == 4 and parts[0].startswith("20")
    return bool(_DATE_RE.match(tok))


def date_of(name: str) -> str:
    """The snapshot date digits of a name ('' when none), for 'newest snapshot first' ordering."""
    found = [t.replace(".", "") for t in tokens(name) if is_date(t)]
    return "".join(found)


_UPPER = {
    "gpt", "glm", "oss", "ai", "vl", "r1", "xl", "api", "llm", "moe", "gguf", "fp8", "fp4", "awq", "sea",
    "lion", "m1", "m2", "m3", "ui", "ocr", "omni",
}
_UPPER.discard("omni")
_UPPER.discard("lion")


# Makers' own spelling of names that plain capitalisation gets wrong.
_BRANDS = {"deepseek": "DeepSeek", "minimax": "MiniMax", "mimo": "MiMo", "chatgpt": "ChatGPT",
           "openai": "OpenAI", "xai": "xAI", "qwq": "QwQ", "internlm": "InternLM", "codegeex4": "CodeGeeX4"}


def display_name(model_id: str) -> str:
    """A readable name derived deterministically from an id: `gpt-4o-mini` -> `GPT-4o Mini`."""
    base = model_id.rsplit("/", 1)[-1]
    # a version written with dashes is one version: claude-opus-5-5 -> 5.5, llama-3-3-70b -> 3.3
    base = re.sub(r"(?<![\w.])(\d)-(\d)(?![\w.])", r"\1.\2", base)
    base = re.sub(r"(?<![\w.])(\d)-(\d)(?=-|$)", r"\1.\2", base)
    base = re.sub(r"(?<=[a-z]\d)-(\d)(?=-|$)", r".\1", base, flags=re.IGNORECASE)  # mimo-v2-6 -> v2.6
    base = re.sub(r"(?<=\d)p(?=\d)", ".", base)  # fireworks: deepseek-v4p1 -> v4.1
    parts = [p for p in re.split(r"[-_\s]+", base) if p]
    words: list[str] = []
    for i, p in enumerate(parts):
        low = p.lower()
        if low in _BRANDS:
            w = _BRANDS[low]
        elif low in _UPPER:
            w = low.upper()
        elif re.fullmatch(r"a?\d+(?:\.\d+)?[bkm]", low):
            w = low.upper()  # sizes: 70B, A22B, 128K
        elif re.fullmatch(r"\d[\w.]*", p):
            w = p  # versions and sizes as written: 4o, 3.5, 70b
        else:
            w = p[0].upper() + p[1:]
        # join a version to the family name the way makers write it: GPT-4o, Claude 3.5
        if i > 0 and words and words[-1] == "GPT" and re.fullmatch(r"\d[\w.]*", p):
            words[-1] = f"GPT-{w}"
            continue
        words.append(w)
    return " ".join(words) or model_id
