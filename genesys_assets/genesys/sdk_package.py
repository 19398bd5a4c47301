"""The SDK's package, imported name by name instead of all at once.

`import PureCloudPlatformClientV2` runs package `__init__` files that import every model and
API module the SDK has: about 6,750 modules, 1.4 s of CPU and 110 MB more than the client
needs, in every process that talks to Genesys (a run has one per dataset, plus the queue
listing). The client uses the `ApiClient` and a few API classes (conversations, routing, users,
authorization). So, unless the package is imported already, its three package modules (the
root, `models`, `apis`) are registered as lazy modules (PEP 562 `__getattr__`) that import a
name's own module on first use. What runs is the SDK's own code, module for module; only the
eager `__init__` files are skipped. The map from name to module is read from those `__init__`
files, so it follows the installed SDK version.
One difference: the root's `configuration` is the module of that name, not the instance the
real `__init__` creates; `Configuration()` is a singleton, and `sdk.load` calls it.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "PureCloudPlatformClientV2"
# Every line of the generated `__init__` files that exports a name: `from .models.adfs import ADFS`.
_EXPORT = re.compile(r"^from \.([\w.]+) import (\w+)\s*$", re.MULTILINE)


def import_package() -> ModuleType:
    """The SDK's root package: the real one if imported already, else its lazy stand-in."""
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{PACKAGE} is not installed (pip install -r requirements.lock)")
    root = Path(next(iter(spec.submodule_search_locations)))
    package = _lazy_package(PACKAGE, root)
    for name in ("models", "apis"):
        setattr(package, name, _lazy_package(f"{PACKAGE}.{name}", root / name))
    return package


def _lazy_package(name: str, folder: Path) -> ModuleType:
    init = folder / "__init__.py"
    exports = {export: module for module, export in _EXPORT.findall(init.read_text("utf-8"))}
    module = ModuleType(name)
    module.__file__ = str(init)
    module.__path__ = [str(folder)]
    module.__package__ = name
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, origin=str(init), is_package=True)
    module.__spec__.submodule_search_locations = [str(folder)]

    def __getattr__(attribute: str) -> Any:
        if attribute in exports:
            value = getattr(importlib.import_module(f"{name}.{exports[attribute]}"), attribute)
        elif not attribute.startswith("__") and (folder / f"{attribute}.py").is_file():
            value = importlib.import_module(f"{name}.{attribute}")  # a submodule, as `sdk.rest`
        else:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        setattr(module, attribute, value)
        return value

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module
    return module
