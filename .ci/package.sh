#!/usr/bin/env bash
# Packages every crate of the workspace as the registry would receive it (`cargo package
# --workspace`: each package built from its own tarball, against the others packaged alongside),
# and checks that each package holds only what it should: its manifest, README, licences and
# sources. Tests, benches, examples, CI files and interop peers stay out.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

# Allowed in a package: what cargo adds, the README, the licences, and the sources.
allowed='^(Cargo\.toml|Cargo\.toml\.orig|Cargo\.lock|\.cargo_vcs_info\.json|README\.md|LICENSE-APACHE|LICENSE-MIT|src/.+\.rs)$'

# `cargo package --workspace` builds each package against the others through a temporary local
# registry, and the version does not change between commits. Cargo takes a registry crate of the
# same name and version as unchanged: the sources it unpacked into $CARGO_HOME/registry/src and
# what it compiled from them into the target directory. So the check builds in a target directory
# of its own, new each run, and first removes our crates unpacked by earlier runs.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
for stale in "$cargo_home"/registry/src/-*/msgframe*; do
    [ -e "$stale" ] && rm -rf "$stale"
done
CARGO_TARGET_DIR=$(mktemp -d "${TMPDIR:-/tmp}/msgframe-package.XXXXXX")
export CARGO_TARGET_DIR
trap 'rm -rf "$CARGO_TARGET_DIR"' EXIT

cargo package --workspace --allow-dirty 2>&1 | grep -v '^warning: ignoring \(test\|bench\|example\)' || {
    echo "package: cargo package --workspace failed" >&2
    exit 1
}

status=0
for manifest in Cargo.toml crates/*/Cargo.toml; do
    name=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -1)
    files=$(cargo package --list --allow-dirty -p "$name" 2>/dev/null)
    for required in Cargo.toml README.md LICENSE-APACHE LICENSE-MIT src/; do
        if ! grep -q "^${required}" <<<"$files"; then
            echo "package $name: $required is missing" >&2
            status=1
        fi
    done
    extra=$(grep -Ev "$allowed" <<<"$files" || true)
    if [ -n "$extra" ]; then
        echo "package $name holds files it should not:" >&2
        sed 's/^/  /' <<<"$extra" >&2
        status=1
    fi
    printf '%-18s %3d files\n' "$name" "$(wc -l <<<"$files")"
done
exit $status
