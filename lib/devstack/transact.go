package devstack

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// transactFront serves DynamoDB's TransactWriteItems in front of minidyn, which serves every
// other call. minidyn makes a transaction atomic by deep-copying the whole table before it
// runs and putting the copy back when an action fails: a transaction costs as much as the
// table is large (a signer's completion, one transaction, took longer than the rest of the
// request once the log held some thousands of events). The front keeps the same guarantees at
// the cost of the items involved: while no other call runs, it reads each item the
// transaction names and checks each action's condition; when one fails it answers as DynamoDB
// does, with the cancellation reasons, and changes nothing; else it makes the actions one by
// one as single-item calls.
//
// Real DynamoDB answers for what this cannot: transactions of several tables run all the same,
// and ClientRequestToken (idempotent retries) is not honoured, as by minidyn.
type transactFront struct {
	inner http.Handler
	// mu: a transaction runs alone (Lock); any other call may run beside others (RLock;
	// minidyn serialises them itself).
	mu sync.RWMutex
	// keyNames are each table's key attribute names, learnt from DescribeTable.
	keyNames sync.Map // table name → []string
}

const transactTarget = "DynamoDB_20120810.TransactWriteItems"

func (f *transactFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != transactTarget {
		f.mu.RLock()
		defer f.mu.RUnlock()
		f.inner.ServeHTTP(w, r)
		return
	}
	var in struct {
		TransactItems []map[string]map[string]json.RawMessage
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeDynamoError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	status, body := f.transact(in.TransactItems)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// action is one of a transaction's items: its kind (Put, Update, Delete, ConditionCheck),
// its fields as sent, its table and key, and the item as it was before the transaction.
type action struct {
	kind   string
	fields map[string]json.RawMessage
	table  string
	key    map[string]json.RawMessage
	before map[string]json.RawMessage // nil: absent
}

func (f *transactFront) transact(items []map[string]map[string]json.RawMessage) (int, []byte) {
	if len(items) == 0 || len(items) > 100 {
		return dynamoError(http.StatusBadRequest, "ValidationException", "transactItems must have between 1 and 100 items")
	}
	actions := make([]action, 0, len(items))
	seen := map[string]bool{}
	for _, it := range items {
		if len(it) != 1 {
			return dynamoError(http.StatusBadRequest, "ValidationException", "transaction item must include exactly one of Put, Update, Delete, or ConditionCheck")
		}
		var a action
		for kind, fields := range it {
			a.kind, a.fields = kind, fields
		}
		switch a.kind {
		case "Put", "Update", "Delete", "ConditionCheck":
		default:
			return dynamoError(http.StatusBadRequest, "ValidationException", "unknown transaction action "+a.kind)
		}
		if err := json.Unmarshal(a.fields["TableName"], &a.table); err != nil || a.table == "" {
			return dynamoError(http.StatusBadRequest, "ValidationException", "TableName must not be null")
		}
		names, status, body := f.keyNamesOf(a.table)
		if names == nil {
			return status, body
		}
		source := a.fields["Key"]
		if a.kind == "Put" {
			source = a.fields["Item"]
		}
		var attrs map[string]json.RawMessage
		if err := json.Unmarshal(source, &attrs); err != nil {
			return dynamoError(http.StatusBadRequest, "ValidationException", "the item or key is not a map of attributes")
		}
		a.key = map[string]json.RawMessage{}
		for _, n := range names {
			v, ok := attrs[n]
			if !ok {
				return dynamoError(http.StatusBadRequest, "ValidationException", "The provided key element does not match the schema")
			}
			a.key[n] = v
		}
		id, _ := json.Marshal(a.key)
		if seen[a.table+"|"+string(id)] {
			return dynamoError(http.StatusBadRequest, "ValidationException", "Transaction request cannot include multiple operations on one item")
		}
		seen[a.table+"|"+string(id)] = true
		actions = append(actions, a)
	}
	for i := range actions {
		status, body := f.call("GetItem", map[string]any{"TableName": actions[i].table, "Key": actions[i].key, "ConsistentRead": true})
		if status != http.StatusOK {
			return status, body
		}
		var out struct{ Item map[string]json.RawMessage }
		if err := json.Unmarshal(body, &out); err != nil {
			return dynamoError(http.StatusInternalServerError, "InternalServerError", err.Error())
		}
		actions[i].before = out.Item
	}
	// Every condition is checked before anything is written: the items are distinct and
	// nothing else runs, so they hold while the actions are made.
	for i, a := range actions {
		status, body := f.check(a)
		if status == http.StatusOK {
			continue
		}
		if errorType(body) != "ConditionalCheckFailedException" {
			return status, body
		}
		return cancelled(actions, i)
	}
	for i, a := range actions {
		var status int
		var body []byte
		switch a.kind {
		case "Put":
			status, body = f.call("PutItem", a.fields)
		case "Update":
			status, body = f.call("UpdateItem", a.fields)
		case "Delete":
			status, body = f.call("DeleteItem", a.fields)
		default:
			continue
		}
		if status != http.StatusOK {
			// Not a condition (they held): an action DynamoDB refuses as invalid.
			f.undo(actions[:i])
			return status, body
		}
	}
	return http.StatusOK, []byte("{}\n")
}

// check asks whether a's condition holds, changing nothing: an update that removes an
// attribute no item has, on a's condition (on an absent item it makes the key alone, which is
// deleted again).
func (f *transactFront) check(a action) (int, []byte) {
	var cond string
	_ = json.Unmarshal(a.fields["ConditionExpression"], &cond)
	if cond == "" {
		return http.StatusOK, nil
	}
	in := map[string]any{"TableName": a.table, "Key": a.key, "ConditionExpression": cond, "UpdateExpression": "REMOVE #transactCheck"}
	// Only the names and values the condition uses: DynamoDB refuses unused ones.
	var names map[string]string
	var values map[string]json.RawMessage
	_ = json.Unmarshal(a.fields["ExpressionAttributeNames"], &names)
	_ = json.Unmarshal(a.fields["ExpressionAttributeValues"], &values)
	used := map[string]string{"#transactCheck": "__transactCheck__"}
	for k, v := range names {
		if placeholder(cond, k) {
			used[k] = v
		}
	}
	in["ExpressionAttributeNames"] = used
	usedValues := map[string]json.RawMessage{}
	for k, v := range values {
		if placeholder(cond, k) {
			usedValues[k] = v
		}
	}
	if len(usedValues) > 0 {
		in["ExpressionAttributeValues"] = usedValues
	}
	status, body := f.call("UpdateItem", in)
	if status == http.StatusOK && a.before == nil {
		f.call("DeleteItem", map[string]any{"TableName": a.table, "Key": a.key})
	}
	return status, body
}

// placeholder reports whether expr uses the placeholder p (#name or :value) as a whole word.
func placeholder(expr, p string) bool {
	for i := 0; ; {
		j := strings.Index(expr[i:], p)
		if j < 0 {
			return false
		}
		end := i + j + len(p)
		if end == len(expr) || !isNameByte(expr[end]) {
			return true
		}
		i = end
	}
}

func isNameByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// undo puts the items of actions back as they were before the transaction.
func (f *transactFront) undo(actions []action) {
	for _, a := range actions {
		f.restore(a)
	}
}

// restore puts a's item back as it was: deleted, then written whole when it was there. (Not
// written over: minidyn keeps an index entry of an item overwritten by one without the
// index's attributes.)
func (f *transactFront) restore(a action) {
	f.call("DeleteItem", map[string]any{"TableName": a.table, "Key": a.key})
	if a.before != nil {
		f.call("PutItem", map[string]any{"TableName": a.table, "Item": a.before})
	}
}

// cancelled is DynamoDB's answer to a transaction whose action failed failed its condition:
// a reason per action, the failed one's with the item when it asked for it.
func cancelled(actions []action, failed int) (int, []byte) {
	type reason struct {
		Code    string
		Message string                     `json:",omitempty"`
		Item    map[string]json.RawMessage `json:",omitempty"`
	}
	reasons := make([]reason, len(actions))
	codes := ""
	for i, a := range actions {
		reasons[i].Code = "None"
		if i == failed {
			reasons[i] = reason{Code: "ConditionalCheckFailed", Message: "The conditional request failed"}
			var rv string
			_ = json.Unmarshal(a.fields["ReturnValuesOnConditionCheckFailure"], &rv)
			if rv == "ALL_OLD" {
				reasons[i].Item = a.before
			}
		}
		if i > 0 {
			codes += ", "
		}
		codes += reasons[i].Code
	}
	body, _ := json.Marshal(map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
		"message": "Transaction cancelled, please refer cancellation reasons for specific reasons [" + codes + "]", "CancellationReasons": reasons})
	return http.StatusBadRequest, body
}

// keyNamesOf is table's key attribute names (nil, with the error's answer, when it cannot be
// described).
func (f *transactFront) keyNamesOf(table string) ([]string, int, []byte) {
	if v, ok := f.keyNames.Load(table); ok {
		return v.([]string), 0, nil
	}
	status, body := f.call("DescribeTable", map[string]any{"TableName": table})
	if status != http.StatusOK {
		return nil, status, body
	}
	var out struct {
		Table struct {
			KeySchema []struct{ AttributeName string }
		}
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Table.KeySchema) == 0 {
		s, b := dynamoError(http.StatusInternalServerError, "InternalServerError", "the table's key schema cannot be read")
		return nil, s, b
	}
	var names []string
	for _, k := range out.Table.KeySchema {
		names = append(names, k.AttributeName)
	}
	f.keyNames.Store(table, names)
	return names, 0, nil
}

// call makes one call of minidyn's API in process.
func (f *transactFront) call(op string, in any) (int, []byte) {
	raw, err := json.Marshal(in)
	if err != nil {
		return dynamoError(http.StatusInternalServerError, "InternalServerError", err.Error())
	}
	r, err := http.NewRequest(http.MethodPost, "/", bytes.NewReader(raw))
	if err != nil {
		return dynamoError(http.StatusInternalServerError, "InternalServerError", err.Error())
	}
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	rec := httptest.NewRecorder()
	f.inner.ServeHTTP(rec, r)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, body
}

// errorType is the error type of a DynamoDB error answer ("" when body is none), without
// its namespace.
func errorType(body []byte) string {
	var e struct {
		Type string `json:"__type"`
	}
	_ = json.Unmarshal(body, &e)
	if i := bytes.LastIndexByte([]byte(e.Type), '#'); i >= 0 {
		return e.Type[i+1:]
	}
	return e.Type
}

func dynamoError(status int, typ, msg string) (int, []byte) {
	body, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + typ, "message": msg})
	return status, body
}

func writeDynamoError(w http.ResponseWriter, status int, typ, msg string) {
	status, body := dynamoError(status, typ, msg)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
