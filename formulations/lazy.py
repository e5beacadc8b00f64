"""Public names that load on first use, for the packages' ``__init__`` modules (PEP 562): importing a
package stays cheap, and ``from package import name`` loads only the module that defines ``name``."""
import importlib
import sys


def lazy_public_names(package, public):
    """``(__getattr__, __dir__)`` for ``package`` whose public names are ``public`` (name -> module relative
    to the package). A loaded name is kept on the package, so it is looked up once."""

    def __getattr__(name):
        if name in public:
            value = getattr(importlib.import_module(f".{public[name]}", package), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
