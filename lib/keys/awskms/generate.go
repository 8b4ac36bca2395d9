package awskms

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/opensignum/signum/lib/fault"
	"github.com/opensignum/signum/lib/keys"
)

// LabelTag is the tag that carries a key's label, so that an operator can find the KMS key of
// a certificate (and a key whose Generate failed half-way) by tag.
const LabelTag = "signum:label"

// KMS tag limits (https://docs.aws.amazon.com/kms/latest/developerguide/tagging-keys.html):
// keys of 1 to 128 and values of 0 to 256 Unicode characters, letters, digits, white space
// and "_ . : / = + - @" only, at most 50 tags per key, no keys starting with "aws:".
const (
	maxTagKey   = 128
	maxTagValue = 256
	maxTags     = 50
)

// cleanupTimeout bounds the best-effort deletion of a key that Generate created but could
// not return.
const cleanupTimeout = 5 * time.Second

var tagChars = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// specs maps the supported algorithms to KMS key specs; algorithms maps back.
var (
	specs = map[keys.Algorithm]kmstypes.KeySpec{
		keys.RSA2048: kmstypes.KeySpecRsa2048,
		keys.RSA3072: kmstypes.KeySpecRsa3072,
		keys.RSA4096: kmstypes.KeySpecRsa4096,
		keys.ECP256:  kmstypes.KeySpecEccNistP256,
		keys.ECP384:  kmstypes.KeySpecEccNistP384,
	}
	algorithms = func() map[kmstypes.KeySpec]keys.Algorithm {
		m := map[kmstypes.KeySpec]keys.Algorithm{}
		for a, s := range specs {
			m[s] = a
		}
		return m
	}()
)

// Generate creates a SIGN_VERIFY KMS key of req.Algorithm, described as "signum: <label>",
// tagged with req.Tags and LabelTag=<label>, with the backend's key policy (WithKeyPolicy).
// KMS does not enforce unique labels; the caller (which uses certificate ids) does. CreateKey is not idempotent: should the SDK retry a
// CreateKey whose answer was lost, KMS holds a second key with the same label that nothing
// uses, found by its tag.
func (b *Backend) Generate(ctx context.Context, req keys.GenerateRequest) (keys.Key, error) {
	spec, ok := specs[req.Algorithm]
	if !ok {
		return nil, fault.Newf(keys.ErrUnsupported, "the key algorithm %q is not supported; use one of %s",
			clip(string(req.Algorithm)), supported())
	}
	tags, err := kmsTags(req.Label, req.Tags, b.tags)
	if err != nil {
		return nil, err
	}
	in := &kms.CreateKeyInput{
		KeySpec:     spec,
		KeyUsage:    kmstypes.KeyUsageTypeSignVerify,
		Description: aws.String("signum: " + req.Label),
		Tags:        tags,
	}
	if b.policy != "" {
		// See WithKeyPolicy for why the lockout safety check is bypassed, and why that is safe.
		in.Policy = aws.String(b.policy)
		in.BypassPolicyLockoutSafetyCheck = true
	}
	out, err := b.kms.CreateKey(ctx, in)
	if err != nil {
		return nil, mapError("create KMS key", err)
	}
	if out.KeyMetadata == nil || out.KeyMetadata.KeyId == nil || *out.KeyMetadata.KeyId == "" {
		return nil, errors.New("create KMS key: CreateKey returned no key id")
	}
	id := *out.KeyMetadata.KeyId
	if _, err := parseURI(uriOf(id)); err != nil {
		return nil, b.abandon(ctx, id, fmt.Errorf("create KMS key: KMS returned key id %q, which is not a key id this backend opens", id))
	}
	// The caller needs the public key (crypto.Signer.Public has no error); fetching it now
	// also fills the cache for the Open that usually follows.
	pk, err := b.publicKey(ctx, id)
	if err != nil {
		return nil, b.abandon(ctx, id, err)
	}
	if pk.alg != req.Algorithm {
		return nil, b.abandon(ctx, id, fmt.Errorf("KMS key %s is %s, not the %s requested", id, pk.alg, req.Algorithm))
	}
	return &key{b: b, id: id, pub: pk}, nil
}

// abandon schedules the deletion of a key that Generate created but cannot return: the
// caller cannot know its URI, so nobody would ever use or delete it. This is best effort, on
// a context of its own (the caller's may be what ended), and err is returned either way.
func (b *Backend) abandon(ctx context.Context, id string, err error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if _, derr := b.kms.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{
		KeyId:               aws.String(id),
		PendingWindowInDays: aws.Int32(b.pendingWindow),
	}); derr != nil {
		err = fmt.Errorf("%w (and scheduling the deletion of the unused KMS key %s failed: %v)", err, id, derr)
	}
	return err
}

// kmsTags checks the label and tags against KMS's limits, so that a bad tag is the caller's
// 400 rather than a KMS TagException (500), and returns them, then the backend's own tags,
// in a stable order.
func kmsTags(label string, tags, own map[string]string) ([]kmstypes.Tag, error) {
	var f fault.Fields
	if label == "" {
		f.Add("label", "is required")
	} else if reason := checkTagText(label, maxTagValue); reason != "" {
		f.Add("label", "%s (it is the value of the %s tag)", reason, LabelTag)
	}
	if room := maxTags - 1 - len(own); len(tags) > room {
		f.Add("tags", "%d tags; a KMS key has at most %d besides the key backend's own", len(tags), room)
	}
	names := make([]string, 0, len(tags))
	for k := range tags {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]kmstypes.Tag, 0, len(tags)+1)
	for _, k := range names {
		v := tags[k]
		field := fmt.Sprintf("tags[%q]", clip(k))
		switch {
		case k == "":
			f.Add("tags", "a tag key is empty")
		case k == LabelTag:
			f.Add(field, "is set by the key backend from the label")
		case isOwn(own, k):
			f.Add(field, "is set by the key backend")
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			f.Add(field, "tag keys starting with aws: are reserved by AWS")
		default:
			if reason := checkTagText(k, maxTagKey); reason != "" {
				f.Add(field, "key %s", reason)
			}
		}
		if reason := checkTagText(v, maxTagValue); reason != "" {
			f.Add(field, "value %s", reason)
		}
		out = append(out, kmstypes.Tag{TagKey: aws.String(k), TagValue: aws.String(v)})
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(own)) {
		out = append(out, kmstypes.Tag{TagKey: aws.String(k), TagValue: aws.String(own[k])})
	}
	return append(out, kmstypes.Tag{TagKey: aws.String(LabelTag), TagValue: aws.String(label)}), nil
}

// isOwn reports whether the backend sets the tag k itself (WithTags).
func isOwn(own map[string]string, k string) bool {
	_, ok := own[k]
	return ok
}

// checkTagText returns why s is not a KMS tag key or value of at most max characters, or "".
func checkTagText(s string, max int) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case utf8.RuneCountInString(s) > max:
		return fmt.Sprintf("is longer than %d characters", max)
	case !tagChars.MatchString(s):
		return "may hold only letters, digits, spaces and _ . : / = + - @"
	}
	return ""
}

// clip shortens caller input that goes into an error detail.
func clip(s string) string {
	const max = 64
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}

func supported() string {
	names := make([]string, 0, len(specs))
	for _, a := range keys.Algorithms {
		if _, ok := specs[a]; ok {
			names = append(names, string(a))
		}
	}
	return strings.Join(names, ", ")
}
