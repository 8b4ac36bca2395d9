package store

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// FuzzCursorOpen: a cursor comes from the caller; whatever it is, opening it never panics, and
// only a cursor this codec sealed for this scope opens.
func FuzzCursorOpen(f *testing.F) {
	c, err := newCursorCodec(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := c.seal("log:DEP#a", map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "DEP#a"}, "SK": &types.AttributeValueMemberS{Value: "LOG#1"}})
	for _, s := range []string{good, "", "AQ", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "%%%", good[:len(good)-1]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		key, err := c.open("log:DEP#a", token)
		if err != nil {
			return
		}
		if len(key) != 2 {
			t.Fatalf("cursor %q opened to %v", token, key)
		}
		// What opens is bound to its key and scope: AES-GCM does not open under others.
		other, _ := newCursorCodec(bytes.Repeat([]byte{8}, 32))
		if _, err := other.open("log:DEP#a", token); err == nil {
			t.Fatal("cursor opened under another key")
		}
		if _, err := c.open("log:DEP#b", token); err == nil {
			t.Fatal("cursor opened for another scope")
		}
	})
}

func TestCursorRoundTrip(t *testing.T) {
	c, _ := newCursorCodec(make([]byte, 32))
	key := map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "DEP#x"}, "GSI1SK": &types.AttributeValueMemberS{Value: "2026#y"}}
	tok, err := c.seal("s", key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.open("s", tok)
	if err != nil || got["GSI1SK"].(*types.AttributeValueMemberS).Value != "2026#y" || len(got) != 2 {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := newCursorCodec(make([]byte, 16)); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := c.seal("s", map[string]types.AttributeValue{"N": &types.AttributeValueMemberN{Value: "1"}}); err == nil {
		t.Fatal("non-string key attribute sealed")
	}
}
