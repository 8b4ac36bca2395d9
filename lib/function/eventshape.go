package function

import (
	"encoding/json"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/fault"
)

// SQSOrEventBridge tells apart the two shapes an event function is sent: an SQS batch (batch
// set) or an EventBridge event, a schedule's tick among them (detailType set). Anything else
// is fault.ErrInvalid.
func SQSOrEventBridge(raw json.RawMessage) (batch *events.SQSEvent, detailType string, err error) {
	var probe struct {
		Records    []json.RawMessage `json:"Records"`
		DetailType string            `json:"detail-type"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, "", fault.Wrap(fault.ErrInvalid, err, "The event is not JSON.")
	}
	switch {
	case probe.Records != nil:
		batch = &events.SQSEvent{}
		if err := json.Unmarshal(raw, batch); err != nil {
			return nil, "", fault.Wrap(fault.ErrInvalid, err, "The event is not an SQS batch.")
		}
		return batch, "", nil
	case probe.DetailType != "":
		return nil, probe.DetailType, nil
	}
	return nil, "", fault.Newf(fault.ErrInvalid, "The event is neither an SQS batch nor an EventBridge event.")
}
