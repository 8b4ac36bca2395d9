package devstack

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"

	"github.com/opensignum/signum/lib/store"
)

func dynamoOn(t *testing.T, h *httptest.Server) *dynamodb.Client {
	t.Helper()
	c := dynamodb.New(dynamodb.Options{Region: Region, BaseEndpoint: aws.String(h.URL),
		Credentials: credentials.NewStaticCredentialsProvider("x", "y", "")})
	if err := store.CreateTable(context.Background(), c, "t"); err != nil {
		t.Fatal(err)
	}
	return c
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: strconv.Itoa(v)} }

// randomTransaction is a transaction of 1 to 4 actions on distinct items of a small key space,
// with conditions that hold or not by chance: puts (indexed on GSI1 or not), counter updates,
// deletes and condition checks.
func randomTransaction(rng *rand.Rand) *dynamodb.TransactWriteItemsInput {
	sks := rng.Perm(6)[:1+rng.IntN(4)]
	var items []types.TransactWriteItem
	for _, k := range sks {
		key := map[string]types.AttributeValue{"PK": s("p"), "SK": s(strconv.Itoa(k))}
		cond := []string{"", "attribute_exists(PK)", "attribute_not_exists(PK)", "attribute_not_exists(PK) OR c < :lim"}[rng.IntN(4)]
		var vals map[string]types.AttributeValue
		if strings.Contains(cond, ":lim") {
			vals = map[string]types.AttributeValue{":lim": n(2 + rng.IntN(3))}
		}
		var condPtr *string
		if cond != "" {
			condPtr = aws.String(cond)
		}
		rv := types.ReturnValuesOnConditionCheckFailureAllOld
		switch rng.IntN(4) {
		case 0:
			item := map[string]types.AttributeValue{"PK": s("p"), "SK": key["SK"], "c": n(rng.IntN(5))}
			if rng.IntN(2) == 0 {
				item["GSI1PK"], item["GSI1SK"] = s("g"), s(strconv.Itoa(rng.IntN(100)))
			}
			items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String("t"), Item: item, ConditionExpression: condPtr,
				ExpressionAttributeValues: vals, ReturnValuesOnConditionCheckFailure: rv}})
		case 1:
			if vals == nil {
				vals = map[string]types.AttributeValue{}
			}
			vals[":one"] = n(1)
			items = append(items, types.TransactWriteItem{Update: &types.Update{TableName: aws.String("t"), Key: key, UpdateExpression: aws.String("ADD c :one"),
				ConditionExpression: condPtr, ExpressionAttributeValues: vals, ReturnValuesOnConditionCheckFailure: rv}})
		case 2:
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String("t"), Key: key, ConditionExpression: condPtr,
				ExpressionAttributeValues: vals}})
		default:
			if condPtr == nil {
				condPtr = aws.String("attribute_exists(PK)")
			}
			items = append(items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: aws.String("t"), Key: key,
				ConditionExpression: condPtr, ExpressionAttributeValues: vals, ReturnValuesOnConditionCheckFailure: rv}})
		}
	}
	return &dynamodb.TransactWriteItemsInput{TransactItems: items}
}

// outcome is how a transaction ended: "ok", or the cancellation reasons' codes with the item
// returned for the failed condition.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return "error: " + err.Error()
	}
	var codes []string
	for _, r := range tce.CancellationReasons {
		codes = append(codes, aws.ToString(r.Code))
	}
	return strings.Join(codes, ",")
}

func failedItem(err error) string {
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for _, r := range tce.CancellationReasons {
			if r.Item != nil {
				return dump(r.Item)
			}
		}
	}
	return ""
}

func dump(item map[string]types.AttributeValue) string {
	var out []string
	for k, v := range item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			out = append(out, k+"="+v.Value)
		case *types.AttributeValueMemberN:
			out = append(out, k+"="+v.Value)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// contents is the table as a Scan sees it and GSI1 as a Query lists it.
func contents(t *testing.T, c *dynamodb.Client) string {
	t.Helper()
	ctx := context.Background()
	all, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("t")})
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, it := range all.Items {
		rows = append(rows, dump(it))
	}
	sort.Strings(rows)
	idx, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("t"), IndexName: aws.String("GSI1"),
		KeyConditionExpression: aws.String("GSI1PK = :g"), ExpressionAttributeValues: map[string]types.AttributeValue{":g": s("g")}})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, it := range idx.Items {
		listed = append(listed, dump(it))
	}
	return strings.Join(rows, "\n") + "\nGSI1:\n" + strings.Join(listed, "\n")
}

// TestTransactFrontAsMinidyn runs the same random transactions on minidyn alone and behind
// the front: each ends the same way (committed, or cancelled with the same reasons and the
// same item returned), and the tables and their index hold the same items after each.
func TestTransactFrontAsMinidyn(t *testing.T) {
	plain := httptest.NewServer(server.NewServer())
	defer plain.Close()
	front := httptest.NewServer(&transactFront{inner: server.NewServer()})
	defer front.Close()
	a, b := dynamoOn(t, plain), dynamoOn(t, front)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	ctx := context.Background()
	committed, cancelled := 0, 0
	for i := 0; i < 400; i++ {
		in := randomTransaction(rng)
		_, errA := a.TransactWriteItems(ctx, in)
		_, errB := b.TransactWriteItems(ctx, in)
		if oa, ob := outcome(errA), outcome(errB); oa != ob {
			t.Fatalf("transaction %d: minidyn %s, front %s", i, oa, ob)
		}
		// The item of a failed condition, asked for: where minidyn returns it, the same.
		if ia, ib := failedItem(errA), failedItem(errB); ia != "" && ia != ib {
			t.Fatalf("transaction %d: minidyn returned %q for the failed condition, the front %q", i, ia, ib)
		}
		if errA == nil {
			committed++
		} else {
			cancelled++
		}
		if ca, cb := contents(t, a), contents(t, b); ca != cb {
			t.Fatalf("after transaction %d (%s): minidyn holds\n%s\nthe front\n%s", i, outcome(errA), ca, cb)
		}
	}
	if committed < 50 || cancelled < 50 {
		t.Fatalf("the random transactions did not test both ends: %d committed, %d cancelled", committed, cancelled)
	}
	// Duplicate items in one transaction are refused, as by minidyn.
	dup := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"PK": s("p"), "SK": s("1")}, ConditionExpression: aws.String("attribute_exists(PK)")}},
		{Delete: &types.Delete{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"PK": s("p"), "SK": s("1")}}},
	}}
	_, errA := a.TransactWriteItems(ctx, dup)
	_, errB := b.TransactWriteItems(ctx, dup)
	var va, vb smithyCode
	if !errors.As(errA, &va) || !errors.As(errB, &vb) || va.ErrorCode() != "ValidationException" || vb.ErrorCode() != va.ErrorCode() {
		t.Fatalf("a transaction naming one item twice: minidyn %v, front %v", errA, errB)
	}
}

type smithyCode interface{ ErrorCode() string }

// TestTransactFrontIsolated runs transactions that move a unit between two counters while
// other calls read them: no reader sees a transaction half made, and none is lost.
func TestTransactFrontIsolated(t *testing.T) {
	front := httptest.NewServer(&transactFront{inner: server.NewServer()})
	defer front.Close()
	c := dynamoOn(t, front)
	ctx := context.Background()
	key := func(k string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"PK": s("p"), "SK": s(k)}
	}
	for _, k := range []string{"a", "b"} {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: map[string]types.AttributeValue{"PK": s("p"), "SK": s(k), "c": n(100)}}); err != nil {
			t.Fatal(err)
		}
	}
	move := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{TableName: aws.String("t"), Key: key("a"), UpdateExpression: aws.String("ADD c :m"), ConditionExpression: aws.String("c > :z"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":m": n(-1), ":z": n(0)}}},
		{Update: &types.Update{TableName: aws.String("t"), Key: key("b"), UpdateExpression: aws.String("ADD c :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": n(1)}}},
	}}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := c.TransactWriteItems(ctx, move); err != nil {
					errs <- err
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				out, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"t": {Keys: []map[string]types.AttributeValue{key("a"), key("b")}, ConsistentRead: aws.Bool(true)}}})
				if err != nil {
					errs <- err
					continue
				}
				sum := 0
				for _, it := range out.Responses["t"] {
					v, _ := strconv.Atoi(it["c"].(*types.AttributeValueMemberN).Value)
					sum += v
				}
				if sum != 200 {
					errs <- fmt.Errorf("a reader saw the counters sum to %d, not 200", sum)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key("b"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Item["c"].(*types.AttributeValueMemberN).Value; got != "180" {
		t.Fatalf("after 80 moves b holds %s, want 180", got)
	}
}
