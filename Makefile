# Signum: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
GOFLAGS_LAMBDA := -trimpath -tags lambda.norpc -ldflags=-s\ -w
LAMBDA_ENV := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
# Every directory under functions/ is a Lambda function (template.yaml names each one).
FUNCTIONS := $(notdir $(wildcard functions/*))
# Functions that load a PKCS#11 module (CloudHSM) need cgo; they run on x86_64 (template.yaml).
CGO_FUNCTIONS := console-certificates signer insights
lambda_env = $(if $(filter $(1),$(CGO_FUNCTIONS)),CGO_ENABLED=1 GOOS=linux GOARCH=amd64,$(LAMBDA_ENV))

.PHONY: pkcs11 coldstart soak run test vet fmt-check deadcode lint-template test-aws build clean fuzz bench bench-events softhsm tools demo invoke web web-if-missing deploy-web test-web chromium

## run: the whole service locally on the embedded stand-ins (no Docker, no AWS account), with
## the web app (built when missing) under /app/
run: web-if-missing
	$(GO) run ./cmd/signum-local

## web: the web app (portal and console) built into web/dist from the committed lockfile
web:
	cd web && npm ci --no-audit --no-fund && npm run build

web-if-missing:
	@test -f web/dist/index.html || $(MAKE) web

## deploy-web: upload web/dist to a deployed stack's web bucket (STACK=signum): the assets
## (kept: an open page may still load the old ones), then index.html, then CloudFront forgets it
STACK ?= signum
deploy-web: web
	@out() { aws cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs[?OutputKey=='$$1'].OutputValue" --output text; }; \
	bucket=$$(out WebBucketName) && dist=$$(out WebDistributionId) && \
	aws s3 sync web/dist/assets "s3://$$bucket/app/assets" --cache-control 'public, max-age=31536000, immutable' && \
	aws s3 cp web/dist/index.html "s3://$$bucket/app/index.html" --cache-control no-cache && \
	aws cloudfront create-invalidation --distribution-id "$$dist" --paths /app/index.html >/dev/null && \
	echo "web app deployed to s3://$$bucket/app/"

## chromium: Debian's Chromium for the browser tests, when missing (never a downloaded browser)
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

## test-web: the web app's tests: the generated API client is current, types, component tests
## (Vitest), and the customer's journey in Chromium against the local service (screenshots in
## web/test-output/)
test-web: chromium web
	cd web && npm run check-gen && npm test && npm run e2e

## invoke: one function's handler with an event, against the stack `make run` is running (what
## `sam local invoke -e` does, without Docker): make invoke FUNCTION=health EVENT=events/health/get.json
invoke:
	@test -n "$(FUNCTION)" -a -n "$(EVENT)" || { echo "usage: make invoke FUNCTION=<functions/ directory> EVENT=<events/ file>"; exit 2; }
	@$(GO) run ./cmd/signum-invoke -function $(FUNCTION) -event $(EVENT)

## test: vet, formatting, and every test (fuzz targets run their seed corpus)
test: vet fmt-check deadcode lint-template softhsm tools test-web
	SIGNUM_REQUIRE_SOFTHSM=1 SIGNUM_REQUIRE_TOOLS=1 $(GO) test -count=1 ./...
	# the no-cgo build (Lambda functions without PKCS#11): the key packages' tests, stub included
	CGO_ENABLED=0 $(GO) test -count=1 ./lib/keys/...
	@$(GO) test -count=1 -run '^TestAuthorizationMatrix$$' -v ./lib/local | grep '^authorization matrix'

vet:
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet ./lib/keys/...

## softhsm: install SoftHSM2 (the local stand-in for CloudHSM) when missing; the PKCS#11 tests need it
softhsm:
	@command -v softhsm2-util >/dev/null && test -e /usr/lib/softhsm/libsofthsm2.so || bash scripts/softhsm-setup.sh

## demo: the product end to end on this machine (sign a Windows .exe and a text file over mTLS); output in demo-out/
demo:
	bash scripts/demo.sh

## tools: install osslsigncode, openssl, the JDK (jarsigner, keytool), OpenSC's pkcs11-tool and
## OpenSSL's pkcs11 engine when missing; the CLI's and the PKCS#11 module's tests sign and check signatures with them
tools:
	@bash scripts/tools-setup.sh

## pkcs11: the PKCS#11 module, bin/signum-pkcs11.so (osslsigncode, OpenSSL, p11-kit... sign through it)
pkcs11:
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=c-shared -o bin/signum-pkcs11.so ./cmd/signum-pkcs11
	@rm -f bin/signum-pkcs11.h

## deadcode: no unused code (functions reachable from no main and no test)
DEADCODE := golang.org/x/tools/cmd/deadcode@v0.52.0
# cmd/signum-pkcs11/main.go is left out: its functions are called from C (the //export
# functions and what they use), which deadcode cannot see.
deadcode:
	@out=$$($(GO) run $(DEADCODE) -test ./... | grep -v '^cmd/signum-pkcs11/main.go:'); \
	if [ -n "$$out" ]; then echo "unused code:"; echo "$$out"; exit 1; fi

## lint-template: cfn-lint on template.yaml after the SAM transform (.cfnlintrc); installed when missing
lint-template:
	@command -v cfn-lint >/dev/null && python3 -c 'import samtranslator' 2>/dev/null || python3 -m pip install --quiet 'cfn-lint==1.51.0' 'aws-sam-translator==1.110.0'
	cfn-lint template.yaml

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## test-aws: every package whose tests run on devstack.NewTarget (the store's contract tests of every access pattern, the KMS key backend, provisioning) against AWS_ENDPOINT_URL (LocalStack) or a real account
# The packages are found by their tests' calls of devstack.NewTarget, so a new one is not left
# out. Each test creates its own table (and bucket) and waits for it to be active, which in AWS
# takes seconds per table, and can add up to more than go test's default 10 minutes a package.
test-aws:
	SIGNUM_TEST_TARGET=aws $(GO) test -count=1 -v -timeout 30m $$(grep -rl --include='*_test.go' 'devstack\.NewTarget(' . | xargs -n1 dirname | sort -u)

## build: every function as a Lambda bootstrap binary in bin/<function>/bootstrap
build:
	@for f in $(FUNCTIONS); do \
		echo "build functions/$$f"; \
		case " $(CGO_FUNCTIONS) " in *" $$f "*) env="CGO_ENABLED=1 GOOS=linux GOARCH=amd64";; *) env="$(LAMBDA_ENV)";; esac; \
		env $$env $(GO) build $(GOFLAGS_LAMBDA) -o bin/$$f/bootstrap ./functions/$$f || exit 1; \
	done

# sam build (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set; the
# logical id names the directory: HealthFunction -> functions/health, PortalUsersFunction ->
# functions/portal-users.
fn_dir = functions/$(shell echo '$(1)' | sed -E 's/([a-z0-9])([A-Z])/\1-\2/g' | tr 'A-Z' 'a-z')
build-%Function:
	@test -d $(call fn_dir,$*) || { echo "no directory $(call fn_dir,$*) for $*Function"; exit 1; }
	$(call lambda_env,$(notdir $(call fn_dir,$*))) $(GO) build $(GOFLAGS_LAMBDA) -o $(ARTIFACTS_DIR)/bootstrap ./$(call fn_dir,$*)

## fuzz: a short run of every fuzz target beyond its seeds (FUZZTIME=30s by default)
FUZZTIME ?= 30s
FUZZ_TARGETS := ./lib/edge:FuzzDecodeJSON ./lib/tenant:FuzzParseAllowlist ./lib/tenant:FuzzNormalizeDomainName ./lib/store:FuzzCursorOpen ./lib/policy:FuzzValidate \
	./lib/token:FuzzVerify ./lib/password:FuzzVerify ./lib/password:FuzzCheck ./lib/certificates:FuzzParseBundle ./lib/certificates:FuzzParseCSR \
	./lib/keys/awskms:FuzzParseURI ./lib/keys/pkcs11:FuzzParseURI ./lib/local:FuzzRequestBodies \
	./lib/audit:FuzzEventHash ./lib/audit:FuzzReadExport ./lib/audit:FuzzFastCanonical ./lib/clientauth:FuzzDN \
	./lib/samlsso:FuzzFinish ./lib/samlsso:FuzzParseIdPMetadata ./lib/workload:FuzzVerify ./lib/api/console:FuzzUnverifiedClaims \
	./lib/marketplace:FuzzDecodeSQSMessage ./lib/marketplace:FuzzDecodeEventBridge ./lib/azuremarket:FuzzDecodeWebhook \
	./lib/azuremarket:FuzzDecodeSubscription ./lib/azuremarket:FuzzDecodeOperation ./lib/timestamping:FuzzCheck
fuzz:
	@GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh $(FUZZ_TARGETS)

## coldstart: each function's start (exec to its first request for work, on a fake Runtime API)
## and the size of its Lambda build, one line per function and a summary line
coldstart: build
	$(GO) run ./cmd/signum-coldstart -cgo "$(CGO_FUNCTIONS)"

## soak: a bounded load run (README, "Soak"; 60 s of load by default, SOAK_FLAGS="-duration 5m"
## for longer): 3 deployments × 16 agents signing while 1 % of KMS and DynamoDB call attempts
## fail as AWS's do; checks every signature's record, the logs' chains, and flat goroutines and
## heap; fails (exit 1) when a check does; ends with a `summary soak ...` line
SOAK_FLAGS ?=
soak:
	$(GO) run ./cmd/signum-soak $(SOAK_FLAGS)

## bench-events: the event log at scale (#18): a filtered listing's pages and the incremental check, in items
## read, at growing log sizes written in batches (SIGNUM_BENCH_EVENTS, default 20000,100000: about 8 minutes,
## most of it the DynamoDB stand-in writing, whose cost per item grows with the table)
SIGNUM_BENCH_EVENTS ?= 20000,100000
bench-events:
	SIGNUM_BENCH_EVENTS=$(SIGNUM_BENCH_EVENTS) $(GO) test ./lib/store -run '^$$' -bench 'BenchmarkEventLogScale' -benchtime 1x -timeout 3h -v | tee bench-events.txt

## bench: benchmarks, several runs side by side, summarised by benchstat (bench.txt keeps the raw runs)
BENCHSTAT := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
BENCHCOUNT ?= 6
bench: softhsm
	$(GO) test ./lib/local -run '^$$' -bench 'BenchmarkGetDeployment' -benchtime 2000x -count $(BENCHCOUNT) | tee bench.txt
	$(GO) test ./lib/local -run '^$$' -bench 'BenchmarkSign$$/alg=.*/clients=.*/layer=(raw-kms|floor|floor-txn|full-http)$$' -benchtime 300x -count $(BENCHCOUNT) | tee -a bench.txt
	# requests of 64 digests beside raw KMS signatures, fewer of them (each signs 64)
	$(GO) test ./lib/local -run '^$$' -bench 'BenchmarkSign$$/alg=.*/clients=16/layer=(raw-kms|batch64-http)$$' -benchtime 30x -count $(BENCHCOUNT) | tee bench-batch.txt
	# with modelled AWS latencies (README, "Signing performance"): p50 beside #18's target
	$(GO) test ./lib/local -run '^$$' -bench 'BenchmarkSignModelledAWS' -benchtime 50x -count 3 | tee -a bench.txt
	$(GO) test ./lib/store -run '^$$' -bench 'BenchmarkEventWrite' -benchtime 1000x -count $(BENCHCOUNT) | tee -a bench.txt
	$(GO) test ./lib/keys/awskms ./lib/keys/pkcs11 ./lib/token ./lib/policy -run '^$$' -bench . -benchtime 100x -count $(BENCHCOUNT) | tee -a bench.txt
	$(GO) run $(BENCHSTAT) -col /layer -filter '.name:GetDeployment' bench.txt
	$(GO) run $(BENCHSTAT) -col /layer -filter '.name:Sign -pkg:/keys/' bench.txt
	$(GO) run $(BENCHSTAT) -col /call -filter '.name:EventWrite' bench.txt
	$(GO) run $(BENCHSTAT) -filter 'pkg:/keys|token|policy/' bench.txt
	# #18's summary: one line per algorithm, from the medians of the runs above
	$(GO) run ./cmd/signum-benchsum bench.txt bench-batch.txt

clean:
	rm -rf bin .aws-sam
