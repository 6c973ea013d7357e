"""A corpus of secret formats (fake values in the real shapes) that must never reach the ledger, an
export, a log line or the console, and of ordinary text that must survive redaction unchanged.

`SECRETS` (kind, text) and `secret_values()` are the short list the console and CLI tests route whole.
`CORPUS` is the wide one: `Case(kind, text, payloads)`, where `payloads` are the parts that must be gone
from the output (for an assignment, the value; for a key, a line of its body) and `kind` is what the
redactor must call it. `NEGATIVES` are texts - code, identifiers, numbers, paths, URLs, prose - that
`redact()` must return unchanged. The values are generated from a fixed seed: nothing here is real."""

from __future__ import annotations

import base64
import random
import textwrap
from typing import NamedTuple

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


# -- the wide corpus -----------------------------------------------------------------------------------


class Case(NamedTuple):
    kind: str
    text: str
    payloads: tuple[str, ...]


_rng = random.Random(20261201)
_B62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_B64 = _B62 + "+/"


def _r(n: int, alphabet: str = _B62) -> str:
    while True:
        s = "".join(_rng.choice(alphabet) for _ in range(n))
        # a random-looking value (as real ones are): all three classes present
        classes = (str.isdigit, str.islower, str.isupper)
        if all(any(f(c) for c in s) for f in classes if any(f(c) for c in alphabet)):
            return s


def _hex(n: int) -> str:
    return "".join(_rng.choice("0123456789abcdef") for _ in range(n))


def _aws_secret(end: str) -> str:
    return _r(39, _B64) + end


def _luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(_rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for d in "0123456789":
        digits = body + d
        total = 0
        for i, ch in enumerate(reversed(digits)):
            v = int(ch)
            if i % 2:
                v = v * 2 - 9 if v > 4 else v * 2
            total += v
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def _iban(country: str, bban: str) -> str:
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    return f"{country}{check:02d}{bban}"


def _grouped(s: str, sep: str = " ", size: int = 4) -> str:
    return sep.join(s[i:i + size] for i in range(0, len(s), size))


def _verhoeff_complete(body: str) -> str:
    d = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ]
    p = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ]
    inv = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]
    c = 0
    for i, ch in enumerate(reversed(body)):
        c = d[c][p[(i + 1) % 8][int(ch)]]
    return body + str(inv[c])


def _cpf(body: str) -> str:
    nums = [int(c) for c in body]
    for n in (9, 10):
        s = sum(nums[i] * (n + 1 - i) for i in range(n))
        nums.append((s * 10 % 11) % 10)
    d = "".join(map(str, nums))
    return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"


def _dni(number: int) -> str:
    return f"{number:08d}" + "TRWAGMYFPDXBNJZSQVHLCKE"[number % 23]


def _nir(body13: str) -> str:
    key = 97 - int(body13) % 97
    b = body13
    return f"{b[0]} {b[1:3]} {b[3:5]} {b[5:7]} {b[7:10]} {b[10:13]} {key:02d}"


def _pem_body(der_head: bytes, n: int = 600) -> list[str]:
    raw = der_head + bytes(_rng.randrange(256) for _ in range(n))
    return textwrap.wrap(base64.b64encode(raw).decode(), 64)


def _add(out: list[Case], kind: str, text: str, *payloads: str) -> None:
    out.append(Case(kind, text, payloads or (text,)))


def _cloud(out: list[Case]) -> None:
    for end in ("/", "+", "Q", "/", "+"):
        key_id = "AKIA" + _r(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        secret = _aws_secret(end)
        _add(out, "aws-access-key", f"AWS_ACCESS_KEY_ID={key_id}", key_id)
        _add(out, "aws-secret-key", f"AWS_SECRET_ACCESS_KEY={secret}", secret)
        _add(out, "aws-secret-key", f'export AWS_SECRET_ACCESS_KEY="{secret}"', secret)
        _add(out, "aws-secret-key",
             f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n", key_id, secret)
        _add(out, "secret", f'{{"AccessKeyId": "{key_id}", "SecretAccessKey": "{secret}"}}', key_id, secret)
        _add(out, "aws-secret-key",
             f's3 = boto3.client("s3", aws_access_key_id="{key_id}", aws_secret_access_key="{secret}")',
             key_id, secret)
        _add(out, "aws-secret-key", f"Access key ID,Secret access key\n{key_id},{secret}\n", key_id, secret)
        _add(out, "aws-secret-key", f'credentials = new BasicAWSCredentials("{key_id}", "{secret}");',
             key_id, secret)
        _add(out, "aws-secret-key", f"aws configure set aws_secret_access_key {secret}", secret)
        _add(out, "secret", f'provider "aws" {{\n  secret_key = "{secret}"\n}}', secret)
    for prefix in ("ASIA", "AROA", "AIDA", "AGPA", "ANPA"):
        v = prefix + _r(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        _add(out, "aws-access-key", f"the role key {v} expired", v)
    session = "IQoJb3JpZ2luX2VjE" + _r(200, _B64)
    _add(out, "token", f"aws_session_token = {session}", session)
    _add(out, "token", f'"SessionToken": "{session}"', session)
    # Azure
    for _ in range(3):
        account_key = _r(86, _B64) + "=="
        _add(out, "azure-storage-key",
             f"DefaultEndpointsProtocol=https;AccountName=prodstore;AccountKey={account_key};"
             "EndpointSuffix=core.windows.net", account_key[:-2])
        sas_key = _r(43, _B64) + "="
        _add(out, "azure-connection-string",
             f"Endpoint=sb://bus.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey={sas_key}",
             sas_key[:-1])
        sig = _r(43, _B62) + "%3D"
        _add(out, "url-secret",
             f"https://prodstore.blob.core.windows.net/c/file.csv?sv=2022-11-02&ss=b&srt=o&sp=r"
             f"&se=2026-12-31T00:00:00Z&spr=https&sig={sig}", sig)
        client = _r(3) + "8Q~" + _r(34, _B62 + "_~.-")
        _add(out, "azure-client-secret", f"AZURE_CLIENT_SECRET={client}", client)
        _add(out, "azure-client-secret", f'{{"clientId": "{_uuid()}", "clientSecret": "{client}"}}', client)
        _add(out, "azure-client-secret",
             f"az login --service-principal -u {_uuid()} -p {client} --tenant {_uuid()}", client)
        cosmos = _r(86, _B64) + "=="
        _add(out, "azure-storage-key",
             f"AccountEndpoint=https://db.documents.azure.com:443/;AccountKey={cosmos};", cosmos[:-2])
    pw = _r(14)
    _add(out, "password",
         f"Server=tcp:sql.database.windows.net,1433;Initial Catalog=app;User ID=admin;Password={pw};"
         "Encrypt=True;", pw)
    # GCP
    for _ in range(3):
        body = _pem_body(b"\x30\x82\x04\xbd\x02\x01\x00\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01")
        escaped = "\\n".join(["-----BEGIN PRIVATE KEY-----", *body, "-----END PRIVATE KEY-----", ""])
        key_id = _hex(40)
        doc = (
            '{\n  "type": "service_account",\n  "project_id": "demo-project",\n'
            f'  "private_key_id": "{key_id}",\n  "private_key": "{escaped}",\n'
            '  "client_email": "svc@demo-project.iam.gserviceaccount.com",\n  "client_id": "1234567890"\n}'
        )
        _add(out, "private-key", doc, body[1], body[-2], key_id, "svc@demo-project")
        _add(out, "token", f'"private_key_id": "{key_id}"', key_id)
    for _ in range(3):
        v = "AIza" + _r(35, _B62 + "_-")
        _add(out, "google-api-key", f"https://maps.googleapis.com/maps/api/geocode/json?address=x&key={v}", v)
        o = "GOCSPX-" + _r(28, _B62 + "_-")
        _add(out, "google-oauth-secret", f'"client_secret": "{o}"', o)


def _uuid() -> str:
    h = _hex(32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _databases(out: list[Case]) -> None:
    for pw in ("S3cr3tPassw0rd", "pw1", "abc", "p@ss", "hunter2", "Tr0ub4dor&3", "x9"):
        _add(out, "url-password", f"DATABASE_URL=postgres://app:{pw}@db.internal:5432/prod", f":{pw}@")
        _add(out, "url-password", f"postgresql://app_user:{pw}@10.0.0.5/app?sslmode=require", f":{pw}@")
    for pw in ("S3cr3t!x", "hunter2", "abc123"):
        _add(out, "url-password", f"mysql://root:{pw}@localhost:3306/shop", f":{pw}@")
        _add(out, "url-password", f"mongodb+srv://admin:{pw}@cluster0.ab1cd.mongodb.net/app?retryWrites=true",
             f":{pw}@")
        _add(out, "url-password", f"redis://:{pw}@cache.internal:6379/0", f":{pw}@")
        _add(out, "url-password", f"rediss://default:{pw}@redis.example.net:6380", f":{pw}@")
        _add(out, "url-password", f"amqp://guest:{pw}@rabbit:5672/vhost", f":{pw}@")
        _add(out, "url-password", f"mssql+pyodbc://sa:{pw}@sqlserver/db?driver=ODBC", f":{pw}@")
        _add(out, "url-secret", f"jdbc:mysql://db.internal:3306/shop?user=app&password={pw}&useSSL=true",
             f"password={pw}")
        _add(out, "url-secret", f"jdbc:postgresql://db/app?user=app&password={pw}", f"password={pw}")
        _add(out, "password", f"Data Source=db;Initial Catalog=app;User Id=app;Password={pw};", f"={pw};")
        _add(out, "password", f"Server=db;Database=app;Uid=app;Pwd={pw};", f"={pw};")
    for name in ("PGPASSWORD", "MYSQL_PWD", "DB_PASS", "REDIS_PASSWORD", "POSTGRES_PASSWORD", "SMTP_PASS",
                 "MYSQL_ROOT_PASSWORD", "LDAP_BIND_PW", "KEYSTORE_PASSPHRASE"):
        pw = _r(10)
        _add(out, "password", f"{name}={pw} psql -h db -U app", pw)
    for pw in ("abc", "Zx9", "letmein"):
        _add(out, "password", f"PGPASSWORD={pw} pg_dump app > app.sql", f"={pw} ")
    _add(out, "password", "mysql -u root -pS3cretRoot shop", "S3cretRoot")
    _add(out, "password", "docker login -u deploy -p dckr9Pass registry.example.com", "dckr9Pass")
    _add(out, "password", "machine api.heroku.com\n  login me@example.com\n  password 01234abcd-heroku",
         "01234abcd")
    _add(out, "password", "curl -u admin:Adm1nPass https://api.example.com/v1/items", "Adm1nPass")
    for fmt in ('password: "{}"', "password: {}", "'password': '{}'", '"password":"{}"',
                "<password>{}</password>",
                "spring.datasource.password={}", "db.password = {}", "--password {}", "--password={}",
                "-e POSTGRES_PASSWORD={}", "$env:DB_PASSWORD = '{}'", "set ADMIN_PASS={}",
                "userPassword: {}", "passwd={}", "pwd = '{}'", "passphrase: {}"):
        pw = _r(12, _B62 + "!#%")
        _add(out, "password", fmt.format(pw), pw)


def _webhooks(out: list[Case]) -> None:
    for _ in range(3):
        t = "T" + _r(10, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        b = "B" + _r(10, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        tok = _r(24)
        _add(out, "slack-webhook",
             f"curl -X POST https://hooks.slack.com/services/{t}/{b}/{tok} -d @msg.json", tok)
        _add(out, "slack-webhook", f"https://hooks.slack.com/workflows/{t}/A0{_r(9)}/45{_hex(16)}/{tok}", tok)
        _add(out, "slack-webhook", f"https://hooks.slack.com/triggers/{t}/5{_hex(12)}/{_hex(32)}", t)
        did = str(_rng.randrange(10**17, 10**18))
        dtok = _r(68, _B62 + "_-")
        _add(out, "discord-webhook", f"https://discord.com/api/webhooks/{did}/{dtok}", dtok)
        _add(out, "discord-webhook", f"https://discordapp.com/api/webhooks/{did}/{dtok}", dtok)
        _add(out, "teams-webhook",
             f"https://contoso.webhook.office.com/webhookb2/{_uuid()}@{_uuid()}/IncomingWebhook/{_hex(32)}/{_uuid()}",
             "IncomingWebhook/")
        _add(out, "webhook-url", f"https://api.example.com/hooks/catch/{_rng.randrange(10**6)}/{_r(24)}/",
             "/hooks/catch/")
        _add(out, "slack-token", f"SLACK_BOT_TOKEN=xoxb-{_rng.randrange(10**11, 10**12)}-{_r(24)}", "xoxb-")


def _keys(out: list[Case]) -> None:
    rsa = b"\x30\x82\x04\xa4\x02\x01\x00\x02\x82\x01\x01\x00"
    pkcs8 = b"\x30\x82\x04\xbd\x02\x01\x00\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"
    ec = b"\x30\x77\x02\x01\x01\x04\x20"
    for label, head in (("RSA PRIVATE KEY", rsa), ("PRIVATE KEY", pkcs8), ("EC PRIVATE KEY", ec),
                        ("DSA PRIVATE KEY", rsa), ("ENCRYPTED PRIVATE KEY", pkcs8)):
        body = _pem_body(head, 300 if head is ec else 900)
        pem = "\n".join([f"-----BEGIN {label}-----", *body, f"-----END {label}-----"])
        _add(out, "private-key", pem, body[1], body[-1])
        _add(out, "private-key", pem.replace("\n", "\r\n"), body[2])
        _add(out, "private-key", "key = '" + pem.replace("\n", "\\n") + "'", body[1], body[-2])
        _add(out, "private-key", pem.replace("\n", " "), body[1])  # pasted into a one-line field
        split = pem.replace(f"BEGIN {label}", f"BEGIN {label.replace(' KEY', '')}\nKEY", 1)
        _add(out, "private-key", split, body[1])
        _add(out, "private-key", pem.split(f"-----END {label}-----")[0], body[-1])  # the end cut off
    body = _pem_body(rsa, 900)
    _add(out, "private-key", "the key was:\n" + "\n".join(body) + "\n(no header)", body[0], body[5], body[-1])
    body = _pem_body(pkcs8, 900)
    _add(out, "private-key", '"key": "' + "\\n".join(body) + '"', body[3])
    raw = b"openssh-key-v1\x00" + bytes(_rng.randrange(256) for _ in range(400))
    openssh = textwrap.wrap(base64.b64encode(raw).decode(), 70)
    _add(out, "private-key",
         "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(openssh) + "\n-----END OPENSSH PRIVATE KEY-----",
         openssh[1], openssh[-1])
    _add(out, "private-key", "\n".join(openssh), openssh[0], openssh[3])
    pgp = textwrap.wrap(base64.b64encode(b"\x95\x03\xc6\x04" + bytes(_rng.randrange(256)
                                                                      for _ in range(600))).decode(), 64)
    _add(out, "private-key",
         "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\nComment: https://gnupg.org\n\n"
         + "\n".join(pgp) + "\n=" + _r(4) + "\n-----END PGP PRIVATE KEY BLOCK-----", pgp[1], pgp[-1])
    pub = textwrap.wrap(base64.b64encode(bytes(_rng.randrange(256) for _ in range(51))).decode(), 64)
    priv = textwrap.wrap(base64.b64encode(bytes(_rng.randrange(256) for _ in range(48))).decode(), 64)
    mac = _hex(64)
    putty = (
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: me@laptop\n"
        f"Public-Lines: {len(pub)}\n" + "\n".join(pub) + f"\nPrivate-Lines: {len(priv)}\n" + "\n".join(priv)
        + f"\nPrivate-MAC: {mac}\n"
    )
    _add(out, "putty-private-key", putty, priv[0], mac)
    _add(out, "private-key",
         "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,"
         + _hex(32).upper() + "\n\n" + "\n".join(body) + "\n-----END RSA PRIVATE KEY-----", body[1], body[-1])
    age = "AGE-SECRET-KEY-1" + _r(58, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    _add(out, "age-secret-key", f"# created: 2026-01-01\n{age}", age)


def _vendors(out: list[Case]) -> None:
    specs = [
        ("github-token", lambda: "ghp_" + _r(36)), ("github-token", lambda: "gho_" + _r(36)),
        ("github-token", lambda: "ghs_" + _r(36)), ("github-token", lambda: "ghr_" + _r(36)),
        ("github-token", lambda: "github_pat_11" + _r(20) + "_" + _r(59)),
        ("gitlab-token", lambda: "glpat-" + _r(20)), ("gitlab-token", lambda: "glptt-" + _r(40)),
        ("openai-key", lambda: "sk-proj-" + _r(48, _B62 + "_-")), ("openai-key", lambda: "sk-" + _r(48)),
        ("openai-key", lambda: "sk-svcacct-" + _r(40)),
        ("anthropic-key", lambda: "sk-ant-api03-" + _r(80, _B62 + "_-") + "AA"),
        ("stripe-key", lambda: "sk_live_" + _r(24)), ("stripe-key", lambda: "rk_test_" + _r(30)),
        ("stripe-key", lambda: "whsec_" + _r(32)),
        ("slack-token", lambda: f"xoxp-{_rng.randrange(10**11)}-{_rng.randrange(10**11)}-{_r(32)}"),
        ("slack-token", lambda: f"xapp-1-A0{_r(9)}-{_rng.randrange(10**12)}-{_hex(64)}"),
        ("huggingface-token", lambda: "hf_" + _r(34)), ("npm-token", lambda: "npm_" + _r(36)),
        ("pypi-token", lambda: "pypi-AgEIcHlwaS5vcmc" + _r(60, _B62 + "_-")),
        ("sendgrid-key", lambda: "SG." + _r(22, _B62 + "_-") + "." + _r(43, _B62 + "_-")),
        ("twilio-key", lambda: "SK" + _hex(32)), ("twilio-key", lambda: "AC" + _hex(32)),
        ("mailgun-key", lambda: "key-" + _hex(32)),
        ("digitalocean-token", lambda: "dop_v1_" + _hex(64)), ("shopify-token", lambda: "shpat_" + _hex(32)),
        ("databricks-token", lambda: "dapi" + _hex(32)),
        ("telegram-bot-token", lambda: f"{_rng.randrange(10**8, 10**9)}:AA{_r(33, _B62 + '_-')}"),
        ("square-token", lambda: "sq0atp-" + _r(22)), ("square-token", lambda: "EAAA" + _r(60)),
        ("google-oauth-token", lambda: "ya29." + _r(60, _B62 + "_-")),
        ("atlassian-token", lambda: "ATATT3xFfGF0" + _r(180, _B62 + "_-=")),
        ("new-relic-key", lambda: "NRAK-" + _r(27, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")),
        ("linear-key", lambda: "lin_api_" + _r(40)), ("doppler-token", lambda: "dp.pt." + _r(43)),
        ("postman-key", lambda: f"PMAK-{_hex(24)}-{_hex(34)}"), ("grafana-token", lambda: "glsa_" + _r(32)),
        ("jwt", lambda: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0." + _r(86, _B62 + "_-")),
        ("discord-token", lambda: "MT" + _r(24) + "." + _r(6) + "." + _r(38, _B62 + "_-")),
    ]
    shapes = ("{}", "export TOKEN={}", "use {} for the call", "'{}'", "Authorization: token {}", "key={}\n")
    for i, (kind, make) in enumerate(specs):
        for j in range(3):
            value = make()
            shape = shapes[(i + j) % len(shapes)]
            _add(out, kind, shape.format(value), value)


def _generic(out: list[Case]) -> None:
    # vendors this corpus has never named: a random value under a secret-looking name or prefix
    for name in ("ZAPIER_SECRET", "acme_api_key", "X-Api-Key", "sentry_auth_token", "clientSecret",
                 "ACCESS_TOKEN", "refresh_token", "SIGNING_KEY", "webhookSecret", "private_key_id",
                 "app.secret", "SECRET_KEY_BASE", "MASTER_KEY", "license_key", "encryption-key", "auth",
                 "session_cookie", "csrf_token", "x-auth-token", "apiKey"):
        value = _r(32, _B62 + "_-")
        for fmt in ("{n}={v}", '"{n}": "{v}"', "{n}: {v}", "-H '{n}: {v}'"):
            strong = any(w in name.lower() for w in ("secret", "signing", "master", "encryption"))
            _add(out, "secret" if strong else "token", fmt.format(n=name, v=value), value)
    for prefix in ("zk_live_", "acme_pat_", "tok_", "fly_", "pscale_pw_", "sntrys_", "rnd_", "dckr_pat_",
                   "figd_", "sbp_", "vercel_", "nf_", "cfat_"):
        value = prefix + _r(40)
        _add(out, "api-token", f"set it to {value} please", value)
    for i in range(8):
        value = _r(34 + 4 * i if i != 1 else 33, _B62)
        _add(out, "high-entropy-token", f"paste {value} into the form", value)
    for name in ("password", "secret", "token", "api_key"):
        value = _r(24)
        _add(out, "url-secret", f"https://api.example.com/v2/items?{name}={value}&page=2", value)
    _add(out, "url-secret",
         "https://bucket.s3.amazonaws.com/f.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA"
         + _r(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") + "%2F20261201%2Fus-east-1%2Fs3%2Faws4_request"
         "&X-Amz-Signature=" + (sig := _hex(64)), sig)
    for value in ("abc123", "x9Yz", "tok42", _r(12), "a1b2c3d4"):
        _add(out, "authorization-header", f"Authorization: Bearer {value}", value)
        _add(out, "bearer-token", f'fetch(url, {{headers: {{"X": "y"}}}}) with Bearer {value}', value)
    cred = base64.b64encode(b"deploy:Sup3rS3cret").decode()
    _add(out, "authorization-header", f"Authorization: Basic {cred}", cred)
    _add(out, "basic-auth", f"send basic {cred} to the proxy", cred)


def _more_shapes(out: list[Case]) -> None:
    _add(out, "url-password", "ftp://anonymous:guest123@ftp.example.com/pub", ":guest123@")
    _add(out, "secret", "The API secret is 7f3a9c2e1b", "7f3a9c2e1b")
    _add(out, "password", "my password is hunter2.", "hunter2")
    _add(out, "password", "password = hunter2", "hunter2")
    _add(out, "password", "SMTP_PASSWORD=abcd efgh ijkl mnop (a Gmail app password)", "efgh ijkl mnop")
    _add(out, "password", 'conn = psycopg2.connect(host="db", user="app", password="pw123")', "pw123")
    _add(out, "secret", "SECRET_KEY = 'django-insecure-#x8$(f0k!q1w2'", "django-insecure-#x8$(f0k!q1w2")
    _add(out, "token", 'authToken := "7a8b9c0d1e2f3a4b"', "7a8b9c0d1e2f3a4b")
    _add(out, "secret", 'mnemonic: "abandon ability able about above absent absorb abstract absurd abuse"',
         "abandon ability able")
    pk = "0x" + _hex(64)
    _add(out, "secret", f'PRIVATE_KEY="{pk}"', pk)
    npm = _hex(32)
    _add(out, "token", f"//registry.npmjs.org/:_authToken={npm}", npm)
    _add(out, "password", "data:\n  password: cGFzc3dvcmQxMjM=\n  username: YWRtaW4=", "cGFzc3dvcmQxMjM")
    hvs = "hvs.CAESI" + _r(60)
    _add(out, "high-entropy-token", f"vault token: {hvs}", hvs[4:])
    ssws = "00" + _r(40)
    _add(out, "high-entropy-token", f"Authorisation header SSWS {ssws}", ssws)
    _add(out, "card-number", "card: 4539 1488 0343 6467", "4539 1488 0343 6467")
    _add(out, "password", "db.internal:5432:app:bob:S3cret!", "S3cret!")
    auth = base64.b64encode(b"deploy:tok3n").decode()
    _add(out, "token", f'{{"auths": {{"ghcr.io": {{"auth": "{auth}"}}}}}}', auth)


def _obfuscated(out: list[Case]) -> None:
    for _ in range(3):
        token = "ghp_" + _r(36)
        zw = token[:10] + "\u200b" + token[10:20] + "\u200d" + token[20:]
        _add(out, "github-token", f"token {zw} here", token[:10], token[10:20], token[20:])
        soft = token[:12] + "\u00ad" + token[12:]
        _add(out, "github-token", f"use {soft}", token[:12], token[12:])
        full = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in token)
        _add(out, "github-token", f"ｔｏｋｅｎ: {full}", full[:12], full[12:])
        wrapped = token[:20] + "\n" + token[20:]
        _add(out, "github-token", f"here:\n{wrapped}\nthanks", token[:20], token[20:])
        key = "sk-proj-" + _r(48)
        _add(out, "openai-key", f"OPENAI={key[:30]}\n  {key[30:]}", key[:30], key[30:])
        encoded = base64.b64encode(f"OPENAI_API_KEY={key}".encode()).decode()
        _add(out, "base64-secret", f"echo {encoded} | base64 -d", encoded)
        enc2 = base64.b64encode(token.encode()).decode()
        _add(out, "base64-secret", f"config: {enc2}", enc2)
        mixed = "AKIA" + _r(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        _add(out, "aws-access-key", f"id {mixed[:8]}\u2060{mixed[8:]}", mixed[:8], mixed[8:])


def _personal(out: list[Case]) -> None:
    for local, domain in (
        ("jane.doe", "example.com"), ("ops+alerts", "corp.example.co.uk"), ("a_b", "mail.io"),
        ("first.last", "sub.domain.example.org"), ("x", "y.dev"), ("user-01", "company.com"),
    ):
        email = f"{local}@{domain}"
        for fmt in ("contact {}", "<{}>", "mailto:{}", '"email": "{}"', "{},"):
            _add(out, "email", fmt.format(email), email)
    cards = [("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15),
             ("6011", 16), ("65", 16), ("3530", 16), ("36", 14), ("62", 16), ("4", 19)]
    for prefix, length in cards:
        number = _luhn_complete(prefix, length)
        _add(out, "card-number", f"card {number} exp 12/29", number)
        if length == 16:
            _add(out, "card-number", f"pay with {_grouped(number)} please", _grouped(number))
            _add(out, "card-number", f"cc={_grouped(number, '-')}", _grouped(number, "-"))
        if length == 15:
            am = f"{number[:4]} {number[4:10]} {number[10:]}"
            _add(out, "card-number", f"amex {am}", am)
    ibans = [
        _iban("DE", "370400440532013000"), _iban("GB", "WEST12345698765432"),
        _iban("FR", "20041010050500013M02606"), _iban("ES", "21000418450200051332"),
        _iban("IT", "X0542811101000000123456"), _iban("NL", "ABNA0417164300"),
        _iban("CH", "00762011623852957"), _iban("BE", "539007547034"),
        _iban("PL", "109010140000071219812874"),
        _iban("SE", "50000000058398257466"), _iban("NO", "86011117947"), _iban("AT", "1904300234573201"),
    ]
    for iban in ibans:
        _add(out, "iban", f"IBAN {iban} BIC XYZ", iban)
        _add(out, "iban", f"transfer to {_grouped(iban)} today", _grouped(iban))
    for phone in ("+44 20 7946 0958", "+1 (415) 555-2671", "+14155552671", "+49 30 123456789",
                  "+33 6 12 34 56 78",
                  "+91 98765 43210", "+61 2 9876 5432", "+81-3-1234-5678"):
        _add(out, "phone", f"call {phone} after 5", phone)
    for phone in ("(415) 555-2671", "415-555-2671", "415.555.2671", "07700 900123", "020 7946 0958",
                  "06 12 34 56 78", "030 12345678", "0612345678"):
        _add(out, "phone", f"my number is {phone}.", phone)
    for phone in ("555 123 4567", "5551234567", "12 34 56 78 90"):
        _add(out, "phone", f"phone: {phone}", phone)
        _add(out, "phone", f"Tel {phone}", phone)
    for ssn in ("123-45-6789", "078-05-1120", "219-09-9999", "536 22 1234"):
        _add(out, "us-ssn", f"SSN {ssn} on file", ssn)
    _add(out, "national-id", "ssn: 536221234", "536221234")
    for ni in ("AB 12 34 56 C", "JH123456C", "JG 10 37 53 A"):
        _add(out, "uk-ni-number", f"NI number {ni}", ni)
    for n in (12345678, 87654321, 23456789):
        _add(out, "es-dni", f"DNI {_dni(n)}", _dni(n))
    for body in ("123456789", "987654321", "111444777"):
        _add(out, "br-cpf", f"CPF {_cpf(body)}", _cpf(body))
    for body in ("23412341234", "98765432101", "45678912345"):
        a = _verhoeff_complete(body)
        _add(out, "in-aadhaar", f"Aadhaar {a[:4]} {a[4:8]} {a[8:]}", f"{a[:4]} {a[4:8]} {a[8:]}")
    for body in ("1850578006084", "2690149123456"):
        _add(out, "fr-nir", f"NIR {_nir(body)}", _nir(body))
    for sin in ("046 454 286", "130-692-544"):
        _add(out, "ca-sin", f"SIN {sin}", sin)
    _add(out, "national-id", "passport number: X12345678", "X12345678")
    _add(out, "national-id", "Tax ID is 12-3456789", "12-3456789")


def _build() -> list[Case]:
    out: list[Case] = []
    parts = (_cloud, _databases, _webhooks, _keys, _vendors, _generic, _more_shapes, _obfuscated, _personal)
    for part in parts:
        part(out)
    return out


CORPUS: list[Case] = _build()

NEGATIVES: list[str] = [
    # code
    "def connect(host: str, password: str | None = None) -> Connection:",
    "password = os.environ['DB_PASSWORD']",
    'api_key = os.getenv("API_KEY")',
    "token = request.headers.get('Authorization')",
    "if token is None: raise AuthError('missing token')",
    "self.password = password",
    "client = Client(api_key=api_key, timeout=30)",
    "sorted(items, key=lambda x: x[1])",
    "sorted(items, key=len)",
    "cache_key = f'user:{user_id}:profile'",
    "max_tokens = 4096",
    "token_count = 1500",
    "primary_key=True, nullable=False",
    "password_min_length = 12",
    "secret_name = 'prod-db'",
    "kind: Secret\nmetadata:\n  name: db-credentials\ntype: Opaque",
    "password: ${DB_PASSWORD}",
    "token: {{ secrets.GITHUB_TOKEN }}",
    "API_KEY=$API_KEY docker compose up",
    "export PASSWORD_FILE=/run/secrets/db",
    "password = getpass.getpass('Password: ')",
    "def check_password(password: str, hashed: bytes) -> bool: ...",
    "auth = HTTPBasicAuth(user, password)",
    "session = requests.Session()",
    "const token = await getToken();",
    "let key = map.get(k);",
    "for key, value in mapping.items():",
    "@app.route('/login', methods=['POST'])",
    "from typing import Optional",
    "SELECT id, email_verified FROM users WHERE created_at > '2026-01-01' LIMIT 10;",
    "std::string key = std::to_string(i);",
    "x = a[1:3]; y = b[::2]",
    "import { Injectable } from '@angular/core';",
    "npm install @types/node@20.11.5 --save-dev",
    "pip install 'requests>=2.31,<3'",
    "test_no_secret_reaches_ledger_export_or_output",
    "class TokenOptimizationService:",
    "tokenizer = AutoTokenizer.from_pretrained(model_name)",
    "keyboard_layout = 'us'",
    "bypass = True",
    "Authorization header carries a Bearer token",
    "the bearer authentication scheme",
    "Reset your password via the link we sent.",
    "The token limit is 8192 and the key idea is caching.",
    "Use basic authentication only over TLS.",
    "color: #ff00aa; margin: 0 auto;",
    # identifiers and hashes
    "request 1b4e28ba-2fa1-11d2-883f-0016d3cca427 failed",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "fixed in 9fceb02 and a1b2c3d",
    "image@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    "sha256sum: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "md5 d41d8cd98f00b204e9800998ecf8427e",
    # versions, dates, times, prices, numbers
    "upgrade from v1.2.3 to 2.10.0-rc.1",
    "Python 3.11.7 on Linux 6.1.0-18-amd64",
    "on 2026-11-30 at 14:05:00Z",
    "due 30/11/2026 or 11/30/2026",
    "2026-11-30T14:05:00.123+01:00",
    "epoch 1733011200 or 1733011200000 ms",
    "costs $19.99, or €1.234,56, or £0.50",
    "the total is 1,000,000 tokens (3.14159 per call)",
    "order 123456 shipped; invoice 2026-0042",
    "ISBN 978-3-16-148410-0",
    "room 101, floor 3, building 12",
    "scores: 12 34 56 78",
    "arn:aws:iam::123456789012:role/deploy",
    "region us-east-1, zone us-east-1a",
    "port 5432 on 10.0.0.5 and 192.168.1.1:8080",
    "ratio 0.5 1.5 2.5 3.5",
    # paths
    "/usr/local/bin/python3 -m modelwise route",
    "C:\\Users\\jane\\Documents\\report.docx",
    "src/modelwise/core/redaction.py:120",
    "~/.config/modelwise/config.toml",
    "/var/lib/docker/overlay2/abcdef0123456789/merged",
    # URLs without passwords
    "https://example.com:8080/path?q=1&page=2",
    "http://localhost:3000/route",
    "ssh://git@github.com/org/repo.git",
    "git clone git@github.com:org/repo.git",
    "https://user@example.com/repo.git",
    "https://docs.python.org/3/library/re.html#re.sub",
    "https://example.com/search?query=password+reset&lang=en",
    "http://[::1]:8080/health",
    "postgres://app@db.internal:5432/prod",
    "redis://cache.internal:6379/0",
    "https://github.com/org/repo/pull/42/files?diff=split",
    "https://mastodon.social/@someone",
    # prose
    "Refactor the parser in src/parse.py: split tokenize() into 3 steps, see issue #42 (v1.2.3).",
    "Summarise the meeting notes and list three action items for next week.",
    "Write unit tests for the date parser, including leap years like 2024-02-29.",
    "Explain why the query plan uses a hash join on 10 million rows.",
    "Translate 'Guten Tag' into English and French.",
    "Key takeaways: latency dropped 40%, cost per call fell to $0.002.",
    "Sort the list by key, then by value.",
    "The session ended at 17:45; see ticket ABC-1234.",
    "the caller 2026-11-30) keeps offsets; call 2026-11-30 12:00 with the team",
    "phone home on 12/11/2026 at 10:30",
    "the token is 4096 tokens long and the key is caching",
    "seed = 42; random.seed(seed)",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host",
    "the password is required and must be at least 12 characters",
    "if key == self._computed:  # e.g. the same weights\n    return",
    "if token != self.sort_key:",
    "/health needs `Authorization: Bearer <token>`.",
    'curl -s -H "Authorization: Bearer $MODELWISE_TOKEN" localhost:3000/stats',
    "the `Authorization: Bearer` header is required",
    "password: <your password here>",
    "api_key = '...'",
    "token: ********",
    "def test_explanation_chart_and_grid_at_160x48(snap_compare):",
    # from the standard library's own code (each was once a false positive)
    "getpass = fallback_getpass",
    "self.username, self.password = credentials",
    "# First pass: determine maximum length of long option names",
    'raise TypeError("pwd: expected bytes, got %s" % type(pwd).__name__)',
    'toolskey = "VS%0.f0COMNTOOLS" % version',
    'key = "_Screen."+methodname',
    "_DD_SIGNATURE = 0x08074b50",
    "# Licensed under the MIT license: https://opensource.org/licenses/mit-license.php",
    "Decimal('1.38435736E+12') and ExtendedContext.quantize(Decimal('+35236450.6'), Decimal('1e-2'))",
    "digits = '0123456789'",
    'convert all the transition times (UTC) into "seconds since 1970-01-01 local time"',
    'authorization = self.headers.get("authorization")\nauthorization = authorization.split()',
    "assert origname, 'see PyImport_ImportFrozenModuleObject()'",
    "https://github.com/tcltk/tk/blob/064ff9941b4b80b85916a8afe86a6c21fd388b54/library/text.tcl#L670",
    "def __init__(self, passwd=None):\n    if passwd is None:\n        passwd = {}",
    "'pass': 'The \"pass\" statement\\n'",
    "- password:     The password for the user to authenticate with.",
    "see test_no_secret_reaches_ledger_export_or_output_2026 and x-request-id-for-the-grid-view-v2",
    "Contact the team on the #ops channel.",
    "Version strings like 1.0.0-alpha+001 are valid semver.",
    "Café naïve résumé — 日本語のテキスト、ｔｅｓｔ。",
]
