"""YAML configs mapped onto typed dataclasses, with errors that name the key and suggest a fix.

A schema is a tree of dataclasses; each field's annotation is checked when a config is loaded:

    @dataclass
    class Optim:
        lr: float = field(default=1e-3, metadata={"check": lambda v: v > 0, "help": "must be > 0"})
        betas: tuple[float, float] = (0.9, 0.999)

    @dataclass
    class Method:
        name: str = field(default="tcn", metadata={"choices": lambda: METHODS})  # a Registry

    cfg = load_config(Config, "configs/tcn.yaml", ["optim.lr=3e-4", "method.name=moco"])

Supported annotations: `int`, `float` (ints accepted), `str`, `bool`, `Path` (from strings), `None`,
`Optional[X]` / `X | None` and other unions, `Literal[...]`, `list[X]`, `tuple[X, ...]` and fixed
tuples (from lists), `dict[str, X]`, nested dataclasses (from mappings) and `Any`. Field metadata:
`choices` (names, a `Registry`, or a callable returning either, so that registries can be imported
lazily) and `check` (a predicate; `help` says what it requires). Neither is applied to None.
A YAML file may start from another with `_base_: other.yaml` (relative to the including file).
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from tempssl.atomic import write_atomic
from tempssl.registry import Registry, closest_match

T = TypeVar("T")

BASE_KEY = "_base_"


class ConfigError(ValueError):
    """A config that does not fit its schema, or a config file that cannot be read.

    Attributes:
        key: the dotted key at fault (e.g. `"optim.lr"`), or None for file-level problems.
    """

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


class _Loader(yaml.SafeLoader):
    """SafeLoader reading `1e-3` as a float (PyYAML: a string) and `2024-01-01` as a string (a date)."""


class _Dumper(yaml.SafeDumper):
    """SafeDumper that quotes exactly the strings `_Loader` would not read back as strings."""


_FLOAT = re.compile(
    r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
for _cls in (_Loader, _Dumper):
    _cls.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":float", ":timestamp"))]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build the dataclass `cls` from a mapping, checking every value against the annotations.

    Args:
        cls: a dataclass type; fields that are dataclasses are built from nested mappings.
        data: the values; missing keys take the field defaults.
        where: the dotted key of `data` in the whole config, for error messages.

    Raises:
        ConfigError: unknown or missing keys, values of the wrong type, failed choices or checks.
    """
    if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
        raise TypeError(f"from_dict needs a dataclass type, got {cls!r}")
    if not isinstance(data, Mapping):
        raise _error(where, f"expected a mapping of {cls.__name__} fields, got {_show(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = get_type_hints(cls)
    for key in data:
        if key not in fields:
            suggestion = closest_match(str(key), fields)
            hint = f"did you mean '{suggestion}'? " if suggestion else ""
            valid = ", ".join(sorted(fields))
            raise _error(_join(where, str(key)), f"unknown key; {hint}valid keys: {valid}")
    values = {}
    for name, f in fields.items():
        key = _join(where, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _error(key, "required key is missing")
            continue
        value = _convert(data[name], hints[name], key)
        if value is not None:
            _validate(value, f.metadata, key)
        values[name] = value
    try:
        return cls(**values)
    except ConfigError:
        raise
    except ValueError as error:
        # Rules across fields live in __post_init__; say which section broke them.
        raise _error(where, str(error)) from error


def _convert(value: Any, tp: Any, key: str) -> Any:
    """`value` as type `tp` (tuples from lists, floats from ints...), or a ConfigError."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if tp is None or tp is type(None):
        if value is None:
            return None
    elif origin is Union or origin is types.UnionType:
        return _convert_union(value, tp, key)
    elif origin is Literal:
        # `type(...) is` so that True does not pass for Literal[1] (or 1 for Literal[True]).
        if any(value == a and type(value) is type(a) for a in args):
            return value
        choices = [a for a in args if isinstance(a, str)]
        raise _choice_error(key, value, [_show_choice(a) for a in args], choices)
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return from_dict(tp, value, key)
    elif origin is list or tp is list:
        if isinstance(value, list | tuple):
            item = args[0] if args else Any
            return [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    elif origin is tuple or tp is tuple:
        if isinstance(value, list | tuple):
            if not args or (len(args) == 2 and args[1] is Ellipsis):
                item = args[0] if args else Any
                return tuple(_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value))
            if len(value) == len(args):
                pairs = enumerate(zip(value, args, strict=True))
                return tuple(_convert(v, t, f"{key}[{i}]") for i, (v, t) in pairs)
            raise _error(key, f"expected {_type_name(tp)} ({len(args)} items), got {_show(value)}")
    elif origin is dict or tp is dict:
        if isinstance(value, Mapping):
            item = args[1] if args else Any
            for k in value:
                if not isinstance(k, str):
                    raise _error(f"{key}.{k}", f"keys must be strings, got {_show(k)}")
            return {k: _convert(v, item, f"{key}.{k}") for k, v in value.items()}
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(tp, type) and issubclass(tp, Path):
        if isinstance(value, str | Path):
            return tp(value)
    elif isinstance(tp, type):
        if isinstance(value, tp):
            return value
    else:
        raise TypeError(f"config key '{key}': unsupported annotation {tp!r}")
    raise _error(key, f"expected {_type_name(tp)}, got {_show(value)}")


def _convert_union(value: Any, tp: Any, key: str) -> Any:
    args = get_args(tp)
    if value is None and type(None) in args:
        return None
    literals = [arg for arg in args if get_origin(arg) is Literal]
    if literals and len(literals) + (type(None) in args) == len(args):
        # One list of choices (with its did-you-mean) rather than "expected one of ... | null".
        choices = [choice for arg in literals for choice in get_args(arg)]
        return _convert(value, Literal[(*choices, *([None] if type(None) in args else []))], key)
    for arg in args:
        try:
            return _convert(value, arg, key)
        except ConfigError as error:
            # An error deeper inside (e.g. a bad key in a nested section) is more useful than
            # "expected X | None": the value had the right shape but wrong contents.
            if error.key != key:
                raise
    raise _error(key, f"expected {_type_name(tp)}, got {_show(value)}")


def _validate(value: Any, metadata: Mapping[str, Any], key: str) -> None:
    """Apply the field's `choices` and `check` metadata to a converted, non-None value."""
    if "choices" in metadata:
        choices = metadata["choices"]
        if callable(choices) and not isinstance(choices, Registry):
            choices = choices()
        names = choices.names() if isinstance(choices, Registry) else list(choices)
        items = enumerate(value) if isinstance(value, list | tuple) else [(None, value)]
        for i, item in items:
            if item not in names:
                item_key = key if i is None else f"{key}[{i}]"
                raise _choice_error(item_key, item, [repr(n) for n in names], names)
    check = metadata.get("check")
    if check is not None and not check(value):
        raise _error(key, f"{metadata.get('help', 'failed its check')}, got {_show(value)}")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Turn `["trainer.epochs=5", "optim.betas=[0.9,0.95]"]` into a nested dict.

    Values are read as YAML (numbers, booleans, lists, `null`); one that is not valid YAML stays a
    string, and an empty value is the empty string. Only the first `=` splits key from value.

    Raises:
        ConfigError: an item is not of the form `key.sub=value`.
    """
    result: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        parts = [part.strip() for part in key.split(".")]
        if not sep or not all(parts):
            raise ConfigError(
                f"override {item!r}: expected key.sub=value (e.g. trainer.epochs=5 or data.root=null)"
            )
        try:
            value = yaml.load(text, Loader=_Loader) if text.strip() else text
        except yaml.YAMLError:
            value = text
        node = result
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return result


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` updated with `override`: mappings are merged, anything else replaced."""
    result = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def load_config(cls: type[T], path: str | Path | None, overrides: Sequence[str] = ()) -> T:
    """Read a YAML config (and its `_base_` chain), apply `key.sub=value` overrides, build `cls`.

    Args:
        cls: the schema, a dataclass type.
        path: the YAML file, or None for the schema defaults.
        overrides: command-line style overrides, applied last.

    Raises:
        ConfigError: the file is missing or not valid YAML, or the config does not fit `cls`.
    """
    data = _read_yaml(Path(path), ()) if path is not None else {}
    return from_dict(cls, merge(data, parse_overrides(overrides)))


def _read_yaml(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """The mapping in `path`, merged on top of its `_base_` files (depth-first)."""
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ConfigError(f"config file {path}: circular {BASE_KEY} chain: {cycle}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark, context = error.problem_mark or error.context_mark, error.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        # PyYAML often notices the problem lines after its cause (e.g. an unclosed bracket).
        started = f" ({error.context} at line {context.line + 1})" if context and error.problem else ""
        raise ConfigError(f"{where}: invalid YAML: {error.problem or error.context}{started}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping, got {_show(data)}")
    bases = data.pop(BASE_KEY, None)
    bases = [] if bases is None else [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(base, str) for base in bases):
        raise ConfigError(f"config file {path}: {BASE_KEY} must be a path or a list of paths")
    result: dict[str, Any] = {}
    for base in bases:
        result = merge(result, _read_yaml(path.parent / base, (*chain, resolved)))
    return merge(result, data)


def to_dict(obj: Any) -> Any:
    """A dataclass (or value) as plain YAML-able data: dicts, lists, strings, numbers, None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, Mapping):
        return {key: to_dict(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_dict(value) for value in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_config(obj: Any, path: str | Path) -> None:
    """Write `to_dict(obj)` as YAML to `path` atomically; `load_config` reads back an equal object."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(to_dict(obj), Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    write_atomic(path, text)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _error(key: str, problem: str) -> ConfigError:
    return ConfigError(f"config key '{key}': {problem}" if key else f"config: {problem}", key)


def _choice_error(key: str, value: Any, shown: list[str], names: list[str]) -> ConfigError:
    suggestion = closest_match(value, names) if isinstance(value, str) else None
    hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
    return _error(key, f"expected one of {', '.join(shown)}, got {_show(value)}{hint}")


def _show_choice(choice: Any) -> str:
    return "null" if choice is None else repr(choice)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _type_name(tp: Any) -> str:
    """A readable annotation: `int`, `list[float]`, `str | None`, `one of 'a', 'b'`."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is None or tp is type(None):
        return "null"
    if origin is Union or origin is types.UnionType:
        return " | ".join(_type_name(arg) for arg in args)
    if origin is Literal:
        return "one of " + ", ".join(_show_choice(arg) for arg in args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return f"tuple[{_type_name(args[0])}, ...]"
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(arg) for arg in args)}]"
    if dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    return getattr(tp, "__name__", repr(tp))
