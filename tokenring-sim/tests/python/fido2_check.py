"""Independent check of tokenring-sim with python-fido2 (a widely used CTAP2 client).

python-fido2 (1.2.x) drives the simulator through `tokenring-sim serve-stdio`:
its own Ctap2, ClientPin (PIN/UV auth protocols 1 and 2), CBOR, COSE and
signature verification talk to our authenticator, so a misreading of the
CTAP 2.1 specification shared by our client and our simulator cannot hide
here.

Usage: python fido2_check.py SIM_BINARY WORKDIR
Exit status 0 when every check passes; each check prints one line.
"""

import hashlib
import hmac
import os
import struct
import subprocess
import sys

from fido2.cose import ES256, CoseKey
from fido2.client import Fido2Client, UserInteraction
from fido2.ctap import CtapDevice, CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.config import Config
from fido2.ctap2.extensions import CredProtectExtension, HmacSecretExtension
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2
from fido2.hid import CAPABILITY, CTAPHID
from fido2.utils import websafe_decode

RP_ID = "hardware.keychain.glyph.im"
USER = {"id": b"hardware_keyring_user", "name": "hardware_keyring_user"}
KEY_PARAMS = [{"type": "public-key", "alg": -7}]


class PipeDevice(CtapDevice):
    """A CtapDevice over `tokenring-sim serve-stdio` (frames, no HID)."""

    def __init__(self, binary, statefile, presence="approve"):
        self._proc = subprocess.Popen(
            [binary, "serve-stdio", statefile, "--presence", presence],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.requests = 0

    @property
    def capabilities(self):
        return CAPABILITY.CBOR | CAPABILITY.NMSG

    def call(self, cmd, data=b"", event=None, on_keepalive=None):
        if cmd != CTAPHID.CBOR:
            raise CtapError(CtapError.ERR.INVALID_COMMAND)
        command, payload = data[0], data[1:]
        self._proc.stdin.write(bytes([command]) + struct.pack(">I", len(payload)) + payload)
        self._proc.stdin.flush()
        header = self._proc.stdout.read(4)
        if len(header) != 4:
            raise IOError("simulator closed the pipe")
        (length,) = struct.unpack(">I", header)
        response = self._proc.stdout.read(length)
        if len(response) != length:
            raise IOError("truncated response")
        if length == 0:
            raise CtapError(CtapError.ERR.TIMEOUT)
        self.requests += 1
        return response

    def close(self):
        self._proc.stdin.close()
        self._proc.wait(timeout=10)

    @classmethod
    def list_devices(cls):
        return iter(())


CHECKS = 0


def check(condition, what):
    global CHECKS
    if not condition:
        print(f"FAIL: {what}")
        sys.exit(1)
    CHECKS += 1
    print(f"ok: {what}")


def expect_error(code, fn, what):
    try:
        fn()
    except CtapError as e:
        check(e.code == code, f"{what} -> {code.name} (got {e.code!r})")
        return
    check(False, f"{what} -> {code.name} (no error)")


def run(binary, *args):
    subprocess.run([binary, *args], check=True, stdout=subprocess.DEVNULL)


def hmac_secret(ctap, protocol, cred_id, salts, pin_token=None, up=True):
    """getAssertion with hmac-secret built from python-fido2's own PIN protocol.

    Returns (assertion, [outputs]).
    """
    client_pin = ClientPin(ctap, protocol)
    key_agreement, shared_secret = client_pin._get_shared_secret()
    salt_enc = protocol.encrypt(shared_secret, b"".join(salts))
    salt_auth = protocol.authenticate(shared_secret, salt_enc)
    ext = {
        "hmac-secret": {
            1: key_agreement,
            2: salt_enc,
            3: salt_auth,
            4: protocol.VERSION,
        }
    }
    cdh = os.urandom(32)
    kwargs = {}
    if pin_token is not None:
        kwargs["pin_uv_param"] = protocol.authenticate(pin_token, cdh)
        kwargs["pin_uv_protocol"] = protocol.VERSION
    assertion = ctap.get_assertion(
        RP_ID,
        cdh,
        [{"type": "public-key", "id": cred_id}],
        ext,
        None if up else {"up": False},
        **kwargs,
    )
    out = protocol.decrypt(shared_secret, assertion.auth_data.extensions["hmac-secret"])
    return assertion, cdh, [out[i : i + 32] for i in range(0, len(out), 32)]


def raw_change_pin(ctap, protocol, old_pin, padded_new_pin):
    """changePIN with a hand-padded new PIN (python-fido2 checks the policy itself)."""
    client_pin = ClientPin(ctap, protocol)
    key_agreement, shared_secret = client_pin._get_shared_secret()
    pin_hash_enc = protocol.encrypt(shared_secret, hashlib.sha256(old_pin.encode()).digest()[:16])
    new_pin_enc = protocol.encrypt(shared_secret, padded_new_pin)
    ctap.client_pin(
        protocol.VERSION,
        ClientPin.CMD.CHANGE_PIN,
        key_agreement=key_agreement,
        new_pin_enc=new_pin_enc,
        pin_hash_enc=pin_hash_enc,
        pin_uv_param=protocol.authenticate(shared_secret, new_pin_enc + pin_hash_enc),
    )


def make_credential(ctap, protocol, pin):
    client_pin = ClientPin(ctap, protocol)
    token = client_pin.get_pin_token(pin, ClientPin.PERMISSION.MAKE_CREDENTIAL, RP_ID)
    cdh = os.urandom(32)
    att = ctap.make_credential(
        cdh,
        {"id": RP_ID, "name": "TokenRing"},
        USER,
        KEY_PARAMS,
        extensions={"hmac-secret": True},
        pin_uv_param=protocol.authenticate(token, cdh),
        pin_uv_protocol=protocol.VERSION,
    )
    return att, cdh


def scenario_pin_and_hmac(binary, workdir):
    state = os.path.join(workdir, "pin.json")
    run(binary, "init", state, "--seed", "11", "--attestation", "packed")
    dev = PipeDevice(binary, state)
    ctap = Ctap2(dev)
    info = ctap.info
    check("FIDO_2_0" in info.versions and "FIDO_2_1" in info.versions, "getInfo versions")
    check(
        info.extensions == ["credProtect", "hmac-secret", "hmac-secret-mc"],
        "getInfo extensions [credProtect, hmac-secret, hmac-secret-mc]",
    )
    check(info.options.get("clientPin") is False, "getInfo clientPin false before setPIN")
    check(info.pin_uv_protocols == [2, 1], "getInfo pinUvAuthProtocols [2, 1]")
    check(info.min_pin_length == 4, "getInfo minPINLength 4")
    check(info.options.get("pinUvAuthToken") is True, "getInfo pinUvAuthToken")

    v2 = PinProtocolV2()
    v1 = PinProtocolV1()
    ClientPin(ctap, v2).set_pin("1234")
    ctap.get_info()
    check(Ctap2(dev).info.options.get("clientPin") is True, "setPIN (protocol 2) sets clientPin")
    # CTAP 2.1 §6.5.5.5 step 3: setPIN when a PIN is set.
    expect_error(
        CtapError.ERR.PIN_AUTH_INVALID,
        lambda: ClientPin(ctap, v1).set_pin("5678"),
        "setPIN with a PIN already set",
    )
    ClientPin(ctap, v1).change_pin("1234", "4321")
    check(ClientPin(ctap, v2).get_pin_retries()[0] == 8, "changePIN (protocol 1), retries 8")
    expect_error(
        CtapError.ERR.PIN_INVALID,
        lambda: ClientPin(ctap, v2).get_pin_token("1234"),
        "old PIN after changePIN",
    )
    check(ClientPin(ctap, v2).get_pin_retries()[0] == 7, "wrong PIN decrements retries to 7")
    expect_error(
        CtapError.ERR.PIN_INVALID,
        lambda: ClientPin(ctap, v1).get_pin_token("0000"),
        "second wrong PIN (protocol 1)",
    )
    check(ClientPin(ctap, v2).get_pin_retries()[0] == 6, "retries 6")
    ClientPin(ctap, v2).get_pin_token("4321", ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    check(ClientPin(ctap, v2).get_pin_retries()[0] == 8, "correct PIN resets retries to 8")
    expect_error(
        CtapError.ERR.PIN_POLICY_VIOLATION,
        lambda: raw_change_pin(ctap, v2, "4321", b"123".ljust(64, b"\0")),
        "changePIN to a 3-digit PIN (padded by hand: python-fido2 refuses to send it)",
    )

    # makeCredential with a PIN token (permission mc, RP ID bound).
    att, cdh = make_credential(ctap, v2, "4321")
    ad = att.auth_data
    check(att.fmt == "packed", "packed self attestation")
    check(ad.is_user_present() and ad.is_user_verified(), "makeCredential flags UP and UV")
    check(ad.is_attested() and ad.has_extension_data(), "makeCredential flags AT and ED")
    check(ad.extensions == {"hmac-secret": True}, "authData extensions hmac-secret: true")
    check(ad.rp_id_hash == hashlib.sha256(RP_ID.encode()).digest(), "rpIdHash")
    pub = ad.credential_data.public_key
    check(isinstance(pub, ES256), "ES256 credential key")
    pub.verify(ad + cdh, att.att_stmt["sig"])
    check(True, "packed self-attestation signature verifies with the credential key")
    cred_id = ad.credential_data.credential_id

    # A token without the mc permission, and a token bound to another RP.
    token = ClientPin(ctap, v2).get_pin_token("4321", ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    cdh = os.urandom(32)
    expect_error(
        CtapError.ERR.PIN_AUTH_INVALID,
        lambda: ctap.make_credential(
            cdh, {"id": RP_ID}, USER, KEY_PARAMS,
            pin_uv_param=v2.authenticate(token, cdh), pin_uv_protocol=2,
        ),
        "makeCredential with a ga-only token",
    )
    token = ClientPin(ctap, v2).get_pin_token(
        "4321", ClientPin.PERMISSION.MAKE_CREDENTIAL, "other.example"
    )
    expect_error(
        CtapError.ERR.PIN_AUTH_INVALID,
        lambda: ctap.make_credential(
            cdh, {"id": RP_ID}, USER, KEY_PARAMS,
            pin_uv_param=v2.authenticate(token, cdh), pin_uv_protocol=2,
        ),
        "makeCredential with a token bound to another RP ID",
    )
    expect_error(
        CtapError.ERR.PUAT_REQUIRED,
        lambda: ctap.make_credential(cdh, {"id": RP_ID}, USER, KEY_PARAMS),
        "makeCredential without PIN when a PIN is set",
    )
    expect_error(
        CtapError.ERR.UNSUPPORTED_ALGORITHM,
        lambda: ctap.make_credential(
            cdh, {"id": RP_ID}, USER, [{"type": "public-key", "alg": -8}],
            pin_uv_param=b"\0" * 32, pin_uv_protocol=2,
        ),
        "makeCredential with EdDSA only",
    )

    # hmac-secret without UV: one salt, two salts, stable, signature valid.
    salt1, salt2 = os.urandom(32), os.urandom(32)
    a, cdh, (o1,) = hmac_secret(ctap, v2, cred_id, [salt1])
    check(a.auth_data.is_user_present() and not a.auth_data.is_user_verified(), "no-UV assertion: UP, not UV")
    pub.verify(a.auth_data + cdh, a.signature)
    check(True, "assertion signature verifies with the attested public key")
    _, _, (o1b, o2) = hmac_secret(ctap, v2, cred_id, [salt1, salt2])
    check(o1 == o1b, "no-UV output stable, first of two salts equals the one-salt output")
    check(o1 != o2, "two salts give two outputs")
    _, _, (o1c,) = hmac_secret(ctap, v1, cred_id, [salt1])
    check(o1c == o1, "protocol 1 hmac-secret gives the same output as protocol 2")

    # hmac-secret with UV (PIN token, ga permission).
    token = ClientPin(ctap, v2).get_pin_token("4321", ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    a, cdh, (u1,) = hmac_secret(ctap, v2, cred_id, [salt1], pin_token=token)
    check(a.auth_data.is_user_verified(), "UV assertion has the UV flag")
    pub.verify(a.auth_data + cdh, a.signature)
    check(u1 != o1, "UV output differs from no-UV output (separate CredRandom)")
    # The token's permissions are spent after an assertion with UP.
    expect_error(
        CtapError.ERR.PIN_AUTH_INVALID,
        lambda: hmac_secret(ctap, v2, cred_id, [salt1], pin_token=token),
        "pinUvAuthToken reused after its ga permission was spent",
    )
    token = ClientPin(ctap, v1).get_pin_token("4321", ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    _, _, (u1b, u2) = hmac_secret(ctap, v1, cred_id, [salt1, salt2], pin_token=token)
    check(u1b == u1, "UV output stable (protocol 1 token)")
    check(u2 != o2, "UV second output differs from no-UV second output")

    # §12.5: salts that are not 32 or 64 bytes are an invalid parameter.
    expect_error(
        CtapError.ERR.INVALID_PARAMETER,
        lambda: hmac_secret(ctap, v2, cred_id, [salt1[:16]]),
        "hmac-secret with a 16-byte salt",
    )
    # A ga token without an rpId (§6.5.5.7.2 asks for none): bound to the
    # RP ID of its first use.
    token = ClientPin(ctap, v2).get_pin_token("4321", ClientPin.PERMISSION.GET_ASSERTION)
    a, _, (u1d,) = hmac_secret(ctap, v2, cred_id, [salt1], pin_token=token)
    check(u1d == u1 and a.auth_data.is_user_verified(), "ga token without rpId works for its first RP")

    # up=false probe: a wrong credential answers NO_CREDENTIALS.
    expect_error(
        CtapError.ERR.NO_CREDENTIALS,
        lambda: ctap.get_assertion(
            RP_ID, os.urandom(32), [{"type": "public-key", "id": b"\x01" * 64}], options={"up": False}
        ),
        "getAssertion up=false with a foreign credential",
    )
    a = ctap.get_assertion(
        RP_ID, os.urandom(32), [{"type": "public-key", "id": cred_id}], options={"up": False}
    )
    check(not a.auth_data.is_user_present(), "getAssertion up=false: UP flag clear")
    expect_error(
        CtapError.ERR.NO_CREDENTIALS,
        lambda: ctap.get_assertion(
            "other.example", os.urandom(32), [{"type": "public-key", "id": cred_id}]
        ),
        "credential presented for another RP ID",
    )

    # Three wrong PINs in a row: PIN_AUTH_BLOCKED until power cycle.
    for i in range(2):
        expect_error(
            CtapError.ERR.PIN_INVALID,
            lambda: ClientPin(ctap, v2).get_pin_token("9999"),
            f"wrong PIN #{i + 1}",
        )
    expect_error(
        CtapError.ERR.PIN_AUTH_BLOCKED,
        lambda: ClientPin(ctap, v2).get_pin_token("9999"),
        "third consecutive wrong PIN",
    )
    expect_error(
        CtapError.ERR.PIN_AUTH_BLOCKED,
        lambda: ClientPin(ctap, v2).get_pin_token("4321"),
        "even the right PIN before a power cycle",
    )
    check(ClientPin(ctap, v2).get_pin_retries()[0] == 5, "retries 5 after three wrong PINs")
    dev.close()

    # A new process over the same state = a power cycle; the state persisted.
    dev = PipeDevice(binary, state)
    ctap = Ctap2(dev)
    check(ClientPin(ctap, v2).get_pin_retries()[0] == 5, "retries persist in the state file")
    token = ClientPin(ctap, v2).get_pin_token("4321", ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    _, _, (u1c,) = hmac_secret(ctap, v2, cred_id, [salt1], pin_token=token)
    check(u1c == u1, "UV output stable across processes")
    _, _, (o1d,) = hmac_secret(ctap, v2, cred_id, [salt1])
    check(o1d == o1, "no-UV output stable across processes (stateless credential)")
    dev.close()


def scenario_protocol_one_only(binary, workdir):
    state = os.path.join(workdir, "p1.json")
    run(binary, "init", state, "--seed", "12", "--protocols", "1", "--pin", "24680")
    dev = PipeDevice(binary, state)
    ctap = Ctap2(dev)
    check(ctap.info.pin_uv_protocols == [1], "protocol-1-only token announces [1]")
    client_pin = ClientPin(ctap)
    check(isinstance(client_pin.protocol, PinProtocolV1), "python-fido2 picks protocol 1")
    expect_error(
        CtapError.ERR.INVALID_PARAMETER,
        lambda: ctap.client_pin(2, ClientPin.CMD.GET_KEY_AGREEMENT),
        "protocol 2 key agreement on a protocol-1-only token",
    )
    att, _ = make_credential(ctap, PinProtocolV1(), "24680")
    cred_id = att.auth_data.credential_data.credential_id
    salt = os.urandom(32)
    _, _, (o,) = hmac_secret(ctap, PinProtocolV1(), cred_id, [salt])
    _, _, (o2,) = hmac_secret(ctap, PinProtocolV1(), cred_id, [salt])
    check(o == o2 and len(o) == 32, "protocol 1 hmac-secret output stable")
    dev.close()


def scenario_provisioned(binary, workdir):
    state = os.path.join(workdir, "prov.json")
    run(binary, "init", state, "--seed", "13")
    fixtures = [
        (bytes(range(32)), bytes.fromhex("c0ffee00" * 8)),
        (bytes(range(31, -1, -1)), bytes.fromhex("0badc0de" * 8)),
    ]
    for cred_random, cred_id in fixtures:
        run(binary, "provision", state, "--credential-id", cred_id.hex(),
            "--rp-id", RP_ID, "--cred-random", cred_random.hex())
    dev = PipeDevice(binary, state)
    ctap = Ctap2(dev)
    for cred_random, cred_id in fixtures:
        salt1, salt2 = os.urandom(32), os.urandom(32)
        _, _, (o1, o2) = hmac_secret(ctap, PinProtocolV2(), cred_id, [salt1, salt2])
        check(
            o1 == hmac.new(cred_random, salt1, hashlib.sha256).digest()
            and o2 == hmac.new(cred_random, salt2, hashlib.sha256).digest(),
            f"provisioned credential {cred_id[:4].hex()}…: output == HMAC-SHA-256(CredRandom, salt)",
        )
    dev.close()


def scenario_presence(binary, workdir):
    state = os.path.join(workdir, "presence.json")
    run(binary, "init", state, "--seed", "14")
    dev = PipeDevice(binary, state, presence="deny")
    ctap = Ctap2(dev)
    expect_error(
        CtapError.ERR.OPERATION_DENIED,
        lambda: ctap.make_credential(os.urandom(32), {"id": RP_ID}, USER, KEY_PARAMS),
        "denied touch",
    )
    dev.close()
    dev = PipeDevice(binary, state, presence="timeout")
    ctap = Ctap2(dev)
    expect_error(
        CtapError.ERR.USER_ACTION_TIMEOUT,
        lambda: ctap.selection(),
        "nobody touches during authenticatorSelection",
    )
    dev.close()


def scenario_config(binary, workdir):
    """authenticatorConfig (CTAP 2.1 §6.11) through python-fido2's Config."""
    state = os.path.join(workdir, "config.json")
    run(binary, "init", state, "--seed", "16", "--pin", "1234", "--make-cred-uv-not-rqd")
    dev = PipeDevice(binary, state)
    ctap = Ctap2(dev)
    v2 = PinProtocolV2()
    check(ctap.info.options.get("authnrCfg") is True, "getInfo authnrCfg")
    check(ctap.info.options.get("alwaysUv") is False, "getInfo alwaysUv false: supported, off")
    check(ctap.info.options.get("setMinPINLength") is True, "getInfo setMinPINLength")
    expect_error(
        CtapError.ERR.PUAT_REQUIRED,
        lambda: Config(ctap).toggle_always_uv(),
        "toggleAlwaysUv without a token once a PIN is set",
    )
    token = ClientPin(ctap, v2).get_pin_token("1234", ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    expect_error(
        CtapError.ERR.PIN_AUTH_INVALID,
        lambda: Config(ctap, v2, token).toggle_always_uv(),
        "toggleAlwaysUv with a token without acfg",
    )
    token = ClientPin(ctap, v2).get_pin_token("1234", ClientPin.PERMISSION.AUTHENTICATOR_CFG)
    Config(ctap, v2, token).toggle_always_uv()
    info = ctap.get_info()
    check(info.options.get("alwaysUv") is True, "toggleAlwaysUv turns alwaysUv on")
    check(info.options.get("makeCredUvNotRqd") is False, "makeCredUvNotRqd false while alwaysUv")
    expect_error(
        CtapError.ERR.PUAT_REQUIRED,
        lambda: ctap.make_credential(os.urandom(32), {"id": RP_ID}, USER, KEY_PARAMS),
        "makeCredential without UV under alwaysUv",
    )
    token = ClientPin(ctap, v2).get_pin_token("1234", ClientPin.PERMISSION.AUTHENTICATOR_CFG)
    Config(ctap, v2, token).set_min_pin_length(6)
    info = ctap.get_info()
    check(info.min_pin_length == 6, "setMinPINLength raises minPINLength to 6")
    check(info.force_pin_change is True, "a 4-digit PIN under minimum 6 sets forcePINChange")
    expect_error(
        CtapError.ERR.PIN_POLICY_VIOLATION,
        lambda: ClientPin(ctap, v2).get_pin_token("1234", ClientPin.PERMISSION.GET_ASSERTION, RP_ID),
        "no token while forcePINChange (§6.5.5.7.2 step 11)",
    )
    check(ClientPin(ctap, v2).get_pin_retries()[0] == 8, "the right PIN still restores the retries")
    ClientPin(ctap, v2).change_pin("1234", "123456")
    info = ctap.get_info()
    check(info.force_pin_change is False, "changePIN clears forcePINChange")
    ClientPin(ctap, v2).get_pin_token("123456", ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
    check(True, "the new PIN gives a token")
    dev.close()


def scenario_personalities(binary, workdir):
    """Each personality (a real product's recorded getInfo and behaviour)
    through python-fido2's Fido2Client: PIN for makeCredential, hmac-secret
    without UV, the PIN token python-fido2 chooses."""
    expected = {
        "security-key-ctap20": ([1], 16),
        "yubikey5-fido21-pre": ([1], 16),
        "token2-fido21": ([2, 1], 32),
        "yubikey-bio": ([2, 1], 32),
    }
    for name, (protocols, token_len) in expected.items():
        state = os.path.join(workdir, name + ".json")
        run(binary, "init", state, "--seed", "17", "--pin", "13579", "--personality", name)
        dev = PipeDevice(binary, state)
        ctap = Ctap2(dev)
        info = ctap.info
        check(info.pin_uv_protocols == protocols, f"{name}: pinUvAuthProtocols {protocols}")
        check("U2F_V2" not in info.versions, f"{name}: no U2F_V2 (the simulator speaks no CTAP1)")
        client_pin = ClientPin(ctap)
        token = client_pin.get_pin_token(
            "13579", ClientPin.PERMISSION.GET_ASSERTION, RP_ID
        )
        check(len(token) == token_len, f"{name}: a {token_len}-byte pinUvAuthToken")
        ui = PinInteraction("13579")
        client = Fido2Client(
            dev,
            "https://" + RP_ID,
            user_interaction=ui,
            extensions=[HmacSecretExtension(allow_hmac_secret=True)],
        )
        result = client.make_credential(
            {
                "rp": {"id": RP_ID, "name": "TokenRing"},
                "user": {"id": USER["id"], "name": USER["name"]},
                "challenge": os.urandom(32),
                "pubKeyCredParams": KEY_PARAMS,
                "extensions": {"hmacCreateSecret": True},
            }
        )
        check(result.extension_results.get("hmacCreateSecret") is True, f"{name}: hmacCreateSecret")
        cred = result.attestation_object.auth_data.credential_data
        limit = info.max_cred_id_length or 128
        check(len(cred.credential_id) <= limit, f"{name}: credential id within maxCredentialIdLength {limit}")
        salt = os.urandom(32)
        outputs = []
        for _ in range(2):
            res = client.get_assertion(
                {
                    "rpId": RP_ID,
                    "challenge": os.urandom(32),
                    "allowCredentials": [{"type": "public-key", "id": cred.credential_id}],
                    "userVerification": "discouraged",
                    "extensions": {"hmacGetSecret": {"salt1": salt}},
                }
            )
            output1 = res.get_response(0).extension_results["hmacGetSecret"]["output1"]
            outputs.append(output1 if isinstance(output1, bytes) else websafe_decode(output1))
        check(outputs[0] == outputs[1] and len(outputs[0]) == 32, f"{name}: hmac-secret output stable")
        dev.close()


class PinInteraction(UserInteraction):
    """Answers every PIN request with one PIN (what the original's users type)."""

    def __init__(self, pin):
        self.pin = pin
        self.pin_requests = 0

    def request_pin(self, permissions, rp_id):
        self.pin_requests += 1
        return self.pin


def scenario_fido2_client(binary, workdir):
    """The original's path: Fido2Client, PIN for makeCredential, hmac-secret
    getAssertion without UV (userVerification discouraged)."""
    state = os.path.join(workdir, "client.json")
    run(binary, "init", state, "--seed", "15", "--pin", "13579")
    dev = PipeDevice(binary, state)
    ui = PinInteraction("13579")
    client = Fido2Client(
        dev,
        "https://" + RP_ID,
        user_interaction=ui,
        extensions=[HmacSecretExtension(allow_hmac_secret=True)],
    )
    result = client.make_credential(
        {
            "rp": {"id": RP_ID, "name": "TokenRing"},
            "user": {"id": USER["id"], "name": USER["name"]},
            "challenge": os.urandom(32),
            "pubKeyCredParams": KEY_PARAMS,
            "extensions": {"hmacCreateSecret": True},
        }
    )
    check(result.extension_results.get("hmacCreateSecret") is True, "Fido2Client: hmacCreateSecret true")
    check(ui.pin_requests == 1, "Fido2Client asked for the PIN once for makeCredential")
    cred = result.attestation_object.auth_data.credential_data
    salt = os.urandom(32)
    outputs = []
    for _ in range(2):
        res = client.get_assertion(
            {
                "rpId": RP_ID,
                "challenge": os.urandom(32),
                "allowCredentials": [{"type": "public-key", "id": cred.credential_id}],
                "userVerification": "discouraged",
                "extensions": {"hmacGetSecret": {"salt1": salt}},
            }
        )
        response = res.get_response(0)
        output1 = response.extension_results["hmacGetSecret"]["output1"]
        # The client's JSON-style result carries bytes as base64url text.
        outputs.append(output1 if isinstance(output1, bytes) else websafe_decode(output1))
        assertion = res.get_assertions()[0]
        cred.public_key.verify(
            assertion.auth_data + hashlib.sha256(response.client_data).digest(), assertion.signature
        )
    check(outputs[0] == outputs[1] and len(outputs[0]) == 32, "Fido2Client hmacGetSecret output stable")
    check(ui.pin_requests == 1, "no PIN asked for a derivation with userVerification discouraged")
    ctap = Ctap2(dev)
    _, _, (direct,) = hmac_secret(ctap, PinProtocolV2(), cred.credential_id, [salt])
    check(direct == outputs[0], "Fido2Client output equals the direct no-UV Ctap2 output")
    dev.close()


def scenario_cred_protect(binary, workdir):
    """credProtect (CTAP 2.1 section 12.1), levels 1 to 3, with and without UV."""
    state = os.path.join(workdir, "cred-protect.json")
    run(binary, "init", state, "--seed", "16", "--pin", "24680")
    dev = PipeDevice(binary, state)
    ctap = Ctap2(dev)
    v2 = PinProtocolV2()
    for level in (1, 2, 3):
        client_pin = ClientPin(ctap, v2)
        token = client_pin.get_pin_token("24680", ClientPin.PERMISSION.MAKE_CREDENTIAL, RP_ID)
        cdh = os.urandom(32)
        att = ctap.make_credential(
            cdh,
            {"id": RP_ID, "name": "TokenRing"},
            USER,
            KEY_PARAMS,
            extensions={"hmac-secret": True, "credProtect": level},
            pin_uv_param=v2.authenticate(token, cdh),
            pin_uv_protocol=v2.VERSION,
        )
        ad = att.auth_data
        check(ad.extensions.get("credProtect") == level, f"credProtect {level} reported in authData")
        cred_id = ad.credential_data.credential_id
        probe = lambda: ctap.get_assertion(
            RP_ID, os.urandom(32), [{"type": "public-key", "id": cred_id}], None, {"up": False}
        )
        if level == 3:
            expect_error(
                CtapError.ERR.NO_CREDENTIALS,
                lambda: hmac_secret(ctap, v2, cred_id, [os.urandom(32)]),
                "credProtect 3: hmac-secret without UV",
            )
            expect_error(CtapError.ERR.NO_CREDENTIALS, probe, "credProtect 3: up=false probe without UV")
            ga = ClientPin(ctap, v2).get_pin_token("24680", ClientPin.PERMISSION.GET_ASSERTION, RP_ID)
            assertion, _, outputs = hmac_secret(ctap, v2, cred_id, [os.urandom(32)], pin_token=ga)
            check(
                assertion.auth_data.is_user_verified() and len(outputs) == 1,
                "credProtect 3: hmac-secret with the PIN",
            )
        else:
            _, _, outputs = hmac_secret(ctap, v2, cred_id, [os.urandom(32)])
            check(len(outputs) == 1, f"credProtect {level}: hmac-secret through the allowList without UV")
            probe()
            check(True, f"credProtect {level}: up=false probe finds it")
    expect_error(
        CtapError.ERR.INVALID_PARAMETER,
        lambda: ctap.make_credential(
            os.urandom(32),
            {"id": RP_ID, "name": "TokenRing"},
            USER,
            KEY_PARAMS,
            extensions={"hmac-secret": True, "credProtect": 4},
        ),
        "credProtect 4 is not a level",
    )
    # python-fido2's own client-side extension, with enforcement.
    ui = PinInteraction("24680")
    client = Fido2Client(
        dev,
        "https://" + RP_ID,
        user_interaction=ui,
        extensions=[HmacSecretExtension(allow_hmac_secret=True), CredProtectExtension()],
    )
    result = client.make_credential(
        {
            "rp": {"id": RP_ID, "name": "TokenRing"},
            "user": {"id": USER["id"], "name": USER["name"]},
            "challenge": os.urandom(32),
            "pubKeyCredParams": KEY_PARAMS,
            "extensions": {
                "hmacCreateSecret": True,
                "credentialProtectionPolicy": "userVerificationRequired",
                "enforceCredentialProtectionPolicy": True,
            },
        }
    )
    ad = result.attestation_object.auth_data
    check(ad.extensions.get("credProtect") == 3, "Fido2Client credentialProtectionPolicy required: level 3")
    expect_error(
        CtapError.ERR.NO_CREDENTIALS,
        lambda: hmac_secret(ctap, v2, ad.credential_data.credential_id, [os.urandom(32)]),
        "Fido2Client's level-3 credential: no hmac-secret without UV",
    )
    dev.close()


def main():
    binary, workdir = sys.argv[1], sys.argv[2]
    scenario_pin_and_hmac(binary, workdir)
    scenario_protocol_one_only(binary, workdir)
    scenario_provisioned(binary, workdir)
    scenario_presence(binary, workdir)
    scenario_config(binary, workdir)
    scenario_personalities(binary, workdir)
    scenario_fido2_client(binary, workdir)
    scenario_cred_protect(binary, workdir)
    print(f"all {CHECKS} checks passed")


if __name__ == "__main__":
    main()
