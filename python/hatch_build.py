"""Hatchling hooks for the tokenring-rs wheel.

- Metadata: the version is the Rust workspace's (``[workspace.package]``
  in ``../Cargo.toml``), so the wheel and its binary never disagree.
- Build: copies the ``tokenring`` binary, built by cargo beforehand, into the
  wheel's scripts (``<name>.data/scripts/tokenring``: installers put it next
  to the interpreter, in the environment's ``bin``) and tags the wheel
  ``py3-none-<platform>``: one wheel per platform, for every Python 3, since
  the binary has no Python ABI. The binary is ``$TOKENRING_WHEEL_BINARY``, or
  ``../target/release/tokenring``. ``$TOKENRING_WHEEL_PLATFORM`` names the
  platform tag instead of this interpreter's (``scripts/wheel`` sets the
  manylinux policy ``auditwheel`` found the binary to meet).
"""

import os
import re
import sysconfig

from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.metadata.plugin.interface import MetadataHookInterface

BINARY_ENV = "TOKENRING_WHEEL_BINARY"
PLATFORM_ENV = "TOKENRING_WHEEL_PLATFORM"


def _workspace_version(root):
    cargo_toml = os.path.join(root, os.pardir, "Cargo.toml")
    with open(cargo_toml, encoding="utf-8") as f:
        text = f.read()
    section = re.search(r"^\[workspace\.package\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    match = section and re.search(r'^version\s*=\s*"([^"]+)"', section.group(1), re.M)
    if not match:
        raise RuntimeError("no [workspace.package] version in %s" % cargo_toml)
    return match.group(1)


class VersionFromCargo(MetadataHookInterface):
    PLUGIN_NAME = "custom"

    def update(self, metadata):
        metadata["version"] = _workspace_version(self.root)


class BundleBinary(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        if self.target_name != "wheel":
            return
        binary = os.environ.get(BINARY_ENV) or os.path.join(self.root, os.pardir, "target", "release", "tokenring")
        binary = os.path.abspath(binary)
        if not os.path.isfile(binary):
            raise RuntimeError(
                "the tokenring binary %s does not exist: build it first (scripts/wheel does: "
                "cargo build --release --bin tokenring) or name it in %s" % (binary, BINARY_ENV)
            )
        platform = os.environ.get(PLATFORM_ENV) or sysconfig.get_platform()
        platform = re.sub(r"[^A-Za-z0-9.]", "_", platform).replace(".", "_")
        build_data["pure_python"] = False
        build_data["tag"] = "py3-none-%s" % platform
        build_data["shared_scripts"][binary] = "tokenring"
