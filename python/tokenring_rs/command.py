"""Running the ``tokenring`` command installed with this package (in-process
access to the vault: the binary opens the vault itself, and uses the agent
when one starts meanwhile).

The binary is looked up where the wheel put it, never first on ``PATH``
(where the original Python ``tokenring`` command may be): ``TOKENRING_BINARY``
when set, else the scripts directory of this interpreter's environment (the
virtual environment's ``bin``, pipx's ``venvs/twine/bin``), else the user
scripts directory (``pip install --user``), else the directory of
``sys.executable``, and only then ``PATH``.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading

from .errors import TokenRingError

BINARY_ENV = "TOKENRING_BINARY"
BINARY_NAME = "tokenring.exe" if os.name == "nt" else "tokenring"

# Exit codes of the `tokenring` command (`tokenring --help`).
EXIT_NO_SUCH_ENTRY = 1
_KINDS = {
    2: "usage",
    3: "no_authenticator",
    4: "wrong_authenticator",
    5: "pin",
    6: "touch",
    7: "vault_corrupt",
    8: "vault_locked",
    9: "no_vault",
    10: "agent",
    11: "other",
    130: "cancelled",
}


def _candidates():
    override = os.environ.get(BINARY_ENV)
    if override:
        yield override
        return
    schemes = [None]
    user_scheme = "%s_user" % os.name
    if user_scheme in sysconfig.get_scheme_names():
        schemes.append(user_scheme)
    for scheme in schemes:
        try:
            scripts = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:
            continue
        if scripts:
            yield os.path.join(scripts, BINARY_NAME)
    yield os.path.join(os.path.dirname(sys.executable), BINARY_NAME)
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        yield on_path


def find_binary():
    """The ``tokenring`` binary to run, or ``None``."""
    for candidate in _candidates():
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK) and _is_native(candidate):
            return candidate
    return None


def _is_native(path):
    """Whether ``path`` is a native program, not a script: the original
    Python ``tokenring`` (a script starting with ``#!``) has another command
    line."""
    try:
        with open(path, "rb") as program:
            return program.read(2) != b"#!"
    except OSError:
        return False


def _binary():
    binary = find_binary()
    if binary is None:
        where = os.environ.get(BINARY_ENV) or "this environment's scripts directory"
        raise TokenRingError(
            "TokenRing: the tokenring program was not found in %s; reinstall tokenring-rs "
            "(pip install --force-reinstall tokenring-rs) or set %s" % (where, BINARY_ENV),
            kind="no_binary",
        )
    return binary


def run(args, options, stdin_bytes=None):
    """Runs ``tokenring [--vault V] [--authenticator A] ARGS``, with
    ``stdin_bytes`` on its standard input; returns ``(exit code, stdout)``.
    Its stderr (touch prompts, messages) is relayed to ours line by line as
    it comes, so the user sees each prompt at once; a failure raises
    :class:`TokenRingError` with the command's message. Never put a service
    or user name in ``args``: the command line can be read by other users
    (``ps``, ``/proc/*/cmdline``); see :func:`_names`."""
    command = [_binary()]
    if options.get("vault"):
        command += ["--vault", options["vault"]]
    if options.get("authenticator"):
        command += ["--authenticator", options["authenticator"]]
    command += list(args)
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if stdin_bytes is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as e:
        raise TokenRingError("TokenRing: cannot run %s: %s" % (command[0], e), kind="no_binary") from None
    stdout_chunks = []
    reader = threading.Thread(target=lambda: stdout_chunks.append(process.stdout.read()), daemon=True)
    reader.start()
    errors = []
    try:
        if stdin_bytes is not None:
            try:
                process.stdin.write(stdin_bytes)
                process.stdin.close()
            except BrokenPipeError:
                pass
        for raw in iter(process.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith("tokenring: error: ") or line.startswith("tokenring: cancelled"):
                errors.append(line[len("tokenring: ") :])
            else:
                print(line, file=sys.stderr, flush=True)
        code = process.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the whole process group: the command
        # cancels the authenticator's wait and exits; wait for it.
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    reader.join()
    stdout = stdout_chunks[0] if stdout_chunks else b""
    if code in (0, EXIT_NO_SUCH_ENTRY):
        return code, stdout
    message = errors[-1] if errors else "tokenring %s exited with status %d" % (args[0], code)
    if message.startswith("error: "):
        message = message[len("error: ") :]
    kind = _KINDS.get(code, "other")
    if kind == "no_vault" and args[0] != "init":
        message += " (create it with `tokenring init`)"
    raise TokenRingError("TokenRing: %s" % message, kind=kind)


def _names(service, user):
    """The names as ``tokenring --names-from-stdin`` reads them: each
    ended by a NUL byte, on standard input, so that no name is an option
    (``--help``) and none shows on the command line."""
    for name in (service, user):
        if "\0" in name:
            raise TokenRingError(
                "TokenRing: a name with a NUL character can only be used through the agent "
                "(start `tokenring agent`)",
                kind="other",
            )
    return service.encode("utf-8") + b"\0" + user.encode("utf-8") + b"\0"


def get(service, user, options):
    code, stdout = run(["get", "--names-from-stdin"], options, stdin_bytes=_names(service, user))
    if code == EXIT_NO_SUCH_ENTRY:
        return None
    text = stdout.decode("utf-8")
    return text[:-1] if text.endswith("\n") else text


def set(service, user, password, options):
    # After the names, the password exactly as it is (every line of it).
    stdin = _names(service, user) + password.encode("utf-8")
    run(["set", "--names-from-stdin"], options, stdin_bytes=stdin)


def delete(service, user, options):
    code, _ = run(["delete", "--names-from-stdin"], options, stdin_bytes=_names(service, user))
    return code == 0


def list_names(options):
    _, stdout = run(["list", "--json"], options)
    try:
        names = json.loads(stdout.decode("utf-8"))
    except ValueError:
        raise TokenRingError("TokenRing: tokenring list printed something unexpected", kind="other") from None
    return [(n.get("service"), n.get("user")) for n in names if isinstance(n, dict)]
