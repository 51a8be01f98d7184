"""Optional dependencies of the serdes, imported on first use.

Avro (``fastavro``, ``avro``) and msgspec are extras: ``pip install 'strom[avro]'``,
``'strom[msgspec]'``. ``import strom`` does not import them; a serde that needs one imports
it when it is built, and names the extra to install when it is missing.

Example:
    >>> require("json", "none", "this example").dumps([1])
    '[1]'
    >>> require("no_such_module_here", "avro", "the avro serde")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    strom.errors.MissingDependencyError: the avro serde needs ... pip install 'strom[avro]'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from strom.errors import MissingDependencyError


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module``, or raise MissingDependencyError saying that ``what`` needs it and
    which extra of strom installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing(module, extra, what) from exc


def missing(module: str, extra: str, what: str) -> MissingDependencyError:
    """The error for ``module`` not being installed (for ``try: import ...`` blocks)."""
    package = module.split(".", 1)[0]
    return MissingDependencyError(
        f"{what} needs the {package!r} package, which is not installed: "
        f"pip install 'strom[{extra}]'"
    )
