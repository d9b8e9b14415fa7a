"""An independent CTAP2 client against the simulator's CTAPHID front end.

python-fido2's CtapHidDevice speaks CTAPHID over a connection whose packets
travel as hex lines: written to stdout, read from stdin (the Rust test
relays them to a tokenring_sim::hid::SimHidDevice). On top of it runs the
original tokenring's own enrollment and derivation code (CredentialHandle),
then a cancelled makeCredential. Results go to the file named by argv[1]:
"credential_id=HEX", "salt=HEX", "output=HEX", "prompt_up=N".
"""

import os
import sys
import threading

from fido2.client import ClientError, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2.extensions import HmacSecretExtension
from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor
from fido2.webauthn import PublicKeyCredentialCreationOptions
from tokenring.handles import CredentialHandle


class PipeConnection(CtapHidConnection):
    def read_packet(self) -> bytes:
        line = sys.stdin.buffer.readline()
        if not line:
            raise OSError("the device closed the pipe")
        return bytes.fromhex(line.decode().strip())

    def write_packet(self, data: bytes) -> None:
        # python-fido2 writes the 64-byte packet without a report id.
        sys.stdout.write(data.hex() + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        pass


class CountingInteraction(UserInteraction):
    def __init__(self):
        self.prompt_up_calls = 0

    def prompt_up(self) -> None:
        self.prompt_up_calls += 1


def main() -> None:
    results_path = sys.argv[1]
    descriptor = HidDescriptor("sim-hid", 0, 0, 64, 64, "tokenring-sim", None)
    device = CtapHidDevice(descriptor, PipeConnection())
    assert device.ping(b"tokenring") == b"tokenring"
    assert device.ping(os.urandom(1000)) is not None
    device.wink()

    interaction = CountingInteraction()
    client = Fido2Client(
        device,
        "https://hardware.keychain.glyph.im",
        user_interaction=interaction,
        extensions=[HmacSecretExtension(allow_hmac_secret=True)],
    )
    assert "hmac-secret" in client.info.extensions

    handle = CredentialHandle.new_credential(client)
    salt = bytes(range(32))
    first = handle.key_from_salt(salt)
    second = handle.key_from_salt(salt)
    assert first == second, "hmac-secret must be deterministic"
    assert len(first) == 32

    # A makeCredential nobody touches, cancelled from the client side:
    # python-fido2 sends CTAPHID_CANCEL, the device must end the request
    # with CTAP2_ERR_KEEPALIVE_CANCEL.
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    options = PublicKeyCredentialCreationOptions(
        rp=CredentialHandle.rp,
        user=CredentialHandle.user,
        challenge=os.urandom(32),
        pub_key_cred_params=CredentialHandle.params,
    )
    try:
        client.make_credential(options, event=cancel)
        raise AssertionError("the cancelled makeCredential succeeded")
    except ClientError as e:
        cause = e.cause
        assert isinstance(cause, CtapError), repr(cause)
        assert cause.code == CtapError.ERR.KEEPALIVE_CANCEL, repr(cause)

    with open(results_path, "w") as out:
        out.write(f"credential_id={handle.credential_id.hex()}\n")
        out.write(f"salt={salt.hex()}\n")
        out.write(f"output={first.hex()}\n")
        out.write(f"prompt_up={interaction.prompt_up_calls}\n")


if __name__ == "__main__":
    main()
