"""A minimal client for the TokenRing agent, protocol version 1 (standard
library only). A reference for thin clients, e.g. a Python keyring backend.

Frames: a 4-byte big-endian length (of what follows), a version byte (1),
then one UTF-8 JSON object with a "type" field; at most 64 KiB. A request
(get/set/delete/list/lock/status) is followed by events (touch, touch_done,
keepalive, info, pin_request; for list, names_part frames with the names that
come before those of the final reply) and one final reply (password, done,
deleted, names, status, or error). Answer a pin_request with {"type": "pin", "pin":
"..."} or {"type": "pin", "pin": null}; send {"type": "cancel"} to cancel.
See src/agent/protocol/mod.rs for the full description.

Command line (for tests and scripts):
    python3 tokenring_agent.py (--socket PATH | --vault PATH) COMMAND [ARGS]
    COMMAND: status | list | lock | get SERVICE USER | set SERVICE USER (secret
    on stdin) | delete SERVICE USER
Exit codes: 0 ok, 1 no such entry, 3 agent error (JSON on stdout), 4 no agent.
"""

import hashlib
import json
import os
import socket
import struct
import sys

PROTOCOL_VERSION = 1
MAX_FRAME_LEN = 64 * 1024
EVENTS = ("touch", "touch_done", "keepalive", "info", "pin_request", "names_part")


class AgentError(Exception):
    """The agent answered with an error message."""

    def __init__(self, reply):
        super().__init__(reply.get("message", "agent error"))
        self.kind = reply.get("kind")
        self.reply = reply


class NoAgent(Exception):
    """No agent listens on the socket."""


def agent_dir():
    """Where the agents' sockets live (as tokenring::paths::agent_dir)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "tokenring")
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "tokenring", "agent")


def default_vault():
    """The default vault (as tokenring::default_vault_path): Python keyring's
    data root and keyring.tokenvault."""
    if sys.platform == "darwin":
        root = os.path.join(os.path.expanduser("~"), "Library", "Application Support", "python_keyring")
    else:
        data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        root = os.path.join(data, "python_keyring")
    return os.path.join(root, "keyring.tokenvault")


def socket_path(vault):
    """The socket of the agent for a vault: agent.sock for the default vault,
    else a hash of its canonical path."""
    canonical = os.path.realpath(vault)
    default = default_vault()
    if os.path.exists(default) and os.path.realpath(default) == canonical:
        return os.path.join(agent_dir(), "agent.sock")
    digest = hashlib.sha256(os.fsencode(canonical)).hexdigest()[:24]
    return os.path.join(agent_dir(), "vault-%s.sock" % digest)


class Connection:
    """One connection; one request at a time."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            self.sock.close()
            raise NoAgent(str(e))
        # The agent must run as our own user.
        if hasattr(socket, "SO_PEERCRED"):
            creds = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid != os.geteuid():
                self.sock.close()
                raise AgentError({"kind": "permission_denied", "message": "the socket is served by uid %d" % uid})

    def close(self):
        self.sock.close()

    def send(self, message):
        body = json.dumps(message).encode("utf-8")
        if len(body) + 1 > MAX_FRAME_LEN:
            raise ValueError("message too long for the agent protocol")
        self.sock.sendall(struct.pack(">IB", len(body) + 1, PROTOCOL_VERSION) + body)

    def _exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the agent closed the connection")
            data += chunk
        return data

    def receive(self):
        length, version = struct.unpack(">IB", self._exact(5))
        if version != PROTOCOL_VERSION or not 2 <= length <= MAX_FRAME_LEN:
            raise ConnectionError("bad frame from the agent")
        return json.loads(self._exact(length - 1).decode("utf-8"))

    def request(self, message, on_event=None, ask_pin=None):
        """Sends a request; returns its final reply. on_event(msg) sees the
        events; ask_pin(msg) returns the PIN or None to decline."""
        self.send(message)
        while True:
            reply = self.receive()
            kind = reply.get("type")
            if kind == "pin_request":
                if on_event:
                    on_event(reply)
                self.send({"type": "pin", "pin": ask_pin(reply) if ask_pin else None})
            elif kind in EVENTS:
                if on_event:
                    on_event(reply)
            elif kind == "error":
                raise AgentError(reply)
            else:
                return reply

    def get(self, service, user, **kw):
        return self.request({"type": "get", "service": service, "user": user}, **kw)["password"]

    def set(self, service, user, password, **kw):
        self.request({"type": "set", "service": service, "user": user, "password": password}, **kw)

    def delete(self, service, user, **kw):
        return self.request({"type": "delete", "service": service, "user": user}, **kw)["existed"]

    def list(self, on_event=None, **kw):
        names = []

        def gather(event):
            if event.get("type") == "names_part":
                names.extend(event["names"])
            elif on_event:
                on_event(event)

        names.extend(self.request({"type": "list"}, on_event=gather, **kw)["names"])
        return [(n["service"], n["user"]) for n in names]

    def lock(self):
        self.request({"type": "lock"})

    def status(self):
        return self.request({"type": "status"})


def _show(event):
    if event["type"] == "touch":
        print("Touch your authenticator to %s" % event["purpose"], file=sys.stderr)
    elif event["type"] == "info":
        print(event["message"], file=sys.stderr)


def main(argv):
    if len(argv) < 3 or argv[0] not in ("--socket", "--vault"):
        print(__doc__, file=sys.stderr)
        return 2
    path = argv[1] if argv[0] == "--socket" else socket_path(argv[1])
    command, args = argv[2], argv[3:]
    try:
        conn = Connection(path)
    except NoAgent as e:
        print("no agent: %s" % e, file=sys.stderr)
        return 4
    except AgentError as e:
        print(json.dumps(e.reply))
        return 3
    except OSError as e:
        print(json.dumps({"kind": "os_error", "message": str(e)}))
        return 3
    try:
        if command == "status":
            print(json.dumps(conn.status()))
        elif command == "list":
            for service, user in conn.list(on_event=_show):
                print("%s\t%s" % (service, user))
        elif command == "lock":
            conn.lock()
        elif command == "get" and len(args) == 2:
            password = conn.get(args[0], args[1], on_event=_show)
            if password is None:
                return 1
            print(password)
        elif command == "set" and len(args) == 2:
            conn.set(args[0], args[1], sys.stdin.readline().rstrip("\r\n"), on_event=_show)
        elif command == "delete" and len(args) == 2:
            return 0 if conn.delete(args[0], args[1], on_event=_show) else 1
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except AgentError as e:
        print(json.dumps(e.reply))
        return 3
    except (ConnectionError, OSError) as e:
        print(json.dumps({"kind": "connection", "message": str(e)}))
        return 3
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
