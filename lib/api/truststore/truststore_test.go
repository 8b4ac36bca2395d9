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

	w.Register(t, "ca-two", 24*time.Hour)
	stream := `{"Records":[{"eventID":"1","eventName":"INSERT","eventSource":"aws:dynamodb","dynamodb":{"Keys":{"PK":{"S":"DEP#x"},"SK":{"S":"CCCA#x#y"}}}}]}`
	if _, err := h.Handle(ctx, json.RawMessage(stream)); err != nil {
		t.Fatal(err)
	}
	if got := w.Deployed(t); len(got) != 2 {
		t.Fatalf("after a stream batch the domain uses %v", got)
	}

	w.Unregister("ca-one")
	tick := `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2026-12-03T14:00:00Z","region":"us-east-1","resources":[],"detail":{}}`
	if _, err := h.Handle(ctx, json.RawMessage(tick)); err != nil {
		t.Fatal(err)
	}
	if got := w.Deployed(t); strings.Join(got, ",") != "ca-two" {
		t.Fatalf("after a schedule tick the domain uses %v", got)
	}

	del := strings.Replace(create, `"Create"`, `"Delete"`, 1)
	del = strings.Replace(del, `"RequestId":"r1"`, `"RequestId":"r2","PhysicalResourceId":"`+w.P.URI()+`"`, 1)
	if _, err := h.Handle(ctx, json.RawMessage(del)); err != nil {
		t.Fatal(err)
	}
	if len(answers) != 2 || answers[1]["Status"] != "SUCCESS" {
		t.Fatalf("delete answer %v", answers)
	}
	if got := w.Deployed(t); strings.Join(got, ",") != "ca-two" {
		t.Fatalf("a Delete changed the truststore: %v", got)
	}

	for _, bad := range []string{`{}`, `{"Records":[{"eventSource":"aws:sqs"}]}`, `[1]`} {
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
	h := &truststore.Handler{Publisher: w.P}
	create := `{"RequestType":"Create","RequestId":"r1","ResponseURL":"` + cfnSrv.URL + `","LogicalResourceId":"Truststore","StackId":"s"}`
	if _, err := h.Handle(context.Background(), json.RawMessage(create)); err != nil {
		t.Fatal(err)
	}
	if got["Status"] != "FAILED" || !strings.Contains(got["Reason"].(string), "no-such-bucket") {
		t.Fatalf("answer %v", got)
	}
}
