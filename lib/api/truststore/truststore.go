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
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/opensignum/signum/lib/function"
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

// The events the truststore function takes. Each only says "look again": Publish reads every
// registration, so a batch of stream records, a schedule tick and a retry all do the same.
type probe struct {
	// A CloudFormation custom resource request.
	RequestType string `json:"RequestType"`
	ResponseURL string `json:"ResponseURL"`
	// DynamoDB stream records (the registrations' lookup items changed).
	Records []struct {
		EventSource string `json:"eventSource"`
	} `json:"Records"`
	// An EventBridge schedule.
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
}

// Handler is the truststore function's Lambda handler.
type Handler struct {
	Publisher *ts.Publisher
	// ResponseClient sends custom resource answers to CloudFormation's presigned URL.
	ResponseClient *http.Client
}

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
		for _, r := range p.Records {
			if r.EventSource != "aws:dynamodb" {
				return nil, fmt.Errorf("a record from %q, not a DynamoDB stream", r.EventSource)
			}
		}
		return h.Publisher.Publish(ctx)
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
	} else if st, err := h.Publisher.Publish(ctx); err != nil {
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

// sendResponse PUTs r to CloudFormation's presigned URL, as cfn.Response.Send does, but
// bounded by ctx and through client. The URL is signed without a Content-Type, so the
// request carries none.
func sendResponse(ctx context.Context, client *http.Client, url string, r *cfn.Response) error {
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(body))
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("CloudFormation's response URL answered %d", res.StatusCode)
	}
	return nil
}
