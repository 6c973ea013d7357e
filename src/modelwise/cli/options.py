"""Command-line arguments as data: each command's table of `Arg`s is what argparse is given, and what the
hand reader of a plain command line (no argparse) reads, so the two cannot drift apart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelwise.core.errors import BadInput

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable, Sequence
    from types import ModuleType


class Arg:
    """One argument exactly as `ArgumentParser.add_argument(*flags, **kwargs)` takes it."""

    __slots__ = ("flags", "kwargs")

    def __init__(self, *flags: str, **kwargs: Any):
        self.flags = flags
        self.kwargs = kwargs

    @property
    def dest(self) -> str:
        """The namespace attribute argparse stores the value in."""
        if "dest" in self.kwargs:
            return str(self.kwargs["dest"])
        if not self.flags[0].startswith("-"):
            return self.flags[0]
        long = next((f for f in self.flags if f.startswith("--")), self.flags[0])
        return long.lstrip("-").replace("-", "_")


# The global options: before the command (`modelwise --ledger L stats`) or after it (`stats --ledger L`).
GLOBALS = (
    Arg("--registry", metavar="PATH", help="registry file (env MODELWISE_REGISTRY)"),
    Arg("--ledger", metavar="PATH", help="ledger file (env MODELWISE_LEDGER)"),
    Arg("--config", metavar="PATH", help="config file (env MODELWISE_CONFIG)"),
)


def add_arguments(parser: argparse.ArgumentParser, table: Iterable[Arg], **overrides: Any) -> None:
    for a in table:
        parser.add_argument(*a.flags, **{**a.kwargs, **overrides})


def add_globals(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The global options; after the command they are SUPPRESSed, so they only set what is given."""
    if suppress:
        import argparse

        add_arguments(parser, GLOBALS, default=argparse.SUPPRESS)
    else:
        add_arguments(parser, GLOBALS)


# -- reading a plain command line without argparse ---------------------------------------------------
# What argparse costs a cold process (its import and a parser) matters for the commands agents run in
# a loop. A plain line is read here into exactly the namespace argparse would build; anything else
# (help, `--opt=value`, abbreviations, values starting with '-', positionals split by options, a value
# argparse would reject, ...) returns None and goes to argparse, so every message and exit code stays
# argparse's.

_KNOWN = frozenset({"action", "type", "default", "nargs", "choices", "dest", "help", "metavar", "required"})


def read_plain(command: str, table: Sequence[Arg], argv: Sequence[str]) -> dict[str, Any] | None:
    """The namespace (as a dict) that `modelwise COMMAND ARGV...` parses to when `COMMAND`'s arguments
    are `table` and the line is plain, or None when argparse should read it."""
    switches: dict[str, str] = {}
    options: dict[str, Arg] = {}
    positionals: list[Arg] = []
    ns: dict[str, Any] = {a.dest: None for a in GLOBALS}
    ns["command"] = command
    for a in table:
        unknown = set(a.kwargs) - _KNOWN
        action = a.kwargs.get("action")
        nargs = a.kwargs.get("nargs")
        if unknown or action not in (None, "store_true", "append") or nargs not in (None, "?"):
            raise ValueError(f"{command}: {a.flags[0]} cannot be read without argparse ({a.kwargs})")
        if not a.flags[0].startswith("-"):
            positionals.append(a)
            ns[a.dest] = a.kwargs.get("default")
            continue
        if action == "store_true":
            ns[a.dest] = a.kwargs.get("default", False)
            switches.update(dict.fromkeys(a.flags, a.dest))
        else:
            ns[a.dest] = a.kwargs.get("default")
            options.update(dict.fromkeys(a.flags, a))
    for a in GLOBALS:
        options.update(dict.fromkeys(a.flags, a))
    required = [a for a in table if a.kwargs.get("required")]
    given: list[str] = []
    run_ended = False  # positionals must be one unbroken run (argparse splits runs around options)
    seen: set[str] = set()
    i, n = 0, len(argv)
    while i < n:
        tok = argv[i]
        i += 1
        if not tok.startswith("-"):
            if run_ended:
                return None
            given.append(tok)
            continue
        if given:
            run_ended = True
        if tok in switches:
            ns[switches[tok]] = True
            continue
        opt = options.get(tok)
        if opt is None or i >= n or argv[i].startswith("-"):
            return None
        value = _value(opt, argv[i])
        i += 1
        if value is _REJECTED:
            return None
        dest = opt.dest
        seen.add(dest)
        if opt.kwargs.get("action") == "append":
            value = [*(ns[dest] or ()), value]
        ns[dest] = value
    if any(a.dest not in seen for a in required):
        return None
    least = sum(1 for a in positionals if a.kwargs.get("nargs") is None)
    if positionals[:least] != [a for a in positionals if a.kwargs.get("nargs") is None]:
        raise ValueError(f"{command}: an optional positional before a required one")
    if not least <= len(given) <= len(positionals):
        return None
    for a, tok in zip(positionals, given, strict=False):
        value = _value(a, tok)
        if value is _REJECTED:
            return None
        ns[a.dest] = value
    return ns


_REJECTED = object()


def _value(a: Arg, text: str) -> Any:
    """`text` converted as argparse would, or _REJECTED where argparse would report an error."""
    convert = a.kwargs.get("type")
    value: Any = text
    if convert is not None:
        try:
            value = convert(text)
        except Exception:  # noqa: BLE001 - argparse reports any failure of a type as a usage error
            return _REJECTED
    choices = a.kwargs.get("choices")
    if choices is not None and value not in choices:
        return _REJECTED
    return value


# -- argparse ------------------------------------------------------------------------------------------

_PARSER_CLASS: type | None = None


def parser_class() -> type[argparse.ArgumentParser]:
    """argparse that reports a usage error in one line (BadInput, exit 2), and whose command parsers add
    their arguments only when the command is parsed (or its help shown): one command's module is
    imported per run, and only its parser built. Defined on first use, so a plain line never imports
    argparse."""
    global _PARSER_CLASS
    if _PARSER_CLASS is None:
        import argparse

        class Parser(argparse.ArgumentParser):
            def __init__(self, *args: Any, command: Callable[[], ModuleType] | None = None, **kwargs: Any):
                """`command`: imports and returns the module of the command this parser reads."""
                super().__init__(*args, **kwargs)
                self._command = command

            def error(self, message: str) -> None:  # type: ignore[override]
                # the edge prints "modelwise: " before every error: name only the subcommand here
                command = self.prog.removeprefix("modelwise").strip()
                raise BadInput(f"{command}: {message}" if command else message)

            def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
                self.load()
                return super().parse_known_args(args, namespace)

            def format_usage(self) -> str:
                self.load()
                return super().format_usage()

            def format_help(self) -> str:
                self.load()
                return super().format_help()

            def load(self) -> None:
                """Add the command's arguments from its module (once)."""
                if self._command is None:
                    return
                module = self._command()
                self._command = None
                self.description = getattr(module, "DESCRIPTION", module.HELP)
                if getattr(module, "GLOBAL_OPTIONS", True):
                    add_globals(self, suppress=True)
                module.add_arguments(self)

        _PARSER_CLASS = Parser
    return _PARSER_CLASS
