package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

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
// Object Lock: "anchors/<deployment>/<lane>/<MaxInt64-seq>.json" (audit.AnchorName), so that
// the newest anchor of a lane is the first listed. The bucket's default retention keeps each
// object from being deleted or overwritten, and its policy lets only the signer write.
type S3Anchors struct {
	s3     S3
	bucket string
}

// NewS3Anchors returns the anchors in bucket.
func NewS3Anchors(c S3, bucket string) *S3Anchors { return &S3Anchors{s3: c, bucket: bucket} }

// PutAnchor writes s, a lane's checkpoint, with a SHA-256 checksum (which S3 requires of
// writes to an Object Lock bucket).
func (a *S3Anchors) PutAnchor(ctx context.Context, s audit.Seal) error {
	if len(s.Statement.Events) != 1 {
		return fmt.Errorf("put anchor: an anchor is a checkpoint of one event")
	}
	p := s.Statement.Events[0]
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = a.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &a.bucket, Key: aws.String(anchorPrefix + audit.AnchorName(s.Statement.DeploymentID, p.Lane, p.Seq)),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json"), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256})
	if err != nil {
		return unavailable("put anchor", err)
	}
	return nil
}

// LatestAnchors reads the newest n anchors of a lane (one listing, then one read each).
func (a *S3Anchors) LatestAnchors(ctx context.Context, dep string, lane, n int) ([][]byte, error) {
	out, err := a.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &a.bucket, Prefix: aws.String(anchorPrefix + audit.AnchorPrefix(dep, lane)), MaxKeys: aws.Int32(int32(n))})
	if err != nil {
		return nil, unavailable("list anchors", err)
	}
	var raws [][]byte
	for _, o := range out.Contents {
		obj, err := a.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &a.bucket, Key: o.Key})
		if err != nil {
			return nil, unavailable("get anchor", err)
		}
		raw, err := io.ReadAll(io.LimitReader(obj.Body, maxAnchor))
		_ = obj.Body.Close()
		if err != nil {
			return nil, unavailable("read anchor", err)
		}
		raws = append(raws, raw)
	}
	return raws, nil
}
