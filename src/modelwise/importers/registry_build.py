"""Build `model_registry.json` (docs/design.md, "Building the registry") from public price and rating
snapshots; no network, no clock."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelwise.core.errors import BadInput, RegistryError
from modelwise.files.registry import parse_registry
from modelwise.importers.names import date_of, display_name, family_key, match_key, strip_listing, tokens

Progress = Callable[[str, int, int], None]

TASK_TYPES: tuple[str, ...] = (
    "documentation", "boilerplate", "formatting", "code_generation", "debugging", "testing", "refactoring",
    "code_review", "knowledge", "math", "architecture", "design", "optimization",
)
# Arena category (page `text/<category>`) -> the task types it rates. `hard_prompts` falls back to `expert`.
CATEGORY_TASKS: dict[str, tuple[str, ...]] = {
    "coding": ("code_generation", "debugging", "testing", "refactoring", "code_review", "optimization"),
    "math": ("math",),
    "hard_prompts": ("architecture", "design", "knowledge"),
    "instruction_following": ("formatting", "boilerplate"),
    "creative_writing": ("documentation",),
}
CATEGORY_FALLBACK = {"hard_prompts": "expert"}
OVERALL = "overall"
# LiteLLM boolean flags -> capability names users can require through constraints.
FLAG_CAPABILITIES = {
    "supports_function_calling": "function_calling",
    "supports_vision": "vision",
    "supports_reasoning": "reasoning",
    "supports_response_schema": "response_schema",
    "supports_prompt_caching": "prompt_caching",
    "supports_web_search": "web_search",
    "supports_pdf_input": "pdf_input",
    "supports_audio_input": "audio_input",
}
AIDER_NOT_USED = (
    "The Aider polyglot leaderboard is not used: its 69 runs (model names with edit formats and effort "
    "settings, latest 2025) rate models that the arena coding category already rates, on a different scale "
    "(percent of exercises solved); merging the two would need an invented weighting."
)
AVAILABILITY_DEFAULT = 0.99  # no public availability data exists (docs/design.md, "Building the registry")
PRICE_DIFF_THRESHOLD = 0.05

# The model maker, from the model's own name (first match wins).
MAKER_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"nemotron", "nvidia"),
    (r"^(gpt|o\d|chatgpt|codex|computer-use|chat-latest)", "openai"),
    (r"^claude", "anthropic"),
    (r"^(gemini|gemma|learnlm|palm)", "google"),
    (r"^(meta-)?(llama|codellama|code-llama|muse)", "meta"),
    (r"^(mistral|mixtral|codestral|magistral|ministral|devstral|pixtral|voxtral|open-mistral)", "mistral"),
    (r"^deepseek", "deepseek"),
    (r"^grok", "xai"),
    (r"^(qwen|qwq)", "alibaba"),
    (r"^glm", "zai"),
    (r"^(kimi|moonshot)", "moonshot"),
    (r"^(command|c4ai|aya)", "cohere"),
    (r"^(jamba|j2-)", "ai21"),
    (r"^(nova|titan|amazon)", "amazon"),
    (r"^phi-?\d", "microsoft"),
    (r"^minimax", "minimax"),
    (r"^(sonar|r1-1776|pplx-)", "perplexity"),
    (r"^mimo", "xiaomi"),
    (r"^granite", "ibm"),
    (r"^ernie", "baidu"),
    (r"^(hunyuan|hy\d)", "tencent"),
    (r"^(doubao|seed)", "bytedance"),
    (r"^step-", "stepfun"),
    (r"^mercury", "inception"),
    (r"^(code-?gemma)", "google"),
    (r"^(code-?qwen)", "alibaba"),
    (r"^mamba-codestral", "mistral"),
    (r"^(yi-|llava-yi)", "01-ai"),
    (r"^starcoder", "bigcode"),
    (r"^(nous-|hermes)", "nousresearch"),
    (r"^dbrx", "databricks"),
    (r"^olmo", "allenai"),
    (r"^lfm", "liquid"),
    (r"^cogito", "deepcogito"),
    (r"^kat-", "kwaipilot"),
    (r"^inkling", "thinkingmachines"),
    (r"^mai-", "microsoft"),
    (r"^swe-\d", "cognition"),
    (r"^longcat", "meituan"),
    (r"^(ling|ring)-", "inclusionai"),
    (r"^gigachat", "sber"),
    (r"^sarvam", "sarvam"),
    (r"^apertus", "swiss-ai"),
    (r"^minicpm", "openbmb"),
    (r"^(l3|l3\.\d)-.*(euryale|lunaris|stheno)", "sao10k"),
    (r"^mellum", "jetbrains"),
    (r"^trinity", "arcee-ai"),
    (r"^v0-", "vercel"),
    (r"^internvl", "opengvlab"),
    (r"^(phind|firefunction|fare-|ember-)", "fireworks"),
)
# LiteLLM providers that are the maker's own API, in order of preference.
OWN_PROVIDERS: dict[str, tuple[str, ...]] = {
    "openai": ("openai",),
    "anthropic": ("anthropic",),
    "google": ("gemini", "vertex_ai-language-models"),
    "mistral": ("mistral", "codestral"),
    "deepseek": ("deepseek",),
    "xai": ("xai",),
    "alibaba": ("dashscope", "qwen_ai_platform", "qwencloud"),
    "zai": ("zai", "bigmodel"),
    "moonshot": ("moonshot",),
    "cohere": ("cohere_chat", "cohere"),
    "ai21": ("ai21",),
    "amazon": ("amazon_nova", "bedrock_converse", "bedrock"),
    "minimax": ("minimax",),
    "perplexity": ("perplexity",),
    "xiaomi": ("xiaomi_mimo",),
    "meta": ("meta", "meta_llama"),
    "inception": ("inception",),
    "bytedance": ("volcengine",),
}
# LiteLLM provider -> models.dev provider id, for the price cross-check and display names.
MODELS_DEV_PROVIDER = {
    "openai": "openai", "anthropic": "anthropic", "gemini": "google",
    "vertex_ai-language-models": "google-vertex", "mistral": "mistral", "codestral": "mistral",
    "deepseek": "deepseek", "xai": "xai", "dashscope": "alibaba", "zai": "zai", "moonshot": "moonshotai",
    "cohere_chat": "cohere", "minimax": "minimax", "perplexity": "perplexity", "xiaomi_mimo": "xiaomi",
    "inception": "inception", "together_ai": "togetherai", "fireworks_ai": "fireworks-ai",
    "deepinfra": "deepinfra", "groq": "groq", "cerebras": "cerebras", "azure": "azure",
    "bedrock_converse": "amazon-bedrock", "bedrock": "amazon-bedrock", "novita": "novita-ai",
    "nebius": "nebius", "baseten": "baseten", "wandb": "wandb", "scaleway": "scaleway",
    "ovhcloud": "ovhcloud", "vercel_ai_gateway": "vercel", "github_copilot": "github-copilot",
    "databricks": "databricks", "friendliai": "friendli", "morph": "morph", "v0": "v0", "sarvam": "sarvam",
    "aihubmix": "aihubmix", "gmi": "gmicloud", "cloudflare": "cloudflare-workers-ai",
}
# LLMStats provider id -> maker whose own latency it measures (only the maker's own API is used).
LLMSTATS_OWN = {
    "openai": "openai", "anthropic": "anthropic", "google": "google", "mistral": "mistral",
    "deepseek": "deepseek", "xai": "xai", "cohere": "cohere",
}
# (latency s, throughput tok/s) pairs that LLMStats uses as placeholders, not measurements.
LLMSTATS_PLACEHOLDERS = {(0.5, 100.0), (0.5, 0.1)}

# Long-context prices: `input_cost_per_token_above_200k_tokens` and its output / cache siblings (no
# `_priority`/`_batches`/`_flex` service-tier variants).
TIER_KEY = re.compile(
    r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|"
    r"cache_creation_input_token_cost)_above_(\d+)k_tokens$"
)
TIER_FIELDS = {
    "input_cost_per_token": "inputPer1M", "output_cost_per_token": "outputPer1M",
    "cache_read_input_token_cost": "cacheReadPer1M", "cache_creation_input_token_cost": "cacheWritePer1M",
}
# LiteLLM providers that run on the user's own machine: their $0 is real.
LOCAL_PROVIDERS = frozenset({
    "ollama", "ollama_chat", "lemonade", "lm_studio", "llamafile", "hosted_vllm", "vllm", "llamacpp",
    "docker_model_runner", "xinference",
})

# Entries that LiteLLM lists as chat but are not chat models a task can be routed to.
NOT_CHAT = re.compile(
    r"(prompt-guard|deep-research|computer-use|model[-_]router|^together-ai-\d|^scaledown/|"
    r"^together-ai-up-to|^ft:|moderation|embed|transcribe|tts|audio|realtime|lyria|image|ocr|flux-)",
    re.IGNORECASE,
)


class SourceError(BadInput):
    """An input file is missing, unreadable or not in the expected format."""


@dataclass
class Sources:
    """Paths of the input snapshots. `prices` and `ratings` are required, the rest optional."""

    prices: Path | None
    ratings: Path | None
    models_dev: Path | None = None
    aider: Path | None = None
    llmstats: Path | None = None

    PATTERNS = {
        "prices": "prices/litellm-*model_prices*.json",
        "models_dev": "prices/models_dev-*.json.gz",
        "ratings": "scores/lmarena_*.json",
        "aider": "scores/aider_*.yml",
        "llmstats": "scores/llmstats_*.json",
    }

    @classmethod
    def from_dir(cls, data_dir: str | os.PathLike[str] | None, **overrides: str | os.PathLike[str] | None
                 ) -> Sources:
        """Find the inputs in a folder laid out like the shared data (prices/, scores/); a non-None
        override replaces the file found for that source. Several matches: the last by name wins."""
        found: dict[str, Path | None] = {}
        for name, pattern in cls.PATTERNS.items():
            hits = sorted(Path(data_dir).glob(pattern)) if data_dir is not None else []
            found[name] = hits[-1] if hits else None
        for name, value in overrides.items():
            if name not in cls.PATTERNS:
                raise TypeError(f"unknown source {name!r}")
            if value is not None:
                found[name] = Path(value)
        return cls(**found)

    def files(self) -> list[tuple[str, Path]]:
        return [(n, p) for n in self.PATTERNS if (p := getattr(self, n)) is not None]

    def check(self) -> None:
        """Raise SourceError naming every required file that is missing or unreadable."""
        problems = []
        for name in ("prices", "ratings"):
            if getattr(self, name) is None:
                problems.append(f"no {name} file found (expected {self.PATTERNS[name]})")
        for name, path in self.files():
            if not path.is_file():
                problems.append(f"{path}: {name} file not found")
            elif not os.access(path, os.R_OK):
                problems.append(f"{path}: {name} file is not readable")
        if problems:
            raise SourceError("; ".join(problems))


@dataclass
class BuildResult:
    doc: dict[str, Any]
    report: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- loading


def _load_json(path: Path) -> Any:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return json.load(fh)
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, EOFError) as exc:
        raise SourceError(f"{path}: cannot read: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: not valid JSON: {exc}") from exc
    except RecursionError:
        raise SourceError(f"{path}: not valid JSON: arrays or objects nested too deeply") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _pos_int(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def per_million(cost_per_token: float) -> float:
    """USD per token -> USD per million tokens, rounded to 12 significant digits: that removes binary float
    noise (2.5e-06 * 1e6 = 2.4999999999999996 -> 2.5) yet keeps prices such as 2/7 exact to 1e-12."""
    return float(f"{cost_per_token * 1e6:.12g}")


def arena_as_of(ratings: dict[str, Any], path: Path) -> str:
    """The snapshot moment of the arena file: its `fetched_at`, else the date in its file name."""
    fetched = ratings.get("fetched_at")
    if isinstance(fetched, str) and re.match(r"\d{4}-\d{2}-\d{2}", fetched):
        return fetched
    m = re.search(r"(\d{4}-\d{2}-\d{2})", path.name)
    if m:
        return m.group(1)
    raise SourceError(f"{path}: no fetched_at and no date in the file name; cannot date the snapshot")


def maker_of(name: str) -> str | None:
    low = name.lower()
    for pattern, maker in MAKER_PATTERNS:
        if re.search(pattern, low):
            return maker
    return None


# ---------------------------------------------------------------- selection


@dataclass
class Listing:
    key: str
    entry: dict[str, Any]
    provider: str  # litellm_provider
    base: str  # model name without provider/region prefixes and deployment suffixes
    group: str  # match_key(base): listings with the same group are the same model
    maker: str | None
    own: bool
    inp: float
    out: float
    zero: bool = False  # the price map lists $0 for input or output
    free: bool = False  # a $0 that a second source or a local provider confirms
    free_why: str | None = None
    known: bool = True  # False: an unconfirmed $0, kept as an unknown price

    @property
    def deprecation(self) -> str | None:
        dep = self.entry.get("deprecation_date")
        return dep[:10] if isinstance(dep, str) else None


def _maker_for(key: str, base: str) -> str | None:
    """The maker from the model name; else the organisation a reseller's path names (`novita/baichuan/...`);
    else unknown (None): a reseller is never presented as the maker."""
    maker = maker_of(base)
    if maker:
        return maker
    parts = key.split("/")
    if len(parts) >= 3 and parts[1] not in ("accounts", "@cf", "@hf", "@oi", "ps", "fal-ai"):
        return re.sub(r"[^a-z0-9]+", "-", parts[1].lower()).strip("-")
    return None


def _listing_rank(lst: Listing) -> tuple[Any, ...]:
    """Order of preference among listings of one model (first wins), see docs/registry.md: a known price,
    the maker's own API, no announced shutdown, paid before free, the lowest blended price, the shortest
    key."""
    own_order = OWN_PROVIDERS.get(lst.maker or "", ())
    own_index = own_order.index(lst.provider) if lst.own else len(own_order)
    return (not lst.known, not lst.own, own_index, lst.deprecation is not None, lst.zero,
            3 * lst.inp + lst.out, lst.key.count("/"), len(lst.key), lst.key)


def read_listings(prices: dict[str, Any], dropped: dict[str, list[str]]) -> dict[str, list[Listing]]:
    """Every chat listing with a price, grouped by model (group key -> listings). Records each other key's
    drop reason. Deprecation is not judged here: routing judges it by the day it routes on."""
    groups: dict[str, list[Listing]] = defaultdict(list)
    for key in sorted(prices):
        entry = prices[key]
        if key == "sample_spec" or not isinstance(entry, dict):
            dropped["not a model entry"].append(key)
            continue
        mode = entry.get("mode")
        if mode not in ("chat", "responses"):
            dropped[f"mode {mode!r} is not chat"].append(key)
            continue
        inp, out = _num(entry.get("input_cost_per_token")), _num(entry.get("output_cost_per_token"))
        if inp is None or out is None or inp < 0 or out < 0:
            dropped["no input and output price"].append(key)
            continue
        if NOT_CHAT.search(key):
            dropped["not a chat model (guard, router, agent, fine-tune, image/audio/OCR)"].append(key)
            continue
        provider = str(entry.get("litellm_provider") or key.split("/", 1)[0])
        base = strip_listing(key)
        if not base or any(c.isspace() for c in base):
            dropped["unusable name"].append(key)
            continue
        maker = _maker_for(key, base)
        own = maker is not None and provider in OWN_PROVIDERS.get(maker, ())
        zero = inp == 0 or out == 0
        lst = Listing(key, entry, provider, base, match_key(base), maker, own, inp, out, zero=zero)
        groups[lst.group].append(lst)
    return groups


def _latest_like(name: str) -> bool:
    return "latest" in tokens(name)


def _models_dev_aliases(mdev: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, str]]:
    """models.dev provider -> {undated or `-latest` id -> the dated snapshot it names}: the one dated sibling
    of the same family with identical prices, limits and `last_updated`."""
    out: dict[str, dict[str, str]] = {}
    for pid in sorted(mdev):
        models = mdev[pid]
        def sig(m: dict[str, Any]) -> str:
            return json.dumps([m.get("family"), m.get("cost"), m.get("limit"), m.get("last_updated")],
                              sort_keys=True)
        dated: dict[str, list[str]] = defaultdict(list)
        for mid in sorted(models):
            if date_of(mid) and not _latest_like(mid) and models[mid].get("family"):
                dated[sig(models[mid])].append(mid)
        found: dict[str, str] = {}
        for mid in sorted(models):
            if (date_of(mid) and not _latest_like(mid)) or not models[mid].get("family"):
                continue
            hits = dated.get(sig(models[mid]), [])
            if len(hits) == 1:
                found[mid] = hits[0]
        if found:
            out[pid] = found
    return out


@dataclass
class Model:
    """One underlying model while it is assembled: its own listings, listings folded in from aliases and
    resellers' snapshot names, and the alias names that resolve to it."""

    group: str
    listings: list[Listing]
    folded: list[Listing] = field(default_factory=list)
    aliases: set[str] = field(default_factory=set)
    alias_rules: dict[str, str] = field(default_factory=dict)

    @property
    def own(self) -> bool:
        return any(x.own for x in self.listings)

    def all(self) -> list[Listing]:
        return self.listings + self.folded


def merge_models(groups: dict[str, list[Listing]], prices: dict[str, Any],
                 md_aliases: dict[str, dict[str, str]], notes: dict[str, list[str]]) -> dict[str, Model]:
    """One `Model` per underlying model (see docs/registry.md, "One model, several offers"):
    (1) an alias (the price map's `alias_of`, or a models.dev id that names one dated snapshot) joins the
    model it names; (2) within a family (same name without dates and `latest`), a reseller's dated snapshot
    name joins the undated model, and an undated name joins the maker's newest dated snapshot when the
    maker's own listings agree on the price or only resellers list the undated name."""
    models = {g: Model(g, sorted(ls, key=lambda x: x.key)) for g, ls in groups.items()}
    key_group = {x.key: g for g, ls in groups.items() for x in ls}
    target: dict[str, tuple[str, str]] = {}  # alias group -> (target group, rule)
    for key in sorted(prices):
        e = prices[key]
        tgt = e.get("alias_of") if isinstance(e, dict) else None
        if isinstance(tgt, str) and key in key_group:
            tg = key_group.get(tgt)
            if tg is None and match_key(strip_listing(tgt)) in models:
                tg = match_key(strip_listing(tgt))
            if tg and tg != key_group[key]:
                target.setdefault(key_group[key], (tg, "the price map's alias_of"))
    own_pids = {MODELS_DEV_PROVIDER.get(p) for ps in OWN_PROVIDERS.values() for p in ps}
    for pid, found in sorted(md_aliases.items()):
        if pid not in own_pids:
            continue
        for alias, snap in sorted(found.items()):
            ag, tg = match_key(strip_listing(alias)), match_key(strip_listing(snap))
            if ag in models and tg in models and ag != tg:
                rule = f"models.dev {pid}: {alias} has the prices, limits and date of {snap}"
                target.setdefault(ag, (tg, rule))
    def final(g: str) -> str:
        seen = {g}
        while g in target and target[g][0] not in seen:
            g = target[g][0]
            seen.add(g)
        return g
    for g in sorted(target):
        t = final(g)
        if t == g or g not in models or t not in models:
            continue
        src = models.pop(g)
        dst = models[t]
        dst.folded.extend(src.all())
        for x in src.listings:
            dst.aliases.add(_model_id(x))
        dst.aliases |= src.aliases
        dst.alias_rules.update({a: target[g][1] for a in [_model_id(x) for x in src.listings]})
        notes["alias"].append(g)
    # (2) families
    families: dict[str, list[str]] = defaultdict(list)
    for g, m in models.items():
        families[family_key(m.listings[0].base)].append(g)
    for fam in sorted(families):
        members = sorted(families[fam])
        if len(members) < 2:
            continue
        undated = [g for g in members if not date_of(models[g].listings[0].base)]
        dated = [g for g in members if date_of(models[g].listings[0].base)]
        own_dated = [g for g in dated if models[g].own]
        if undated:
            home = sorted(undated, key=lambda g: (not models[g].own, -len(models[g].listings), g))[0]
            for g in dated:
                if g not in own_dated:  # a reseller's snapshot name of the undated model
                    models[home].folded.extend(models.pop(g).all())
                    notes["reseller snapshot"].append(g)
            for g in undated:
                if g != home:
                    models[home].folded.extend(models[g].all())
                    models[home].aliases |= models.pop(g).aliases
                    notes["same family"].append(g)
            if own_dated:
                newest = sorted(own_dated, key=lambda g: _neg(date_of(models[g].listings[0].base)))[0]
                u, n = models[home], models[newest]
                u_own = [x for x in u.listings if x.own]
                n_own = [x for x in n.listings if x.own]
                same = not u_own or any((a.inp, a.out) == (b.inp, b.out) for a in u_own for b in n_own)
                if same:
                    models.pop(home)
                    n.folded.extend(u.all())
                    names = {_model_id(x) for x in u.listings if x.own} or {u.listings[0].base.lower()}
                    n.aliases |= names | u.aliases
                    rule = ("its own listing has the newest snapshot's price" if u_own
                            else "only resellers list the undated name")
                    n.alias_rules.update({a: rule for a in names})
                    notes["undated name of the newest snapshot"].append(home)
    return models


def _model_id(lst: Listing) -> str:
    """The maker's own listing is named as the maker's API names it (`gemini/gemini-2.5-pro` ->
    `gemini-2.5-pro`); a model that only resellers list takes the model part of their keys, lower-cased."""
    if lst.own:
        return lst.key.split("/", 1)[1] if "/" in lst.key else lst.key
    return lst.base.lower()


def _pricing(e: dict[str, Any], inp: float, out: float) -> dict[str, Any]:
    """Schema-2 pricing from one price-map entry: base, cache reads and writes, reasoning and the
    long-context tiers (`*_above_Nk_tokens`, and `tiered_pricing` ranges)."""
    p: dict[str, Any] = {"inputPer1M": per_million(inp), "outputPer1M": per_million(out)}
    cache = _num(e.get("cache_read_input_token_cost"))
    if cache is None:
        cache = _num(e.get("input_cost_per_token_cache_hit"))
    if cache is not None and cache >= 0:
        p["cacheReadPer1M"] = per_million(cache)
    write = _num(e.get("cache_creation_input_token_cost"))
    if write is not None and write >= 0:
        p["cacheWritePer1M"] = per_million(write)
    reason = _num(e.get("output_cost_per_reasoning_token"))
    if reason is not None and reason >= 0:
        p["reasoningPer1M"] = per_million(reason)
    tiers: dict[int, dict[str, float]] = {}
    for k, v in e.items():
        m = TIER_KEY.match(k)
        n = _num(v)
        if m is None or n is None or n < 0:
            continue
        tiers.setdefault(int(m.group(2)) * 1000, {})[TIER_FIELDS[m.group(1)]] = per_million(n)
    ranges = e.get("tiered_pricing")
    if isinstance(ranges, list):
        for r in ranges:
            rng = r.get("range") if isinstance(r, dict) else None
            ti, to = (_num(r.get("input_cost_per_token")), _num(r.get("output_cost_per_token"))) \
                if isinstance(r, dict) else (None, None)
            if (isinstance(rng, list) and len(rng) == 2 and _num(rng[0]) and ti is not None and to is not None
                    and int(rng[0]) not in tiers):
                tiers[int(rng[0])] = {"inputPer1M": per_million(ti), "outputPer1M": per_million(to)}
    out_tiers = []
    for above in sorted(tiers):
        t = tiers[above]
        if "inputPer1M" not in t and "outputPer1M" not in t:
            continue  # a cache-only threshold without token prices: not a tier of its own
        row: dict[str, Any] = {"aboveTokens": above, "inputPer1M": t.get("inputPer1M", p["inputPer1M"]),
                               "outputPer1M": t.get("outputPer1M", p["outputPer1M"])}
        for f in ("cacheReadPer1M", "cacheWritePer1M"):
            if f in t:
                row[f] = t[f]
        out_tiers.append(row)
    if out_tiers:
        p["tiers"] = out_tiers
    return p


# ---------------------------------------------------------------- ratings


def elo_to_quality(rating: float, median: float) -> float:
    """Expected win rate against the median-rated model of the category (Elo logistic, base 10, 400)."""
    odds: float = 10.0 ** ((median - rating) / 400.0)
    return round(1.0 / (1.0 + odds), 4)


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


@dataclass
class ArenaRow:
    name: str
    rating: float
    votes: int


def load_arena(ratings: dict[str, Any], path: Path) -> dict[str, dict[str, ArenaRow]]:
    """category -> arena name -> row, for the text pages."""
    pages = ratings.get("pages")
    if not isinstance(pages, dict):
        raise SourceError(f"{path}: expected an object with 'pages'")
    out: dict[str, dict[str, ArenaRow]] = {}
    for page, rows in pages.items():
        if not page.startswith("text/") or not isinstance(rows, list):
            continue
        cat = page.split("/", 1)[1]
        table: dict[str, ArenaRow] = {}
        for row in rows:
            if not isinstance(row, list) or len(row) < 5 or not isinstance(row[0], str):
                raise SourceError(f"{path}: {page}: malformed row {row!r}")
            rating = _num(row[1])
            if rating is None:
                continue
            table[row[0]] = ArenaRow(row[0], rating, int(row[4]) if isinstance(row[4], int) else 0)
        out[cat] = table
    for needed in (OVERALL, *CATEGORY_TASKS):
        if needed not in out:
            raise SourceError(f"{path}: page text/{needed} missing")
    return out


def load_aliases(path: Path | None = None) -> dict[str, str]:
    """The checked-in alias table: arena name -> registry id, for names normalisation cannot match."""
    path = path or Path(__file__).with_name("aliases.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.get("aliases", {}).items()}


def match_arena(model_ids: dict[str, str], names: list[str], aliases: dict[str, str]
                ) -> dict[str, list[tuple[int, str]]]:
    """For each registry id, the arena names that rate it as (tier, name), best tier only.

    model_ids: registry id -> the model's base name. Tier -1 = alias table, 0 = same normalised name,
    1 = same after dropping snapshot dates/`latest`/`preview` (an undated alias such as `gpt-4o` shares
    the rating of its dated snapshot), 2 = same after dropping the arena's reasoning-effort suffix. An
    arena name that some model matches at tiers -1..1 is not offered at tier 2 to another model (so
    `kimi-k3-max` never rates `kimi-k3` when the registry has `kimi-k3-max` itself).
    """
    result: dict[str, list[tuple[int, str]]] = defaultdict(list)
    claimed: set[str] = set()
    for name, target in sorted(aliases.items()):
        if target in model_ids:
            result[target].append((-1, name))
            claimed.add(name)
    for tier in (0, 1, 2):
        index: dict[str, list[str]] = defaultdict(list)
        for name in names:
            if tier < 2 or name not in claimed:
                index[match_key(name, tier)].append(name)
        newly: set[str] = set()
        for mid, base in sorted(model_ids.items()):
            if mid in result:
                continue
            # effort suffixes are dropped from arena names only
            hits = index.get(match_key(base, min(tier, 1)))
            if not hits:
                continue
            # tier 1: a dated registry id only takes the arena name with that same date, if dated
            if tier >= 1 and date_of(base):
                hits = [n for n in hits if date_of(n) in ("", date_of(base))] or []
            if hits:
                result[mid].extend((tier, n) for n in sorted(hits))
                newly.update(hits)
        claimed |= newly
    return result


def _pick(cands: list[tuple[int, str]], table: dict[str, ArenaRow]) -> str | None:
    """Among arena names rating one model in one category: best tier, released before preview/exp/beta,
    plain name before effort variants, newest snapshot date, most votes, then name."""
    rows = [(t, n) for t, n in cands if n in table]
    if not rows:
        return None
    rows.sort(key=lambda tn: (tn[0], _is_preview(tn[1]), len(match_key(tn[1], 1)), _neg(date_of(tn[1])),
                              -table[tn[1]].votes, tn[1]))
    return rows[0][1]


def _is_preview(name: str) -> bool:
    key = match_key(name, 0)
    return key != key.replace("preview", "").replace("exp", "").replace("beta", "")


def _neg(digits: str) -> tuple[int, str]:
    return (-len(digits), "".join(chr(255 - ord(c)) for c in digits))


# ---------------------------------------------------------------- secondary sources


def _models_dev_index(data: Any, path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    if not isinstance(data, dict):
        raise SourceError(f"{path}: expected an object of providers")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for pid, prov in data.items():
        models = prov.get("models") if isinstance(prov, dict) else None
        if isinstance(models, dict):
            out[pid] = {k: v for k, v in models.items() if isinstance(v, dict)}
    return out


def _models_dev_lookup(index: dict[str, dict[str, dict[str, Any]]], lst: Listing) -> tuple[str, str] | None:
    pid = MODELS_DEV_PROVIDER.get(lst.provider)
    if pid is None:
        return None
    models = index.get(pid)
    if not models:
        return None
    tail = lst.key.split("/", 1)[1] if "/" in lst.key else lst.key
    for cand in (tail, lst.base):
        if cand in models:
            return pid, cand
    key0 = match_key(lst.base)
    hits = sorted(k for k in models if match_key(strip_listing(k)) == key0)
    return (pid, hits[0]) if hits else None


def _llmstats_latency(data: Any, path: Path) -> dict[tuple[str, str], tuple[float, str]]:
    """(maker, match key) -> (latency s, LLMStats model id), makers' own APIs only, placeholders skipped."""
    provs = data.get("providers") if isinstance(data, dict) else None
    if not isinstance(provs, dict):
        raise SourceError(f"{path}: expected an object with 'providers'")
    out: dict[tuple[str, str], tuple[float, str]] = {}
    for pid in sorted(provs):
        maker = LLMSTATS_OWN.get(pid)
        if not maker:
            continue
        for row in provs[pid].get("providermodels", []):
            lat, tput, mid = _num(row.get("latency")), _num(row.get("throughput")), row.get("model_id")
            if lat is None or lat <= 0 or not isinstance(mid, str) or maker_of(mid) != maker:
                continue
            if (lat, tput) in LLMSTATS_PLACEHOLDERS:
                continue
            out.setdefault((maker, match_key(mid)), (lat, mid))
    return out


# ---------------------------------------------------------------- build


def build_registry(sources: Sources, progress: Progress | None = None) -> BuildResult:
    """Read the snapshots named by `sources` and return the registry document and a match report."""
    def step(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    sources.check()
    assert sources.prices is not None and sources.ratings is not None
    step("load", 0, 4)
    prices = _load_json(sources.prices)
    if not isinstance(prices, dict):
        raise SourceError(f"{sources.prices}: expected an object of model entries")
    ratings = _load_json(sources.ratings)
    if not isinstance(ratings, dict):
        raise SourceError(f"{sources.ratings}: expected an object")
    as_of = arena_as_of(ratings, sources.ratings)
    arena = load_arena(ratings, sources.ratings)
    step("load", 2, 4)
    mdev = _models_dev_index(_load_json(sources.models_dev), sources.models_dev) if sources.models_dev else {}
    latency = _llmstats_latency(_load_json(sources.llmstats), sources.llmstats) if sources.llmstats else {}
    # The files' names for `source`: only read when `mdev` / `latency` has entries, i.e. the file was given.
    mdev_name = sources.models_dev.name if sources.models_dev else ""
    llmstats_name = sources.llmstats.name if sources.llmstats else ""
    step("load", 4, 4)

    dropped: dict[str, list[str]] = defaultdict(list)
    notes: dict[str, list[str]] = defaultdict(list)
    groups = read_listings(prices, dropped)
    for ls in groups.values():
        for x in ls:
            _confirm_price(x, mdev)
    merged = merge_models(groups, prices, _models_dev_aliases(mdev) if mdev else {}, notes)
    by_id: dict[str, Model] = {}
    primary: dict[str, Listing] = {}
    for g in sorted(merged):
        m = merged[g]
        lst = sorted(m.listings, key=_listing_rank)[0]
        mid = _model_id(lst)
        if mid in by_id:  # two models landing on one id: the later keeps its full key
            mid = lst.key
        by_id[mid] = m
        primary[mid] = lst
    step("select", len(by_id), len(by_id))
    all_aliases = {a: mid for mid, m in by_id.items() for a in sorted(m.aliases) if a not in by_id}

    aliases = _resolve_alias_table(load_aliases(), by_id, all_aliases)
    all_names = sorted({n for table in arena.values() for n in table})
    matches = match_arena({mid: lst.base for mid, lst in primary.items()}, all_names, aliases)
    medians = {cat: _median([r.rating for r in table.values()]) for cat, table in arena.items()}

    prices_file = sources.prices.name
    ratings_file = sources.ratings.name
    models: list[dict[str, Any]] = []
    price_diffs: list[dict[str, Any]] = []
    used_names: dict[str, set[str]] = defaultdict(set)
    ids = sorted(by_id)
    for i, mid in enumerate(ids):
        grp = by_id[mid]
        lst = primary[mid]
        e = lst.entry
        flags = {cap for flag, cap in FLAG_CAPABILITIES.items() if e.get(flag) is True}
        caps = list(TASK_TYPES) + sorted(flags)
        source: dict[str, Any] = {"prices": {"file": prices_file, "key": lst.key}}
        if not lst.known:
            source["prices"]["unknown"] = "the price map lists $0 and no second source confirms it"
        elif lst.free:
            source["prices"]["free"] = lst.free_why
        name = display_name(mid)
        if mdev:
            hit = None
            for cand in sorted(grp.listings, key=_listing_rank):
                hit = _models_dev_lookup(mdev, cand)
                if hit:
                    break
            if hit:
                pid, mkey = hit
                md = mdev[pid][mkey]
                if isinstance(md.get("name"), str) and md["name"].strip():
                    name = " ".join(md["name"].split())
                source["name"] = {"file": mdev_name, "provider": pid, "key": mkey}
                md_cost = md.get("cost")
                cost = md_cost if isinstance(md_cost, dict) else {}
                mi, mo = _num(cost.get("input")), _num(cost.get("output"))
                if mi is not None and mo is not None and lst.known and cand is lst:
                    ours = (per_million(lst.inp), per_million(lst.out))
                    diffs = [_rel_diff(a, b) for a, b in zip(ours, (mi, mo), strict=True)]
                    if max(diffs) > PRICE_DIFF_THRESHOLD:
                        price_diffs.append({
                            "id": mid, "litellmKey": lst.key, "modelsDevKey": f"{pid}/{mkey}",
                            "litellm": {"inputPer1M": ours[0], "outputPer1M": ours[1]},
                            "modelsDev": {"inputPer1M": mi, "outputPer1M": mo},
                        })
        performance: dict[str, Any] = {"latency": None, "quality": None, "qualityByTask": {}}
        entries: dict[str, str] = {}
        cands = matches.get(mid, [])
        if cands:
            pick = _pick(cands, arena[OVERALL])
            if pick:
                performance["quality"] = elo_to_quality(arena[OVERALL][pick].rating, medians[OVERALL])
                entries[OVERALL] = pick
            for cat, tasks in CATEGORY_TASKS.items():
                use = cat
                pick = _pick(cands, arena[cat])
                if pick is None and cat in CATEGORY_FALLBACK and CATEGORY_FALLBACK[cat] in arena:
                    use = CATEGORY_FALLBACK[cat]
                    pick = _pick(cands, arena[use])
                if pick is None:
                    continue
                q = elo_to_quality(arena[use][pick].rating, medians[use])
                for t in tasks:
                    performance["qualityByTask"][t] = q
                entries[use] = pick
            for n in entries.values():
                used_names[n].add(mid)
        if entries:
            source["quality"] = {"file": ratings_file, "entries": dict(sorted(entries.items()))}
            # the model's own names, and arena names the checked-in table declares to be this model
            declared = [n for n, target in aliases.items() if target == mid]
            names = [mid, *grp.aliases, *(x.base for x in grp.listings), *declared]
            own_names = {match_key(n) for n in names}
            borrowed = [entries[c] for c in sorted(entries, key=lambda c: (c != OVERALL, c))
                        if match_key(entries[c]) not in own_names]
            if borrowed:
                source["quality"]["borrowedFrom"] = borrowed[0]
        own_lat = (
            latency.get((lst.maker, match_key(lst.base)))
            if latency and lst.own and lst.maker is not None  # (an own listing always has its maker)
            else None
        )
        if own_lat is not None:
            performance["latency"] = round(own_lat[0] * 1000.0, 3)
            source["latency"] = {"file": llmstats_name, "provider": lst.maker, "key": own_lat[1]}
        performance["qualityByTask"] = {t: performance["qualityByTask"][t] for t in TASK_TYPES
                                        if t in performance["qualityByTask"]}
        model: dict[str, Any] = {
            "id": mid,
            "name": name,
            "provider": lst.maker,
        }
        if grp.aliases:
            model["aliases"] = sorted(a for a in grp.aliases if all_aliases.get(a) == mid)
            if not model["aliases"]:
                del model["aliases"]
        model["capabilities"] = caps
        if lst.known:
            model["pricing"] = _pricing(e, lst.inp, lst.out)
            if lst.free:
                model["free"] = True
        else:
            model["pricing"] = None
            model["priceUnknown"] = True
        model["offers"] = _offers(grp, lst, own_lat, prices_file, dropped)
        model["performance"] = performance
        model["availability"] = AVAILABILITY_DEFAULT
        ctx = _pos_int(e.get("max_input_tokens")) or _pos_int(e.get("max_tokens"))
        if ctx:
            model["contextWindow"] = ctx
        mot = _pos_int(e.get("max_output_tokens"))
        if mot:
            model["maxOutputTokens"] = mot
        dep = _model_deprecation(grp, lst)
        if dep:
            model["deprecationDate"] = dep
        if grp.alias_rules:
            source["aliases"] = {a: grp.alias_rules[a] for a in sorted(grp.alias_rules)
                                 if a in model.get("aliases", ())}
            if not source["aliases"]:
                del source["aliases"]
        model["source"] = source
        models.append(model)
        if i % 50 == 0:
            step("assemble", i, len(ids))
    step("assemble", len(ids), len(ids))

    generated_from = [{"file": p.name, "sha256": _sha256(p)} for n, p in sources.files() if n != "aider"]
    doc = {"schemaVersion": 2, "generatedFrom": generated_from, "generatedAt": as_of, "models": models}
    report = _report(doc, prices, dropped, arena, all_names, used_names, aliases, primary, price_diffs, as_of)
    report["merged"] = {k: sorted(v) for k, v in sorted(notes.items())}
    return BuildResult(doc=doc, report=report)


def _confirm_price(x: Listing, mdev: dict[str, dict[str, dict[str, Any]]]) -> None:
    """A $0 in the price map counts only when the provider runs locally or models.dev lists the same
    listing at $0 too; otherwise the listing's price is unknown (never taken as $0)."""
    if not x.zero:
        return
    hosted = re.search(r"[-:]cloud$", x.key) is not None  # ollama's `-cloud` models run on its servers
    if x.inp == 0 and x.out == 0 and x.provider in LOCAL_PROVIDERS and not hosted:
        x.free, x.free_why = True, f"{x.provider} runs on the user's own machine"
        return
    hit = _models_dev_lookup(mdev, x) if mdev else None
    if hit:
        cost = mdev[hit[0]][hit[1]].get("cost")
        if isinstance(cost, dict):
            mi, mo = _num(cost.get("input")), _num(cost.get("output"))
            if mi is not None and mo is not None and (mi, mo) == (per_million(x.inp), per_million(x.out)):
                if x.inp == 0 and x.out == 0:
                    x.free, x.free_why = True, f"models.dev {hit[0]}/{hit[1]} also lists $0"
                return
    x.known = False


def _offers(grp: Model, lst: Listing, own_lat: tuple[float, str] | None, prices_file: str,
            dropped: dict[str, list[str]]) -> list[dict[str, Any]]:
    """One offer per provider (its preferred listing): the maker's own first, then resellers by price."""
    best: dict[str, Listing] = {}
    for x in sorted(grp.listings, key=_listing_rank) + sorted(grp.folded, key=_listing_rank):
        if best.setdefault(x.provider, x) is not x:
            dropped["another listing of the model by the same provider was preferred"].append(x.key)
    order = sorted(best.values(), key=lambda x: (x is not lst, _listing_rank(x)))
    out = []
    for x in order:
        head, _, tail = x.key.partition("/")
        upstream = tail if tail and x.provider.startswith(head) else x.key
        offer: dict[str, Any] = {"provider": x.provider, "upstreamId": upstream}
        if x.known:
            offer["pricing"] = _pricing(x.entry, x.inp, x.out)
            if x.free:
                offer["free"] = True
        else:
            offer["pricing"] = None
            offer["priceUnknown"] = True
        if x is lst and own_lat is not None:
            offer["latency"] = round(own_lat[0] * 1000.0, 3)
        if x.deprecation:
            offer["deprecationDate"] = x.deprecation
        offer["source"] = {"file": prices_file, "key": x.key}
        out.append(offer)
    return out


def _model_deprecation(grp: Model, lst: Listing) -> str | None:
    """The maker's own listing's date when the maker lists the model; else the last date among the
    offers when every reseller has announced one (a model still offered without a date is not deprecated)."""
    own = [x for x in grp.listings if x.own]
    if own:
        return lst.deprecation if lst.own else sorted(own, key=_listing_rank)[0].deprecation
    dates = [x.deprecation for x in grp.all()]
    if dates and all(dates):
        return max(d for d in dates if d)
    return None


def _resolve_alias_table(table: dict[str, str], by_id: dict[str, Model], aliases: dict[str, str]
                         ) -> dict[str, str]:
    """The checked-in arena-name table's targets as registry ids (a target may name an alias or a key)."""
    keys = {x.key: mid for mid, m in by_id.items() for x in m.all()}
    out = {}
    for name, tgt in table.items():
        mid = tgt if tgt in by_id else aliases.get(tgt) or keys.get(tgt)
        if mid:
            out[name] = mid
    return out


def _rel_diff(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def _report(doc: dict[str, Any], prices: dict[str, Any], dropped: dict[str, list[str]],
            arena: dict[str, dict[str, ArenaRow]], names: list[str], used: dict[str, set[str]],
            aliases: dict[str, str], by_id: dict[str, Listing], price_diffs: list[dict[str, Any]], as_of: str
            ) -> dict[str, Any]:
    models = doc["models"]
    all_keys = {strip_listing(k): k for k in sorted(prices) if isinstance(prices[k], dict)}
    key_index: dict[str, list[str]] = defaultdict(list)
    for base, key in all_keys.items():
        key_index[match_key(base, 1)].append(key)
    dropped_reason = {k: r for r, keys in dropped.items() for k in keys}
    selected = {lst.key: mid for mid, lst in by_id.items()}
    arena_report: dict[str, Any] = {}
    for n in names:
        if n in used:
            arena_report[n] = {"matched": sorted(used[n])}
            continue
        if n in aliases and aliases[n] not in by_id:
            arena_report[n] = {"unmatched": f"alias target {aliases[n]!r} is not in the registry"}
            continue
        near = key_index.get(match_key(n, 1)) or key_index.get(match_key(n, 2))
        rated_by = sorted({selected[k] for k in near or [] if k in selected})
        if rated_by:
            arena_report[n] = {"unmatched": "its model is rated from another arena name (plain and released "
                               "names are preferred over effort/preview variants)", "models": rated_by}
        elif near:
            reasons = sorted({dropped_reason.get(k, "selected under another name") for k in near})
            arena_report[n] = {"unmatched": "LiteLLM entries with this name were not selected: "
                               + "; ".join(reasons), "litellmKeys": sorted(near)[:5]}
        else:
            arena_report[n] = {"unmatched": "no LiteLLM chat entry with this name"}
    by_provider = Counter(m["provider"] or "(unknown)" for m in models)
    coding = sum(1 for m in models if "code_generation" in m["performance"]["qualityByTask"])
    return {
        "asOf": as_of,
        "counts": {
            "models": len(models),
            "rated": sum(1 for m in models if m["performance"]["quality"] is not None),
            "ratedAnyTask": sum(1 for m in models if m["performance"]["qualityByTask"]),
            "ratedCoding": coding,
            "withLatency": sum(1 for m in models if m["performance"]["latency"] is not None),
            "offers": sum(len(m["offers"]) for m in models),
            "ratedOwnEntry": sum(1 for m in models if "quality" in m["source"]
                                 and "borrowedFrom" not in m["source"]["quality"]),
            "ratedBorrowed": sum(1 for m in models if "borrowedFrom" in m["source"].get("quality", {})),
            "free": sum(1 for m in models if m.get("free")),
            "freeWhy": dict(sorted(Counter(m["source"]["prices"]["free"].split(" ")[0] if
                                           m["source"]["prices"]["free"].startswith("models.dev") else "local"
                                           for m in models if m.get("free")).items())),
            "priceUnknown": sum(1 for m in models if m.get("priceUnknown")),
            "withAliases": sum(1 for m in models if m.get("aliases")),
            "withDeprecationDate": sum(1 for m in models if m.get("deprecationDate")),
            "makersOwnListing": sum(1 for lst in by_id.values() if lst.own),
            "byProvider": dict(sorted(by_provider.items(), key=lambda kv: (-kv[1], kv[0]))),
            "arenaNamesMatched": sum(1 for v in arena_report.values() if "matched" in v),
            "arenaNamesUnmatched": sum(1 for v in arena_report.values() if "unmatched" in v),
            "priceDifferencesOver5pct": len(price_diffs),
        },
        "litellm": {
            "selected": len(models),
            "offers": sum(len(m["offers"]) for m in models),
            "droppedCounts": {r: len(k) for r, k in sorted(dropped.items())},
            "dropped": {r: sorted(k) for r, k in sorted(dropped.items())},
        },
        "notUsed": {"aider": AIDER_NOT_USED},
        "arena": arena_report,
        "priceDifferences": sorted(price_diffs, key=lambda d: d["id"]),
    }


# ---------------------------------------------------------------- output


def dump_registry(doc: dict[str, Any]) -> str:
    """Canonical text: models sorted by id, fixed key order, two-space indent, trailing newline."""
    out = dict(doc)
    out["models"] = sorted(doc["models"], key=lambda m: m["id"])
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write text to path via a temporary file in the same folder and os.replace (never half-written)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def validate_registry_file(path: str | os.PathLike[str]) -> list[str]:
    """Every problem of a registry file (empty list = valid), each naming the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{p}: cannot read: {exc}"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"{p}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
    except RecursionError:
        return [f"{p}: not valid JSON: arrays or objects nested too deeply"]
    try:
        parse_registry(data, str(p))
    except RegistryError as exc:
        return list(exc.problems)
    return []
