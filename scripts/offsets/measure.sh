#!/usr/bin/env bash
# Regenerate the CPython 3.13+ layout facts for the profiler's offset table.
#
#   scripts/offsets/measure.sh PREFIX [PYTHON]
#       PREFIX  a prefix whose include/python3.X/ has the interpreter's headers,
#               including internal/ (pyenv: $(pyenv root)/versions/3.13.0)
#       PYTHON  the matching interpreter binary for the live check and the ELF
#               facts (default: PREFIX/bin/python3.X)
#   scripts/offsets/measure.sh --sid 3.14|3.15
#       headers from Debian sid's libpython3.X-dev, downloaded into
#       .cache/dev/3.X/ with the private apt config that
#       scripts/provision-pythons.sh sets up; PYTHON is the provisioned
#       .cache/pythons/3.X/usr/bin/python3.X
#
# Steps: compile layout.c and debug_offsets.c against the headers
# (gcc -DPy_BUILD_CORE -I.../python3.X -I.../python3.X/internal), run them,
# print ELF facts of the file that holds _PyRuntime (symbol tables, sections,
# the TLS offsets decoded from _PyThreadState_GetCurrent and
# PyGILState_GetThisThreadState), then run live_check.py in PYTHON to compare
# the numbers with the live process.  Results also go to .cache/offsets/<ver>/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

if [ "${1:-}" = "--sid" ]; then
    v="${2:?usage: $0 --sid 3.14|3.15}"
    PREFIX="$ROOT/.cache/dev/$v/usr"
    PYTHON="$ROOT/.cache/pythons/$v/usr/bin/python$v"
    [ -x "$PYTHON" ] || { echo "run scripts/provision-pythons.sh first" >&2; exit 1; }
    if [ ! -f "$PREFIX/include/python$v/internal/pycore_runtime.h" ]; then
        debs="$ROOT/.cache/dev-debs"
        mkdir -p "$debs" "$ROOT/.cache/dev/$v"
        ( cd "$debs" && rm -f "libpython$v-dev_"*.deb &&
          APT_CONFIG="$ROOT/.cache/apt-sid/apt.conf" apt-get download -qq "libpython$v-dev" )
        dpkg-deb -x "$debs/libpython$v-dev_"*.deb "$ROOT/.cache/dev/$v"
    fi
else
    PREFIX="$(cd "${1:?usage: $0 PREFIX [PYTHON] | --sid 3.X}" && pwd)"
    inc=("$PREFIX"/include/python3.*)
    v="${inc[0]##*/python}"
    PYTHON="${2:-$PREFIX/bin/python$v}"
fi
INC="$PREFIX/include"
[ -f "$INC/python$v/Python.h" ] || { echo "no headers in $INC/python$v" >&2; exit 1; }

OUT="$ROOT/.cache/offsets/$v"
mkdir -p "$OUT"
# The interpreter's own core -D flags matter: Debian's 3.14/3.15 are built with
# --enable-experimental-jit=yes-off, i.e. -D_Py_TIER2=3 -D_Py_JIT, which adds
# fields to PyInterpreterState (so also to _PyRuntimeState).  pyconfig.h does
# not record them; sysconfig's PY_CORE_CFLAGS does.
mapfile -t DEFS < <("$PYTHON" -I -c '
import sysconfig
for f in (sysconfig.get_config_var("PY_CORE_CFLAGS") or "").split():
    if f.startswith("-D") and not f.startswith("-D_FORTIFY_SOURCE"):
        print(f)')
# -I$INC: Debian's pyconfig.h includes <x86_64-linux-gnu/python3.X/pyconfig.h>.
CFLAGS=(-O0 -Wall -Wno-unused-parameter -DPy_BUILD_CORE "${DEFS[@]}"
        -I"$INC/python$v" -I"$INC/python$v/internal" -I"$INC")
for prog in layout debug_offsets; do
    gcc "${CFLAGS[@]}" -o "$OUT/$prog" "$HERE/$prog.c"
done
"$OUT/layout" > "$OUT/layout.txt"
"$OUT/debug_offsets" > "$OUT/debug.txt"

echo "## headers: $INC/python$v, core flags: ${DEFS[*]}"
cat "$OUT/layout.txt"
echo "## _Py_DebugOffsets: field, byte position in the struct, value CPython stores"
cat "$OUT/debug.txt"

# ------------------------------------------------------------- ELF facts
# The file holding _PyRuntime: the executable (Debian) or libpython.so (pyenv).
ELF="$("$PYTHON" -I -c '
import ctypes
a = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
for l in open("/proc/self/maps"):
    f = l.split()
    lo, hi = (int(x, 16) for x in f[0].split("-"))
    if lo <= a < hi:
        print(f[5]); break')"
echo "## ELF: $ELF"
readelf -hW "$ELF" | awk '/Type:/ {print "e_type", $2}'
# syms TABLE NAME: "value size type bind shndx" of NAME in .dynsym or .symtab
syms() {
    readelf --syms -W "$ELF" 2>/dev/null | awk -v t="'.$1'" -v s="$2" '
        /^Symbol table/ {cur = $3; next}
        cur == t && !done {n = $8; sub(/@.*/, "", n); if (n == s) {print $2, $3, $4, $5, $7; done = 1}}'
}
for s in _PyRuntime PyCode_Type _Py_NoneStruct Py_Version _Py_tss_tstate _Py_tss_gilstate \
         _PyThreadState_GetCurrent PyGILState_GetThisThreadState; do
    printf '%-30s .dynsym: %-38s .symtab: %s\n' "$s" "$(syms dynsym "$s")" "$(syms symtab "$s")"
done
readelf -SW "$ELF" | grep -q '\.symtab ' || echo "no .symtab (stripped)"
readelf -SW "$ELF" | grep -E '\.(PyRuntime|AsyncioDebug|tdata|tbss|symtab|gnu_debuglink) ' \
    | sed -E 's/^ *\[ *[0-9]+\] */section /' || true
readelf -lW "$ELF" | awk '$1=="TLS" {print "PT_TLS vaddr", $3, "filesz", $5, "memsz", $6, "align", $NF}'
pyver_addr="$(syms dynsym Py_Version | cut -d' ' -f1)"
if [ -n "$pyver_addr" ]; then
    printf 'Py_Version value 0x%s\n' "$(objdump -s --start-address=0x$pyver_addr \
        --stop-address=$(printf '0x%x' $((0x$pyver_addr + 4))) "$ELF" |
        awk '/^ [0-9a-f]+ / {b=$2; print substr(b,7,2) substr(b,5,2) substr(b,3,2) substr(b,1,2); exit}')"
fi

disasm() {  # disassembly of a .dynsym function
    local a s
    read -r a s _ < <(syms dynsym "$1") || return 0
    objdump -d --no-show-raw-insn --start-address=0x"$a" \
        --stop-address="$(printf '0x%x' $((0x$a + s)))" "$ELF" | sed -n '/>:$/,$p'
}
fs_off() {  # signed fs offset of the first `mov %fs:X,` in a function
    local x; x="$(disasm "$1" | grep -oE '%fs:0x[0-9a-f]+' | head -n1 | cut -d: -f2)"
    [ -n "$x" ] && python3 -c "x=$x; print(x - (1 << 64) if x >> 63 else x)"
}
echo "## disassembly"
disasm _PyThreadState_GetCurrent
disasm PyGILState_GetThisThreadState
TLS_ARGS=()
if t="$(fs_off _PyThreadState_GetCurrent)"; then
    echo "_Py_tss_tstate (from _PyThreadState_GetCurrent): fs$t"
    TLS_ARGS+=(--tls-tstate="$t")
else
    echo "_Py_tss_tstate: no %fs: access in _PyThreadState_GetCurrent (dynamic TLS via __tls_get_addr)"
fi
if g="$(fs_off PyGILState_GetThisThreadState)"; then
    echo "_Py_tss_gilstate (from PyGILState_GetThisThreadState): fs$g"
    TLS_ARGS+=(--tls-gilstate="$g")
else
    k="$(disasm PyGILState_GetThisThreadState | grep -oE '_PyRuntime(@@Base)?\+0x[0-9a-f]+>|lea +0x[0-9a-f]+\(%r[a-z0-9]+\)' | head -n1 | grep -oE '0x[0-9a-f]+' | head -n1 || true)"
    [ -n "$k" ] && echo "autoTSSkey (from PyGILState_GetThisThreadState): _PyRuntime+$((k))"
fi

echo "## live check ($PYTHON)"
"$PYTHON" -I "$HERE/live_check.py" "$OUT/layout.txt" "$OUT/debug.txt" "${TLS_ARGS[@]}" | tee "$OUT/live.txt"
