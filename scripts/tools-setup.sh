#!/usr/bin/env bash
# tools-setup.sh: installs the third-party tools the CLI tests and `make demo` check their
# output with — osslsigncode (Authenticode: PE, MSI, CAB, CAT, APPX, PowerShell), openssl (CMS)
# and the JDK's jarsigner (JAR) — and those the PKCS#11 module's tests load it into — OpenSC's
# pkcs11-tool, libp11's OpenSSL engine, the JDK's keytool and jarsigner, and gcc for a threaded
# C client — with apt-get when missing (Debian/Ubuntu; as root, or through sudo).
set -euo pipefail
missing=()
command -v osslsigncode >/dev/null 2>&1 || missing+=(osslsigncode)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v pkcs11-tool >/dev/null 2>&1 || missing+=(opensc)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
ls /usr/lib/*/engines-3/pkcs11.so >/dev/null 2>&1 || missing+=(libengine-pkcs11-openssl)
command -v jarsigner >/dev/null 2>&1 || missing+=(default-jdk-headless)
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "tools-setup: ${missing[*]} missing and there is no apt-get; install them (macOS: brew install osslsigncode openssl opensc libp11 openjdk)" >&2; exit 1; }
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null 2>&1 || { echo "tools-setup: ${missing[*]} missing; run as root to install them" >&2; exit 1; }
	sudo=(sudo)
fi
echo "tools-setup: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
