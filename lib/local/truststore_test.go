package local_test

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/opensignum/signum/lib/certificates/certstest"
	"github.com/opensignum/signum/lib/devstack"
	"github.com/opensignum/signum/lib/truststore"
)

// TestTruststoreFollowsRegistrations: on the whole local service, a CA registered in the
// console reaches the truststore bucket when the truststore function runs (as its schedule or
// the table's stream make it), the operator's status says when the bundle is behind, and a
// removal leaves the bundle at the next run. Every AWS call made is one the functions'
// policies in template.yaml allow (checkGrants).
func TestTruststoreFollowsRegistrations(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	ctx := context.Background()
	publish := srv.Events["TruststoreFunction"]
	if publish == nil {
		t.Fatal("the local server did not build the truststore function")
	}
	tick := []byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`)
	run := func() truststore.Status {
		t.Helper()
		out, err := publish(ctx, tick)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(out)
		var st truststore.Status
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	doc, err := openapi3.NewLoader().LoadFromFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	schema := doc.Components.Schemas["TruststoreStatus"].Value
	status := func() truststore.Status {
		t.Helper()
		r := call(t, srv, "GET", "/operator/truststore/status", "", "", true)
		var st truststore.Status
		var body any
		if r.status != 200 || json.Unmarshal([]byte(r.body), &st) != nil || json.Unmarshal([]byte(r.body), &body) != nil {
			t.Fatalf("status: %d %s", r.status, r.body)
		}
		if err := schema.VisitJSON(body); err != nil {
			t.Fatalf("the status does not match its documented schema: %v\n%s", err, r.body)
		}
		return st
	}
	bundle := func() string {
		t.Helper()
		out, err := srv.Clients.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(devstack.TruststoreBucket), Key: aws.String(truststore.Object)})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		return string(b)
	}

	if st := run(); st.Certificates != 0 || !st.Uploaded || !st.Current {
		t.Fatalf("first run: %+v", st)
	}
	var agent struct{ ID string }
	con.do("POST", "/console/users", map[string]any{"username": "agents", "name": "Agents", "roles": []string{"signer"}}).must(t, 201, "user").json(t, &agent)
	ca := newCA(t)
	var cred struct{ ID string }
	base := "/console/users/" + agent.ID + "/client-certificates"
	con.do("POST", base, map[string]any{"kind": "ca", "name": "CI CA", "certificate": certstest.PEM(ca.Intermediate),
		"rules": []map[string]string{{"field": "subject", "pattern": ".*"}}}).must(t, 201, "register CA").json(t, &cred)

	if st := status(); st.Current || st.Certificates != 1 || len(st.Reasons) == 0 {
		t.Fatalf("status after a registration, before the function ran: %+v", st)
	}
	// The stream's record names the lookup item as the table has it: the function waits for
	// the listing to show exactly that key (a wrong key would never show, and fail the batch).
	items, err := srv.Clients.DynamoDB.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(srv.Config.TableName), IndexName: aws.String("GSI1"),
		KeyConditionExpression: aws.String("GSI1PK = :pk"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": &ddbtypes.AttributeValueMemberS{Value: "CLIENTTRUST"}}})
	if err != nil || len(items.Items) != 1 {
		t.Fatalf("the table's trust anchors: %v %v", items, err)
	}
	key := func(name string) string {
		v, _ := items.Items[0][name].(*ddbtypes.AttributeValueMemberS)
		return v.Value
	}
	record := `{"Records":[{"eventName":"INSERT","eventSource":"aws:dynamodb","dynamodb":{"Keys":{"PK":{"S":` + strconv.Quote(key("PK")) + `},"SK":{"S":` + strconv.Quote(key("SK")) + `}}}}]}`
	out, err := publish(ctx, []byte(record))
	if err != nil {
		t.Fatalf("a stream record of the registration: %v", err)
	}
	if st := out.(truststore.Status); st.Certificates != 1 || !st.Uploaded || !st.Current {
		t.Fatalf("run after a registration: %+v", st)
	}
	if b := bundle(); !strings.Contains(b, strings.TrimSpace(certstest.PEM(ca.Intermediate))) {
		t.Fatalf("the bundle lacks the registered CA:\n%s", b)
	}
	if st := status(); !st.Current {
		t.Fatalf("status after the run: %+v", st)
	}

	con.do("DELETE", base+"/"+cred.ID, nil).must(t, 204, "remove CA")
	if st := run(); st.Certificates != 0 || !st.Uploaded {
		t.Fatalf("run after the removal: %+v", st)
	}
	if b := bundle(); strings.Contains(b, strings.TrimSpace(certstest.PEM(ca.Intermediate))) {
		t.Fatal("the bundle still holds the removed CA")
	}
}
