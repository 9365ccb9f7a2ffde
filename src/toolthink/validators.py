"""The attrs validators shared by the config classes of several layers.

Outside the layers, like `toolthink.errors`: `toolthink.env.EnvConfig` and
`toolthink.rollout.samplers.RolloutConfig` both use them.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["positive_int"]


def positive_int(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    """Check, as an attrs validator, that ``value`` is an int (not a bool) >= 1.

    Raises:
        ValueError: naming the field and the value.
    """
    if type(value) is not int or value < 1:
        msg = f"{attribute.name}={value!r} must be an int >= 1"
        raise ValueError(msg)
