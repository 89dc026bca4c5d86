#!/usr/bin/env bash
# Instructions per frame of each workload of benches/instructions.rs, counted by callgrind.
#
# Instruction counts repeat exactly from run to run, where times on a shared machine do not: use
# this table to compare per-frame costs across runs, criterion's for times.
#
# Builds the `instructions` bench binary once (release), then runs every workload under
# `valgrind --tool=callgrind` twice, with N and 2N frames, and reports (Ir(2N) - Ir(N)) / N.
# Callgrind counts only inside the measured function (`--toggle-collect`), so the input that
# grows with N (the encoded stream a decoder reads) is not counted; the difference cancels what
# the measured part costs once (start-up inside it, the final `None`, lazy symbol binding).
#
#   benches/callgrind.sh                                        # all workloads (about 78)
#   WORKLOADS="decode-owned/be2/100 decode-hand/be2/100" benches/callgrind.sh
#   FRAMES=50000 benches/callgrind.sh                           # N (default 20000)
#
# Ratios: `/hand` is the workload's count over the `hand` contender's of the same operation,
# header and payload (the be2 one for ascii4, bcd2 and hex4 headers); `/tokio-util` likewise over
# tokio-util's. Below 1 means fewer instructions than that contender. `/be2` is the count over the
# same workload with a `be2` header (encode-msgframe-framing/ascii4/100 over
# encode-msgframe-framing/be2/100): what a text or BCD header costs against the binary one, when
# both are in the run.
#
# The table is printed and written to <cargo target dir>/instructions.txt.

set -euo pipefail

die() {
    echo "callgrind.sh: $*" >&2
    exit 1
}

command -v valgrind >/dev/null 2>&1 ||
    die "valgrind not found: install it (e.g. apt-get install valgrind) to count instructions"
valgrind --tool=callgrind --version >/dev/null 2>&1 ||
    die "valgrind cannot run its callgrind tool"
command -v cargo >/dev/null 2>&1 || die "cargo not found"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FRAMES=${FRAMES:-20000}
[[ $FRAMES =~ ^[1-9][0-9]*$ ]] || die "FRAMES must be a positive integer, not '$FRAMES'"
FRAMES2=$((2 * FRAMES))
# The measured function in benches/instructions.rs; nothing else may match.
REGION='*callgrind_measured_region*'

started=$(date +%s)

echo "building benches/instructions.rs (release)..." >&2
build_json=$(cargo bench --bench instructions --no-run --message-format=json-render-diagnostics) ||
    die "cargo build failed"
bin=$(printf '%s\n' "$build_json" |
    grep '"reason":"compiler-artifact"' |
    grep '"name":"instructions"' |
    grep -o '"executable":"[^"]*"' |
    tail -n 1 |
    sed -e 's/^"executable":"//' -e 's/"$//') || true
[[ -n $bin && -x $bin ]] || die "cannot find the instructions binary in cargo's JSON output"

target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    grep -o '"target_directory":"[^"]*"' | sed -e 's/^"target_directory":"//' -e 's/"$//') || true
target_dir=${target_dir:-${CARGO_TARGET_DIR:-target}}

if [[ -n ${WORKLOADS:-} ]]; then
    read -r -a workloads <<<"$WORKLOADS"
else
    mapfile -t workloads < <("$bin")
fi
((${#workloads[@]} > 0)) || die "no workloads"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgframe-callgrind.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The total instruction count of a callgrind out file.
total_ir() {
    local total
    total=$(grep -m 1 -E '^(totals|summary):' "$1" | awk '{ print $2 }')
    [[ $total =~ ^[0-9]+$ ]] || die "no instruction total in $1"
    echo "$total"
}

# Runs workload $1 with $2 frames under callgrind; prints the instruction count.
count() {
    local out="$tmp/run.$2.out" log="$tmp/run.$2.log"
    if ! valgrind -q --tool=callgrind --callgrind-out-file="$out" --toggle-collect="$REGION" \
        "$bin" "$1" "$2" >"$log" 2>&1; then
        cat "$log" >&2
        die "workload $1 failed under valgrind"
    fi
    total_ir "$out"
}

declare -A per_frame
i=0
for w in "${workloads[@]}"; do
    i=$((i + 1))
    printf '[%d/%d] %s\n' "$i" "${#workloads[@]}" "$w" >&2
    # Validate the name (and fail fast) without valgrind.
    "$bin" "$w" 1 >/dev/null || die "unknown or failing workload '$w' (run $bin for the list)"
    n1=$(count "$w" "$FRAMES")
    n2=$(count "$w" "$FRAMES2")
    ((n1 > 0 && n2 > n1)) ||
        die "$w: counts $n1 ($FRAMES frames), $n2 ($FRAMES2 frames): is the measured region named $REGION?"
    per_frame[$w]=$(awk -v a="$n1" -v b="$n2" -v n="$FRAMES" 'BEGIN { printf "%.1f", (b - a) / n }')
done

# The reference of the same operation, header and payload: decode-owned/ascii4/100 -> decode-hand/be2/100.
reference() {
    local w=$1 contender=$2 op rest header payload ref
    op=${w%%-*}
    # Readers compare with the bare stream (`read-raw`, `read-tokio-raw`) in the `/hand` column.
    if [[ $op == read && $contender == hand ]]; then
        contender=raw
        [[ $w == read-tokio-* ]] && contender=tokio-raw
    fi
    rest=${w#*/}
    header=${rest%%/*}
    payload=100
    [[ $rest == */* ]] && payload=${rest#*/}
    for h in "$header" be2; do
        ref="$op-$contender/$h/$payload"
        if [[ -n ${per_frame[$ref]:-} ]]; then
            echo "${per_frame[$ref]}"
            return
        fi
    done
}

# The same workload with a be2 header: encode-msgframe/bcd2/16 -> encode-msgframe/be2/16.
same_be2() {
    local w=$1 name rest header
    name=${w%%/*}
    rest=${w#*/}
    header=${rest%%/*}
    echo "${per_frame[$name/be2${rest#"$header"}]:-}"
}

ratio() {
    [[ -n $2 ]] || {
        echo -
        return
    }
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

rows=$(
    echo "workload Ir/frame /hand /tokio-util /be2"
    for w in "${workloads[@]}"; do
        v=${per_frame[$w]}
        echo "$w $v $(ratio "$v" "$(reference "$w" hand)") $(ratio "$v" "$(reference "$w" tokio-util)") $(ratio "$v" "$(same_be2 "$w")")"
    done
)
# Aligned like the other benches' tables: right-aligned columns, a rule under the header.
table=$(printf '%s\n' "$rows" | awk '
    { for (c = 1; c <= NF; c++) { cell[NR, c] = $c; if (length($c) > w[c]) w[c] = length($c) }
      if (NF > cols) cols = NF; rows = NR }
    END {
        for (r = 1; r <= rows; r++) {
            line = ""
            for (c = 1; c <= cols; c++) {
                fmt = (c == 1) ? "%-" w[c] "s" : "%" w[c] "s"
                line = line (c > 1 ? "  " : "") sprintf(fmt, cell[r, c])
            }
            print line
            if (r == 1) { total = 0; for (c = 1; c <= cols; c++) total += w[c]; total += 2 * (cols - 1)
                rule = ""; for (k = 0; k < total; k++) rule = rule "-"; print rule }
        }
    }')

elapsed=$(($(date +%s) - started))
title="Instructions per frame (callgrind Ir, (Ir(2N) - Ir(N)) / N, N = $FRAMES; measured part only)"
notes="/hand, /tokio-util: this count over that contender's for the same operation, header and payload
(the be2 contender for ascii4, bcd2 and hex4); below 1 means fewer instructions. For read-* workloads
(readers over an in-memory stream) /hand is over read-raw, the stream's own reads (read-tokio-*:
over read-tokio-raw).
/be2: this count over the same workload's with a be2 header (- when that one is not in the run).
$(valgrind --version), $(rustc --version 2>/dev/null || echo rustc ?), $(date +%F); ${elapsed} s"

report=$(printf '%s\n\n%s\n\n%s\n' "$title" "$table" "$notes")
printf '\n%s\n' "$report"
mkdir -p "$target_dir"
if printf '%s\n' "$report" >"$target_dir/instructions.txt"; then
    echo "(also written to $target_dir/instructions.txt)"
else
    echo "cannot write $target_dir/instructions.txt" >&2
fi
