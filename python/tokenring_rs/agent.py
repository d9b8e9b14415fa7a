"""A client for the ``tokenring agent`` socket (protocol version 1, see
``src/agent/protocol.rs``): one frame is a 4-byte big-endian length (of what
follows), the version byte 1, then one UTF-8 JSON object with a ``type``.

A request (``get``, ``set``, ``delete``, ``list``) is followed by events
(``touch``, ``touch_done``, ``keepalive``, ``info``, ``pin_request``) and one
final reply (``password``, ``done``, ``deleted``, ``names``) or ``error``.
Touch prompts and messages are shown on stderr, PIN requests are answered
from ``TOKENRING_PIN_FILE`` or the terminal, as the ``tokenring`` command
does.
"""

import getpass
import hashlib
import json
import os
import socket
import struct
import sys

from .errors import TokenRingError

PROTOCOL_VERSION = 1
MAX_FRAME_LEN = 64 * 1024
EVENTS = frozenset(("touch", "touch_done", "keepalive", "info", "pin_request"))

#: How long to wait for the next frame. The agent relays a keepalive at
#: least every few seconds while an authenticator waits for a touch (whose
#: own timeout is about 30 s), so a silence this long means it is stuck.
READ_TIMEOUT_SECS = 120.0

PIN_FILE_ENV = "TOKENRING_PIN_FILE"

# CTAP 2.1 PS 2021-06-15, section 8.2 (status codes).
_TOUCH_STATUSES = frozenset((0x27, 0x2F))  # OPERATION_DENIED, USER_ACTION_TIMEOUT
_PIN_STATUSES = frozenset((0x31, 0x32, 0x34, 0x35, 0x36, 0x37, 0x3C, 0x3F))
_WRONG_AUTHENTICATOR_STATUSES = frozenset((0x22, 0x2E))  # INVALID_CREDENTIAL, NO_CREDENTIALS


class NoAgent(Exception):
    """No agent listens for this vault (the caller falls back to in-process
    access)."""


def agent_dir():
    """The directory of the agents' sockets, as ``tokenring::paths::agent_dir``:
    ``$XDG_RUNTIME_DIR/tokenring``, else ``<data home>/tokenring/agent``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "tokenring")
    data_home = os.environ.get("XDG_DATA_HOME")
    if not data_home:
        home = os.environ.get("HOME")
        if not home:
            return None
        data_home = os.path.join(home, ".local", "share")
    return os.path.join(data_home, "tokenring", "agent")


def socket_path(vault, default_vault=None):
    """The socket of the agent serving ``vault``: ``agent.sock`` for the
    default vault ``default_vault``, else ``vault-<hash>.sock``, the hash being
    the first 12 bytes of SHA-256 of the canonical vault path
    (``tokenring::agent::socket_path``); ``None`` when there is no vault or no
    agent directory."""
    if not vault or not os.path.exists(vault):
        return None
    directory = agent_dir()
    if directory is None:
        return None
    canonical = os.path.realpath(vault)
    if default_vault and os.path.exists(default_vault) and os.path.realpath(default_vault) == canonical:
        return os.path.join(directory, "agent.sock")
    digest = hashlib.sha256(os.fsencode(canonical)).hexdigest()[:24]
    return os.path.join(directory, "vault-%s.sock" % digest)


def _classify(reply):
    """The :class:`TokenRingError` kind of an agent ``error`` reply."""
    kind = reply.get("kind")
    status = reply.get("ctap_status")
    vault_error = reply.get("vault_error")
    if kind == "cancelled" or status == 0x2D:
        return "cancelled"
    if kind in ("no_authenticator", "wrong_authenticator"):
        return kind
    if status in _TOUCH_STATUSES:
        return "touch"
    if status in _PIN_STATUSES or reply.get("core_error") == "pin_required":
        return "pin"
    if status in _WRONG_AUTHENTICATOR_STATUSES or vault_error == "wrong_authenticator":
        return "wrong_authenticator"
    if vault_error == "not_found":
        return "no_vault"
    if vault_error in ("corrupt", "did_not_decrypt", "entry_did_not_decrypt", "replaced"):
        return "vault_corrupt"
    if vault_error == "locked_by_another_process":
        return "vault_locked"
    return "agent"


def _pin_from_file(request):
    """``None`` when there is no PIN file, else ``(pin or None,)``: the file's
    first line, never tried again after a wrong PIN."""
    path = os.environ.get(PIN_FILE_ENV)
    if not path:
        return None
    if request.get("previous_wrong"):
        return (None,)
    try:
        with open(path, encoding="utf-8") as pin_file:
            line = pin_file.readline().rstrip("\r\n")
    except OSError as e:
        print("tokenring: cannot read the PIN from %s (%s): %s" % (path, PIN_FILE_ENV, e), file=sys.stderr)
        return (None,)
    return (line or None,)


def _pin_from_terminal(request):
    """Asks on the terminal (hidden); ``None`` without a terminal or when the
    answer is empty (declines)."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None
    os.close(tty)
    question = "Wrong PIN. " if request.get("previous_wrong") else ""
    question += "Enter your authenticator's PIN"
    if request.get("purpose"):
        question += " to " + request["purpose"]
    if request.get("retries") is not None:
        question += " (%d %s left)" % (request["retries"], "try" if request["retries"] == 1 else "tries")
    question += " (empty to cancel): "
    try:
        answer = getpass.getpass(question)
    except (EOFError, OSError):
        return None
    return answer or None


def _answer_pin(request):
    from_file = _pin_from_file(request)
    if from_file is not None:
        return from_file[0]
    return _pin_from_terminal(request)


def _show(event):
    """Relays an event for the user to stderr."""
    if event.get("type") == "touch":
        print("Touch your authenticator to %s" % event.get("purpose", "continue"), file=sys.stderr, flush=True)
    elif event.get("type") == "info" and event.get("message"):
        print(event["message"], file=sys.stderr, flush=True)


class AgentConnection:
    """One connection to the agent; one request at a time."""

    def __init__(self, path):
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(5.0)
            self._sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError, socket.timeout) as e:
            self._sock.close()
            raise NoAgent(str(e)) from None
        except OSError:
            self._sock.close()
            raise
        self._check_peer()
        self._sock.settimeout(READ_TIMEOUT_SECS)

    def _check_peer(self):
        """The agent must run as our own user (it checks us too)."""
        if not hasattr(socket, "SO_PEERCRED"):
            return
        raw = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", raw)
        if uid != os.geteuid():
            self._sock.close()
            raise TokenRingError(
                "TokenRing: the agent socket is served by another user (uid %d); not using it" % uid,
                kind="agent",
            )

    def close(self):
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _send(self, message):
        body = json.dumps(message).encode("utf-8")
        if len(body) + 1 > MAX_FRAME_LEN:
            raise TokenRingError(
                "TokenRing: the value is too long for the agent (at most %d bytes)" % (MAX_FRAME_LEN - 256),
                kind="agent",
            )
        self._sock.sendall(struct.pack(">IB", len(body) + 1, PROTOCOL_VERSION) + body)

    def _exactly(self, count):
        chunks = []
        while count > 0:
            chunk = self._sock.recv(min(count, 65536))
            if not chunk:
                raise TokenRingError("TokenRing: the agent closed the connection", kind="agent")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def _receive(self):
        length, version = struct.unpack(">IB", self._exactly(5))
        if version != PROTOCOL_VERSION or not 2 <= length <= MAX_FRAME_LEN:
            raise TokenRingError(
                "TokenRing: the agent speaks another protocol (version %d); upgrade tokenring-rs" % version,
                kind="agent",
            )
        try:
            message = json.loads(self._exactly(length - 1).decode("utf-8"))
        except ValueError:
            raise TokenRingError("TokenRing: the agent sent a malformed message", kind="agent") from None
        if not isinstance(message, dict):
            raise TokenRingError("TokenRing: the agent sent a malformed message", kind="agent")
        return message

    def request(self, message, expect, parts=None):
        """Sends a request, relays its events, answers PIN requests; returns
        the final reply of type ``expect`` or raises :class:`TokenRingError`.
        With a list ``parts``, the ``expect + "_part"`` frames that come
        before the final reply are appended to it."""
        try:
            self._send(message)
            while True:
                reply = self._receive()
                kind = reply.get("type")
                if parts is not None and kind == expect + "_part":
                    parts.append(reply)
                elif kind == "pin_request":
                    self._send({"type": "pin", "pin": _answer_pin(reply)})
                elif kind in EVENTS:
                    _show(reply)
                elif kind == "error":
                    raise TokenRingError(
                        "TokenRing (agent): %s" % reply.get("message", "the request failed"),
                        kind=_classify(reply),
                    )
                elif kind == expect:
                    return reply
                else:
                    raise TokenRingError("TokenRing: unexpected %r reply from the agent" % kind, kind="agent")
        except KeyboardInterrupt:
            # Ctrl-C: the agent tells the authenticator to stop waiting.
            try:
                self._send({"type": "cancel"})
            except OSError:
                pass
            raise
        except socket.timeout:
            raise TokenRingError(
                "TokenRing: the agent did not answer within %d s" % READ_TIMEOUT_SECS, kind="agent"
            ) from None
        except OSError as e:
            raise TokenRingError("TokenRing: lost the connection to the agent: %s" % e, kind="agent") from None

    def get(self, service, user):
        reply = self.request({"type": "get", "service": service, "user": user}, "password")
        return reply.get("password")

    def set(self, service, user, password):
        self.request({"type": "set", "service": service, "user": user, "password": password}, "done")

    def delete(self, service, user):
        return bool(self.request({"type": "delete", "service": service, "user": user}, "deleted").get("existed"))

    def list(self):
        # A vault's names may come in several frames: names_part, then names.
        frames = []
        frames.append(self.request({"type": "list"}, "names", parts=frames))
        names = [n for frame in frames for n in (frame.get("names") or [])]
        return [(n.get("service"), n.get("user")) for n in names if isinstance(n, dict)]


def default_vault():
    """The default vault, as ``tokenring::default_vault_path``: keyring's data
    root and ``keyring.tokenvault``."""
    from keyring.util import platform_

    return os.path.join(platform_.data_root(), "keyring.tokenvault")


def agent_runs(vault):
    """Whether an agent socket exists for ``vault`` (no connection made)."""
    path = socket_path(vault, default_vault())
    return path is not None and os.path.exists(path)


def connect(vault):
    """A connection to the agent serving ``vault``; raises :class:`NoAgent`
    when none runs."""
    path = socket_path(vault, default_vault())
    if path is None or not os.path.exists(path):
        raise NoAgent("no agent socket for %s" % vault)
    try:
        return AgentConnection(path)
    except OSError as e:
        raise NoAgent(str(e)) from None
