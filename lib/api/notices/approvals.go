package notices

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/notices/eventbus"
	"github.com/opensignum/signum/lib/store"
)

// Approvers are told of a signing request held for approval by an EventBridge event
// (signum.approval.requested). It is published here, from the table's stream (new items
// under APPROVAL#), not by the signer that holds the request: the signer, on every signing
// path, links no messaging client (TestOnlyMessagingFunctionsLinkIt), and a failed publish
// must neither slow nor fail a signing request. The stream retries a failed record, and the
// notices function already publishes to EventBridge.

// streamProbe tells a stream batch from the schedule's event.
type streamProbe struct {
	Records []json.RawMessage `json:"Records"`
}

// heldStore is what the notifier reads (store.Store).
type heldStore interface {
	GetApprovalRequest(ctx context.Context, dep, id string) (store.ApprovalRequest, error)
}

// approvalPublisher publishes the events (eventbus.Publisher).
type approvalPublisher interface {
	ApprovalRequested(ctx context.Context, d eventbus.ApprovalDetail) error
}

// notifyApprovals publishes an event for each held request a batch of stream records
// (KEYS_ONLY, INSERT of APPROVAL# items; the template's filter) created. A record whose
// event could not be published is reported as a batch item failure, so that the stream
// retries from it; one whose request is gone (expired and removed) is skipped.
func notifyApprovals(ctx context.Context, st heldStore, pub approvalPublisher, batch events.DynamoDBEvent) events.DynamoDBEventResponse {
	out := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	for _, r := range batch.Records {
		if r.EventName != "INSERT" {
			continue
		}
		pk, sk := r.Change.Keys["PK"].String(), r.Change.Keys["SK"].String()
		dep, okDep := strings.CutPrefix(pk, "DEP#")
		id, okID := strings.CutPrefix(sk, "APPROVAL#")
		if !okDep || !okID {
			continue
		}
		h, err := st.GetApprovalRequest(ctx, dep, id)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			out.BatchItemFailures = append(out.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
			continue
		}
		d := eventbus.ApprovalDetail{DeploymentID: dep, RequestID: h.ID, RequestedBy: h.UserID, CertificateID: h.CertificateID, PolicyID: h.PolicyID,
			Required: h.Required, Users: h.Users, Roles: h.Roles, Digests: len(h.Digests), ExpiresAt: h.Expires.UTC(), Link: "/app/console/approvals/" + h.ID}
		for _, dg := range h.Digests {
			if dg.FileName != "" {
				d.Files = append(d.Files, dg.FileName)
			}
		}
		if err := pub.ApprovalRequested(ctx, d); err != nil {
			out.BatchItemFailures = append(out.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
		}
	}
	return out
}
