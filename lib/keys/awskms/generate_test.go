package awskms_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
	"github.com/opensignum/signum/lib/keys/awskms"
)

// TestGenerateRequest checks what KMS is asked to create, and the labels and tags refused
// before KMS is called.
func TestGenerateRequest(t *testing.T) {
	many := map[string]string{}
	for i := range 50 {
		many[fmt.Sprintf("t%02d", i)] = "v"
	}
	tests := []struct {
		name    string
		alg     keys.Algorithm
		label   string
		tags    map[string]string
		wantErr error
	}{
		{"ok/no-tags", keys.ECP256, "c-1", nil, nil},
		{"ok/tags", keys.RSA2048, "0f3c2a7e-cert", map[string]string{"deployment": "d-1", "env": "test", "a b": "x_y.z:/=+-@", "empty": ""}, nil},
		{"ok/unicode", keys.ECP256, "zertifikat-ä", map[string]string{"größe": "groß"}, nil},
		{"ok/49-tags", keys.ECP256, "c", func() map[string]string {
			m := map[string]string{}
			for i := range 49 {
				m[fmt.Sprintf("t%02d", i)] = "v"
			}
			return m
		}(), nil},
		{"ok/label-256", keys.ECP256, strings.Repeat("x", 256), nil, nil},
		{"ok/tag-limits", keys.ECP256, "c", map[string]string{strings.Repeat("k", 128): strings.Repeat("v", 256)}, nil},

		{"fail/unsupported-algorithm", "DSA_1024", "c", nil, keys.ErrUnsupported},
		{"fail/ecc-p521", "EC_P521", "c", nil, keys.ErrUnsupported},
		{"fail/empty-algorithm", "", "c", nil, keys.ErrUnsupported},
		{"fail/empty-label", keys.ECP256, "", nil, fault.ErrInvalid},
		{"fail/label-257", keys.ECP256, strings.Repeat("x", 257), nil, fault.ErrInvalid},
		{"fail/label-chars", keys.ECP256, "c;rm", nil, fault.ErrInvalid},
		{"fail/label-utf8", keys.ECP256, "c\xff", nil, fault.ErrInvalid},
		{"fail/50-tags", keys.ECP256, "c", many, fault.ErrInvalid},
		{"fail/empty-tag-key", keys.ECP256, "c", map[string]string{"": "v"}, fault.ErrInvalid},
		{"fail/tag-key-129", keys.ECP256, "c", map[string]string{strings.Repeat("k", 129): "v"}, fault.ErrInvalid},
		{"fail/tag-value-257", keys.ECP256, "c", map[string]string{"k": strings.Repeat("v", 257)}, fault.ErrInvalid},
		{"fail/tag-key-aws", keys.ECP256, "c", map[string]string{"aws:createdBy": "v"}, fault.ErrInvalid},
		{"fail/tag-key-AWS", keys.ECP256, "c", map[string]string{"AWS:x": "v"}, fault.ErrInvalid},
		{"fail/tag-key-label-tag", keys.ECP256, "c", map[string]string{awskms.LabelTag: "other"}, fault.ErrInvalid},
		{"fail/tag-key-chars", keys.ECP256, "c", map[string]string{"a*b": "v"}, fault.ErrInvalid},
		{"fail/tag-value-chars", keys.ECP256, "c", map[string]string{"k": "a\nb"}, fault.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := kmstypes.KeySpecEccNistP256
			if tt.alg == keys.RSA2048 {
				spec = kmstypes.KeySpecRsa2048
			}
			f := newFake(t, spec)
			k, err := awskms.New(f).Generate(context.Background(), keys.GenerateRequest{Algorithm: tt.alg, Label: tt.label, Tags: tt.tags})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
				if len(f.creates) != 0 {
					t.Fatal("KMS was asked to create a key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.URI() != "awskms:///"+fakeKeyID || k.Algorithm() != tt.alg {
				t.Fatalf("key %s %s", k.URI(), k.Algorithm())
			}
			in := f.creates[0]
			if string(in.KeySpec) != string(spec) || in.KeyUsage != kmstypes.KeyUsageTypeSignVerify || *in.Description != "signum: "+tt.label {
				t.Fatalf("CreateKey(%s, %s, %q)", in.KeySpec, in.KeyUsage, *in.Description)
			}
			got := map[string]string{}
			for _, tag := range in.Tags {
				got[*tag.TagKey] = *tag.TagValue
			}
			want := map[string]string{awskms.LabelTag: tt.label}
			for k, v := range tt.tags {
				want[k] = v
			}
			if fmt.Sprint(got) != fmt.Sprint(want) || len(in.Tags) != len(want) {
				t.Fatalf("tags %v, want %v", got, want)
			}
		})
	}
}

// TestGenerateAbandonsKey: a key that Generate created but cannot return is scheduled for
// deletion, since nobody could ever use or delete it.
func TestGenerateAbandonsKey(t *testing.T) {
	for _, tt := range []struct {
		name string
		spec kmstypes.KeySpec
		err  error
		want error
	}{
		{"get-public-key-throttled", kmstypes.KeySpecEccNistP256, &smithy.GenericAPIError{Code: "ThrottlingException"}, keys.ErrUnavailable},
		{"wrong-algorithm", kmstypes.KeySpecEccNistP384, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.spec)
			f.getPub = func() error { return tt.err }
			_, err := awskms.New(f).Generate(context.Background(), keys.GenerateRequest{Algorithm: keys.ECP256, Label: "c"})
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if len(f.deletes) != 1 || *f.deletes[0].KeyId != fakeKeyID || *f.deletes[0].PendingWindowInDays != 7 {
				t.Fatalf("deletions: %v", f.deletes)
			}
		})
	}
}

func TestPendingWindow(t *testing.T) {
	for _, days := range []int{7, 30} {
		f := newFake(t, kmstypes.KeySpecEccNistP256)
		if err := awskms.New(f, awskms.WithPendingWindow(days)).ScheduleDeletion(context.Background(), "awskms:///"+fakeKeyID); err != nil {
			t.Fatal(err)
		}
		if got := *f.deletes[0].PendingWindowInDays; got != int32(days) {
			t.Fatalf("window %d, want %d", got, days)
		}
	}
	for _, days := range []int{0, 6, 31} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WithPendingWindow(%d) did not panic", days)
				}
			}()
			awskms.WithPendingWindow(days)
		}()
	}
}
