#!/usr/bin/env bash
# Install kubectl-usercert for the current user from this checkout; no root needed.
# Re-running upgrades in place; --uninstall removes exactly what an install added.
set -euo pipefail
case ${HOME:-} in
    /*) ;;
    "") printf 'error: HOME is not set\nhint: run it as a normal login user\n' >&2; exit 1 ;;
    *) printf 'error: HOME=%s is not an absolute path\nhint: run it as a normal login user\n' "$HOME" >&2; exit 1 ;;
esac

NAME=kubectl-usercert
COMMANDS=(kubectl-usercert kubectl_complete-usercert)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
DATA_HOME=${XDG_DATA_HOME:-}
case $DATA_HOME in
    /*) ;;
    "") DATA_HOME=$HOME/.local/share ;;
    # The XDG spec: a relative path is invalid and is to be ignored (it would make links that dangle).
    *) printf 'warning: XDG_DATA_HOME=%s is not an absolute path; ignored, as the XDG spec says\n' "$DATA_HOME" >&2
       DATA_HOME=$HOME/.local/share ;;
esac
APP_DIR=$DATA_HOME/$NAME         # everything of ours but the links
VENV=$APP_DIR/venv
RECORD=$APP_DIR/install-record  # what installs created: "dir PATH" and "link PATH" lines
PYTHON=${PYTHON:-python3}

usage() {
    cat <<EOF
Usage: ./install.sh [--prefix DIR] [--dev] [--uninstall] [--help]

Installs kubectl-usercert from this checkout into a virtualenv in
  $VENV
and links kubectl-usercert and kubectl_complete-usercert (kubectl's completion
helper) into a folder already on PATH, so kubectl finds them at once:
~/.local/bin if it is on PATH, else a writable folder on PATH in your home
(like ~/bin), else as root /usr/local/bin, else ~/.local/bin (and it prints
the line that puts it on PATH). Run it again to upgrade.

  --prefix DIR   put the links in DIR instead
  --dev          also install the test tools (pytest, hypothesis, cryptography, jsonschema, prometheus_client, ruff)
  --uninstall    remove the virtualenv and the links, nothing else
  -h, --help     show this help

Needs python3 (3.9 or newer, with venv) and openssl. PYTHON=... picks another python.
EOF
}

say() { printf '%s\n' "$*"; }
die() {  # die MESSAGE [HINT]
    printf 'error: %s\n' "$1" >&2
    [ $# -gt 1 ] && printf 'hint: %s\n' "$2" >&2
    exit 1
}
# shellcheck disable=SC2088  # a literal ~ for display
tilde() { case $1 in "$HOME"/*) printf '~/%s' "${1#"$HOME"/}" ;; *) printf '%s' "$1" ;; esac; }

prefix="" dev=0 uninstall=0
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a folder" "./install.sh --prefix ~/bin"
                  prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --dev) dev=1; shift ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1'" "see './install.sh --help'" ;;
    esac
done

on_path() { case ":$PATH:" in *":$1:"* | *":$1/:"*) true ;; *) false ;; esac; }

# Where the links go when --prefix does not say: a folder on PATH now, so that
# `./install.sh && kubectl usercert demo` works in the same shell (a new account before its
# first re-login, a root shell, a container: none has ~/.local/bin on PATH).
default_bin() {
    local home=${HOME%/} dir entries
    if [ -z "$home" ] || on_path "$home/.local/bin"; then printf '%s\n' "$home/.local/bin"; return; fi
    IFS=: read -r -a entries <<<"$PATH"
    # Else the first writable folder on PATH in HOME that no tool manages.
    for dir in ${entries[@]+"${entries[@]}"}; do
        dir=${dir%/}
        case $dir in "$home"/*) ;; *) continue ;; esac
        case /${dir#"$home"/}/ in */.*) continue ;; esac  # ~/.pyenv/shims, ~/.cargo/bin: their tools rewrite them
        [ -f "$dir/../pyvenv.cfg" ] && continue           # a virtualenv's bin comes and goes
        if [ -d "$dir" ] && [ -w "$dir" ]; then printf '%s\n' "$dir"; return; fi
    done
    if [ "${EUID:-}" = 0 ] && on_path /usr/local/bin && [ -d /usr/local/bin ] && [ -w /usr/local/bin ]; then
        printf '%s\n' /usr/local/bin; return
    fi
    printf '%s\n' "$home/.local/bin"  # not on PATH: the closing message says how to add it
}
BIN=${prefix:-$(default_bin)}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
[ "$BIN" = / ] || BIN=${BIN%/}

# Our links point at our command in the virtualenv: the very text install.sh writes, or a link that
# resolves to that same file. Anything else with the same name is not ours (a link whose text only
# starts with the install folder, $APP_DIR/../elsewhere, resolves elsewhere).
is_our_link() {
    [ -L "$1" ] || return 1
    local ours=$VENV/bin/${1##*/}
    [ "$(readlink "$1")" = "$ours" ] || [ "$1" -ef "$ours" ]
}
# A link into a kubectl-usercert virtualenv that is gone (an install whose HOME was deleted)
# is a leftover of ours too: it is replaced, not refused.
is_stale_link() {
    [ -L "$1" ] && [ ! -e "$1" ] \
        && case $(readlink "$1") in */"$NAME"/venv/bin/"${1##*/}") true ;; *) false ;; esac
}
# Only a folder that holds our record is ever deleted.
app_is_ours() { [ -f "$RECORD" ]; }

recorded() {  # recorded KIND FILE: the paths of that kind in a record
    [ -f "$2" ] || return 0
    while read -r kind path; do
        [ "$kind" = "$1" ] && printf '%s\n' "$path"
    done <"$2"
    return 0
}

remove_links() {  # remove_links RECORD KEEP_DIR: our links (recorded, in BIN or ~/.local/bin), except in KEEP_DIR
    local link
    while read -r link; do
        [ -n "$link" ] || continue
        [ "$(dirname "$link")" = "$2" ] && continue
        if is_our_link "$link"; then rm -f "$link"; fi
    done < <(recorded link "$1"
             for c in "${COMMANDS[@]}"; do printf '%s\n' "$BIN/$c" "$HOME/.local/bin/$c"; done)
}

if [ "$uninstall" = 1 ]; then
    if [ ! -e "$APP_DIR" ]; then
        say "$NAME is not installed (no $(tilde "$APP_DIR"))."
        remove_links "$RECORD" ""
        exit 0
    fi
    app_is_ours || die "$(tilde "$APP_DIR") does not look like a $NAME install" "remove it by hand if it is"
    dirs=$(recorded dir "$RECORD")
    remove_links "$RECORD" ""
    rm -rf "$APP_DIR"
    # Folders the install created (deepest first), only if nothing else is in them now.
    while read -r dir; do
        if [ -n "$dir" ]; then rmdir "$dir" 2>/dev/null || true; fi
    done < <(printf '%s\n' "$dirs" | sort -r)
    say "Removed $NAME: $(tilde "$APP_DIR") and its links."
    exit 0
fi

# Prerequisites, each with a one-line error and a hint.
command -v "$PYTHON" >/dev/null 2>&1 \
    || die "$PYTHON not found" "install Python 3.9 or newer (Debian/Ubuntu: apt install python3 python3-venv)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null \
    || die "Python 3.9 or newer is needed, $PYTHON is $("$PYTHON" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo unknown)" \
           "install a newer Python and run: PYTHON=python3.X ./install.sh"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$PYTHON cannot create virtualenvs (no venv/ensurepip module)" "Debian/Ubuntu: apt install python3-venv"
command -v openssl >/dev/null 2>&1 \
    || die "openssl not found" "install it (Debian/Ubuntu: apt install openssl; macOS: brew install openssl)"
{ [ -f "$SRC/setup.cfg" ] && [ -d "$SRC/lib/kubectl_usercert" ]; } \
    || die "$SRC is not a $NAME checkout" "run install.sh from the checkout it came with"
if [ -e "$APP_DIR" ] && ! app_is_ours && [ -n "$(ls -A "$APP_DIR" 2>/dev/null)" ]; then
    die "$(tilde "$APP_DIR") exists and is not a $NAME install" "move it away, or set XDG_DATA_HOME"
fi
for c in "${COMMANDS[@]}"; do
    if [ -e "$BIN/$c" ] || [ -L "$BIN/$c" ]; then
        is_our_link "$BIN/$c" || is_stale_link "$BIN/$c" \
            || die "$(tilde "$BIN/$c") exists and is not ours" "remove it, or use --prefix DIR"
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/$NAME-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
old_record=$work/old-record
created=$work/created
: >"$created"
if [ -f "$RECORD" ]; then cp "$RECORD" "$old_record"; else : >"$old_record"; fi

make_dir() {  # mkdir -p, noting each folder it creates
    local dir=$1 missing=()
    while [ ! -d "$dir" ]; do missing+=("$dir"); dir=$(dirname "$dir"); done
    local i
    for ((i = ${#missing[@]} - 1; i >= 0; i--)); do
        mkdir "${missing[$i]}" || die "cannot create ${missing[$i]}" "check the path and its permissions"
        printf 'dir %s\n' "${missing[$i]}" >>"$created"
    done
}

write_record() {  # folders created by any install so far, and this install's links
    { grep '^dir ' "$old_record" || true; cat "$created"; } | awk '!seen[$0]++' >"$RECORD"
}

# A virtualenv that no longer runs (its Python was upgraded or removed) is made anew.
if [ -e "$VENV" ] && ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
    say "Replacing the broken virtualenv in $(tilde "$VENV")"
    rm -rf "$VENV"
fi
if [ ! -e "$VENV/bin/python" ]; then
    make_dir "$DATA_HOME"
    [ -d "$APP_DIR" ] || mkdir -m 700 "$APP_DIR"
    write_record  # from now on --uninstall knows what to remove, even if what follows fails
    say "Creating a virtualenv in $(tilde "$VENV")"
    "$PYTHON" -m venv "$VENV" >"$work/venv.log" 2>&1 \
        || { cat "$work/venv.log" >&2; rm -rf "$VENV"
             die "could not create the virtualenv" "Debian/Ubuntu: apt install python3-venv"; }
fi

# Build from a copy, so the checkout gets no build/ or egg-info folders.
mkdir "$work/src"
for f in setup.cfg pyproject.toml README.md LICENSE; do
    if [ -f "$SRC/$f" ]; then cp "$SRC/$f" "$work/src/"; fi
done
cp -R "$SRC/lib" "$work/src/lib"
find "$work/src/lib" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
target=$work/src
[ "$dev" = 1 ] && target="$work/src[test]"
say "Installing $NAME$([ "$dev" = 1 ] && echo ' and its test tools') from $(tilde "$SRC")"
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    "$VENV/bin/python" -m pip install --no-cache-dir --upgrade "$target" >"$work/pip.log" 2>&1 \
    || { tail -n 25 "$work/pip.log" >&2; die "pip could not install $NAME (log above)" \
             "check your network or pip configuration, then run ./install.sh again"; }

make_dir "$BIN"
for c in "${COMMANDS[@]}"; do
    [ -x "$VENV/bin/$c" ] || die "the install has no $c" "run ./install.sh again"
    ln -sfn "$VENV/bin/$c" "$BIN/$c"
    printf 'link %s\n' "$BIN/$c" >>"$created"
done
remove_links "$old_record" "$BIN"  # links from an earlier install with another --prefix
write_record

version=$("$BIN/$NAME" --version 2>/dev/null | awk '{print $NF}') || true
[ -n "$version" ] || die "the installed $(tilde "$BIN/$NAME") does not run" "run ./install.sh again; if it fails the same way, please report it"
say "Installed $NAME $version: $(tilde "$BIN")/{kubectl-usercert,kubectl_complete-usercert}"
if on_path "$BIN"; then
    found=$(command -v "$NAME" || true)
    if [ -n "$found" ] && [ "$found" != "$BIN/$NAME" ]; then
        say "warning: $found comes first on PATH and hides this install" >&2
    fi
    say "Try: kubectl usercert --help  (completion: where kubectl's own is enabled)"
else
    say "$(tilde "$BIN") is not on your PATH; add it (e.g. in ~/.bashrc or ~/.zshrc):"
    say "  export PATH=\"$BIN:\$PATH\""
    say "then try: kubectl usercert --help"
fi
command -v kubectl >/dev/null 2>&1 || say "note: kubectl not found; $NAME also runs on its own."
