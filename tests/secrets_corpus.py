"""A corpus of secret formats (fake values in the real shapes) that must never reach the ledger, an
export, a log line or the console. Each entry: (kind, text that embeds it, the secret part)."""

from __future__ import annotations

_A40 = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
_HEX32 = "0123456789abcdef0123456789abcdef"

SECRETS: list[tuple[str, str]] = [
    ("aws-access-key", "AKIAIOSFODNN7EXAMPLE"),
    ("aws-session-key", "ASIAY34FZKBOKMUTVV7A"),
    ("aws-secret-key", f"aws_secret_access_key = {_A40}"),
    ("openai-key", "sk-proj-Abc123Def456Ghi789Jkl012Mno345Pqr678Stu901"),
    ("openai-legacy-key", "sk-9a8b7c6d5e4f3g2h1i0jklmnopqrstuv"),
    ("anthropic-key", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEf"),
    ("github-pat", "ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R"),
    (
        "github-fine-grained",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV",
    ),
    ("github-oauth", "gho_16C7e42F292c6912E7710c838347Ae178B4a"),
    ("gitlab-token", "glpat-xYz12AbC34dEf56GhI78j"),
    ("slack-bot-token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("slack-webhook", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    ("stripe-live-key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("stripe-restricted-key", "rk_live_51H8xYz2eZvKYlo2C0123456789abcdef"),
    ("google-api-key", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"),
    ("google-oauth-token", "ya29.a0AfH6SMBx3Kd8Zq-AbCdEfGhIjKlMnOpQrStUv"),
    ("huggingface-token", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567"),
    ("npm-token", "npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
    (
        "pypi-token",
        "pypi-AgEIcHlwaS5vcmcCJGE0ZmQ5ZjA1LTk1ZjEtNDk3Yy1iYjQ0LWE2NTQ3MjY3NzAxZgAC"
        "JXsicGVybWlzc2lvbnMiOiAidXNlciJ9",
    ),
    ("sendgrid-key", "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"),
    ("twilio-key", "SK" + _HEX32),
    ("mailgun-key", "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"),
    ("digitalocean-token", "dop_v1_" + _HEX32 * 2),
    ("shopify-token", "shpat_" + _HEX32),
    ("databricks-token", "dapi" + _HEX32),
    ("telegram-bot-token", "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"),
    ("square-token", "sq0atp-1a2B3c4D5e6F7g8H9i0J1k2L"),
    (
        "azure-storage-key",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + "Zm9vYmFy" * 8 + "==",
    ),
    ("azure-sas", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=AbCdEf0123456789AbCdEf0123456789AbCdEf01234="),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    (
        "private-key",
        "-----BEGIN RSA PRIVATE KEY-----\n"
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
        "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
        "-----END RSA PRIVATE KEY-----",
    ),
    (
        "openssh-private-key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
        "-----END OPENSSH PRIVATE KEY-----",
    ),
    ("postgres-url", "postgresql://app_user:S3cr3tPassw0rd@db.internal:5432/prod"),
    ("mongodb-url", "mongodb+srv://admin:Tr0ub4dor3@cluster0.example.mongodb.net/app"),
    ("redis-url", "redis://:hunter2redis@cache.internal:6379/0"),
    ("bearer-token", "Authorization: Bearer AbCdEf0123456789GhIjKl.mnop_qrst"),
    ("basic-auth", "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1lMTIzNDU="),
    ("password-assignment", "password=Sup3rS3cret!Value"),
    ("api-key-assignment", "API_KEY: 'a1b2c3d4e5f6g7h8i9j0'"),
    ("client-secret", "client_secret=8Q~abcDEF123ghiJKL456mnoPQR789"),
    ("email", "jane.doe+billing@example.co.uk"),
    ("email-plain", "ops@corp.example.com"),
]


def secret_values() -> list[str]:
    """The part of each entry that must not survive (for assignments, the value after the separator)."""
    values = []
    for kind, text in SECRETS:
        if kind in ("password-assignment", "client-secret"):
            values.append(text.split("=", 1)[1])
        elif kind == "api-key-assignment":
            values.append("a1b2c3d4e5f6g7h8i9j0")
        elif kind == "aws-secret-key":
            values.append(_A40)
        elif kind in ("bearer-token", "basic-auth"):
            values.append(text.split()[-1])
        elif kind in ("postgres-url", "mongodb-url", "redis-url"):
            values.append(text.split("://", 1)[1].split("@")[0].split(":")[-1])
        elif kind in ("private-key", "openssh-private-key"):
            values.append(text.splitlines()[1])
        elif kind == "azure-storage-key":
            values.append("Zm9vYmFy" * 8)
        elif kind == "azure-sas":
            values.append("AbCdEf0123456789AbCdEf0123456789AbCdEf01234")
        else:
            values.append(text)
    return values


def description_with_all() -> str:
    return "Deploy the service. " + " ; ".join(f"{kind}: {text}" for kind, text in SECRETS) + " -- thanks"
