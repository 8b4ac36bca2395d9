#!/bin/bash
# LocalStack "ready" hook: creates what template.yaml gives the functions in AWS, the table
# (Resources.Table), the service, token and checkpoint keys and the anchor and truststore
# buckets, so that functions and the AWS CLI can be pointed at this LocalStack with
#   TABLE_NAME=${SIGNUM_TABLE:-signum} SERVICE_KEY_ID=alias/signum-service
#   TOKEN_KEY_ID=alias/signum-token SIGNUM_CHECKPOINT_KEY=alias/signum-checkpoint
#   SIGNUM_ANCHOR_BUCKET=signum-anchors SIGNUM_TRUSTSTORE_BUCKET=signum-truststore.
# The store's integration tests (make test-aws) need none of it: each makes its own table.
#
# Idempotent: what exists is left alone, so the script can be run again by hand:
#   docker compose -f localstack/docker-compose.yml exec localstack \
#     /etc/localstack/init/ready.d/10-signum.sh
set -euo pipefail

table="${SIGNUM_TABLE:-signum}"

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

# ensure_key ALIAS SPEC USAGE DESCRIPTION creates a KMS key and its alias unless the alias
# exists. An existing key is kept: a new service key would invalidate every cursor already
# handed out, a new token key every token, a new checkpoint key every seal.
ensure_key() {
	local alias_name=$1 spec=$2 usage=$3 description=$4 out key_id
	if out=$(awslocal kms describe-key --key-id "$alias_name" 2>&1); then
		log "key $alias_name exists"
	elif [[ $out == *NotFoundException* ]]; then
		log "creating key $alias_name"
		key_id=$(awslocal kms create-key --key-spec "$spec" --key-usage "$usage" \
			--description "$description" --query KeyMetadata.KeyId --output text)
		awslocal kms create-alias --alias-name "$alias_name" --target-key-id "$key_id"
	else
		echo "$out" >&2
		exit 1
	fi
}

# The same keys as lib/devstack's Bootstrap and template.yaml's ServiceKey, TokenKey and
# CheckpointKey (TestLocalStackHookMatchesBootstrap keeps this list equal to Bootstrap's).
ensure_key alias/signum-service HMAC_256 GENERATE_VERIFY_MAC "signum service key (derives shared keys; never exported)"
ensure_key alias/signum-token ECC_NIST_P256 SIGN_VERIFY "signum token key: signs bearer tokens"
ensure_key alias/signum-checkpoint ECC_NIST_P256 SIGN_VERIFY "signum checkpoint key: certifies the event log's sealing keys"

# The checkpoint anchors' bucket (template.yaml's AnchorBucket; LocalStack does not enforce
# Object Lock retention the way S3 does).
bucket=signum-anchors
if awslocal s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
	log "bucket $bucket exists"
else
	log "creating bucket $bucket"
	awslocal s3api create-bucket --bucket "$bucket" --object-lock-enabled-for-bucket >/dev/null
fi

# The mutual-TLS truststore's bucket (template.yaml's TruststoreBucket), versioned because
# API Gateway names the version of the bundle it uses.
truststore=signum-truststore
if awslocal s3api head-bucket --bucket "$truststore" >/dev/null 2>&1; then
	log "bucket $truststore exists"
else
	log "creating bucket $truststore"
	awslocal s3api create-bucket --bucket "$truststore" >/dev/null
fi
awslocal s3api put-bucket-versioning --bucket "$truststore" --versioning-configuration Status=Enabled

log "ready: table $table, keys alias/signum-service, alias/signum-token, alias/signum-checkpoint, buckets $bucket and $truststore (region $AWS_DEFAULT_REGION)"
