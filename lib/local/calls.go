package local

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/function/messaging"
)

// Calls records which AWS operations each function made, in the form of IAM actions
// ("dynamodb:Query@index", "dynamodb:PutItem@table", "kms:Sign"), so that tests can check
// them against the least-privilege policies template.yaml gives the functions: a call the
// policy does not allow works here and fails in AWS.
type Calls struct {
	mu sync.Mutex
	m  map[string]map[string]bool
	// latency, when set, is waited before each call (Options.Latency).
	latency func(service, operation string, input any) time.Duration
	// faults, when set, fails DynamoDB and KMS calls as the services would (Options.Faults).
	faults func(service, operation string, input any) *Fault
}

// Of returns the actions function id used, sorted.
func (c *Calls) Of(id string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for a := range c.m[id] {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Functions are the functions that made calls.
func (c *Calls) Functions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id := range c.m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (c *Calls) add(id string, actions ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]map[string]bool{}
	}
	if c.m[id] == nil {
		c.m[id] = map[string]bool{}
	}
	for _, a := range actions {
		c.m[id][a] = true
	}
}

// actions are the IAM actions one SDK call needs.
func actions(service, op string, params any) []string {
	switch service {
	case s3.ServiceID:
		switch op {
		case "ListObjectsV2":
			return []string{"s3:ListBucket"}
		case "HeadObject":
			return []string{"s3:GetObject"}
		}
		return []string{"s3:" + op}
	case apigatewayv2.ServiceID:
		// API Gateway's control plane is authorized by HTTP method on the resource.
		for prefix, method := range map[string]string{"Get": "GET", "Update": "PATCH", "Create": "POST", "Delete": "DELETE"} {
			if strings.HasPrefix(op, prefix) {
				return []string{"apigateway:" + method}
			}
		}
		return []string{"apigateway:" + op}
	case kms.ServiceID:
		return []string{"kms:" + op}
	case sqs.ServiceID:
		return []string{"sqs:" + op}
	}
	switch in := params.(type) {
	case *dynamodb.QueryInput:
		if in.IndexName != nil {
			return []string{"dynamodb:Query" + apigw.IndexGrant(*in.IndexName)}
		}
	case *dynamodb.TransactWriteItemsInput:
		// A transaction needs the permission of each of its item actions.
		var out []string
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				out = append(out, "dynamodb:PutItem@table")
			case it.Update != nil:
				out = append(out, "dynamodb:UpdateItem@table")
			case it.Delete != nil:
				out = append(out, "dynamodb:DeleteItem@table")
			case it.ConditionCheck != nil:
				out = append(out, "dynamodb:ConditionCheckItem@table")
			}
		}
		return out
	}
	return []string{"dynamodb:" + op + "@table"}
}

// recording returns clients like base whose calls are recorded for function id.
func (c *Calls) recording(id string, base *function.Clients) *function.Clients {
	record := func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("signumRecordCalls",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
				c.add(id, actions(service, op, in.Parameters)...)
				if c.latency != nil {
					if d := c.latency(service, op, in.Parameters); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return middleware.InitializeOutput{}, middleware.Metadata{}, ctx.Err()
						}
					}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
	m := base.Messaging.(*messaging.Clients)
	return &function.Clients{
		DynamoDB: dynamodb.New(base.DynamoDB.Options(), func(o *dynamodb.Options) {
			o.APIOptions = append(o.APIOptions, record)
			if c.faults != nil {
				// Faults are injected at the transport, below the SDK's retryer (faults.go).
				o.HTTPClient = faultyHTTP{next: o.HTTPClient, faults: c.faults}
				o.APIOptions = append(o.APIOptions, withCallInput)
			}
		}),
		KMS: kms.New(base.KMS.Options(), func(o *kms.Options) {
			o.APIOptions = append(o.APIOptions, record)
			if c.faults != nil {
				o.HTTPClient = faultyHTTP{next: o.HTTPClient, faults: c.faults}
				o.APIOptions = append(o.APIOptions, withCallInput)
			}
		}),
		S3: s3.New(base.S3.Options(), func(o *s3.Options) { o.APIOptions = append(o.APIOptions, record) }),
		APIGateway: apigatewayv2.New(base.APIGateway.Options(), func(o *apigatewayv2.Options) {
			o.APIOptions = append(o.APIOptions, record)
		}),
		Messaging: &messaging.Clients{
			EventBridge: eventbridge.New(m.EventBridge.Options(), func(o *eventbridge.Options) { o.APIOptions = append(o.APIOptions, record) }),
			SQS:         sqs.New(m.SQS.Options(), func(o *sqs.Options) { o.APIOptions = append(o.APIOptions, record) }),
		},
	}
}
