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
// the cost of the items involved: while no other call runs, it checks each action's
// condition, reading its item as it was; when one fails it puts back what the checks touched
// and answers as DynamoDB does, with the cancellation reasons; else it makes the actions one
// by one as single-item calls (two calls an action, where minidyn copies every item).
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
	done   bool                       // made already
}

// createsOnly reports whether fields, a Put's, write only where no item is: on the condition
// attribute_not_exists of the partition key pk (by name or through a #name).
func createsOnly(fields map[string]json.RawMessage, pk string) bool {
	var cond string
	_ = json.Unmarshal(fields["ConditionExpression"], &cond)
	attr, ok := strings.CutPrefix(strings.TrimSpace(cond), "attribute_not_exists(")
	if !ok {
		return false
	}
	attr, ok = strings.CutSuffix(attr, ")")
	attr = strings.TrimSpace(attr)
	if !ok || strings.ContainsAny(attr, "() ") {
		return false
	}
	if strings.HasPrefix(attr, "#") {
		var names map[string]string
		_ = json.Unmarshal(fields["ExpressionAttributeNames"], &names)
		attr = names[attr]
	}
	return attr == pk
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
	// A first action that writes an item only where there is none (a Put on
	// attribute_not_exists of the partition key, as an append to a log is) is made at once:
	// it is what such a transaction most often fails on, and made, its item was absent.
	names, _, _ := f.keyNamesOf(actions[0].table)
	if first := &actions[0]; first.kind == "Put" && createsOnly(first.fields, names[0]) {
		status, body := f.call("PutItem", first.fields)
		if status != http.StatusOK {
			if errorType(body) != "ConditionalCheckFailedException" {
				return status, body
			}
			var refused struct{ Item map[string]json.RawMessage }
			_ = json.Unmarshal(body, &refused)
			return cancelled(len(actions), 0, refused.Item)
		}
		first.done = true
	}
	// Each other action's condition is checked, and its item read as it was: an update that
	// removes an attribute no item has, on the action's condition, answering the item as it
	// was (on an absent item it makes the key alone). The items are distinct and nothing else
	// runs, so the conditions still hold while the actions are made, without them.
	for i := range actions {
		if actions[i].done {
			continue
		}
		status, body := f.check(&actions[i])
		if status == http.StatusOK {
			continue
		}
		// The checks changed nothing but the keys they made of absent items (and the first
		// action, made, is an item that was absent).
		for _, a := range actions[:i] {
			if a.before == nil {
				f.call("DeleteItem", map[string]any{"TableName": a.table, "Key": a.key})
			}
		}
		if errorType(body) != "ConditionalCheckFailedException" {
			return status, body
		}
		var refused struct{ Item map[string]json.RawMessage }
		_ = json.Unmarshal(body, &refused)
		return cancelled(len(actions), i, refused.Item)
	}
	for _, a := range actions {
		if a.done {
			continue
		}
		var status int
		var body []byte
		switch a.kind {
		case "Put":
			status, body = f.call("PutItem", map[string]any{"TableName": a.table, "Item": a.fields["Item"]})
		case "Update":
			var update string
			_ = json.Unmarshal(a.fields["UpdateExpression"], &update)
			in := map[string]any{"TableName": a.table, "Key": a.key, "UpdateExpression": update}
			usedBy(update, a.fields, in)
			status, body = f.call("UpdateItem", in)
		case "Delete":
			status, body = f.call("DeleteItem", map[string]any{"TableName": a.table, "Key": a.key})
		default: // ConditionCheck
			if a.before == nil {
				status, body = f.call("DeleteItem", map[string]any{"TableName": a.table, "Key": a.key})
			} else {
				status = http.StatusOK
			}
		}
		if status != http.StatusOK {
			// Not a condition (they held): an action DynamoDB refuses as invalid.
			f.undo(actions)
			return status, body
		}
	}
	return http.StatusOK, []byte("{}\n")
}

// check asks whether a's condition holds and reads a's item as it was into a.before: an
// update that removes an attribute no item has, on a's condition. On an absent item it makes
// the key alone (the action, or undo, replaces or removes it).
func (f *transactFront) check(a *action) (int, []byte) {
	in := map[string]any{"TableName": a.table, "Key": a.key, "UpdateExpression": "REMOVE #transactCheck", "ReturnValues": "ALL_OLD",
		"ExpressionAttributeNames": map[string]string{"#transactCheck": "__transactCheck__"}}
	var cond string
	_ = json.Unmarshal(a.fields["ConditionExpression"], &cond)
	if cond != "" {
		in["ConditionExpression"] = cond
		usedBy(cond, a.fields, in)
		in["ExpressionAttributeNames"].(map[string]string)["#transactCheck"] = "__transactCheck__"
		var rv string
		_ = json.Unmarshal(a.fields["ReturnValuesOnConditionCheckFailure"], &rv)
		if rv == "ALL_OLD" {
			in["ReturnValuesOnConditionCheckFailure"] = rv
		}
	}
	status, body := f.call("UpdateItem", in)
	if status != http.StatusOK {
		return status, body
	}
	var out struct{ Attributes map[string]json.RawMessage }
	if err := json.Unmarshal(body, &out); err != nil {
		return dynamoError(http.StatusInternalServerError, "InternalServerError", err.Error())
	}
	// minidyn answers an absent item's ALL_OLD with the key it made: an item of the key alone
	// counts as absent (no item of this service's table is its key alone).
	a.before = out.Attributes
	if len(a.before) <= len(a.key) {
		a.before = nil
	}
	return status, body
}

// usedBy puts in in the names and values of fields that expr uses: DynamoDB refuses unused
// ones.
func usedBy(expr string, fields map[string]json.RawMessage, in map[string]any) {
	var names map[string]string
	var values map[string]json.RawMessage
	_ = json.Unmarshal(fields["ExpressionAttributeNames"], &names)
	_ = json.Unmarshal(fields["ExpressionAttributeValues"], &values)
	used := map[string]string{}
	for k, v := range names {
		if placeholder(expr, k) {
			used[k] = v
		}
	}
	if len(used) > 0 {
		in["ExpressionAttributeNames"] = used
	}
	usedValues := map[string]json.RawMessage{}
	for k, v := range values {
		if placeholder(expr, k) {
			usedValues[k] = v
		}
	}
	if len(usedValues) > 0 {
		in["ExpressionAttributeValues"] = usedValues
	}
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

// cancelled is DynamoDB's answer to a transaction of n actions whose action failed failed its
// condition: a reason per action, the failed one's with its item when it asked for it.
func cancelled(n, failed int, item map[string]json.RawMessage) (int, []byte) {
	type reason struct {
		Code    string
		Message string                     `json:",omitempty"`
		Item    map[string]json.RawMessage `json:",omitempty"`
	}
	reasons := make([]reason, n)
	codes := make([]string, n)
	for i := range reasons {
		reasons[i].Code = "None"
		if i == failed {
			reasons[i] = reason{Code: "ConditionalCheckFailed", Message: "The conditional request failed", Item: item}
		}
		codes[i] = reasons[i].Code
	}
	body, _ := json.Marshal(map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
		"message": "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]", "CancellationReasons": reasons})
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
