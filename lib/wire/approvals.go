package wire

// States of a signing request held for approval (HeldRequest.Status).
const (
	HeldPending  = "pending"
	HeldApproved = "approved" // approved; the next fetch signs it
	HeldSigned   = "signed"
	HeldRejected = "rejected"
	HeldExpired  = "expired"
	HeldFailed   = "failed"
)

// HeldRequest is the answer to POST /sign (202) when the deciding policy requires approval,
// and to GET /sign/requests/{requestId} until the request is signed (then that answers with
// the Response of POST /sign).
type HeldRequest struct {
	RequestID string `json:"requestId"`
	Status    string `json:"status"`
	ExpiresAt string `json:"expiresAt"`
	// Approvals is how many approvers approved so far, of Required.
	Approvals int `json:"approvals"`
	Required  int `json:"required"`
	// Reason says why a request ended unsigned (rejected, expired, failed).
	Reason string `json:"reason,omitempty"`
}
