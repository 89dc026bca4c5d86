#!/usr/bin/env bash
# Installs the third-party peers of tests/interop_python.rs from PyPI into python3, at the versions
# the tests were checked with:
#   - twisted    Twisted's framing receivers (twisted.protocols.basic)
#   - pyiso8583  an ISO 8583 encoder/decoder (iso8583.specs.default_ascii)
#   - smpplib    an SMPP 3.4 client
#   - py8583     an ISO 8583 encoder with a packed-BCD layout (IsoSpec1987BCD), a second check of
#                the bitmap walk of `msgframe replay`
# Idempotent and non-interactive: when these versions are installed, pip is not run at all.
# Prints the installed versions, one line each.
set -euo pipefail

pins=(twisted==26.10.0 pyiso8583==4.0.1 smpplib==2.2.4 py8583==1.3)

# Exits 0 when every pin is installed at its version.
pinned() {
    python3 - "$@" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    try:
        if version(name) != wanted:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

if ! pinned "${pins[@]}"; then
    python3 -m pip install --quiet --no-input --disable-pip-version-check \
        --root-user-action=ignore "${pins[@]}"
fi

python3 - <<'PY'
from importlib.metadata import version

for name in ("twisted", "pyiso8583", "smpplib", "py8583"):
    print(name, version(name))
PY
