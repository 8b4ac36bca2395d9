package eventbus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// The event that tells approvers a signing request waits for them, for an operator's
// EventBridge rule to route (to e-mail, chat, a ticket): the requests held for approval of
// lib/signing, published by the notices function from the table's stream.
const (
	ApprovalSource              = "signum.approvals"
	DetailTypeApprovalRequested = "signum.approval.requested"
)

// ApprovalDetail is the detail of a signum.approval.requested event. Delivery is at least
// once: a consumer dedupes on RequestID.
type ApprovalDetail struct {
	DeploymentID  string    `json:"deploymentId"`
	RequestID     string    `json:"requestId"`
	RequestedBy   string    `json:"requestedBy"`
	CertificateID string    `json:"certificateId"`
	PolicyID      string    `json:"policyId"`
	Required      int       `json:"required"`
	Users         []string  `json:"approverUsers"`
	Roles         []string  `json:"approverRoles"`
	Files         []string  `json:"files,omitempty"`
	Digests       int       `json:"digests"`
	ExpiresAt     time.Time `json:"expiresAt"`
	// Link is the request's page in the console, relative to the deployment's domain name.
	Link string `json:"link"`
}

// ApprovalRequested publishes that d's request waits for approval.
func (e *Publisher) ApprovalRequested(ctx context.Context, d ApprovalDetail) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("approvals: event detail: %w", err)
	}
	entry := ebtypes.PutEventsRequestEntry{Source: aws.String(ApprovalSource), DetailType: aws.String(DetailTypeApprovalRequested), Detail: aws.String(string(raw))}
	if e.bus != "" {
		entry.EventBusName = aws.String(e.bus)
	}
	out, err := e.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}})
	if err != nil {
		return fmt.Errorf("approvals: put event: %w", err)
	}
	if out.FailedEntryCount > 0 {
		return fmt.Errorf("approvals: EventBridge failed the event")
	}
	return nil
}
