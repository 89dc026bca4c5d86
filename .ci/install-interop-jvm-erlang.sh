#!/usr/bin/env bash
# Installs the third-party peers of tests/interop_jvm_erlang.rs from Debian's packages:
#   - Netty (libnetty-java; jars in /usr/share/java) and a JDK to compile the Netty peer with javac
#   - Erlang/OTP (erlang-base: erl and escript)
#   - tcpdump, which records the peers' traffic on loopback for tests/interop_sniff.rs
# Idempotent and non-interactive: packages already installed are left alone (no apt-get at all when
# everything is there). Prints the installed versions, one line each.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo --preserve-env=DEBIAN_FRONTEND "$@"
    fi
}

installed() {
    dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'
}

packages=(libnetty-java erlang-base tcpdump)
# javac: any JDK will do; install Debian's default one only when there is none.
command -v javac >/dev/null 2>&1 || packages+=(default-jdk-headless)

missing=()
for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Versions, one line each.
netty_jar=$(ls /usr/share/java/netty-codec-[0-9]*.jar 2>/dev/null | head -n 1)
netty_version=${netty_jar##*/netty-codec-}
netty_version=${netty_version%.jar}
echo "netty ${netty_version:-unknown} (libnetty-java $(dpkg-query -W -f='${Version}' libnetty-java))"
otp_release=$(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')
otp_version=$(cat "/usr/lib/erlang/releases/${otp_release}/OTP_VERSION" 2>/dev/null || echo "${otp_release}")
erts=$(erl -noshell -eval 'io:format("~s", [erlang:system_info(version)]), halt().')
echo "erlang OTP ${otp_version} erts ${erts} (erlang-base $(dpkg-query -W -f='${Version}' erlang-base))"
echo "java $(javac -version 2>&1 | awk '{print $2}')"
echo "$(tcpdump --version 2>&1 | head -n 1) (tcpdump $(dpkg-query -W -f='${Version}' tcpdump))"
