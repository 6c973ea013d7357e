"""Build `model_registry.json` (SPEC 1, 10) from public price and rating snapshots; no network, no clock."""

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
from modelwise.core.registry import parse_registry
from modelwise.importers.names import date_of, display_name, match_key, strip_listing

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
AVAILABILITY_DEFAULT = 0.99  # SPEC default: no public availability data exists
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


def _listing_rank(lst: Listing) -> tuple:
    """Order of preference among listings of one model (first wins), see docs/registry.md."""
    own_order = OWN_PROVIDERS.get(lst.maker or "", ())
    own_index = own_order.index(lst.provider) if lst.own else len(own_order)
    free = lst.inp == 0 or lst.out == 0
    return (not lst.own, own_index, free, 3 * lst.inp + lst.out, lst.key.count("/"), len(lst.key), lst.key)


def select_listings(prices: dict[str, Any], as_of: str, dropped: dict[str, list[str]]) -> dict[str, Listing]:
    """One listing per model (group key -> chosen listing). Records every other key's drop reason."""
    day = as_of[:10]
    groups: dict[str, list[Listing]] = defaultdict(list)
    deprecated_own: set[str] = set()
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
        lst = Listing(key, entry, provider, base, match_key(base), maker, own, inp, out)
        dep = entry.get("deprecation_date")
        if isinstance(dep, str) and dep[:10] < day:
            dropped[f"deprecated before {day}"].append(key)
            if own:
                deprecated_own.add(lst.group)
            continue
        groups[lst.group].append(lst)
    chosen: dict[str, Listing] = {}
    for group in sorted(groups):
        listings = sorted(groups[group], key=_listing_rank)
        if group in deprecated_own and not any(x.own for x in listings):
            dropped[f"deprecated by its maker before {day}"].extend(x.key for x in listings)
            continue
        chosen[group] = listings[0]
        dropped["another listing of the same model was preferred"].extend(x.key for x in listings[1:])
    return chosen


def _model_id(lst: Listing) -> str:
    """The maker's own listing is named as the maker's API names it (`gemini/gemini-2.5-pro` ->
    `gemini-2.5-pro`);
    a reseller listing keeps its full LiteLLM key, which says where the price applies."""
    if lst.own:
        return lst.key.split("/", 1)[1] if "/" in lst.key else lst.key
    return lst.key


# ---------------------------------------------------------------- ratings


def elo_to_quality(rating: float, median: float) -> float:
    """Expected win rate against the median-rated model of the category (Elo logistic, base 10, 400)."""
    return round(1.0 / (1.0 + 10.0 ** ((median - rating) / 400.0)), 4)


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
    models = index.get(pid or "")
    if not models:
        return None
    tail = lst.key.split("/", 1)[1] if "/" in lst.key else lst.key
    for cand in (tail, lst.base):
        if cand in models:
            return pid, cand  # type: ignore[return-value]
    key0 = match_key(lst.base)
    hits = sorted(k for k in models if match_key(strip_listing(k)) == key0)
    return (pid, hits[0]) if hits else None  # type: ignore[return-value]


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
    step("load", 4, 4)

    dropped: dict[str, list[str]] = defaultdict(list)
    chosen = select_listings(prices, as_of, dropped)
    by_id: dict[str, Listing] = {}
    for lst in chosen.values():
        mid = _model_id(lst)
        if mid in by_id:  # two groups landing on one id: keep the first, the other keeps its full key
            mid = lst.key
        by_id[mid] = lst
    step("select", len(by_id), len(by_id))

    aliases = load_aliases()
    all_names = sorted({n for table in arena.values() for n in table})
    matches = match_arena({mid: lst.base for mid, lst in by_id.items()}, all_names, aliases)
    medians = {cat: _median([r.rating for r in table.values()]) for cat, table in arena.items()}

    prices_file = sources.prices.name
    ratings_file = sources.ratings.name
    models: list[dict[str, Any]] = []
    price_diffs: list[dict[str, Any]] = []
    used_names: dict[str, set[str]] = defaultdict(set)
    ids = sorted(by_id)
    for i, mid in enumerate(ids):
        lst = by_id[mid]
        e = lst.entry
        flags = {cap for flag, cap in FLAG_CAPABILITIES.items() if e.get(flag) is True}
        caps = list(TASK_TYPES) + sorted(flags)
        pricing: dict[str, float] = {"inputPer1M": per_million(lst.inp), "outputPer1M": per_million(lst.out)}
        cache = _num(e.get("cache_read_input_token_cost"))
        if cache is not None and cache >= 0:
            pricing["cacheReadPer1M"] = per_million(cache)
        source: dict[str, Any] = {"prices": {"file": prices_file, "key": lst.key}}
        name = display_name(mid)
        if mdev:
            hit = _models_dev_lookup(mdev, lst)
            if hit:
                pid, mkey = hit
                md = mdev[pid][mkey]
                if isinstance(md.get("name"), str) and md["name"].strip():
                    name = " ".join(md["name"].split())
                source["name"] = {"file": sources.models_dev.name, "provider": pid, "key": mkey}  # type: ignore[union-attr]
                cost = md.get("cost") if isinstance(md.get("cost"), dict) else {}
                mi, mo = _num(cost.get("input")), _num(cost.get("output"))
                if mi is not None and mo is not None:
                    ours = (pricing["inputPer1M"], pricing["outputPer1M"])
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
        lat = latency.get((lst.maker, match_key(lst.base))) if latency and lst.own else None
        if lat is not None:
            performance["latency"] = round(lat[0] * 1000.0, 3)
            source["latency"] = {"file": sources.llmstats.name, "provider": lst.maker, "key": lat[1]}  # type: ignore[union-attr]
        performance["qualityByTask"] = {t: performance["qualityByTask"][t] for t in TASK_TYPES
                                        if t in performance["qualityByTask"]}
        model: dict[str, Any] = {
            "id": mid,
            "name": name,
            "provider": lst.maker,
            "capabilities": caps,
            "pricing": pricing,
            "performance": performance,
            "availability": AVAILABILITY_DEFAULT,
        }
        ctx = _pos_int(e.get("max_input_tokens")) or _pos_int(e.get("max_tokens"))
        if ctx:
            model["contextWindow"] = ctx
        mot = _pos_int(e.get("max_output_tokens"))
        if mot:
            model["maxOutputTokens"] = mot
        if isinstance(e.get("deprecation_date"), str):
            model["deprecationDate"] = e["deprecation_date"]
        model["source"] = source
        models.append(model)
        if i % 50 == 0:
            step("assemble", i, len(ids))
    step("assemble", len(ids), len(ids))

    generated_from = [{"file": p.name, "sha256": _sha256(p)} for n, p in sources.files() if n != "aider"]
    doc = {"schemaVersion": 1, "generatedFrom": generated_from, "generatedAt": as_of, "models": models}
    report = _report(doc, prices, dropped, arena, all_names, used_names, aliases, by_id, price_diffs, as_of)
    return BuildResult(doc=doc, report=report)


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
            "makersOwnListing": sum(1 for lst in by_id.values() if lst.own),
            "byProvider": dict(sorted(by_provider.items(), key=lambda kv: (-kv[1], kv[0]))),
            "arenaNamesMatched": sum(1 for v in arena_report.values() if "matched" in v),
            "arenaNamesUnmatched": sum(1 for v in arena_report.values() if "unmatched" in v),
            "priceDifferencesOver5pct": len(price_diffs),
        },
        "litellm": {
            "selected": len(models),
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
