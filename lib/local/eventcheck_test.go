package local_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/opensignum/signum/lib/audit"
)

// TestEventLogChecks: the console's check reads each lane from where the last check found it
// intact (checkedAfter), so a second check reads only the new events; a change to an event
// checked before is not what it reads, and the full check, started with POST and run on the
// updater's queue in the background, finds it, its progress and result on GET.
func TestEventLogChecks(t *testing.T) {
	srv := startLocal(t)
	con := consoleAdmin(t, srv)
	var cert struct{ ID string }
	con.do("POST", "/console/certificates", map[string]any{"groups": inGroup(t, con), "algorithm": "EC_P256", "subject": map[string]string{"commonName": "Checks"}}).must(t, 201, "cert").json(t, &cert)
	activate(t, con, cert.ID)
	sign := func(i int) {
		sum := sha256.Sum256([]byte(fmt.Sprint("build-", i)))
		con.do("POST", "/sign", map[string]any{"certificateId": cert.ID, "digests": []map[string]string{{"digest": b64(sum[:]), "digestAlgorithm": "SHA256"}}}).must(t, 200, "sign")
	}
	type verification struct {
		Intact        bool
		EventsChecked int
		CheckedAfter  []int64
		Problems      []audit.Problem
	}
	var none struct{ State string }
	con.do("GET", "/console/events/full-check", nil).must(t, 200, "no full check yet").json(t, &none)
	if none.State != "none" {
		t.Fatalf("a full check before any: %+v", none)
	}
	for i := range 12 {
		sign(i)
	}
	var first, second verification
	con.do("GET", "/console/events/verify", nil).must(t, 200, "verify").json(t, &first)
	if !first.Intact || first.EventsChecked != 24 || fmt.Sprint(first.CheckedAfter) != "[0 0 0 0 0 0 0 0]" {
		t.Fatalf("first check: %+v", first)
	}
	sign(12)
	con.do("GET", "/console/events/verify", nil).must(t, 200, "verify again").json(t, &second)
	resumed := 0
	for _, after := range second.CheckedAfter {
		if after > 0 {
			resumed++
		}
	}
	if !second.Intact || second.EventsChecked >= 12 || resumed == 0 {
		t.Fatalf("second check read %d events, %d lanes from a kept position: %+v", second.EventsChecked, resumed, second)
	}

	// An event the checks found intact is changed behind the service's back.
	var lane int
	for l, after := range second.CheckedAfter {
		if after > 0 {
			lane = l
		}
	}
	db, table := srv.Clients.DynamoDB, srv.Config.TableName
	ctx := context.Background()
	key := map[string]types.AttributeValue{ // as the signer's insiders would write it (lib/store/keys.go)
		"PK": &types.AttributeValueMemberS{Value: fmt.Sprintf("DEP#%s#LANE#%d", srv.Demo.ID, lane)},
		"SK": &types.AttributeValueMemberS{Value: fmt.Sprintf("EVT#%020d", 1)},
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item == nil {
		t.Fatalf("event 1 of lane %d: %v", lane, err)
	}
	body := out.Item["event"].(*types.AttributeValueMemberS).Value
	out.Item["event"] = &types.AttributeValueMemberS{Value: strings.Replace(body, `"digestAlgorithm":"SHA256"`, `"digestAlgorithm":"SHA384"`, 1)}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: out.Item}); err != nil {
		t.Fatal(err)
	}
	var third verification
	con.do("GET", "/console/events/verify", nil).must(t, 200, "verify after the change").json(t, &third)
	if !third.Intact {
		t.Fatalf("the incremental check read what it had found intact: %+v", third)
	}

	type fullCheck struct {
		ID            string
		State         string
		Lanes         int
		LanesDone     int
		EventsChecked int
		Problems      []audit.Problem
		ProblemCount  int
		Intact        *bool
		RequestedBy   string
	}
	var started, again, c fullCheck
	con.do("POST", "/console/events/full-check", nil).must(t, 202, "start").json(t, &started)
	con.do("POST", "/console/events/full-check", nil).must(t, 202, "start again").json(t, &again)
	if started.State != audit.CheckRunning || started.Lanes != audit.Lanes || started.RequestedBy == "" {
		t.Fatalf("started: %+v", started)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.State != audit.CheckDone && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		con.do("GET", "/console/events/full-check", nil).must(t, 200, "progress").json(t, &c)
	}
	if again.ID != started.ID && again.State == audit.CheckRunning {
		t.Fatalf("a second start while one runs started another: %s, %s", started.ID, again.ID)
	}
	if c.State != audit.CheckDone || c.LanesDone != audit.Lanes || c.EventsChecked != 26 || c.Intact == nil || *c.Intact || c.ProblemCount == 0 {
		t.Fatalf("full check: %+v", c)
	}
	if p := c.Problems[0]; p.Kind != audit.ProblemAltered || p.Lane != lane || p.Seq != 1 {
		t.Fatalf("full check found %+v, want event 1 of lane %d altered", c.Problems, lane)
	}
}
