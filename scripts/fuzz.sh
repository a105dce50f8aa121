#!/usr/bin/env bash
# Fuzzes the parsers that read what a profiled process controls, with
# cargo-fuzz (libFuzzer), each target for SECONDS (default 600):
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      # targets: fuzz/Cargo.toml
#
# Installs cargo-fuzz (pinned) into .tools/ and uses the nightly the kernel
# side is built with (tachyon-ebpf/rust-toolchain.toml). The corpus grows in
# .cache/fuzz/<target>/, seeded from fuzz/seeds/<target>/ (and, for `elf`,
# small ELF files built here). A crash leaves its input in
# fuzz/artifacts/<target>/ and fails the script: turn it into a regression
# test. Prints, per target, the runs executed, the coverage and the result.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-600}"
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(linetable recording elf proc_text code_object debug_offsets)
fi
nightly="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$root/tachyon-ebpf/rust-toolchain.toml")"
tools="$root/.tools/cargo-fuzz-$CARGO_FUZZ_VERSION"

if [[ ! -x "$tools/bin/cargo-fuzz" ]]; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools" >&2
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$tools" >&2
fi
rustup toolchain list | grep -q "^$nightly" || rustup toolchain install "$nightly" --profile minimal >&2
export PATH="$tools/bin:$PATH"

seed_elf() {
    # Small interpreter-shaped ELF files: the symbols and sections the
    # inspection looks for, in a shared object and an executable.
    local dir="$1" src
    src="$(mktemp -d)"
    cat > "$src/rt.c" <<'C'
struct runtime { long a[64]; } _PyRuntime __attribute__((section(".PyRuntime")));
long PyCode_Type[32];
long _Py_NoneStruct[2];
const unsigned int Py_Version = 0x030c01f0;
int _PyEval_EvalFrameDefault(void) { return (int)PyCode_Type[0]; }
C
    cc -shared -fPIC -Os -o "$dir/libpython3.12.so.1.0" "$src/rt.c"
    cc -shared -fPIC -Os -s -o "$dir/stripped.so" "$src/rt.c"
    rm -rf "$src"
}

failed=()
for t in "${targets[@]}"; do
    corpus="$root/.cache/fuzz/$t"
    mkdir -p "$corpus"
    cp -n "$root/fuzz/seeds/$t/"* "$corpus/" 2>/dev/null || true
    [[ "$t" == elf ]] && seed_elf "$corpus"
    log="$root/.cache/fuzz/$t.log"
    echo "fuzz: $t for ${seconds}s (corpus $corpus, log $log)" >&2
    status=0
    (cd "$root/fuzz" && cargo "+$nightly" fuzz run "$t" "$corpus" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1) \
        > "$log" 2>&1 || status=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)"
    if [[ $status -eq 0 ]]; then
        echo "fuzz: $t: ok, ${runs:-?} runs in ${seconds}s, ${cov:-cov: ?}"
    else
        echo "fuzz: $t: FAILED (exit $status), see $log and fuzz/artifacts/$t/"
        grep -E "panicked|ERROR|SUMMARY" "$log" | head -5 || true
        failed+=("$t")
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: crashes in: ${failed[*]}" >&2
    exit 1
fi
