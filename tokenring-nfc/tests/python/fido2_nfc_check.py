"""The independent check of the NFC card side: python-fido2's own PC/SC
client (fido2.pcsc.CtapPcscDevice over pyscard, not TokenRing's code) talks
to the simulator through pcscd and vpcd, and derives an hmac-secret output
for a credential TokenRing enrolled.

Usage: fido2_nfc_check.py READER RP_ID CREDENTIAL_ID_HEX SALT_HEX
Prints one JSON object: applet version check, getInfo versions, the
keepalive statuses seen, and the hmac-secret output (hex).
"""

import hashlib
import json
import sys
import types

# pyscard 2.2+ dropped smartcard.pcsc.PCSCContext, which python-fido2 1.2
# imports only to retry listing readers after a PC/SC restart. Give it a
# stand-in so the module loads; reader listing below does not need it.
try:
    import smartcard.pcsc.PCSCContext  # noqa: F401
except ImportError:
    stand_in = types.ModuleType("smartcard.pcsc.PCSCContext")

    class PCSCContext:  # noqa: D101
        instance = None

    stand_in.PCSCContext = PCSCContext
    sys.modules["smartcard.pcsc.PCSCContext"] = stand_in

from smartcard.System import readers  # noqa: E402

from fido2.ctap2 import Ctap2  # noqa: E402
from fido2.ctap2.pin import ClientPin, PinProtocolV2  # noqa: E402
from fido2.pcsc import CtapPcscDevice  # noqa: E402


def main():
    reader_name, rp_id, credential_hex, salt_hex = sys.argv[1:5]
    credential_id = bytes.fromhex(credential_hex)
    salt = bytes.fromhex(salt_hex)

    reader = next(r for r in readers() if str(r) == reader_name)
    device = CtapPcscDevice(reader.createConnection(), reader_name)
    ctap = Ctap2(device)
    info = ctap.get_info()
    if "hmac-secret" not in (info.extensions or []):
        raise SystemExit("getInfo announces no hmac-secret")

    # hmac-secret (CTAP 2.1 §12.5) with PIN/UV auth protocol 2, built from
    # python-fido2's own key agreement and cipher.
    protocol = PinProtocolV2()
    key_agreement, shared_secret = ClientPin(ctap, protocol)._get_shared_secret()
    salt_enc = protocol.encrypt(shared_secret, salt)
    salt_auth = protocol.authenticate(shared_secret, salt_enc)
    statuses = []
    assertion = ctap.get_assertion(
        rp_id,
        hashlib.sha256(b"python-fido2 over NFC").digest(),
        [{"type": "public-key", "id": credential_id}],
        extensions={
            "hmac-secret": {1: key_agreement, 2: salt_enc, 3: salt_auth, 4: 2}
        },
        on_keepalive=statuses.append,
    )
    encrypted = assertion.auth_data.extensions["hmac-secret"]
    output = protocol.decrypt(shared_secret, encrypted)
    device.close()
    print(
        json.dumps(
            {
                "versions": list(info.versions),
                "keepalives": [int(s) for s in statuses],
                "output": output.hex(),
            }
        )
    )


if __name__ == "__main__":
    main()
