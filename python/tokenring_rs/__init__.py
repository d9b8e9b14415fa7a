"""TokenRing for Python: a keyring backend whose secrets only leave their
vault with a tap on a FIDO2 authenticator.

The backend (:class:`tokenring_rs.backend.TokenRingKeyring`) is registered in
the ``keyring.backends`` entry-point group, so installing this package into an
environment (``pipx inject twine tokenring-rs``) makes ``keyring`` and every
program that uses it, such as twine, use TokenRing. The package also installs
the ``tokenring`` command (the Rust binary), which the backend runs when no
``tokenring agent`` serves the vault.
"""

from .errors import TokenRingError

__all__ = ["TokenRingError"]
