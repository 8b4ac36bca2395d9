package truststore_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/api/truststore"
	"github.com/opensignum/signum/lib/devstack/truststoretest"
)

// TestHandleEvents: a stream batch and a schedule tick publish; a custom resource request is
// answered on its response URL with the bundle's URI and version (and a Delete changes
// nothing); an event of another kind is an error.
func TestHandleEvents(t *testing.T) {
	w := truststoretest.New(t)
	w.Register(t, "ca-one", 24*time.Hour)
	var answers []map[string]any
	cfnSrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var a map[string]any
		if r.Method != http.MethodPut || r.Header.Get("Content-Type") != "" {
			t.Errorf("CloudFormation answer sent as %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			t.Error(err)
		}
		answers = append(answers, a)
	}))
	t.Cleanup(cfnSrv.Close)
	h := &truststore.Handler{Publisher: w.P}
	ctx := context.Background()

	create := `{"RequestType":"Create","RequestId":"r1","ResponseURL":"` + cfnSrv.URL + `/answer","ResourceType":"Custom::Truststore","LogicalResourceId":"Truststore","StackId":"arn:aws:cloudformation:us-east-1:111122223333:stack/s/1"}`
	if _, err := h.Handle(ctx, json.RawMessage(create)); err != nil {
		t.Fatal(err)
	}
	if len(answers) != 1 || answers[0]["Status"] != "SUCCESS" || answers[0]["PhysicalResourceId"] != w.P.URI() {
		t.Fatalf("custom resource answer %v", answers)
	}
	data, _ := answers[0]["Data"].(map[string]any)
	if data["Uri"] != w.P.URI() || data["Version"] == "" || data["Version"] == nil {
		t.Fatalf("custom resource data %v", data)
	}
	if err := w.Domains.Create(truststoretest.Domain, w.P.URI()); err != nil {
		t.Fatal(err)
	}

	// The stream's record arrives before the index shows the registration: the function
	// reads the listing again until it does.
	w.Register(t, "ca-two", 24*time.Hour)
	w.Lag(2)
	reads := w.Reads
	stream := `{"Records":[` + w.StreamRecord(t, "ca-two", "INSERT") + `]}`
	if _, err := h.Handle(ctx, json.RawMessage(stream)); err != nil {
		t.Fatal(err)
	}
	if got := w.Deployed(t); len(got) != 2 {
		t.Fatalf("after a stream batch the domain uses %v", got)
	}
	if w.Reads-reads != 3 {
		t.Errorf("the function read the listing %d times, want 3 (two lagging)", w.Reads-reads)
	}
	// An index that never catches up fails the batch, which the stream delivers again.
	w.Register(t, "ca-three", 24*time.Hour)
	w.Lag(100)
	if _, err := h.Handle(ctx, json.RawMessage(`{"Records":[`+w.StreamRecord(t, "ca-three", "INSERT")+`]}`)); err == nil || !strings.Contains(err.Error(), "does not show 1 of 1 changes") {
		t.Fatalf("a batch the index never shows: %v", err)
	}
	w.Lag(0)
	w.Unregister("ca-three")

	w.Unregister("ca-one")
	tick := `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2026-12-03T14:00:00Z","region":"us-east-1","resources":[],"detail":{}}`
	if _, err := h.Handle(ctx, json.RawMessage(tick)); err != nil {
		t.Fatal(err)
	}
	if got := w.Deployed(t); strings.Join(got, ",") != "ca-two" {
		t.Fatalf("after a schedule tick the domain uses %v", got)
	}

	// A Delete publishes nothing, even with a registration waiting.
	w.Register(t, "ca-four", 24*time.Hour)
	del := strings.Replace(create, `"Create"`, `"Delete"`, 1)
	del = strings.Replace(del, `"RequestId":"r1"`, `"RequestId":"r2","PhysicalResourceId":"`+w.P.URI()+`"`, 1)
	if _, err := h.Handle(ctx, json.RawMessage(del)); err != nil {
		t.Fatal(err)
	}
	if len(answers) != 2 || answers[1]["Status"] != "SUCCESS" || answers[1]["PhysicalResourceId"] != w.P.URI() {
		t.Fatalf("delete answer %v", answers)
	}
	if got := w.Deployed(t); strings.Join(got, ",") != "ca-two" {
		t.Fatalf("a Delete changed the truststore: %v", got)
	}

	for _, bad := range []string{`{}`, `{"Records":[{"eventSource":"aws:sqs"}]}`, `[1]`, `{"Records":[{"eventSource":"aws:dynamodb","dynamodb":{}}]}`} {
		if _, err := h.Handle(ctx, json.RawMessage(bad)); err == nil {
			t.Errorf("event %s was taken", bad)
		}
	}
}

// TestCustomResourceFailureIsAnswered: when the truststore cannot be written, CloudFormation
// still gets an answer (FAILED, with the reason), rather than waiting an hour.
func TestCustomResourceFailureIsAnswered(t *testing.T) {
	w := truststoretest.New(t)
	w.P.Bucket = "no-such-bucket"
	var got map[string]any
	cfnSrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
	}))
	t.Cleanup(cfnSrv.Close)
	h := &truststore.Handler{Publisher: w.P, RetryDelay: time.Millisecond}
	create := `{"RequestType":"Create","RequestId":"r1","ResponseURL":"` + cfnSrv.URL + `","LogicalResourceId":"Truststore","StackId":"s"}`
	if _, err := h.Handle(context.Background(), json.RawMessage(create)); err != nil {
		t.Fatal(err)
	}
	if got["Status"] != "FAILED" || !strings.Contains(got["Reason"].(string), "no-such-bucket") {
		t.Fatalf("answer %v", got)
	}
}

// TestResponseURLStaysOutOfErrors: when CloudFormation's presigned URL cannot be reached,
// the error (which the function logs) does not carry the URL, whose signature would let a
// reader of the log answer for the stack.
func TestResponseURLStaysOutOfErrors(t *testing.T) {
	w := truststoretest.New(t)
	h := &truststore.Handler{Publisher: w.P}
	secret := "X-Amz-Signature=0123456789abcdef"
	create := `{"RequestType":"Delete","RequestId":"r1","ResponseURL":"http://127.0.0.1:1/answer?` + secret + `","LogicalResourceId":"Truststore","StackId":"s"}`
	_, err := h.Handle(context.Background(), json.RawMessage(create))
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "/answer") {
		t.Fatalf("error %v", err)
	}
}
