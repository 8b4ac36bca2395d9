#!/bin/bash
# LocalStack "ready" hook: creates what template.yaml gives the functions in AWS, the table
# (Resources.Table) and the service key (Resources.ServiceKey, ServiceKeyAlias), so that
# functions and the AWS CLI can be pointed at this LocalStack with
#   TABLE_NAME=${SIGNUM_TABLE:-signum} SERVICE_KEY_ID=alias/signum-service.
# The store's integration tests (make test-aws) need none of it: each makes its own table.
#
# Idempotent: what exists is left alone, so the script can be run again by hand:
#   docker compose -f localstack/docker-compose.yml exec localstack \
#     /etc/localstack/init/ready.d/10-signum.sh
set -euo pipefail

table="${SIGNUM_TABLE:-signum}"
alias_name="alias/signum-service"

# The account LocalStack files resources under follows the access key id, and tables and keys
# are per region: use the same "test" key and region as the host's clients (README.md), or
# the host would not see what this creates.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

log() { echo "signum init: $*"; }

# Same keys and index as template.yaml and lib/store/schema.go (a Go test keeps those two
# equal; keep this one equal by hand).
if out=$(awslocal dynamodb describe-table --table-name "$table" 2>&1); then
	log "table $table exists"
elif [[ $out == *ResourceNotFoundException* ]]; then
	log "creating table $table"
	awslocal dynamodb create-table \
		--table-name "$table" \
		--billing-mode PAY_PER_REQUEST \
		--attribute-definitions \
		AttributeName=PK,AttributeType=S \
		AttributeName=SK,AttributeType=S \
		AttributeName=GSI1PK,AttributeType=S \
		AttributeName=GSI1SK,AttributeType=S \
		--key-schema AttributeName=PK,KeyType=HASH AttributeName=SK,KeyType=RANGE \
		--global-secondary-indexes '[{
			"IndexName": "GSI1",
			"KeySchema": [
				{"AttributeName": "GSI1PK", "KeyType": "HASH"},
				{"AttributeName": "GSI1SK", "KeyType": "RANGE"}
			],
			"Projection": {"ProjectionType": "ALL"}
		}]' >/dev/null
	awslocal dynamodb wait table-exists --table-name "$table"
else
	# Anything but "no such table" (LocalStack not answering, bad credentials): stop rather
	# than try to create over it.
	echo "$out" >&2
	exit 1
fi

# TTL removes expired items (system log entries). Emulators differ in how they support it,
# and it is already on when the table existed, so a failure here is not fatal.
if awslocal dynamodb update-time-to-live --table-name "$table" \
	--time-to-live-specification Enabled=true,AttributeName=expiresAt >/dev/null 2>&1; then
	log "TTL on expiresAt enabled"
else
	log "TTL on expiresAt not changed (already enabled, or not supported here)"
fi

# The HMAC key the functions derive page-cursor keys from. An existing one is kept: a new key
# would invalidate every cursor already handed out.
if out=$(awslocal kms describe-key --key-id "$alias_name" 2>&1); then
	log "key $alias_name exists"
elif [[ $out == *NotFoundException* ]]; then
	log "creating key $alias_name"
	key_id=$(awslocal kms create-key \
		--key-spec HMAC_256 \
		--key-usage GENERATE_VERIFY_MAC \
		--description "signum service key (derives shared keys; never exported)" \
		--query KeyMetadata.KeyId --output text)
	awslocal kms create-alias --alias-name "$alias_name" --target-key-id "$key_id"
else
	echo "$out" >&2
	exit 1
fi

log "ready: table $table, key $alias_name (region $AWS_DEFAULT_REGION)"
