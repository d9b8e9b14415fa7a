"""The error the backend raises: a :class:`keyring.errors.KeyringError`, so
callers that handle keyring's errors (twine does) handle it too."""

from keyring.errors import KeyringError


class TokenRingError(KeyringError):
    """TokenRing could not answer: the touch was denied or timed out, the PIN
    was wrong, no authenticator or no vault was found, and so on.

    ``kind`` names the reason in a form a program can test (``touch``,
    ``pin``, ``no_authenticator``, ``wrong_authenticator``, ``no_vault``,
    ``vault_corrupt``, ``vault_locked``, ``agent``, ``cancelled``,
    ``no_binary``, ``other``); the message is meant for the user.
    """

    def __init__(self, message, kind="other"):
        super().__init__(message)
        self.kind = kind
