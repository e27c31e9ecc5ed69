"""Each setting declared once: an :class:`Option` carries its flag, help, parser, unit and default; a settings
dataclass's field holds it (``seed: int = SEED.field()``), and both pytest's options and every command's argparse
options are generated from those fields (:func:`add_options`) and read back into the dataclass
(:func:`settings_from`). One flag has one name, one parser and one error wording everywhere.

Values are checked by their parser (:mod:`pipelines.values`) as they are read (``--images -5``: ``argument
--images: a whole number of at least 1, got '-5'``); combinations that mean nothing are refused by the settings'
own ``__post_init__``. Both happen before a command does any work. This module imports nothing heavier than the standard library, so that
``--help`` and a refusal return at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.units import format_bytes
from pipelines.values import writable_folder

@dataclass(frozen=True)
class Option:
    """One command-line setting, declared once.

    Attributes:
        flag: its long name (``--ram-budget``); a name without dashes is a positional argument.
        help: what it does, in one line; the default is appended (``default_text`` or ``default``).
        parse: text -> value, raising ``ValueError`` with what is accepted; ``None``: a switch (present or not).
        default: its value when not given.
        metavar: the value's name in ``--help`` (``SIZE``).
        choices: the names it accepts, where it is one of a list.
        default_text: the default in words, where ``default`` is ``None`` but means something (``available
            RAM``); ``""``: say nothing about a default.
        nargs: argparse's ``nargs`` for a positional argument (``"?"``, ``"+"``).
        required: the command cannot run without it (an internal command's child arguments).
    """

    flag: str
    help: str
    parse: Callable[[str], Any] | None = str
    default: Any = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    default_text: str | None = None
    nargs: str | None = None
    required: bool = False

    @property
    def dest(self) -> str:
        """The settings field and namespace attribute it is read into (``--ram-budget`` -> ``ram_budget``)."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def switch(self) -> bool:
        return self.parse is None

    def field(self, default: Any = dataclasses.MISSING) -> Any:
        """A dataclass field holding this option (``default``: the field's own, else the option's)."""
        value = self.default if default is dataclasses.MISSING else default
        return dataclasses.field(default=value, metadata={"option": self})

    def help_line(self, default: Any) -> str:
        if self.switch or self.default_text == "":
            return self.help
        shown = self.default_text if self.default_text is not None and default in (None, self.default) else default
        if shown is None:
            return self.help
        if isinstance(shown, int) and not isinstance(shown, bool) and self.metavar == "SIZE":
            shown = format_bytes(shown)
        return f"{self.help} (default: {shown})"

    def argparse_kwargs(self, default: Any) -> dict[str, Any]:
        """Keyword arguments for ``parser.add_argument`` and pytest's ``group.addoption`` alike."""
        kwargs: dict[str, Any] = {"help": self.help_line(default).replace("%", "%%")}
        if self.switch:
            return {**kwargs, "action": "store_true", "dest": self.dest}
        kwargs.update(type=_checked(self.flag, self.parse), default=default)
        if self.flag.startswith("-"):
            kwargs["dest"] = self.dest
        if self.metavar:
            kwargs["metavar"] = self.metavar
        if self.choices:
            kwargs["choices"] = self.choices
        if self.nargs:
            kwargs["nargs"] = self.nargs
        if self.required:
            kwargs["required"] = True
        return kwargs


def _checked(flag: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` as argparse's ``type``: its ``ValueError`` becomes argparse's one-line refusal with our
    wording (argparse would print ``invalid parse value``)."""

    def checked(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    checked.__name__ = flag.lstrip("-")
    checked.parse = parse  # type: ignore[attr-defined]  # what it checks, for the refusal tests
    return checked


#: Where a command writes its files; each command gives its own default (``defaults={"out": ...}``).
OUT = Option("--out", "folder this command writes its files to", parse=writable_folder, metavar="FOLDER")
#: A command that measures into a folder, asked only to read back what the folder holds (the gate's campaign).
JUDGE = Option("--judge", "measure nothing: print the table of what OUT already holds", parse=None, default=False)


# --- generating parsers and reading settings back --------------------------------------------------------------


def options_of(cls: type) -> Iterator[tuple[Option, Any]]:
    """Every option a settings dataclass holds, with the field's default (a nested settings dataclass's options
    are its holder's too: ``BenchSettings.limits`` brings ``--ram-limit``)."""
    for field in dataclasses.fields(cls):
        option = field.metadata.get("option")
        if option is not None:
            yield option, field.default
        elif (nested := _dataclass_type(field)) is not None:
            yield from options_of(nested)


def _dataclass_type(field: dataclasses.Field) -> type | None:
    """The dataclass a field holds, where its annotation (a string under ``from __future__ import annotations``)
    names one: read from its default, which every nested settings field has."""
    default = field.default
    if default is not dataclasses.MISSING and dataclasses.is_dataclass(default) and not isinstance(default, type):
        return type(default)
    return None


def add_options(add: Callable[..., Any], *sources: type | Option,
                defaults: Mapping[str, Any] | None = None) -> None:
    """Declare on a parser (``add`` is ``parser.add_argument`` or pytest's ``group.addoption``) the options of
    each source: a settings dataclass (all its options, nested ones included) or a lone :class:`Option`.
    ``defaults`` overrides a default by dest for this command (shown in its help)."""
    defaults = defaults or {}
    seen: set[str] = set()
    for option, default in _flatten(sources):
        if option.dest in seen:
            continue
        seen.add(option.dest)
        add(option.flag, **option.argparse_kwargs(defaults.get(option.dest, default)))


def defaults_of(settings: Any) -> dict[str, Any]:
    """A settings instance's option values by dest: a command's own defaults for :func:`add_options`
    (``defaults_of(GateSettings(mismatch="warn"))``)."""
    return {option.dest: getattr(settings, field.name) for field in dataclasses.fields(settings)
            if (option := field.metadata.get("option")) is not None}


def _flatten(sources: Sequence[type | Option]) -> Iterator[tuple[Option, Any]]:
    for source in sources:
        yield from [(source, source.default)] if isinstance(source, Option) else options_of(source)


def settings_from(cls: type, values: Mapping[str, Any] | Callable[[str], Any] | argparse.Namespace,
                  **fixed: Any) -> Any:
    """A settings dataclass from parsed options (a namespace, a mapping, or pytest's ``config.getoption``):
    each option field from its dest, nested settings built alike, ``fixed`` fields as given. Raises the
    settings' own ``ValueError`` for a combination that means nothing."""
    if isinstance(values, argparse.Namespace):
        values = vars(values)
    get = values.get if isinstance(values, Mapping) else values
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name in fixed:
            kwargs[field.name] = fixed[field.name]
            continue
        option = field.metadata.get("option")
        if option is not None:
            value = get(option.dest)
            if value is not None or option.switch:
                kwargs[field.name] = bool(value) if option.switch else value
        elif (nested := _dataclass_type(field)) is not None and any(True for _ in options_of(nested)):
            kwargs[field.name] = settings_from(nested, get)
    return cls(**kwargs)


class CommandParser(argparse.ArgumentParser):
    """argparse with a refusal in one line (``prog: error: argument --images: ...``, exit 2, no usage block),
    and a value that starts with ``-`` read as a value (``--ram-budget -5GB`` is refused as a size, not as a
    missing argument)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-[0-9.]")

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def command_parser(prog: str, doc: str | None) -> CommandParser:
    """A command's parser, described by the first paragraph of its module's docstring."""
    return CommandParser(prog=prog, description=(doc or "").split("\n\n")[0],
                         formatter_class=argparse.RawDescriptionHelpFormatter)


def refuse(prog: str, error: BaseException | str) -> int:
    """A command's refusal: one line on standard error, exit status 2 (argparse's for a usage error)."""
    print(f"{prog}: error: {error}", file=sys.stderr)
    return 2
