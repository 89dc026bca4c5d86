#!/usr/bin/env bash
# Installs the third-party TLS peer of crates/msgframe-conn/tests/interop_openssl.rs: OpenSSL's
# command line (`openssl s_server` / `s_client`) from Debian's `openssl` package. Idempotent and
# non-interactive; prints the version.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v openssl >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -q
        apt-get install -y -q --no-install-recommends openssl
    else
        sudo --preserve-env=DEBIAN_FRONTEND apt-get update -q
        sudo --preserve-env=DEBIAN_FRONTEND apt-get install -y -q --no-install-recommends openssl
    fi
fi
openssl version
