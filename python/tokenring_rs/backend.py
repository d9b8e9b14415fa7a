"""The keyring backend: TokenRing's vault through the ``tokenring agent``
when one serves it (one touch per secret), through the bundled ``tokenring``
command otherwise (one touch to unlock the vault, one per secret).

Failures raise keyring's own errors: :class:`keyring.errors.PasswordSetError`
from ``set_password``, :class:`keyring.errors.PasswordDeleteError` from
``delete_password`` (also when there is no such password), and
:class:`tokenring_rs.TokenRingError` (a :class:`keyring.errors.KeyringError`)
from ``get_password`` and ``get_credential``. ``None`` means only "no such
password": a denied or timed-out touch raises, so a caller never mistakes it
for a missing entry; twine logs the error and takes its ordinary path for a
missing credential (it asks, or with ``--non-interactive`` it stops).

Properties (keyring's ``KEYRING_PROPERTY_VAULT`` / ``..._AUTHENTICATOR``
environment variables or ``with_properties``): ``vault`` (the vault file,
default ``TOKENRING_VAULT`` or the original tokenring's location) and
``authenticator`` (a selector such as ``hid:PATH``, default
``TOKENRING_AUTHENTICATOR`` or every connected authenticator).
"""

import os

from keyring import credentials
from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError, PasswordSetError
from keyring.util import platform_

from . import agent, command
from .errors import TokenRingError

VAULT_ENV = "TOKENRING_VAULT"
AUTHENTICATOR_ENV = "TOKENRING_AUTHENTICATOR"
VAULT_FILE_NAME = "keyring.tokenvault"

#: Above the platform keyrings (SecretService, macOS, Windows: 5; kwallet:
#: 4.9; keyring's chainer: 10), like the original tokenring's in-process
#: backend (20).
PRIORITY = 20


class _LazyCredential(credentials.Credential):
    """A credential whose password is fetched (one touch) only when asked
    for: twine looks up the user name first, and may not need the password
    from here at all."""

    def __init__(self, backend, service, username):
        self._backend = backend
        self._service = service
        self._username = username
        self._password = None

    @property
    def username(self):
        return self._username

    @property
    def password(self):
        if self._password is None:
            self._password = self._backend.get_password(self._service, self._username)
        return self._password

    def _vars(self):
        return dict(username=self.username, password=self.password)


class TokenRingKeyring(KeyringBackend):
    """TokenRing: secrets that only leave their vault with a tap on a FIDO2
    authenticator."""

    vault = None
    authenticator = None

    @properties.classproperty
    def priority(cls):
        vault = os.environ.get("KEYRING_PROPERTY_VAULT") or cls._default_vault()
        if command.find_binary() is None and not agent.agent_runs(vault):
            raise RuntimeError(
                "the tokenring program is not installed in this environment (%s)" % command.BINARY_ENV
            )
        return PRIORITY

    @staticmethod
    def _default_vault():
        from_env = os.environ.get(VAULT_ENV)
        if from_env:
            return from_env
        return os.path.join(platform_.data_root(), VAULT_FILE_NAME)

    def _vault(self):
        return self.vault or self._default_vault()

    def _options(self):
        return {
            "vault": self._vault(),
            "authenticator": self.authenticator or os.environ.get(AUTHENTICATOR_ENV) or None,
        }

    def _agent(self):
        """A connection to the agent serving the vault, or ``None`` (also
        when ``TOKENRING_NO_AGENT`` says never, as for the ``tokenring``
        command; the bundled binary reads it too)."""
        no_agent = os.environ.get("TOKENRING_NO_AGENT", "").strip().lower()
        if no_agent not in ("", "0", "false", "no", "off"):
            return None
        try:
            return agent.connect(self._vault())
        except agent.NoAgent:
            return None

    def get_password(self, service, username):
        try:
            connection = self._agent()
            if connection is not None:
                with connection:
                    return connection.get(service, username)
            return command.get(service, username, self._options())
        except TokenRingError as e:
            # Shown by callers such as twine: the message, not our internals.
            raise e.with_traceback(None) from None

    def set_password(self, service, username, password):
        try:
            connection = self._agent()
            if connection is not None:
                with connection:
                    connection.set(service, username, password)
                return
            command.set(service, username, password, self._options())
        except TokenRingError as e:
            raise PasswordSetError(str(e)) from e

    def delete_password(self, service, username):
        try:
            connection = self._agent()
            if connection is not None:
                with connection:
                    existed = connection.delete(service, username)
            else:
                existed = command.delete(service, username, self._options())
        except TokenRingError as e:
            raise PasswordDeleteError(str(e)) from e
        if not existed:
            raise PasswordDeleteError("TokenRing: no password for %r in %r" % (username, service))

    def get_credential(self, service, username):
        if username is not None:
            password = self.get_password(service, username)
            if password is None:
                return None
            return credentials.SimpleCredential(username, password)
        # The first user stored for the service, in vault order; its
        # password is fetched when asked for.
        connection = self._agent()
        if connection is not None:
            with connection:
                names = connection.list()
        else:
            names = command.list_names(self._options())
        for name_service, name_user in names:
            if name_service == service:
                return _LazyCredential(self, service, name_user)
        return None
