#!/usr/bin/env bash
# softhsm-setup.sh [DIR [LABEL]]: a throw-away SoftHSM2 token for the PKCS#11 key backend.
#
# Installs SoftHSM2 with apt-get when softhsm2-util is missing (Debian/Ubuntu; as root, or
# through sudo). Given DIR, writes DIR/softhsm2.conf with its token directory in DIR/tokens,
# initialises a token labelled LABEL (default signum-test) unless one exists, and prints the
# path to export as SOFTHSM2_CONF:
#
#   export SOFTHSM2_CONF="$(scripts/softhsm-setup.sh /tmp/hsm)"
#
# PINs: SOFTHSM_PIN (user) and SOFTHSM_SO_PIN (security officer) from the environment; a PIN
# not given is generated at random and written to DIR/pin (DIR/so-pin), mode 600, and reused
# from there on the next run. Running it again with the same DIR and LABEL changes nothing.
# For tests and local runs only: the token is a directory of files, not an HSM.
set -euo pipefail

log() { printf 'softhsm-setup: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

install_softhsm() {
	command -v softhsm2-util >/dev/null 2>&1 && return 0
	command -v apt-get >/dev/null 2>&1 ||
		die "softhsm2-util is missing and there is no apt-get; install SoftHSM2 (macOS: brew install softhsm)"
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null 2>&1 || die "softhsm2-util is missing; run as root to install softhsm2"
		sudo=(sudo)
	fi
	log "installing softhsm2"
	"${sudo[@]}" apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq softhsm2 >&2
	command -v softhsm2-util >/dev/null 2>&1 || die "softhsm2 installed but softhsm2-util is not on PATH"
}

# pin VAR FILE: the value of env VAR, else the PIN stored in FILE, else a new random PIN
# stored in FILE (mode 600).
pin() {
	local var=$1 file=$2
	if [[ -n ${!var:-} ]]; then
		printf '%s' "${!var}"
	elif [[ -s $file ]]; then
		cat "$file"
	else
		local p
		p=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
		(umask 077 && printf '%s' "$p" >"$file")
		chmod 600 "$file"
		printf '%s' "$p"
	fi
}

# has_token LABEL: whether the token directory holds an initialised token labelled LABEL.
has_token() {
	softhsm2-util --show-slots 2>/dev/null |
		sed -n 's/^[[:space:]]*Label:[[:space:]]*//p' |
		sed 's/[[:space:]]*$//' |
		grep -Fxq -- "$1"
}

main() {
	install_softhsm
	if [[ $# -eq 0 ]]; then
		log "softhsm2 is installed; give a directory to make a token: $0 DIR [LABEL]"
		return 0
	fi
	[[ $# -le 2 ]] || die "usage: $0 [DIR [LABEL]]"
	local label=${2:-signum-test}
	[[ -n $label && ${#label} -le 32 ]] || die "the token label must be 1 to 32 characters"

	mkdir -p "$1"
	local dir
	dir=$(cd "$1" && pwd -P)
	mkdir -p "$dir/tokens"
	chmod 700 "$dir" "$dir/tokens"

	local conf=$dir/softhsm2.conf
	printf '%s\n' \
		"# Written by scripts/softhsm-setup.sh: a throw-away SoftHSM2 for tests." \
		"directories.tokendir = $dir/tokens" \
		"objectstore.backend = file" \
		"log.level = ERROR" \
		"slots.removable = false" >"$conf"
	export SOFTHSM2_CONF=$conf

	if has_token "$label"; then
		log "token \"$label\" already exists in $dir/tokens"
	else
		local so_pin user_pin
		so_pin=$(pin SOFTHSM_SO_PIN "$dir/so-pin")
		user_pin=$(pin SOFTHSM_PIN "$dir/pin")
		softhsm2-util --init-token --free --label "$label" --so-pin "$so_pin" --pin "$user_pin" >&2
		log "token \"$label\" initialised in $dir/tokens"
	fi
	printf '%s\n' "$conf"
}

main "$@"
