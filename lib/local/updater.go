package local

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/function"
	"github.com/opensignum/signum/lib/tenant"
)

// UpdaterID is the updater function's logical id.
const UpdaterID = "UpdaterFunction"

// updateQueue stands in for the updater's SQS queue and its event source mapping: it
// answers SQS's SendMessage (the JSON 1.0 protocol the SDK speaks, with the body's MD5 the
// SDK checks), and delivers each message to the updater's handler as a one-record SQS
// event; a record the handler reports failed (or an error) is delivered again after
// redeliver, up to maxReceives times, then dropped with a log line (the dead-letter queue).
// A tick, every tick, invokes the handler with a scheduled event, as EventBridge's rule does.
type updateQueue struct {
	log         *slog.Logger
	redeliver   time.Duration
	maxReceives int
	url         string

	mu      sync.Mutex
	handler function.EventHandler
	srv     *http.Server
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// startUpdateQueue listens on a free loopback port.
func startUpdateQueue(log *slog.Logger) (*updateQueue, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the queue stand-in: %w", err)
	}
	q := &updateQueue{log: log, redeliver: time.Second, maxReceives: 5}
	q.ctx, q.stop = context.WithCancel(context.Background())
	q.url = "http://" + ln.Addr().String() + "/" + devstack.AccountID + "/updates"
	q.srv = &http.Server{Handler: q, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = q.srv.Serve(ln) }()
	return q, nil
}

// endpoint is the stand-in's base URL (AWS_ENDPOINT_URL_SQS).
func (q *updateQueue) endpoint() string {
	u := q.url
	return u[:len(u)-len("/"+devstack.AccountID+"/updates")]
}

// ServeHTTP answers SendMessage.
func (q *updateQueue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + code, "message": msg})
	}
	if r.Header.Get("X-Amz-Target") != "AmazonSQS.SendMessage" {
		fail(http.StatusBadRequest, "UnsupportedOperation", "the local queue answers SendMessage only")
		return
	}
	var in struct {
		QueueURL     string `json:"QueueUrl"`
		MessageBody  string `json:"MessageBody"`
		DelaySeconds int    `json:"DelaySeconds"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<10)).Decode(&in); err != nil || in.MessageBody == "" {
		fail(http.StatusBadRequest, "InvalidParameterValue", "the request is not a SendMessage with a body")
		return
	}
	if in.QueueURL != q.url {
		fail(http.StatusBadRequest, "QueueDoesNotExist", "no queue has that URL")
		return
	}
	sum := md5.Sum([]byte(in.MessageBody))
	id := tenant.NewID("msg_")
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(map[string]string{"MessageId": id, "MD5OfMessageBody": hex.EncodeToString(sum[:])})
	q.later(time.Duration(in.DelaySeconds)*time.Second, func() { q.deliver(id, in.MessageBody, 1) })
}

// later runs f after d, unless the queue closes first.
func (q *updateQueue) later(d time.Duration, f func()) {
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		select {
		case <-time.After(d):
			f()
		case <-q.ctx.Done():
		}
	}()
}

// deliver invokes the handler with the message as a one-record SQS event.
func (q *updateQueue) deliver(id, body string, receives int) {
	q.mu.Lock()
	h := q.handler
	q.mu.Unlock()
	if h == nil || q.ctx.Err() != nil {
		return
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: id, Body: body, EventSource: "aws:sqs",
		EventSourceARN: "arn:aws:sqs:" + devstack.Region + ":" + devstack.AccountID + ":updates",
		Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(receives),
			"SentTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10)}}}}
	raw, _ := json.Marshal(ev)
	out, err := h(q.ctx, raw)
	failed := err != nil
	if resp, ok := out.(events.SQSEventResponse); ok && len(resp.BatchItemFailures) > 0 {
		failed = true
	}
	if !failed {
		return
	}
	if receives >= q.maxReceives {
		q.log.Error("update message dead-lettered", slog.String("messageId", id), slog.Int("receives", receives))
		return
	}
	q.later(q.redeliver, func() { q.deliver(id, body, receives+1) })
}

// tick invokes the handler with a scheduled event every every (none when every <= 0).
func (q *updateQueue) tick(every time.Duration) {
	if every <= 0 {
		return
	}
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-q.ctx.Done():
				return
			case now := <-t.C:
				q.mu.Lock()
				h := q.handler
				q.mu.Unlock()
				if h == nil {
					continue
				}
				if _, err := h(q.ctx, ScheduledEvent(now)); err != nil && q.ctx.Err() == nil {
					q.log.Warn("updater tick failed", slog.String("error", err.Error()))
				}
			}
		}
	}()
}

// ScheduledEvent is EventBridge's scheduled event at t, as the updater's rule sends it.
func ScheduledEvent(t time.Time) json.RawMessage {
	raw, _ := json.Marshal(map[string]any{"version": "0", "id": tenant.NewID("evt_"), "detail-type": "Scheduled Event", "source": "aws.events",
		"account": devstack.AccountID, "time": t.UTC().Format(time.RFC3339), "region": devstack.Region,
		"resources": []string{"arn:aws:events:" + devstack.Region + ":" + devstack.AccountID + ":rule/updater-tick"}, "detail": map[string]any{}})
	return raw
}

// close stops deliveries and the tick and waits for those in flight.
func (q *updateQueue) close() {
	q.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = q.srv.Shutdown(ctx)
	q.wg.Wait()
}
