"""Name -> object registries (methods, backbones, samplers, transforms, exporters), in the style of
timm's model registry; the one place where unknown names get their "did you mean" hint.

    METHODS: Registry[type] = Registry("method")

    @METHODS.register("tcn")
    class TCN: ...

    METHODS.get("tcn")  # TCN
    METHODS.names("sim*")  # ["simclr", "simsiam"]
    METHODS.get("tcm")  # UnknownNameError: unknown method 'tcm'; did you mean 'tcn'? valid choices: ...

Config fields can be checked against a registry's names, see `tempssl.config`.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar, overload

T = TypeVar("T")


def closest_match(name: str, choices: Iterable[str]) -> str | None:
    """The choice most similar to `name` (for "did you mean" hints), or None if none is close (or
    `name` is not a string, e.g. a number given where a name belongs)."""
    if not isinstance(name, str):
        return None
    matches = difflib.get_close_matches(name, list(choices), n=1)
    return matches[0] if matches else None


class UnknownNameError(KeyError, ValueError):
    """A name that is not in a registry (or not among a fixed set of choices). The message suggests
    the closest name and lists all of them.

    Both a KeyError (a failed lookup) and a ValueError (a bad argument value), so that callers of
    `build_sampler`, `build_transform` and the like catch it as the ValueError they document.
    """

    def __init__(self, kind: str, name: str, choices: Iterable[str]):
        self.kind, self.name, self.choices = kind, name, sorted(choices)
        self.suggestion = closest_match(name, self.choices)
        hint = f"; did you mean '{self.suggestion}'?" if self.suggestion else ";"
        listed = ", ".join(self.choices) if self.choices else "(none registered)"
        self.message = f"unknown {kind} '{name}'{hint} valid choices: {listed}"
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError's own __str__ shows the repr of its argument, quotes and escapes included.
        return self.message


class Registry(Generic[T]):
    """A mapping from unique names to objects of one kind (e.g. `Registry("method")`).

    Args:
        kind: what the registry holds, singular; used in error messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: T | None = None) -> T | Callable[[T], T]:
        """Register `obj` under `name`; without `obj`, return a decorator that registers its target.

        Raises:
            ValueError: the name is empty or already registered.
        """
        if obj is None:
            return lambda target: self.register(name, target)
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")
        if name in self._entries:
            raise ValueError(
                f"{self.kind} '{name}' is already registered (to {_describe(self._entries[name])})"
            )
        self._entries[name] = obj
        return obj

    def get(self, name: str) -> T:
        """The object registered under `name`.

        Raises:
            UnknownNameError: (a KeyError) no such name; the message suggests the closest one.
        """
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._entries) from None

    def __getitem__(self, name: str) -> T:
        """`registry[name]`, the same as `registry.get(name)`."""
        return self.get(name)

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style `pattern` (e.g. `"resnet*"`), sorted."""
        return sorted(name for name in self._entries if fnmatch.fnmatchcase(name, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"


def _describe(obj: object) -> str:
    qualname = getattr(obj, "__qualname__", None)
    return f"{getattr(obj, '__module__', '?')}.{qualname}" if qualname else repr(obj)
