"""Redaction of secrets and personal data from task descriptions, agent names and request ids before
anything is stored or shown: linear in the text, detected on a normalised copy, replaced in the original.

How it stays linear: every pattern either starts with a literal (found by the regex engine's fast search)
or starts only where a run of its characters starts (a negative look-behind on the same class), and
repeats with possessive or bounded quantifiers, so no position is scanned more than a bounded number of
times. A detector whose anchors are absent from the text is not run at all. Detection runs on a copy
with zero-width characters and soft hyphens removed and full-width or styled letters folded (NFKC); the
spans found are mapped back to the original text, which is what is replaced."""

from __future__ import annotations

import math
import re
import sys
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hashlib import sha256
else:  # the interpreter's own SHA-256, without OpenSSL's start-up (hashlib's ~2 ms on a cold `route`)
    try:
        if sys.version_info >= (3, 12):
            from _sha2 import sha256
        else:
            from _sha256 import sha256
    except ImportError:  # pragma: no cover - a Python built without its own hashes
        from hashlib import sha256


class _Lazy:
    """A regular expression compiled on first use: a process that redacts a short text compiles only the
    patterns its detectors reach (a cold `modelwise route` would otherwise compile about a hundred)."""

    __slots__ = ("pattern", "_rx")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._rx: re.Pattern[str] | None = None

    @property
    def rx(self) -> re.Pattern[str]:
        rx = self._rx
        if rx is None:
            rx = self._rx = re.compile(self.pattern)
        return rx

    def finditer(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> Iterator[re.Match[str]]:
        return self.rx.finditer(text, pos, endpos)

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.rx.search(text, pos, endpos)

    def match(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.rx.match(text, pos, endpos)

    def fullmatch(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.rx.fullmatch(text, pos, endpos)

    def findall(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> list[Any]:
        return self.rx.findall(text, pos, endpos)

    def split(self, text: str, maxsplit: int = 0) -> list[str | Any]:
        return self.rx.split(text, maxsplit)

    def sub(self, repl: str | Callable[[re.Match[str]], str], text: str, count: int = 0) -> str:
        return self.rx.sub(repl, text, count)


@dataclass(frozen=True, slots=True)
class Finding:
    """A secret at text[start:end] (indices into the text given to `find_secrets`)."""

    start: int
    end: int
    kind: str


# -- normalisation -------------------------------------------------------------------------------------

# characters that render as nothing (zero-width, soft hyphen, joiners, direction marks, variation selectors)
_INVISIBLE = _Lazy(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u206a-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)


class _Fold(dict[int, int]):
    """str.translate table: a character whose NFKC form is one printable ASCII character becomes that
    character (full-width `ｓｋ－` -> `sk-`, mathematical bold, circled digits...); others stay. One to one,
    so indices do not move."""

    def __missing__(self, cp: int) -> int:
        value = cp
        if cp >= 0x80:
            n = unicodedata.normalize("NFKC", chr(cp))
            if len(n) == 1 and " " < n < "\x7f":
                value = ord(n)
        self[cp] = value
        return value


_FOLD = _Fold()
# where NFKC gives ASCII: superscripts, letterlike symbols, number forms, enclosed and full-width forms,
# mathematical alphanumerics
_FOLDABLE = _Lazy(
    "[\u00aa\u00b2\u00b3\u00b9\u00ba\u2070-\u209f\u2100-\u218f\u2460-\u24ff\u3000\uff01-\uff5e"
    "\U0001d400-\U0001d7ff\U0001f100-\U0001f1ff]+"
)


def _fold(text: str) -> str:
    return _FOLDABLE.sub(lambda m: m.group(0).translate(_FOLD), text)


class _View:
    """A derived string with some characters of its parent deleted, and the map back to the parent."""

    __slots__ = ("text", "_shift", "_cum", "parent")

    def __init__(self, text: str, deleted: list[tuple[int, int]] | None = None, parent: _View | None = None):
        # deleted: (start, end) spans of the parent text that were removed, in order
        self.text = text
        self.parent = parent
        self._shift: list[int] = []
        self._cum: list[int] = []
        if deleted:
            removed = 0
            for s, e in deleted:
                self._shift.append(s - removed)
                removed += e - s
            removed = 0
            for s, e in deleted:
                removed += e - s
                self._cum.append(removed)

    def to_parent(self, i: int) -> int:
        if not self._shift:
            return i
        k = bisect_right(self._shift, i)
        return i + (self._cum[k - 1] if k else 0)

    def to_root(self, start: int, end: int) -> tuple[int, int]:
        view: _View | None = self
        while view is not None and view.parent is not None:
            start, end = view.to_parent(start), view.to_parent(end - 1) + 1
            view = view.parent
        return start, end


def _deleting(view: _View, rx: _Lazy) -> _View | None:
    spans = [m.span() for m in rx.finditer(view.text)]
    if not spans:
        return None
    return _View(rx.sub("", view.text), spans, view)


# -- checksums and shape checks ------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31,
    "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24,
    "XK": 20,
}


def iban_ok(iban: str) -> bool:
    iban = iban.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34 or _IBAN_LENGTHS.get(iban[:2], len(iban)) != len(iban):
        return False
    moved = iban[4:] + iban[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def verhoeff_ok(digits: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


def _cpf_ok(digits: str) -> bool:
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    nums = [int(c) for c in digits]
    for n in (9, 10):
        s = sum(nums[i] * (n + 1 - i) for i in range(n))
        if (s * 10 % 11) % 10 != nums[n]:
            return False
    return True


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni_ok(value: str) -> bool:
    value = value.replace("-", "").upper()
    head = value[:-1]
    if head[0] in "XYZ":
        head = str("XYZ".index(head[0])) + head[1:]
    return head.isdigit() and _DNI_LETTERS[int(head) % 23] == value[-1]


def _nir_ok(value: str) -> bool:
    digits = value.replace(" ", "")
    if len(digits) != 15:
        return False
    body = digits[:13].replace("2A", "19").replace("2B", "18")
    if not body.isdigit():
        return False
    return 97 - int(body) % 97 == int(digits[13:])


_C_LOG_C = [0.0] + [c * math.log2(c) for c in range(1, 4097)]


def entropy(s: str) -> float:
    """Shannon entropy in bits per character: log2(n) - sum(c log2 c) / n over the character counts."""
    n = len(s)
    if not n:
        return 0.0
    counts = Counter(s).values()
    if n > 4096:
        return -sum(c / n * math.log2(c / n) for c in counts)
    return math.log2(n) - sum(map(_C_LOG_C.__getitem__, counts)) / n


_DIGIT = _Lazy(r"\d")
_SYMBOL = _Lazy(r"[^A-Za-z0-9]")
# each character as its class (d, l, u, s): the runs of one class show how often the class switches
_CLASS_OF = str.maketrans(
    {**{c: "d" for c in "0123456789"}, **{c: "l" for c in "abcdefghijklmnopqrstuvwxyz"},
     **{c: "u" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}}
)
_CLASS_RUN = _Lazy(r"d+|l+|u+|[^dlu]+")
_SEPARATORS = _Lazy(r"[_-]")
_WORDISH = _Lazy(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_HEX_ONLY = _Lazy(r"[0-9a-fA-F-]+")


def _classes(s: str) -> int:
    return (
        (s.upper() != s) + (s.lower() != s) + (_DIGIT.search(s) is not None)
        + (_SYMBOL.search(s) is not None)
    )


@lru_cache(maxsize=4096)
def looks_random(s: str, min_len: int = 20) -> bool:
    """A machine-made value rather than a word, a name or an identifier: long enough, mixed classes,
    high entropy, and the character class switching often (camelCase names and words switch seldom).
    Pure hex (hashes, UUIDs, git SHAs) is not random enough on its own: it needs a secret-looking name."""
    core = s.strip("=")
    if len(core) > 512:
        return False  # a blob (an image, a key body): not one token; keys have their own detector
    if len(core) < min_len or _HEX_ONLY.fullmatch(core):
        return False
    parts = _SEPARATORS.split(core)
    if len(parts) >= 3 and sum(p.isalpha() and len(p) >= 2 for p in parts) * 2 >= len(parts):
        return False  # words joined by _ or - (an identifier such as test_chart_and_grid_at_160x48)
    words = _WORDISH.findall(core)
    if len(words) >= 3 and sum(map(len, words)) >= 4.0 * len(words):
        return False  # CamelCase words (PyImport_ImportFrozenModuleObject): a name
    classes = _classes(core)
    if classes < 3 and not (classes == 2 and _DIGIT.search(core)):
        return False
    if entropy(core) < (3.5 if len(core) < 32 else 4.0):
        return False
    switches = len(_CLASS_RUN.findall(core.translate(_CLASS_OF))) - 1
    return switches >= 0.3 * len(core)


def _printable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or sum(ch.isprintable() or ch in "\n\r\t" for ch in text) < len(text):
        return None
    return text


def _der_private_key(data: bytes) -> bool:
    """DER of a private key: a SEQUENCE whose first element is the version INTEGER 0 or 1 (PKCS#1 RSA,
    PKCS#8, SEC1 EC, DSA) - certificates and public keys start with another SEQUENCE instead; or an
    OpenSSH key, or an OpenPGP secret-key packet."""
    if data.startswith(b"openssh-key-v1\x00"):
        return True
    if len(data) >= 40 and data[0] in (0x94, 0x95, 0xC5):
        # an OpenPGP secret-key packet: its header, version 3-5, a creation time, a public-key algorithm
        at = {0x94: 2, 0x95: 3}.get(data[0]) or (2 if data[1] < 192 else 3 if data[1] < 224 else 6)
        return data[at] in (3, 4, 5) and data[at + 5] in (1, 2, 3, 16, 17, 18, 19, 22, 25, 27)
    if len(data) < 48 or data[0] != 0x30:
        return False
    i = 1
    if data[i] & 0x80:
        i += 1 + (data[i] & 0x7F)
    else:
        i += 1
    return data[i:i + 3] in (b"\x02\x01\x00", b"\x02\x01\x01")


# -- detectors -----------------------------------------------------------------------------------------

Scan = Callable[[str, str, bool], Iterable[tuple[int, int, str]]]


@dataclass(frozen=True)
class _Detector:
    kind: str
    scan: Scan
    needles: tuple[str, ...] = ()  # lower-case; the detector runs only if one is in the text


def _regex(
    kind: str,
    pattern: str,
    needles: tuple[str, ...] = (),
    group: int | str = 0,
    check: Callable[[re.Match[str], str], str | bool | None] | None = None,
    lower: bool = False,
) -> _Detector:
    """A detector from one regex. `lower`: the pattern runs over the lower-cased text (as fast as a
    case-sensitive search; case-insensitive alternations are not). `check(m, text)` returns False/None
    to drop a match, True to keep it, or another kind."""
    rx = _Lazy(pattern)  # compiled when a text first holds one of its needles

    def scan(text: str, low: str, generic: bool = True) -> Iterator[tuple[int, int, str]]:
        for m in rx.finditer(low if lower else text):
            got = check(m, text) if check else True
            if not got:
                continue
            s, e = m.span(group)
            if s < e:
                yield s, e, got if isinstance(got, str) else kind

    return _Detector(kind, scan, needles)


def _before_ok(text: str, start: int, cls: str = "A-Za-z0-9") -> bool:
    return start == 0 or not re.match(f"[{cls}]", text[start - 1])


def _word_start(cls: str = "A-Za-z0-9") -> Callable[[re.Match[str], str], bool]:
    return lambda m, text: _before_ok(text, m.start(), cls)


# vendor tokens: literal prefixes (fast search), a boundary checked before, bounded or possessive bodies
_VENDOR: list[tuple[str, str, tuple[str, ...]]] = [
    ("aws-access-key", r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|A3T[A-Z0-9])[A-Z0-9]{16}"
     r"(?![A-Za-z0-9])", ("akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "aroa",
                          "apka", "a3t")),
    ("anthropic-key", r"sk-ant-[A-Za-z0-9_-]{16,}+", ("sk-ant-",)),
    ("openai-key", r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}+", ("sk-",)),
    ("github-token", r"(?:gh[pousr]_[A-Za-z0-9]{30,}+|github_pat_[A-Za-z0-9_]{40,}+)", ("gh", "github_pat_")),
    ("gitlab-token", r"gl(?:pat|dt|ptt|rt|cbt|oas|soat|ft|imt|agent)-[A-Za-z0-9_-]{20,}+", ("gl",)),
    ("slack-token", r"xox[abposrec]-[A-Za-z0-9-]{10,}+", ("xox",)),
    ("slack-token", r"xapp-\d-[A-Za-z0-9-]{10,}+", ("xapp-",)),
    ("stripe-key", r"(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{16,}+|whsec_[A-Za-z0-9]{24,}+",
     ("_live_", "_test_", "whsec_")),
    ("google-api-key", r"AIza[0-9A-Za-z_-]{35}", ("aiza",)),
    ("google-oauth-token", r"ya29\.[0-9A-Za-z_-]{20,}+", ("ya29.",)),
    ("google-oauth-secret", r"GOCSPX-[0-9A-Za-z_-]{20,}+", ("gocspx-",)),
    ("huggingface-token", r"hf_[A-Za-z0-9]{30,}+", ("hf_",)),
    ("npm-token", r"npm_[A-Za-z0-9]{36}", ("npm_",)),
    ("pypi-token", r"pypi-[A-Za-z0-9_-]{50,}+", ("pypi-",)),
    ("sendgrid-key", r"SG\.[A-Za-z0-9_-]{16,}+\.[A-Za-z0-9_-]{16,}+", ("sg.",)),
    ("twilio-key", r"(?:SK|AC)[0-9a-fA-F]{32}(?![A-Za-z0-9])", ("sk", "ac")),
    ("mailgun-key", r"key-[0-9a-zA-Z]{32}(?![A-Za-z0-9])", ("key-",)),
    ("digitalocean-token", r"do[por]_v1_[a-f0-9]{64}", ("_v1_",)),
    ("shopify-token", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}", ("shp",)),
    ("databricks-token", r"dapi[a-f0-9]{32}(?:-\d)?", ("dapi",)),
    ("telegram-bot-token", r"\d{8,10}:AA[0-9A-Za-z_-]{33}", (":aa",)),
    ("discord-token", r"[MNO][A-Za-z\d_-]{23,27}\.[\w-]{6}\.[\w-]{27,40}", ("m", "n", "o")),
    ("square-token", r"sq0(?:atp|csp|idp)-[0-9A-Za-z_-]{22,43}", ("sq0",)),
    ("square-token", r"EAAA[0-9A-Za-z_-]{60}", ("eaaa",)),
    ("atlassian-token", r"ATATT3[A-Za-z0-9_=-]{40,}+", ("atatt3",)),
    ("azure-client-secret", r"[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}", ("q~",)),
    ("azure-storage-key", r"(?i:AccountKey)=[A-Za-z0-9+/]{40,}+={0,2}", ("accountkey=",)),
    ("azure-connection-string", r"(?i:SharedAccessKey|SharedAccessSignature)=[^;\s\"']++",
     ("sharedaccess",)),
    ("new-relic-key", r"NRAK-[A-Z0-9]{27}", ("nrak-",)),
    ("linear-key", r"lin_(?:api|oauth)_[A-Za-z0-9]{32,}+", ("lin_",)),
    ("doppler-token", r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}+", ("dp.",)),
    ("postman-key", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}", ("pmak-",)),
    ("grafana-token", r"gl(?:c|sa)_[A-Za-z0-9+/_=-]{32,}+", ("glc_", "glsa_")),
    ("age-secret-key", r"AGE-SECRET-KEY-1[0-9A-Z]{58}", ("age-secret-key-",)),
    ("jwt", r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{5,}+\.eyJ[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]*+", ("eyj",)),
]


def _vendor_detectors() -> list[_Detector]:
    out = []
    for kind, pattern, needles in _VENDOR:
        out.append(_regex(kind, pattern, needles, check=_word_start("A-Za-z0-9_")))
    return out


# -- private keys in every envelope --------------------------------------------------------------------

_KWS = r"(?:[ \t\r\n]|\\[rn]){1,4}"  # between the words of a header: spaces, a (JSON-escaped) line break
_PEM = (
    # a run of dashes is tried from its start only, and taken whole (possessive)
    r"-(?<!--)-++\s*+BEGIN" + _KWS + r"(?:[A-Z0-9]+" + _KWS + r"){0,4}?(?:PRIVATE|SECRET)" + _KWS
    + r"KEY(?:" + _KWS + r"BLOCK)?\s*-{2,}"
    # the body: base64, line breaks (also escaped), header lines (Proc-Type, DEK-Info, Version, Comment)
    + r"(?:(?:(?<=\n)|(?<=\\n))[A-Z][A-Za-z-]{1,30}+:[^\r\n\\]*+|[A-Za-z0-9+/=\s]|\\[rn]|-{1,5}+(?!\s*END))*+"
    + r"(?:-{2,}\s*END[^-\r\n\\]{0,60}-{2,})?"
)
_PUTTY_PRIVATE = r"Private-Lines:[ \t]*\d+(?:(?:\r?\n|\\r?\\n)[A-Za-z0-9+/=]++)++"
_PUTTY_MAC = r"Private-(?:MAC|Hash):[ \t]*[0-9a-fA-F]++"
_OPENSSH_BODY = r"b3BlbnNzaC1rZXktdjE[A-Za-z0-9+/=]*+(?:(?:\s|\\[rn])++[A-Za-z0-9+/=]++)*+"

_B64_RUN = _Lazy(r"[A-Za-z0-9+/_-](?<![A-Za-z0-9+/_-][A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{19,}+={0,2}")
_B64_GAP = _Lazy(r"\s*+")


def _scan_runs(text: str, low: str, generic: bool = True) -> Iterator[tuple[int, int, str]]:
    """One scan of the runs of base64 / token characters (20 or more) for: base64 blocks (several lines,
    JSON-escaped or not) that decode to a private key although no header says so; base64 runs that decode
    to text holding a secret (an encoded token); and, with `generic`, machine-made tokens of an unknown
    vendor (`prefix_` and a random body) or of none (a bare random string of 32 or more)."""
    if "\\" in text:
        text = text.replace("\\n", "  ").replace("\\r", "  ")  # JSON-escaped breaks; indices unchanged
    runs = [m.span() for m in _B64_RUN.finditer(text)]
    candidates: list[tuple[int, int, str | None]] = []
    i = 0
    while i < len(runs):
        # a block: runs separated only by whitespace or escaped line breaks
        j = i
        while j + 1 < len(runs):
            gap = _B64_GAP.match(text, runs[j][1])
            if gap is None or gap.end() != runs[j + 1][0] or runs[j][1] == runs[j + 1][0]:
                break
            j += 1
        start, end = runs[i][0], runs[j][1]
        if end - start >= 64:
            raw = re.sub(r"\s", "", text[start:end])
            data = _b64decode(raw)
            if data is not None and _der_private_key(data):
                yield start, end, "private-key"
                i = j + 1
                continue
        for k in range(i, j + 1):
            s, e = runs[k]
            data = _b64decode(text[s:e])
            candidates.append((s, e, _printable(data) if data is not None and len(data) >= 12 else None))
        i = j + 1
    # what the runs decode to is searched in one pass (joined), not one search per run
    flagged = _flag_decoded([d for _, _, d in candidates])
    for n, (s, e, _) in enumerate(candidates):
        if n in flagged:
            yield s, e, "base64-secret"
        elif generic and e - s <= 512:
            kind = _machine_made(text, s, text[s:e])
            if kind:
                yield s, e, kind


def _flag_decoded(decoded: list[str | None]) -> set[int]:
    """The indices of the decoded texts that hold a secret."""
    starts, parts, index, at = [], [], [], 0
    for n, d in enumerate(decoded):
        if d is not None:
            starts.append(at)
            parts.append(d)
            index.append(n)
            at += len(d) + 2
    flagged: set[int] = set()
    if not parts:
        return flagged
    for f in _find("\n\n".join(parts), depth=1, generic=False):
        k = bisect_right(starts, f.start) - 1
        flagged.add(index[k])
        while k + 1 < len(starts) and starts[k + 1] < f.end:
            k += 1
            flagged.add(index[k])
    return flagged


_PREFIXED = _Lazy(r"[a-z][a-z0-9]{1,11}(?:[_-][a-z0-9]{1,10}){0,2}[_-]([A-Za-z0-9]{20,})")


def _machine_made(text: str, start: int, value: str) -> str | None:
    m = _PREFIXED.fullmatch(value)
    if m is not None:
        return "api-token" if looks_random(m.group(1)) else None
    if len(value) == 40 and re.fullmatch(r"[A-Za-z0-9+/]{40}", value):
        if ("/" in value or "+" in value or _classes(value) >= 3) and looks_random(value, 40):
            return "aws-secret-key"
    if len(value.rstrip("=")) < 32:
        return None
    before = text[max(0, start - 12):start].lower()
    if "base64," in before or re.search(r"sha\d+-$|sha\d+:$|integrity", before):
        return None
    if value.count("/") >= 2 and not any(looks_random(seg, 32) for seg in value.split("/")):
        return None  # a path
    return "high-entropy-token" if looks_random(value, 32) else None


def _b64decode(raw: str) -> bytes | None:
    raw = raw.rstrip("=")
    alt = "-" in raw or "_" in raw
    if alt and ("+" in raw or "/" in raw):
        return None
    raw += "=" * (-len(raw) % 4)
    import base64  # only a text with a base64-looking run comes here
    import binascii

    try:
        return base64.b64decode(raw, altchars=b"-_" if alt else None, validate=True)
    except (binascii.Error, ValueError):
        return None


# -- names that say "secret" ---------------------------------------------------------------------------

_STRONG = ("password", "passwd", "passphrase", "passcode", "pwd", "pass", "secret", "pw", "pword")
_MEDIUM = (
    "token", "apikey", "key", "sig", "signature", "credential", "credentials", "creds", "cred", "cookie",
    "auth", "authorization", "session", "sessionid", "jwt", "bearer", "dsn", "salt", "pat", "otp",
    "hmac", "privatekey", "accesskey", "secretkey", "sas", "license",
)
_NOT_SECRET_WORDS = {
    "bypass", "compass", "encompass", "overpass", "surpass", "trespass", "underpass", "monkey", "turkey",
    "donkey", "hockey", "jockey", "whiskey", "lackey", "hotkey", "keykey", "passkey",
}
# trailing name parts that do not change what the value is
_NOISE = {"base", "value", "val", "str", "string", "env", "b64", "base64", "raw", "plain", "enc", "encoded",
          "hex", "txt", "text", "data", "here", "1", "2", "3", "new", "old", "0"}
_CODE_VALUES = {
    "none", "null", "nil", "true", "false", "undefined", "str", "string", "int", "bytes", "bool", "any",
    "optional", "secretstr", "required", "default", "self", "this", "password", "token", "secret", "env",
    "process", "os", "get", "input", "getpass", "redacted", "hidden", "masked", "xxx", "xxxx", "***",
    "your", "yes", "no", "on", "off", "todo", "tbd", "n/a", "example", "value", "string?", "str?", "{}",
    "[]", "()", "lambda", "field", "new", "await", "function", "type", "object", "list", "dict", "number",
    "boolean", "secretbytes", "char", "varchar", "text", "blob", "uuid", "nullable", "pass", "f",
}
_SPLIT_NAME = _Lazy(r"[_.\-\s]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@lru_cache(maxsize=4096)
def name_strength(name: str) -> str | None:
    """'strong' for a name whose value is a password or secret of any length, 'medium' for a token or key
    (its value must look machine-made), None for any other name."""
    parts = [p.lower() for p in _SPLIT_NAME.split(name.strip("-_.$@\"' ")) if p]
    while parts and parts[-1] in _NOISE:
        parts.pop()
    if not parts:
        return None
    last = parts[-1]
    if last in _NOT_SECRET_WORDS:
        return None
    if last in ("mnemonic", "seedphrase") or parts[-2:] in (["seed", "phrase"], ["recovery", "phrase"]):
        return "strong"
    if last == "id" and len(parts) > 1 and parts[-2] in ("key", "session", "secret", "token"):
        return "medium"
    if last in ("key", "keys", "token") and any(
        p in ("secret", "private", "master", "signing", "encryption") for p in parts[:-1]
    ):
        return "strong"
    for w in _STRONG:
        if last == w or (last.endswith(w) and len(w) >= 4):
            return "strong"
    for w in _MEDIUM:
        if last == w or (last.endswith(w) and len(w) >= 3 and last not in ("monkey",)):
            return "medium"
    return None


_ASSIGN = _Lazy(
    r"(?:pass|pwd|pw|secret|token|key|sig|credential|cred|cookie|auth|session|jwt|bearer|salt|dsn|otp|hmac"
    r"|pat|sas|license|mnemonic|seed)"
    r"[a-z0-9_.-]{0,40}+(?P<q>[\"']?)[ \t]{0,20}+(?P<sep>:=|=>|==|!=|=|:|>)[ \t]{0,20}+"
)
# a value: quoted (each kind of quote scans only to the next one of its kind, so quoted scans never
# overlap), or a bare run up to a terminator (remembered, so a run is scanned once however many names
# point into it)
_QUOTED = {
    '"': _Lazy(r'"(?:[^"\\\n]|\\.)*+"'),
    "'": _Lazy(r"'[^'\n]*+'"),
    "`": _Lazy(r"`[^`\n]*+`"),
}
_APP_PASSWORD_REST = _Lazy(r"(?: [a-z]{4}){3}(?![A-Za-z0-9])")
_BARE_VALUE = _Lazy(r"(?:[^\s\"'`,;&<>(){}\[\]\\]|\\(?![nrt]))++")  # up to a (JSON-escaped) break
_NAME_REVERSED = _Lazy(r"[a-z0-9_.\-$@]{0,40}+")
_FLAG = _Lazy(
    r"-(?<![\w-]-)-?[a-z][a-z0-9_-]{0,30}+[ \t]++"
    r"(?P<v>\"(?:[^\"\\\n]|\\.)*+\"|'[^'\n]*+'|[^\s\"'`,;&<>(){}\[\]-][^\s\"'`,;&<>(){}\[\]]*+)"
)
_PROSE_PASSWORD = _Lazy(
    r"(?P<w>password|passwd|passphrase|passcode|pwd|pin|secret|token|api key|key)"
    r"[ \t]+(?:is|was|remains|becomes)[ \t]+[\"'`]?"
    r"(?P<v>[^\s\"'`,;]{3,}+)"
)
_PGPASS = _Lazy(r"(?m)^[A-Za-z0-9_.*-]++:(?:\d++|\*):[^:\s]++:[^:\s]++:(\S++)$")
_NAME_CHARS = _Lazy(r"[A-Za-z0-9_.\-$@]{0,40}+$")
_VARIABLE = _Lazy(
    r"[$%]\{?[A-Za-z_(]|\{\{|<[A-Za-z_ -]+>$|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$"
    r"|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$|\*{3,}|x{5,}$|\.\.\.$"
)


def _placeholder(value: str) -> bool:
    """`$VAR`, `${VAR}`, `%(x)s`, `{{ x }}`, `<token>`, `[secret]`, `...`, `xxxx`, `****`: not a value."""
    return bool(_TEMPLATE.match(value) or _PLACEHOLDER.fullmatch(value))


_TEMPLATE = _Lazy(r"[$%]\{?[A-Za-z_(]|\{\{")
_PLACEHOLDER = _Lazy(r"<[^<>]*>|\[[^\[\]]*\]|\{[^{}]*\}|\.{3,}|…|[xX*#•-]{3,}")


def _assignment_value(
    name: str, value: str, quoted: bool, after: str, sep: str = "=", spaced: bool = False
) -> str | None:
    """The kind for `name = value`, or None if the value is code, a placeholder or not secret-looking.
    `after`: the character after the value (past a closing quote); `spaced`: ` = ` with spaces."""
    strength = name_strength(name)
    if strength is None:
        return None
    if not quoted and sep in ("==", "!="):
        return None  # a comparison with an expression is code
    low = value.lower()
    if not value or low in _CODE_VALUES or low.rstrip("?!") in _CODE_VALUES:
        return None
    if after in ("+", "%") or (after == "." and quoted):
        return None  # "prefix" + name, "fmt %s" % x, "x".encode(): code
    if not quoted:
        if after in ("(", "[", ".") or _VARIABLE.match(value):
            return None
        bare = re.sub(r"[^a-z0-9]", "", low)
        named = re.sub(r"[^a-z0-9]", "", name.lower())
        if bare and (bare in named or "password" in bare):
            return None
        if value.isalpha() and after.isalpha() and after.islower() and (sep == ":" or spaced):
            return None  # `password: The password for the login`: a sentence, not a value
        if sep == "=" and spaced and re.fullmatch(r"[a-z_]+", value):
            return None  # `password = credentials`: a variable (an env file has no spaces round =)
        if strength == "medium" and re.fullmatch(r"0x[0-9a-fA-F]+|[a-z][a-z0-9+.-]*://\S*", value):
            return None  # a hex literal, a URL
    elif _VARIABLE.match(value) or re.fullmatch(r"[{<\[(].*[}>\])]", value):
        return None
    if strength == "strong":
        if len(value) < (2 if quoted else 3):
            return None
        if not quoted and re.fullmatch(r"[a-z]+", value) and value in _CODE_VALUES:
            return None
        last = _SPLIT_NAME.split(name.strip("-_.$@\"' "))[-1].lower()
        if last in ("pass", "pw", "pwd") and (
            (not quoted and value.isalpha() and value.islower()) or (quoted and " " in value)
        ):
            return None  # "First pass: determine", "pwd: expected bytes", 'pass': 'The "pass" statement'

        parts = [p.lower() for p in _SPLIT_NAME.split(name) if p]
        return "password" if any(w in "".join(parts) for w in ("pass", "pwd", "pw")) else "secret"
    # medium: the value must look machine-made (or be long and not a word)
    if len(value) < 8 or " " in value.strip():
        return None
    if quoted and re.search(r"%[-#0 +]*\d*(?:\.\d+)?[sdfrxi]|\{[^{}]*\}", value):
        return None  # a format string
    if re.fullmatch(r"[a-z]+(?:[_-][a-z]+)*|[A-Za-z][a-z]+(?:[A-Z][a-z]+)*", value):
        return None
    if re.fullmatch(r"\d{1,12}", value) or re.fullmatch(r"\d+(?:\.\d+)+", value):
        return None
    if not (any(c.isdigit() for c in value) or _classes(value) >= 3 or entropy(value) >= 3.5):
        return None
    return "token"


def _scan_assignments(text: str, low: str, generic: bool = True) -> Iterator[tuple[int, int, str]]:
    """`name = value`, `name: value`, `"name": "value"`, `<name>value` where the name says secret."""
    lowered = low if len(low) == len(text) else text.lower()
    rev = None
    bare_start = bare_end = covered = -1
    for m in _ASSIGN.finditer(lowered):
        start = m.start()
        if start < covered:
            continue  # inside a value already found
        if rev is None:
            rev = lowered[::-1]
        left = _NAME_REVERSED.match(rev, len(lowered) - start)
        name_start = start - (left.end() - left.start()) if left else start
        name = text[name_start:m.start("q")]
        sep = m.group("sep")
        if name_strength(name) is None:
            continue
        if sep == ">" and text[max(0, name_start - 1):name_start] != "<":
            continue
        vs = m.end()
        ch = text[vs:vs + 1]
        if ch in _QUOTED:
            qm = _QUOTED[ch].match(text, vs)
            if qm is None:
                continue
            quoted, ve = True, qm.end()
            vs, ve = vs + 1, ve - 1
        else:
            quoted = False
            if bare_start <= vs < bare_end:
                ve = bare_end
            else:
                bm = _BARE_VALUE.match(text, vs)
                if bm is None:
                    continue
                bare_start, bare_end = bm.span()
                ve = bare_end
        if sep == ":" and not quoted and text[ve:ve + 1] == ":":
            continue  # a C++ scope or a Python slice, not a value
        if not quoted:
            while ve - vs > 1 and text[ve - 1] in ".:,!?":
                ve -= 1  # the sentence's punctuation, not the value's
        covered = ve  # a name inside this value is part of it: each value is looked at once
        if ve - vs > 4096:
            kind: str | None = "secret"  # no code or placeholder is that long
        else:
            # what follows the value (past its quote and spaces): `(`, `.`, `+`, `%` make it code
            after = text[ve + quoted:ve + quoted + 8].lstrip(" \t")[:1]
            sep_at, sep_end = m.span("sep")
            spaced = text[sep_at - 1:sep_at] == " " and text[sep_end:sep_end + 1] == " "
            kind = _assignment_value(name, text[vs:ve], quoted, after, sep, spaced)
        if kind is not None:
            if "aws" in name.lower() and "secret" in name.lower():
                kind = "aws-secret-key"
            if not quoted and ve - vs == 4:
                more = _APP_PASSWORD_REST.match(text, ve)  # an app password: `abcd efgh ijkl mnop`
                if more is not None:
                    ve = covered = more.end()
            yield vs, ve, kind
    if any(w in lowered for w in ("pass", "pwd", "pin", "secret", "token", "key")):
        # "my password is hunter2", "the API secret is 7f3a9c2e1b": a value a machine or a person made
        for m in _PROSE_PASSWORD.finditer(lowered):
            value = text[m.start("v"):m.end("v")].rstrip(".!?:;,)")
            if value.lower() in _CODE_VALUES or value.lower() in ("required", "incorrect", "wrong", "set"):
                continue
            digits = any(c.isdigit() for c in value)
            if m.group("w") in ("secret", "token", "api key", "key"):
                # a word here is prose ("the key is caching"), a count is prose ("the token is 4096")
                if len(value) < 8 or not (digits and any(c.isalpha() for c in value)):
                    continue
                kind = "secret"
            else:
                mixed = not (value.islower() or value.isupper())
                if not (digits or not value.isalnum() or mixed):
                    continue
                kind = "password"
            yield m.start("v"), m.start("v") + len(value), kind
    if ":" in lowered:
        for m in _PGPASS.finditer(text):  # ~/.pgpass: host:port:database:user:password
            yield m.start(1), m.end(1), "password"
    if "-" in lowered:
        # `--password hunter2`, `--api-key abc`: a flag followed by its value
        for m in _FLAG.finditer(lowered):
            if not _before_ok(lowered, m.start(), "a-z0-9_-"):
                continue
            vs, ve = m.span("v")
            name = text[m.start():vs].strip()
            if text[vs] in "\"'":
                vs, ve = vs + 1, ve - 1
            kind = _assignment_value(name, text[vs:ve], text[m.start("v")] in "\"'", text[ve:ve + 1])
            if kind is not None:
                yield vs, ve, kind


# -- URLs ----------------------------------------------------------------------------------------------

_URL_USERINFO = _Lazy(r"://([^\s:/@?#\"'<>]*+):([^\s/@\"'<>]++)@(?=[A-Za-z0-9\[_-])")
_QUERY = _Lazy(r"[?&#]([A-Za-z0-9_.\-\[\]]{1,40}+)=([^&\s#\"'<>;]++)")


def _scan_url_userinfo(text: str, low: str, generic: bool = True) -> Iterator[tuple[int, int, str]]:
    for m in _URL_USERINFO.finditer(text):
        yield m.start(2), m.end(2), "url-password"


def _scan_query(text: str, low: str, generic: bool = True) -> Iterator[tuple[int, int, str]]:
    for m in _QUERY.finditer(text):
        name, value = m.group(1), m.group(2)
        strength = name_strength(name)
        if strength is None and name.lower() not in ("code", "x-amz-credential", "x-amz-security-token"):
            continue
        if strength == "strong" and len(value) >= 1 or len(value) >= 8 and (
            strength == "medium" or name.lower().startswith("x-amz")
        ):
            yield m.start(2), m.end(2), "url-secret"


_WEBHOOKS = [
    ("slack-webhook", r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+",
     ("hooks.slack",)),
    ("discord-webhook", r"https?://(?:[a-z]+\.)?discord(?:app)?\.com/api/(?:v\d+/)?webhooks/\d+/[A-Za-z0-9_-]+",
     ("discord",)),
    ("teams-webhook", r"https?://[A-Za-z0-9.-]+\.webhook\.office\.com/[^\s\"'<>]+", ("webhook.office",)),
    ("webhook-url", r"https?://[^\s/\"'<>]++/[^\s\"'<>]{0,300}?(?:webhook|hooks?)/[^\s\"'<>]++",
     ("hook",)),
]


def _webhook_check(m: re.Match[str], text: str) -> bool:
    tail = m.group(0).split("/", 3)[-1]
    return any(looks_random(seg, 16) or len(seg) >= 24 for seg in re.split(r"[/?&=]", tail))


# -- authorization headers and command lines -----------------------------------------------------------

_AUTH_HEADER = _Lazy(
    r"authorization[\"']?[ \t]*[:=][ \t]*[\"']?(?P<scheme>(?:bearer|token|basic|digest|bot|apikey|api-key|key"
    r"|sso-key|ssws|otp|hmac|negotiate|ntlm|splunk|dsn|klaviyo-api-key|geniekey)[ \t]+)?([^\s\"',;()\[\]]++)"
)
_BEARER = _Lazy(r"bearer[ \t]+([a-z0-9._~+/=-]{4,}+)")
_BASIC = _Lazy(r"basic[ \t]+([a-z0-9+/]{8,}+={0,2})")
_CURL_USER = _Lazy(r"(?:-u|--user)[ \t=]+[\"']?[^\s:\"']{1,64}+:([^\s\"']++)")
_SHORT_P = _Lazy(r"[ \t]-p[ \t]?([^\s\"'-][^\s\"']++)")  # mysql -pSECRET, docker login -p SECRET
_NETRC = _Lazy(r"machine[ \t]++\S++\s++(?:login[ \t]++\S++\s++)?password[ \t]++(\S++)")


def _scan_auth(text: str, low: str, generic: bool = True) -> Iterator[tuple[int, int, str]]:
    same = len(low) == len(text)
    lowered = low if same else text.lower()
    if "authorization" in lowered:
        for m in _AUTH_HEADER.finditer(lowered):
            vs, ve = m.span(2)
            value = text[vs:ve].rstrip("`.")
            if _placeholder(value) or (value.isalpha() and len(value) < 16):
                continue  # `Authorization: Bearer <token>`, `$TOKEN`, "the Authorization: Bearer header"
            if m.group("scheme") is None and (
                _VARIABLE.match(value) or text[ve:ve + 1] in ("(", "[", ".")
                or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) and not any(c.isdigit() for c in value)
            ):
                continue  # `authorization = self.headers.get(...)`, `authorization = parts[1]`: code
            yield vs, vs + len(value), "authorization-header"
    if "bearer" in lowered:
        for m in _BEARER.finditer(lowered):
            value = text[m.start(1):m.end(1)]
            if _placeholder(value):
                continue
            word = re.fullmatch(r"[A-Za-z][a-z]+|[A-Z]+", value) is not None
            capital = text[m.start():m.start() + 1] == "B"
            if len(value) < 6 and not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
                continue
            if any(c.isdigit() for c in value) or looks_random(value, 12) or (capital and not word):
                yield m.start(1), m.end(1), "bearer-token"
    if "basic" in lowered:
        for m in _BASIC.finditer(lowered):
            value = text[m.start(1):m.end(1)]
            data = _b64decode(value)
            decoded = _printable(data) if data else None
            if decoded and ":" in decoded:
                yield m.start(1), m.end(1), "basic-auth"
    if "-u" in lowered:
        for m in _CURL_USER.finditer(text):
            if _before_ok(text, m.start(), "A-Za-z0-9_-"):
                yield m.start(1), m.end(1), "password"
    if "mysql" in lowered or "login" in lowered:
        for n, m in enumerate(_SHORT_P.finditer(text)):
            if n > 2000:
                break  # that many -p flags are not a command line
            line = max(lowered.rfind("\n", 0, m.start()), m.start() - 200, 0)
            head = lowered[line:m.start()]
            if "mysql" in head or "login" in head:
                yield m.start(1), m.end(1), "password"
    if "machine" in lowered:
        for m in _NETRC.finditer(lowered):
            yield m.start(1), m.end(1), "password"


# -- e-mail and personal data --------------------------------------------------------------------------

_EMAIL = _Lazy(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}+@(?:[A-Za-z0-9][A-Za-z0-9-]{0,62}+\.)+[A-Za-z]{2,24}+"
    r"(?![A-Za-z0-9-])"
)


_URL_USER_BEFORE = _Lazy(r"://[^\s/@:]*+:$")


def _email_check(m: re.Match[str], text: str) -> bool:
    local = m.group(0).split("@", 1)[0]
    if text[max(0, m.start() - 3):m.start()] == "://":
        return False  # the user of a URL without a password (`https://user@host/`)
    if text[m.start() - 1:m.start()] == ":" and _URL_USER_BEFORE.search(
        text, max(0, m.start() - 200), m.start()
    ):
        return False  # the password and host of `scheme://user:password@host` (url-password has it)
    return local not in ("git",) and not local.startswith(".")


_NUM_RUN = _Lazy(r"\d(?<!\d\d)(?<!\d[ .()/\-]\d)(?<!\d[ .()/\-]{2}\d)(?:[ .()/\-]{0,2}\d){5,}+")


def _number_windows(text: str) -> tuple[str, Callable[[int, int], tuple[int, int]]] | None:
    """The parts of `text` around runs of six or more digits (with 48 characters before, for a keyword
    such as "SSN:"), joined by line breaks, and the map of their spans back to `text`. Personal numbers
    are looked for only there, so ordinary prose costs one scan."""
    spans: list[list[int]] = []
    for m in _NUM_RUN.finditer(text):
        lo, hi = max(0, m.start() - 48), min(len(text), m.end() + 4)
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = hi
        else:
            spans.append([lo, hi])
    if not spans:
        return None
    if len(spans) == 1 and spans[0] == [0, len(text)]:
        return text, lambda s, e: (s, e)
    starts, origins, at = [], [], 0
    for lo, hi in spans:
        starts.append(at)
        origins.append(lo)
        at += hi - lo + 1
    sub = "\n".join(text[lo:hi] for lo, hi in spans)

    def back(s: int, e: int) -> tuple[int, int]:
        k = bisect_right(starts, s) - 1
        return origins[k] + s - starts[k], origins[k] + e - starts[k]

    return sub, back


_CARD = _Lazy(r"[2-6](?<![\d.,][2-6])(?<![\d][ -][2-6])(?:[ -]?\d){12,18}(?![\d])(?![ -]\d)")
_CARD_IIN = _Lazy(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|35|6(?:011|5|4[4-9]|2)|5[06-9]|6")


def _card_check(m: re.Match[str], text: str) -> bool:
    raw = m.group(0)
    digits = raw.replace(" ", "").replace("-", "")
    if not 13 <= len(digits) <= 19 or not _CARD_IIN.match(digits) or not luhn_ok(digits):
        return False
    seps = {c for c in raw if c in " -"}
    if len(seps) > 1:
        return False
    if seps:  # grouped as cards are printed: 4-4-4-4(-3), 4-6-5 or 4-6-4
        groups = [len(g) for g in re.split(r"[ -]", raw)]
        return groups[0] == 4 and (all(g == 4 for g in groups[1:-1]) or groups in ([4, 6, 5], [4, 6, 4]))
    return True


_IBAN = _Lazy(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]){11,30}+(?![A-Za-z0-9])")


def _scan_iban(text: str, low: str, generic: bool = True) -> Iterator[tuple[int, int, str]]:
    for m in _IBAN.finditer(text):
        raw = m.group(0)
        # trailing words in capitals may have been taken: try the longest prefix that checks
        for cut in range(len(raw), 14, -1):
            if raw[cut - 1] == " ":
                continue
            if (cut == len(raw) or raw[cut] == " ") and iban_ok(raw[:cut]):
                yield m.start(), m.start() + cut, "iban"
                break


_PHONE_E164 = _Lazy(r"\+(?<![\w+]\+)[1-9](?:[ .\-()]{0,2}\d){7,14}+(?![\d])")
_PHONE_US = _Lazy(
    r"[(2-9](?<![\w+./][(2-9])(?<!\d\d-[(2-9])(?:(?<=\()[2-9]\d{2}\)[ ]?|(?<!\()\d{2}[-. ])"
    r"[2-9]\d{2}[-. ]\d{4}"
    r"(?![\w\-/]|\.\d)"
)
_PHONE_NATIONAL = _Lazy(
    r"0(?<![\w+.\-/:]0)(?:\d{1,4}(?:[ -]\d{2,4}){2,4}|\d{2,4}[ /-]\d{5,8}|[67]\d{8,9})(?![\w\-/:]|\.\d)"
)
_DATE_LIKE = _Lazy(r"\d{4}-\d\d-\d\d|\d\d?[/.-]\d\d?[/.-]\d{2,4}|\d\d?:\d\d")
_PHONE_CONTEXT = _Lazy(
    r"(?:phone|telephone|tel|mobile|cell|fax|whatsapp|sms|call(?: me)?(?: at| on)?)"
    r"(?:[ _-]?(?:no\.?|number|num|nr))?(?![a-z])[ \t]*[:=#]?[ \t]*\+?(\(?\d[\d ().-]{5,20}\d)"
)


def _digits(s: str) -> int:
    return sum(c.isdigit() for c in s)


def _scan_phones(text: str, low: str, generic: bool = True) -> Iterator[tuple[int, int, str]]:
    for m in _PHONE_E164.finditer(text):
        if 8 <= _digits(m.group(0)) <= 15 and not re.fullmatch(r"\+\d+\.\d+", m.group(0)):
            yield m.start(), m.end(), "phone"
    for m in _PHONE_US.finditer(text):
        yield m.start(), m.end(), "phone"
    for m in _PHONE_NATIONAL.finditer(text):
        if 10 <= _digits(m.group(0)) <= 11:
            yield m.start(), m.end(), "phone"
    lowered = low if len(low) == len(text) else text.lower()
    if any(w in lowered for w in ("phone", "tel", "mobile", "cell", "fax", "whatsapp", "sms", "call")):
        for m in _PHONE_CONTEXT.finditer(lowered):
            value = m.group(1)
            if _DATE_LIKE.search(value) or not _before_ok(lowered, m.start(), "a-z"):
                continue
            if 7 <= _digits(value) <= 15:
                yield m.start(1), m.end(1), "phone"


_SSN = _Lazy(r"\d(?<![\d-]\d)\d{2}([- ])\d{2}\1\d{4}(?![\d-])")
_UK_NI = _Lazy(
    r"[A-CEGHJ-PR-TW-Z](?<![A-Za-z0-9][A-Z])[A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]"
    r"(?![A-Za-z0-9])"
)
_DNI = _Lazy(r"[XYZ0-9](?<![A-Za-z0-9.,+-][XYZ0-9])\d{7}-?[A-Z](?![A-Za-z0-9])")
_CPF = _Lazy(r"\d(?<![\d.]\d)\d{2}\.\d{3}\.\d{3}-\d{2}(?![\d])")
_AADHAAR = _Lazy(r"[2-9](?<!\d[2-9])\d{3}[ -]\d{4}[ -]\d{4}(?![\d])")
_NIR = _Lazy(r"[12](?<!\d[12]) ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?![\d])")
_SIN = _Lazy(r"[0-79](?<!\d[0-79])\d{2}[ -]\d{3}[ -]\d{3}(?![\d])")
_ID_CONTEXT = _Lazy(
    r"(?:ssn|social security(?: number| no\.?)?|social insurance(?: number)?|sin|national[ _-]?id(?:entity)?"
    r"(?: number)?|passport(?: number| no\.?)?|tax[ _-]?id|tin|nino|ni number|bsn|personnummer|aadhaar|pesel"
    r"|dni|nie|cpf|steuer-?id)(?![a-z])[ \t]*[:#=]?[ \t]*(?:is[ \t]+)?([a-z0-9][a-z0-9 .-]{4,20}[a-z0-9])"
)


def _scan_numbers(text: str, low: str, generic: bool = True) -> Iterator[tuple[int, int, str]]:
    """Card numbers, phone numbers and national ids, inside the windows around long digit runs."""
    windows = _number_windows(text)
    if windows is None:
        return
    sub, back = windows
    sub_low = sub.lower()
    cards = [m.span() for m in _CARD.finditer(sub) if _card_check(m, sub)]
    for s, e in cards:
        yield (*back(s, e), "card-number")
    for scan in (_scan_phones, _scan_national_ids):
        for s, e, kind in scan(sub, sub_low):
            if not any(s < ce and cs < e for cs, ce in cards):  # a card's digits are not also an id
                yield (*back(s, e), kind)


def _scan_national_ids(text: str, low: str, generic: bool = True) -> Iterator[tuple[int, int, str]]:
    specific = list(_specific_ids(text))
    yield from specific
    lowered = low if len(low) == len(text) else text.lower()
    for m in _ID_CONTEXT.finditer(lowered):
        value = m.group(1)
        s, e = m.span(1)
        if _digits(value) >= 5 and _before_ok(lowered, m.start(), "a-z"):
            if not any(s < fe and fs < e for fs, fe, _ in specific):
                yield s, e, "national-id"


def _specific_ids(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _SSN.finditer(text):
        area, group, serial = m.group(0)[:3], m.group(0)[4:6], m.group(0)[7:]
        if area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000":
            yield m.start(), m.end(), "us-ssn"
    for m in _UK_NI.finditer(text):
        if m.group(0)[:2] not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"):
            yield m.start(), m.end(), "uk-ni-number"
    for m in _DNI.finditer(text):
        if _dni_ok(m.group(0)):
            yield m.start(), m.end(), "es-dni"
    for m in _CPF.finditer(text):
        if _cpf_ok(re.sub(r"\D", "", m.group(0))):
            yield m.start(), m.end(), "br-cpf"
    for m in _AADHAAR.finditer(text):
        if verhoeff_ok(re.sub(r"\D", "", m.group(0))):
            yield m.start(), m.end(), "in-aadhaar"
    for m in _NIR.finditer(text):
        if _nir_ok(m.group(0)):
            yield m.start(), m.end(), "fr-nir"
    for m in _SIN.finditer(text):
        if luhn_ok(re.sub(r"\D", "", m.group(0))):
            yield m.start(), m.end(), "ca-sin"


# -- machine-made tokens without a known prefix --------------------------------------------------------

_DETECTORS: list[_Detector] = [
    _regex("private-key", _PEM, ("begin",)),
    _regex("private-key", _OPENSSH_BODY, ("b3blbnnzac1rzxktdje",)),
    _regex("putty-private-key", _PUTTY_PRIVATE, ("private-lines",)),
    _regex("putty-private-key", _PUTTY_MAC, ("private-mac", "private-hash")),
    *_vendor_detectors(),
    *(_regex(k, p, n, check=_webhook_check if k == "webhook-url" else None) for k, p, n in _WEBHOOKS),
    _Detector("url-password", _scan_url_userinfo, ("://",)),
    _Detector("url-secret", _scan_query, ("=",)),
    _Detector(
        "authorization", _scan_auth, ("authorization", "bearer", "basic", "-u", "mysql", "login", "machine")
    ),
    _Detector("secret-assignment", _scan_assignments, ()),
    _regex("email", _EMAIL.pattern, ("@",), check=_email_check),
    _Detector("iban", _scan_iban, ()),
    _Detector("personal-number", _scan_numbers, ()),
    _Detector("base64-secret", _scan_runs, ()),
]

# the detectors that look for a token broken by line wraps: known formats only
_WRAPPABLE = _DETECTORS[4:4 + len(_VENDOR)]
_WRAP = _Lazy(
    r"(?:\n(?<=[A-Za-z0-9_+/=-]\n)|\r\n(?<=[A-Za-z0-9_+/=-]\r\n)|\\n(?<=[A-Za-z0-9_+/=-]\\n))[ \t]*"
    r"(?=[A-Za-z0-9_+/=-])"
)

# every kind a finding can have (the `[REDACTED:kind]` markers)
KINDS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [k for k, _, _ in _VENDOR]
        + [k for k, _, _ in _WEBHOOKS]
        + ["private-key", "putty-private-key", "url-password", "url-secret", "password", "secret", "token",
           "aws-secret-key", "authorization-header", "bearer-token", "basic-auth", "email", "card-number",
           "iban", "phone", "us-ssn", "uk-ni-number", "es-dni", "br-cpf", "in-aadhaar", "fr-nir", "ca-sin",
           "national-id", "base64-secret", "api-token", "high-entropy-token"]
    )
)


def _run(
    detectors: Iterable[_Detector], text: str, low: str, generic: bool
) -> Iterator[tuple[int, int, str]]:
    for d in detectors:
        if d.needles and not any(n in low for n in d.needles):
            continue
        yield from d.scan(text, low, generic)


def _find(text: str, depth: int = 0, generic: bool = True) -> list[Finding]:
    root = _View(text)
    view = root
    if not text.isascii():
        folded = _View(_fold(text), None, None)
        view = _deleting(folded, _INVISIBLE) or folded
    norm = view.text
    low = norm.lower()
    raw: list[tuple[int, int, int, str]] = []  # (start, end, priority, kind) in the original text

    def add(found: Iterable[tuple[int, int, str]], v: _View, prio: int) -> None:
        for s, e, kind in found:
            s0, e0 = v.to_root(s, e) if v.parent is not None else (s, e)
            raw.append((s0, e0, 0 if kind == "private-key" else prio, kind))

    detectors = _DETECTORS if depth == 0 else [d for d in _DETECTORS if d.kind != "base64-secret"]
    for prio, d in enumerate(detectors):
        add(_run([d], norm, low, generic), view, prio)
    unwrapped = _deleting(view, _WRAP)
    if unwrapped is not None and depth == 0:
        ulow = unwrapped.text.lower()
        for prio, d in enumerate(_WRAPPABLE):
            add((_rewrapped(text, unwrapped, f) for f in _run([d], unwrapped.text, ulow, generic)), unwrapped,
                prio)
    return _merge(raw)


def _rewrapped(text: str, view: _View, found: tuple[int, int, str]) -> tuple[int, int, str]:
    """A token found across a line break continues on the next line only if what it takes there looks
    machine-made (`ghp_…\nAb3x…`); a word there (`…token\nthanks`) is the next line's, not the token's."""
    s, e, kind = found
    s0, e0 = view.to_root(s, e)
    nl = max(text.rfind("\n", s0, e0), text.rfind("\\n", s0, e0) + 1)
    if nl <= s0:
        return found
    tail = text[nl + 1:e0].lstrip(" \t")
    if len(tail) >= 4 and (any(c.isdigit() for c in tail) or _classes(tail) >= 2):
        return found
    # cut the finding at the line break: the last character of the view that lies before it
    cut = nl
    while cut > s0 and text[cut - 1] in "\r\\":
        cut -= 1
    lo, hi = s, e - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if view.to_root(mid, mid + 1)[0] < cut:
            lo = mid
        else:
            hi = mid - 1
    return s, lo + 1, kind


def _merge(raw: list[tuple[int, int, int, str]]) -> list[Finding]:
    """Overlapping spans become one, named by the most specific detector among them."""
    raw.sort()
    out: list[Finding] = []
    cur: list[Any] | None = None
    for s, e, prio, kind in raw:
        if cur is not None and s < cur[1]:
            if e > cur[1]:
                cur[1] = e
            if prio < cur[2]:
                cur[2], cur[3] = prio, kind
            continue
        if cur is not None:
            out.append(Finding(cur[0], cur[1], cur[3]))
        cur = [s, e, prio, kind]
    if cur is not None:
        out.append(Finding(cur[0], cur[1], cur[3]))
    return out


def find_secrets(text: str) -> list[Finding]:
    """Every secret or piece of personal data in `text`, as non-overlapping spans in order."""
    return _find(text)


def redact(text: str) -> str:
    """Replace every secret or piece of personal data in `text` by `[REDACTED:kind]`."""
    found = _find(text)
    if not found:
        return text
    parts, at = [], 0
    for f in found:
        parts.append(text[at:f.start])
        parts.append(f"[REDACTED:{f.kind}]")
        at = f.end
    parts.append(text[at:])
    return "".join(parts)


def redact_identifier(text: str | None) -> str | None:
    """An agent name or request id with its secrets replaced by `[REDACTED:kind:fingerprint]`: the same
    identifier always gives the same result and different ones stay different (the fingerprint is the
    first 8 hex digits of the SHA-256 of the secret), so grouping by agent and replay by request id still
    work. Only known formats and secret assignments are looked for, not bare high-entropy strings (a
    request id is random by design)."""
    if not text:
        return text
    found = _find(text, generic=False)
    if not found:
        return text
    parts, at = [], 0
    for f in found:
        digest = sha256(text[f.start:f.end].encode("utf-8")).hexdigest()[:8]
        parts.append(text[at:f.start])
        parts.append(f"[REDACTED:{f.kind}:{digest}]")
        at = f.end
    parts.append(text[at:])
    return "".join(parts)


def for_storage(text: str, mode: str) -> str | None:
    """What the ledger keeps of a description: redacted text, a hash of it, or nothing."""
    if mode == "none":
        return None
    if mode == "hash":
        return "sha256:" + sha256(text.encode("utf-8")).hexdigest()
    return redact(text)
