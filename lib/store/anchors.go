package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aws/smithy-go"

	"github.com/opensignum/signum/lib/audit"
)

// S3 is the part of the S3 client the anchors use.
type S3 interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Compile-time check that the SDK client satisfies S3.
var _ S3 = (*s3.Client)(nil)

// anchorPrefix is where anchors are kept in their bucket.
const anchorPrefix = "anchors/"

// maxAnchor is the largest anchor object read.
const maxAnchor = 64 << 10

// S3Anchors keeps the event log's anchors (audit.Anchors) as objects of an S3 bucket with
// Object Lock: "anchors/<deployment>/<lane>/<MaxInt64-seq>-<hash>.json" (audit.AnchorName),
// so that the newest anchor of a lane is the first listed and a listing gives every anchored
// event's sequence number and hash. The bucket's default retention keeps each object from
// being deleted or overwritten, and its policy lets only the signer write.
type S3Anchors struct {
	s3     S3
	bucket string
}

// NewS3Anchors returns the anchors in bucket.
func NewS3Anchors(c S3, bucket string) *S3Anchors { return &S3Anchors{s3: c, bucket: bucket} }

// PutAnchor writes s, a lane's checkpoint, with a SHA-256 checksum (which S3 requires of
// writes to an Object Lock bucket), once: the write is conditional on no object of that name
// (If-None-Match: *), and an anchor already there is kept.
func (a *S3Anchors) PutAnchor(ctx context.Context, s audit.Seal) error {
	if len(s.Statement.Events) != 1 {
		return fmt.Errorf("put anchor: an anchor is a checkpoint of one event")
	}
	p := s.Statement.Events[0]
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = a.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &a.bucket, Key: aws.String(anchorPrefix + audit.AnchorName(s.Statement.DeploymentID, p.Lane, p.Seq, p.Hash)),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json"), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256,
		IfNoneMatch: aws.String("*")})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "PreconditionFailed" {
		return nil // written before
	}
	if err != nil {
		return unavailable("put anchor", err)
	}
	return nil
}

// anchorPage is how many names a listing of anchors asks for at a time (S3's most).
const anchorPage = 1000

// AnchorNames lists every anchor of a lane, newest first, a page of names at a time.
func (a *S3Anchors) AnchorNames(ctx context.Context, dep string, lane int) ([]string, error) {
	pages := s3.NewListObjectsV2Paginator(a.s3, &s3.ListObjectsV2Input{Bucket: &a.bucket,
		Prefix: aws.String(anchorPrefix + audit.AnchorPrefix(dep, lane)), MaxKeys: aws.Int32(anchorPage)})
	var names []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, unavailable("list anchors", err)
		}
		for _, o := range page.Contents {
			names = append(names, strings.TrimPrefix(aws.ToString(o.Key), anchorPrefix))
		}
	}
	return names, nil
}

// AnchorNamesBetween lists the anchors of a lane of sequence numbers lo to hi, newest first:
// the listing starts after the names of later anchors (names sort newest first) and stops at
// the first earlier one, so that it reads the names of the range and a page at most besides.
func (a *S3Anchors) AnchorNamesBetween(ctx context.Context, dep string, lane int, lo, hi int64) ([]string, error) {
	prefix := anchorPrefix + audit.AnchorPrefix(dep, lane)
	in := &s3.ListObjectsV2Input{Bucket: &a.bucket, Prefix: aws.String(prefix), MaxKeys: aws.Int32(anchorPage)}
	if hi < math.MaxInt64 {
		// Every name of an anchor after hi begins with a smaller number than hi's, and "~"
		// sorts after the rest of such a name.
		in.StartAfter = aws.String(fmt.Sprintf("%s%019d~", prefix, math.MaxInt64-hi-1))
	}
	pages := s3.NewListObjectsV2Paginator(a.s3, in)
	var names []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, unavailable("list anchors", err)
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), anchorPrefix)
			if seq, ok := audit.AnchorSeq(name); ok && seq < lo {
				return names, nil
			}
			names = append(names, name)
		}
	}
	return names, nil
}

// ReadAnchor reads the anchor called name (at most maxAnchor bytes of it).
func (a *S3Anchors) ReadAnchor(ctx context.Context, name string) ([]byte, error) {
	obj, err := a.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &a.bucket, Key: aws.String(anchorPrefix + name)})
	if err != nil {
		return nil, unavailable("get anchor", err)
	}
	defer obj.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(obj.Body, maxAnchor))
	if err != nil {
		return nil, unavailable("read anchor", err)
	}
	return raw, nil
}
