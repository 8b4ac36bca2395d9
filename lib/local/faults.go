package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go/middleware"
)

// Fault is an error answer of an AWS service as it comes over the wire. When Options.Faults
// returns one for an attempt of an SDK call, the SDK receives it in place of the stand-in's
// answer: an HTTP response with the service's status and JSON error body, which the SDK
// parses into the same typed error and retries, or not, as it would the real one. Faults are
// of the JSON protocols (DynamoDB and KMS).
type Fault struct {
	// Status is the HTTP status: 400 for throttling and the request's errors, 500 for a
	// failure of the service.
	Status int
	// Type is the error's code, as the service writes it in __type
	// ("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException").
	Type    string
	Message string
	// Fields are further members of the error's body (a cancelled transaction's
	// CancellationReasons); DynamoDB spells the message of those errors Message.
	Fields map[string]any
}

// The services Options.Faults is asked about, by the names it is given.
const (
	ServiceDynamoDB = dynamodb.ServiceID
	ServiceKMS      = kms.ServiceID
)

// KMSInternalFault is KMS failing on its side (KMSInternalException, HTTP 500): the SDK
// retries it, and the key backend maps what is left after the retries to 503 with
// Retry-After.
func KMSInternalFault() *Fault {
	return &Fault{Status: http.StatusInternalServerError, Type: "KMSInternalException",
		Message: "The request was rejected because an internal exception occurred. The request can be retried."}
}

// dynamoDBPrefix is the namespace DynamoDB puts before its error codes.
const dynamoDBPrefix = "com.amazonaws.dynamodb.v20120810#"

// throttleMessage is what DynamoDB says when it throttles a table.
const throttleMessage = "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly."

// DynamoDBThrottleFault is DynamoDB throttling the call whose input is input, in the form
// DynamoDB gives it that call: a transaction is cancelled with a ThrottlingError reason for
// its first item (TransactionCanceledException, HTTP 400), which the SDK does not retry; any
// other call is refused with ProvisionedThroughputExceededException (HTTP 400), which the SDK
// retries with backoff.
func DynamoDBThrottleFault(input any) *Fault {
	if tx, ok := input.(*dynamodb.TransactWriteItemsInput); ok && len(tx.TransactItems) > 0 {
		reasons := make([]map[string]string, len(tx.TransactItems))
		codes := make([]string, len(tx.TransactItems))
		for i := range reasons {
			reasons[i], codes[i] = map[string]string{"Code": "None"}, "None"
		}
		reasons[0], codes[0] = map[string]string{"Code": "ThrottlingError", "Message": throttleMessage}, "ThrottlingError"
		return &Fault{Status: http.StatusBadRequest, Type: dynamoDBPrefix + "TransactionCanceledException",
			Fields: map[string]any{
				"Message":             "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]",
				"CancellationReasons": reasons,
			}}
	}
	return &Fault{Status: http.StatusBadRequest, Type: dynamoDBPrefix + "ProvisionedThroughputExceededException",
		Message: "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."}
}

// response is f as the service would send it in answer to req.
func (f *Fault) response(req *http.Request) *http.Response {
	body := map[string]any{"__type": f.Type}
	if f.Message != "" {
		body["message"] = f.Message
	}
	for k, v := range f.Fields {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	var id [16]byte
	_, _ = rand.Read(id[:])
	h := http.Header{}
	// The JSON protocols answer in the content type they were asked in.
	h.Set("Content-Type", req.Header.Get("Content-Type"))
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Amzn-Requestid", hex.EncodeToString(id[:]))
	return &http.Response{
		Status: fmt.Sprintf("%d %s", f.Status, http.StatusText(f.Status)), StatusCode: f.Status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: req,
	}
}

// callInputKey keeps an SDK call's input in its context, for the HTTP client below, which
// sees each attempt's request but not the input it was made from.
type callInputKey struct{}

// withCallInput is the Initialize middleware that keeps the input.
func withCallInput(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("signumCallInput",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(middleware.WithStackValue(ctx, callInputKey{}, in.Parameters), in)
		}), middleware.After)
}

// faultyHTTP asks faults, for every request the SDK sends (each attempt, retries included),
// whether the service fails it, and answers with the fault without sending the request when
// it does: at the transport, so that everything above it — the SDK's deserializers, its
// retryer and its retry quota — handles the answer as it would a real one.
type faultyHTTP struct {
	next   aws.HTTPClient
	faults func(service, operation string, input any) *Fault
}

func (f faultyHTTP) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	input := middleware.GetStackValue(ctx, callInputKey{})
	if fault := f.faults(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), input); fault != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return fault.response(req), nil
	}
	return f.next.Do(req)
}
