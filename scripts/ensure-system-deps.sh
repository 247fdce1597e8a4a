#!/usr/bin/env bash
# Installs the Debian packages whose commands are missing; a no-op when all are present.
#
#   scripts/ensure-system-deps.sh COMMAND[:PACKAGE] ...
#
# Each argument names a command checked with `command -v`; PACKAGE is the Debian package that
# provides it (default: the command's own name). For example:
#
#   scripts/ensure-system-deps.sh redis-server chromium
#   scripts/ensure-system-deps.sh redis-cli:redis-tools
#
# Only when something is missing: `apt-get update` once, then one `apt-get install -y` for all the
# missing packages, then every command is checked again. Runs as root, or through `sudo -n` when
# that works; never prompts (CI has no stdin).
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND[:PACKAGE] ..." >&2
  exit 2
fi

missing_commands=()
missing_packages=()
for arg in "$@"; do
  command_name="${arg%%:*}"
  package_name="${arg#*:}"
  if [ -z "$command_name" ] || [ -z "$package_name" ]; then
    echo "ensure-system-deps: bad argument '$arg' (expected COMMAND or COMMAND:PACKAGE)" >&2
    exit 2
  fi
  if ! command -v "$command_name" >/dev/null 2>&1; then
    missing_commands+=("$command_name")
    # One package can provide several of the commands asked for; install it once.
    case " ${missing_packages[*]-} " in
      *" $package_name "*) ;;
      *) missing_packages+=("$package_name") ;;
    esac
  fi
done

if [ "${#missing_commands[@]}" -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-deps: missing ${missing_commands[*]}; install the packages" \
    "${missing_packages[*]} (no apt-get here to do it)" >&2
  exit 1
fi

run_as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    run_as_root=(sudo -n)
  else
    echo "ensure-system-deps: missing ${missing_commands[*]}; installing" \
      "${missing_packages[*]} needs root (or passwordless sudo)" >&2
    exit 1
  fi
fi

echo "ensure-system-deps: installing ${missing_packages[*]} for ${missing_commands[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
${run_as_root[@]+"${run_as_root[@]}"} apt-get update </dev/null
${run_as_root[@]+"${run_as_root[@]}"} apt-get install -y --no-install-recommends "${missing_packages[@]}" </dev/null

# Debian puts some commands outside a non-root PATH (/usr/sbin); say so instead of failing later.
hash -r
still_missing=()
for command_name in "${missing_commands[@]}"; do
  command -v "$command_name" >/dev/null 2>&1 || still_missing+=("$command_name")
done
if [ "${#still_missing[@]}" -gt 0 ]; then
  echo "ensure-system-deps: installed ${missing_packages[*]} but ${still_missing[*]} is still" \
    "not on PATH" >&2
  exit 1
fi
