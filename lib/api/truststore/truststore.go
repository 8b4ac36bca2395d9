// Package truststore is the truststore function's handler: the events that make it publish
// the mutual-TLS truststore (lib/truststore), and CloudFormation's custom resource that
// writes the first bundle before the domain is created.
package truststore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/store"
	ts "github.com/opensignum/signum/lib/truststore"
)

// Build is the truststore function's handler.
func Build(_ context.Context, env function.Env) (function.EventHandler, error) {
	p := function.NewParts(env)
	if p.Truststore == nil {
		return nil, errors.New("truststore: SIGNUM_TRUSTSTORE_BUCKET is not set")
	}
	h := &Handler{Publisher: p.Truststore}
	return h.Handle, nil
}

// The events the truststore function takes. Each says "look again": Publish reads every
// registration, so a batch of stream records, a schedule tick and a retry all do the same; a
// stream batch also says which registrations changed, which the (lagging) listing must show
// before the bundle is built.
type probe struct {
	// A CloudFormation custom resource request.
	RequestType string `json:"RequestType"`
	ResponseURL string `json:"ResponseURL"`
	// DynamoDB stream records (the registrations' lookup items changed).
	Records []streamRecord `json:"Records"`
	// An EventBridge schedule.
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
}

// streamRecord is the part of a DynamoDB stream record (KEYS_ONLY) the function reads.
type streamRecord struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	DynamoDB    struct {
		Keys struct {
			PK, SK struct {
				S string `json:"S"`
			}
		} `json:"Keys"`
	} `json:"dynamodb"`
}

// Handler is the truststore function's Lambda handler.
type Handler struct {
	Publisher *ts.Publisher
	// ResponseClient sends custom resource answers to CloudFormation's presigned URL.
	ResponseClient *http.Client
	// RetryDelay is the wait between a custom resource's attempts to publish
	// (DefaultRetryDelay): the function's role may be seconds old, and IAM takes a moment to
	// let it act.
	RetryDelay time.Duration
}

// DefaultRetryDelay is Handler.RetryDelay's default; a custom resource tries three times.
const DefaultRetryDelay = 5 * time.Second

// Handle publishes on a stream batch or a schedule tick, and answers a custom resource
// request. An error makes Lambda retry (the stream's batch, the schedule's event) and, after
// the retries, lands the event on the function's dead-letter queue.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var p probe
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("the event is not JSON: %w", err)
	}
	switch {
	case p.ResponseURL != "" && p.RequestType != "":
		var ev cfn.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("custom resource request: %w", err)
		}
		return h.customResource(ctx, ev)
	case len(p.Records) > 0:
		changes := make([]ts.Change, 0, len(p.Records))
		for _, r := range p.Records {
			if r.EventSource != "aws:dynamodb" {
				return nil, fmt.Errorf("a record from %q, not a DynamoDB stream", r.EventSource)
			}
			k := r.DynamoDB.Keys
			if k.PK.S == "" || k.SK.S == "" {
				return nil, errors.New("a stream record without the item's key (PK, SK)")
			}
			changes = append(changes, ts.Change{Key: store.ItemKey(k.PK.S, k.SK.S), Present: r.EventName != "REMOVE"})
		}
		return h.Publisher.PublishChanges(ctx, changes)
	case p.Source == "aws.events" && p.DetailType == "Scheduled Event":
		return h.Publisher.Publish(ctx)
	}
	return nil, errors.New("not an event the truststore function takes (a DynamoDB stream batch, a scheduled event or a CloudFormation custom resource request)")
}

// customResource creates and updates Custom::Truststore, whose attributes Uri and Version
// the mutual-TLS domain is created with; deleting it leaves the (retained) bucket alone.
// Whatever happens, CloudFormation gets an answer, or the stack would wait an hour.
func (h *Handler) customResource(ctx context.Context, ev cfn.Event) (any, error) {
	// Leave time to answer before the function's own deadline.
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-3*time.Second))
		defer cancel()
	}
	uri := h.Publisher.URI()
	r := cfn.NewResponse(&ev)
	r.PhysicalResourceID = uri
	if ev.RequestType == cfn.RequestDelete {
		r.Status = cfn.StatusSuccess
	} else if st, err := h.publishRetrying(ctx); err != nil {
		h.Publisher.Log.Error("truststore custom resource", slog.String("request", string(ev.RequestType)), slog.String("error", err.Error()))
		r.Status, r.Reason = cfn.StatusFailed, "publish the truststore: "+err.Error()
	} else {
		r.Status, r.Data = cfn.StatusSuccess, map[string]any{"Uri": uri, "Version": st.UploadedVersion}
	}
	if err := sendResponse(ctx, h.ResponseClient, ev.ResponseURL, r); err != nil {
		return nil, fmt.Errorf("answer CloudFormation: %w", err)
	}
	return map[string]string{"status": string(r.Status), "physicalResourceId": r.PhysicalResourceID}, nil
}

// publishRetrying publishes, trying three times.
func (h *Handler) publishRetrying(ctx context.Context) (ts.Status, error) {
	delay := h.RetryDelay
	if delay <= 0 {
		delay = DefaultRetryDelay
	}
	for i := 1; ; i++ {
		st, err := h.Publisher.Publish(ctx)
		if err == nil || i == 3 {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, err
		case <-time.After(delay):
		}
	}
}

// sendResponse PUTs r to CloudFormation's presigned URL, as cfn.Response.Send does, but
// bounded by ctx and through client. The URL is signed without a Content-Type, so the
// request carries none.
func sendResponse(ctx context.Context, client *http.Client, responseURL string, r *cfn.Response) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if client == nil {
		client = http.DefaultClient
	}
	// The answer goes even when publishing used up ctx's time.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, responseURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(body))
	res, err := client.Do(req)
	if err != nil {
		// Not the URL: its signature lets whoever reads the log answer for the stack.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("%s CloudFormation's response URL: %w", ue.Op, ue.Err)
		}
		return errors.New("CloudFormation's response URL cannot be reached")
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("CloudFormation's response URL answered %d", res.StatusCode)
	}
	return nil
}
