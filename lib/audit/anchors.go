package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Anchors keep lanes' checkpoints outside the table, write-once: an S3 bucket with Object Lock
// in AWS (store.S3Anchors), a directory (DirAnchors) for a copy an auditor checks offline.
// A table writer who saved an old signed checkpoint can put it back in the table, but not
// take back the later anchors: Verify finds the lane behind its latest anchor.
type Anchors interface {
	AnchorReader
	// PutAnchor keeps s, a lane's checkpoint, for good.
	PutAnchor(ctx context.Context, s Seal) error
}

// AnchorReader reads the newest anchors of a lane.
type AnchorReader interface {
	// LatestAnchors is the JSON of up to n of the lane's anchors, newest (highest sequence
	// number) first. They are checked by the reader: whoever can write where they are kept
	// may have put others there.
	LatestAnchors(ctx context.Context, dep string, lane, n int) ([][]byte, error)
}

// AnchorName is where the anchor of lane's checkpoint at seq is kept, under a bucket prefix
// or a directory: "<deployment>/<lane>/<MaxInt64-seq, 19 digits>.json", so that listing a
// lane's anchors in name order gives the newest first.
func AnchorName(dep string, lane int, seq int64) string {
	return fmt.Sprintf("%s/%d/%019d.json", dep, lane, math.MaxInt64-seq)
}

// AnchorPrefix is the prefix of AnchorName of a lane.
func AnchorPrefix(dep string, lane int) string { return fmt.Sprintf("%s/%d/", dep, lane) }

// anchorOf is the single position of a checkpoint seal.
func anchorOf(s Seal) (Position, error) {
	if s.Statement.Type != TypeCheckpoint || len(s.Statement.Events) != 1 {
		return Position{}, errors.New("an anchor is a checkpoint of one event")
	}
	return s.Statement.Events[0], nil
}

// DirAnchors keeps anchors as files under a directory, laid out as AnchorName says (a copy
// of the bucket's objects, e.g. by "aws s3 sync").
type DirAnchors string

// PutAnchor writes s once; an anchor already there is kept.
func (d DirAnchors) PutAnchor(_ context.Context, s Seal) error {
	p, err := anchorOf(s)
	if err != nil {
		return err
	}
	name := filepath.Join(string(d), filepath.FromSlash(AnchorName(s.Statement.DeploymentID, p.Lane, p.Seq)))
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	raw, _ := json.Marshal(s)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = f.Write(raw)
	return errors.Join(err, f.Close())
}

// LatestAnchors reads the newest n anchor files of the lane.
func (d DirAnchors) LatestAnchors(_ context.Context, dep string, lane, n int) ([][]byte, error) {
	dir := filepath.Join(string(d), filepath.FromSlash(AnchorPrefix(dep, lane)))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out [][]byte
	for _, name := range names[:min(n, len(names))] {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}
