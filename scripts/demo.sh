#!/usr/bin/env bash
# demo.sh (make demo): the whole product on this machine, as a customer would use it.
#
# Starts the local service, provisions a deployment (operator API, SigV4), registers its first
# Admin, creates a code-signing certificate whose key is generated in the KMS stand-in, has a
# throw-away demo CA issue it from the CSR, imports the chain, creates a certificate user with
# a .p12, writes a signing policy, builds a small unsigned Windows executable, signs it and a
# text file with the signum CLI over mutual TLS, verifies both with osslsigncode and openssl,
# shows that a user without a policy is refused, and exports the signing events.
#
# Leaves in demo-out/: hello.exe (signed), hello.txt, hello.txt.p7s, ca.pem, events.jsonl.
# Stops what it started.
set -euo pipefail
shopt -s inherit_errexit # a failing command inside $(...) stops the script too
cd "$(dirname "$0")/.."

port=${DEMO_PORT:-18480}
tls_port=$((port + 1))
out=demo-out
work=$(mktemp -d)
srv_pid=""
cleanup() {
	if [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; then
		for _ in $(seq 1 50); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$srv_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

need=()
for tool in jq openssl osslsigncode curl; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
	command -v apt-get >/dev/null || die "missing ${need[*]}; install them"
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || die "missing ${need[*]}; run as root or install them"
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
curl --help all 2>/dev/null | grep -q -- --aws-sigv4 || die "curl $(curl --version | head -1 | cut -d' ' -f2) cannot sign AWS requests (--aws-sigv4 needs 7.75 or later)"

rm -rf "$out"
mkdir -p "$out"
step "build the local service and the signum CLI"
go build -o "$work/signum-local" ./cmd/signum-local
go build -o "$work/signum" ./cmd/signum
signum() { "$work/signum" --config "$work/signum.json" "$@"; }

step "start the service (stand-ins in-process) on 127.0.0.1:$port, mutual TLS on :$tls_port"
"$work/signum-local" -addr "127.0.0.1:$port" -tls-addr "127.0.0.1:$tls_port" -data-dir "$work/data" -log-level warn >"$work/server.log" 2>&1 &
srv_pid=$!
api=http://127.0.0.1:$port
for _ in $(seq 1 240); do
	kill -0 "$srv_pid" 2>/dev/null || { cat "$work/server.log"; die "the service exited (is port $port or $tls_port taken? set DEMO_PORT)"; }
	curl -sf "$api/health" >/dev/null 2>&1 && break
	sleep 0.5
done
curl -sf "$api/health" >/dev/null || { cat "$work/server.log"; die "the service did not start"; }
. "$work/data/operator.env"

# api_call METHOD PATH [BODY] [TOKEN] [HOST]: JSON in, JSON out; fails on HTTP errors.
call() {
	local method=$1 path=$2 body=${3:-} token=${4:-} host=${5:-}
	local args=(-s -X "$method" -w '\n%{http_code}')
	[ -n "$body" ] && args+=(-H 'content-type: application/json' --data-binary "$body")
	[ -n "$token" ] && args+=(-H "authorization: Bearer $token")
	[ -n "$host" ] && args+=(-H "host: $host")
	local res code
	res=$(curl "${args[@]}" "$api$path")
	code=${res##*$'\n'}
	res=${res%$'\n'*}
	[ "${code:0:1}" = 2 ] || die "$method $path: HTTP $code: $res"
	printf '%s' "$res"
}

step "operator: provision the deployment Acme (acme.localhost)"
dep=$(curl -s --aws-sigv4 "aws:amz:$AWS_REGION:execute-api" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	-H 'content-type: application/json' -d '{"name":"Acme","domainName":"acme.localhost","firstAdminEmail":"ada@acme.example"}' "$api/operator/deployments")
jq -e .id <<<"$dep" >/dev/null || die "provisioning failed: $dep"
dep_id=$(jq -r .id <<<"$dep")
invite=$(jq -r .firstAdminInvite.token <<<"$dep")
host=acme.localhost
echo "deployment $dep_id, first-Admin link issued"

step "portal: the first Admin registers, logs in and opens the console"
pw='Correct-Horse-9-Battery'
call POST /portal/register "$(jq -nc --arg t "$invite" --arg p "$pw" '{token:$t,email:"ada@acme.example",name:"Ada",password:$p}')" >/dev/null
ptok=$(call POST /portal/login "$(jq -nc --arg p "$pw" '{email:"ada@acme.example",password:$p}')" | jq -r .token)
ctok=$(call POST "/portal/deployments/$dep_id/console-token" "" "$ptok" | jq -r .token)
echo "console session: $(call GET /console/session "" "$ctok" "$host" | jq -c '{name,roles}')"

step "console: a code-signing certificate whose key is generated in KMS (RSA-2048), in the Default group"
group=$(call GET /console/certificate-groups "" "$ctok" "$host" | jq -r '.items[] | select(.name=="Default") | .id')
[[ -n $group ]] || die "the deployment has no Default certificate group"
cert=$(call POST /console/certificates "$(jq -nc --arg g "$group" '{name:"Release",algorithm:"RSA_2048",subject:{commonName:"Acme Release Signing",organization:"Acme"},groups:[$g]}')" "$ctok" "$host")
cert_id=$(jq -r .id <<<"$cert")
jq -r .csrPem <<<"$cert" >"$work/release.csr"
echo "certificate $cert_id, key $(jq -r .keyUri <<<"$cert")"

step "a throw-away demo CA issues the certificate from the CSR (openssl)"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Acme Demo Root CA/O=Acme" -keyout "$work/ca.key" -out "$out/ca.pem" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' >"$work/leaf.ext"
openssl x509 -req -in "$work/release.csr" -CA "$out/ca.pem" -CAkey "$work/ca.key" -CAserial "$work/ca.srl" -CAcreateserial -days 30 -sha256 \
	-extfile "$work/leaf.ext" -out "$work/release.pem" 2>/dev/null
call PUT "/console/certificates/$cert_id/chain" "$(jq -nc --rawfile c "$work/release.pem" --rawfile r "$out/ca.pem" '{chain:($c+$r)}')" "$ctok" "$host" | jq -c '{id,status,serialNumber}'

# cert_user NAME: a console signer without a password, its client certificate pinned, and
# NAME.p12 for its agent.
cert_user() {
	local name=$1 uid
	uid=$(call POST /console/users "$(jq -nc --arg n "$name" '{username:$n,name:$n,roles:["signer"]}')" "$ctok" "$host" | jq -r .id)
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 -subj "/CN=$name/O=Acme" \
		-addext extendedKeyUsage=clientAuth -keyout "$work/$name.key" -out "$work/$name.pem" 2>/dev/null
	openssl pkcs12 -export -inkey "$work/$name.key" -in "$work/$name.pem" -passout pass:demo-p12 -out "$work/$name.p12"
	call POST "/console/users/$uid/client-certificates" "$(jq -nc --rawfile c "$work/$name.pem" '{kind:"certificate",certificate:$c}')" "$ctok" "$host" >/dev/null
	echo "$uid"
}

step "console: a certificate user for the build agent, with a .p12 for mutual TLS"
agent=$(cert_user build-agent)
echo "user $agent (no password; its client certificate is registered)"

step "console: a policy lets the build agent sign with the certificate from signum"
call POST /console/policies "$(jq -nc --arg c "$cert_id" --arg u "$agent" \
	'{name:"Build agent releases",enabled:true,priority:10,action:"allow",what:{certificates:[$c]},who:{users:[$u]},where:[{process:"signum"}]}')" \
	"$ctok" "$host" | jq -c '{id,name}'

step "build a small unsigned Windows executable and a text file"
mkdir -p "$work/hello"
printf 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello from a signed program") }\n' >"$work/hello/main.go"
printf 'module hello\n\ngo 1.21\n' >"$work/hello/go.mod"
(cd "$work/hello" && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 GOFLAGS= go build -trimpath -ldflags='-s -w' -o hello.exe .)
cp "$work/hello/hello.exe" "$out/hello.exe"
echo "hello, signed world" >"$out/hello.txt"
osslsigncode verify -CAfile "$out/ca.pem" "$out/hello.exe" >/dev/null 2>&1 && die "hello.exe is signed before signing"
echo "hello.exe: $(stat -c %s "$out/hello.exe") bytes, unsigned"

step "the agent signs both files in one request over mutual TLS (signum CLI)"
export SIGNUM_P12_PASSWORD=demo-p12
signum configure --url "https://127.0.0.1:$tls_port" --host "$host" --ca "$work/data/tls-ca.pem" --p12 "$work/build-agent.p12"
signum certs
signum sign --cert "$cert_id" "$out/hello.exe" "$out/hello.txt"

step "verify with tools nobody here wrote"
osslsigncode verify -CAfile "$out/ca.pem" "$out/hello.exe" | grep -E "Signature verification|Message digest algorithm|Succeeded"
openssl cms -verify -binary -inform DER -in "$out/hello.txt.p7s" -content "$out/hello.txt" -CAfile "$out/ca.pem" -purpose any -out /dev/null
signum verify --ca "$out/ca.pem" "$out/hello.exe" "$out/hello.txt"

step "a user without a policy is refused (and the refusal is recorded)"
cert_user intern >/dev/null
cp "$out/hello.txt" "$work/other.txt"
intern() { SIGNUM_URL="https://127.0.0.1:$tls_port" SIGNUM_HOST=$host SIGNUM_CA="$work/data/tls-ca.pem" SIGNUM_P12="$work/intern.p12" \
	"$work/signum" --config "$work/none.json" "$@"; }
set +e
intern sign --cert "$cert_id" "$work/other.txt"
code_files=$?
intern sign-digest --cert "$cert_id" --digest "$(sha256sum "$work/other.txt" | cut -d' ' -f1)"
code_digest=$?
set -e
[ "$code_files" = 4 ] && [ "$code_digest" = 4 ] || die "the intern was not refused (exit codes $code_files, $code_digest)"
[ -e "$work/other.txt.p7s" ] && die "a refused signing left an output file"
echo "exit codes $code_files and $code_digest, no output written"

step "the signing events (hash-chained; verified)"
call GET "/console/events?format=jsonl&limit=100" "" "$ctok" "$host" >"$out/events.jsonl"
table() { if command -v column >/dev/null; then column -t -s $'\t'; else cat; fi; }
jq -r '[.at[11:19], .kind, (.decision // .outcome), .userId, (.fileName // .of), (.reason // "")[0:60]] | @tsv' "$out/events.jsonl" | table
call GET /console/events/verify "" "$ctok" "$host" | jq -c .
echo
echo "demo passed; see $out/: $(cd "$out" && ls | tr '\n' ' ')"
