"""Redaction of secrets and personal data from task descriptions before anything is stored or shown."""

from __future__ import annotations

import re

# (kind, pattern). Order matters: specific formats first, generic ones last, so a GitHub token is
# reported as `github-token`, not as a generic secret assignment.
_PATTERNS: list[tuple[str, str]] = [
    (
        "private-key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    ),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),
    ("aws-access-key", r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}\b"),
    ("aws-secret-key", r"(?i)\baws_?secret_?(?:access_?)?key\b\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{40}\b[\"']?"),
    ("anthropic-key", r"\bsk-ant-[A-Za-z0-9_-]{16,}"),
    ("openai-key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
    ("gitlab-token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    ("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("slack-webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"),
    ("stripe-key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}"),
    ("google-oauth-token", r"\bya29\.[0-9A-Za-z_-]{20,}"),
    ("huggingface-token", r"\bhf_[A-Za-z0-9]{30,}"),
    ("npm-token", r"\bnpm_[A-Za-z0-9]{36}"),
    ("pypi-token", r"\bpypi-[A-Za-z0-9_-]{50,}"),
    ("sendgrid-key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("twilio-key", r"\bSK[0-9a-fA-F]{32}\b"),
    ("mailgun-key", r"\bkey-[0-9a-zA-Z]{32}\b"),
    ("digitalocean-token", r"\bdo[por]_v1_[a-f0-9]{64}\b"),
    ("shopify-token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    ("databricks-token", r"\bdapi[a-f0-9]{32}(?:-\d)?\b"),
    ("telegram-bot-token", r"\b\d{8,10}:AA[0-9A-Za-z_-]{33}\b"),
    ("discord-token", r"\b[MN][A-Za-z\d]{23,25}\.[\w-]{6}\.[\w-]{27,38}\b"),
    ("square-token", r"\bsq0(?:atp|csp)-[0-9A-Za-z_-]{22,43}"),
    ("azure-storage-key", r"(?i)\bAccountKey=[A-Za-z0-9+/=]{40,}"),
    ("azure-connection-string", r"(?i)\b(?:SharedAccessKey|SharedAccessSignature)=[^;\s\"']+"),
    ("url-password", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:[^\s@/]+@"),
    ("bearer-token", r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
    ("basic-auth", r"(?i)\bbasic\s+[A-Za-z0-9+/]{16,}={0,2}"),
    ("email", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    (
        "secret-assignment",
        r"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|apikey|access[_-]?token|auth[_-]?token|client[_-]?secret|token)\b\s*[:=]\s*[\"']?[^\s\"',;]{6,}[\"']?",
    ),
]

_COMPILED = [(kind, re.compile(p)) for kind, p in _PATTERNS]
KINDS = tuple(kind for kind, _ in _PATTERNS)


def redact(text: str) -> str:
    """Replace every secret or e-mail address in `text` by `[REDACTED:kind]`."""
    for kind, rx in _COMPILED:
        if kind == "url-password":
            text = rx.sub(lambda m, k=kind: m.group(0).split("://")[0] + f"://[REDACTED:{k}]@", text)
        else:
            text = rx.sub(f"[REDACTED:{kind}]", text)
    return text


def for_storage(text: str, mode: str) -> str | None:
    """What the ledger keeps of a description: redacted text, a hash of it, or nothing."""
    if mode == "none":
        return None
    if mode == "hash":
        import hashlib

        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return redact(text)
