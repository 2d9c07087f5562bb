"""Classes and mixes written as text, the way `cgan-gen` and `cgan-serve`'s /generate take them.

'0,7,cat' is three labels; '3=0.7,8=0.3' a mix. Each class stays text: the model
resolves it once it says which classes it has (`inputs.as_labels`: the class of
that name, or else, for an integer, the class of that index: one rule for the
command line, Python and the browser). `name` is the flag or parameter the text
came in, for the error message.
"""

from __future__ import annotations

from collections.abc import Iterable


def parse_class(token: str) -> str:
    """A class as given in text, without the spaces around it; the model resolves it (`inputs.as_labels`)."""
    return token.strip()


def parse_labels(values: Iterable[str], name: str = "--label") -> list[str]:
    """['0', '7,cat'] -> ['0', '7', 'cat']; ValueError for an empty label (a stray comma)."""
    labels: list[str] = []
    for token in (token.strip() for value in values for token in value.split(",")):
        if not token:
            raise ValueError(f"{name} got an empty label (a stray comma?)")
        labels.append(parse_class(token))
    return labels


def parse_mix(text: str, name: str = "--mix") -> dict[str, float]:
    """'3=0.7,8=0.3' -> {'3': 0.7, '8': 0.3}; ValueError for anything else. Weights are checked by `mixing.as_weights`."""
    usage = f"{name} takes CLASS=WEIGHT pairs like 3=0.7,8=0.3"
    weights: dict[str, float] = {}
    for pair in text.split(","):
        cls, sep, weight = pair.partition("=")
        if not sep or not cls.strip():
            raise ValueError(f"{usage}, got {pair.strip()!r}")
        key = parse_class(cls)
        if key in weights:
            raise ValueError(f"{name} names class {key} twice")
        try:
            weights[key] = float(weight)
        except ValueError:
            raise ValueError(f"{usage}, got weight {weight.strip()!r}") from None
    return weights
