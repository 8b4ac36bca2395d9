package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Anchors keep lanes' checkpoints outside the table, write-once: an S3 bucket with Object Lock
// in AWS (store.S3Anchors), a directory (DirAnchors) for a copy an auditor checks offline.
// A table writer who saved an old signed checkpoint can put it back in the table, but not
// take back the later anchors: Verify finds the lane behind its latest anchor. Nor can the
// writer rewrite a lane and wait for the signer to anchor on top of it: every anchor of the
// lane, not only the newest, is compared with the chain.
type Anchors interface {
	AnchorReader
	// PutAnchor keeps s, a lane's checkpoint, for good: an anchor already kept under its name
	// is not replaced.
	PutAnchor(ctx context.Context, s Seal) error
}

// AnchorReader reads the anchors of a lane.
type AnchorReader interface {
	// AnchorNames lists the names (AnchorName) of every anchor of the lane, newest (highest
	// sequence number) first. Only the signer can create names where anchors are kept (the
	// bucket's policy and Object Lock), so a name is as trustworthy as the anchor's seal.
	AnchorNames(ctx context.Context, dep string, lane int) ([]string, error)
	// ReadAnchor is the JSON of the anchor called name. It is checked by the reader.
	ReadAnchor(ctx context.Context, name string) ([]byte, error)
}

// AnchorName is where the anchor of lane's checkpoint at seq, the event with hash hash, is
// kept, under a bucket prefix or a directory:
// "<deployment>/<lane>/<MaxInt64-seq, 19 digits>-<hash>.json", so that listing a lane's
// anchors in name order gives the newest first, and a listing alone gives every anchored
// (seq, hash) for Verify to compare with the chain without reading each anchor. A hash that
// is not lowercase hex (never one the signer computes) is left out of the name, as in the
// names of anchors written before hashes were in them: Verify reads those.
func AnchorName(dep string, lane int, seq int64, hash string) string {
	if !hexHash(hash) {
		return fmt.Sprintf("%s%019d.json", AnchorPrefix(dep, lane), math.MaxInt64-seq)
	}
	return fmt.Sprintf("%s%019d-%s.json", AnchorPrefix(dep, lane), math.MaxInt64-seq, hash)
}

// AnchorPrefix is the prefix of AnchorName of a lane.
func AnchorPrefix(dep string, lane int) string { return fmt.Sprintf("%s/%d/", dep, lane) }

// parseAnchorName is the sequence number and event hash an anchor's name gives; hash is ""
// for a name without one (an anchor written before hashes were in names); ok is false for a
// name that is not an anchor's.
func parseAnchorName(name string) (seq int64, hash string, ok bool) {
	base, found := strings.CutSuffix(path.Base(name), ".json")
	if !found {
		return 0, "", false
	}
	digits, hash, _ := strings.Cut(base, "-")
	if len(digits) != 19 || (hash != "" && !hexHash(hash)) {
		return 0, "", false
	}
	inv, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || inv < 0 {
		return 0, "", false
	}
	return math.MaxInt64 - inv, hash, true
}

// hexHash reports whether h is an event hash as the signer writes it: 64 lowercase hex digits.
func hexHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

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
	name := filepath.Join(string(d), filepath.FromSlash(AnchorName(s.Statement.DeploymentID, p.Lane, p.Seq, p.Hash)))
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
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

// AnchorNames lists the lane's anchor files, newest first.
func (d DirAnchors) AnchorNames(_ context.Context, dep string, lane int) ([]string, error) {
	prefix := AnchorPrefix(dep, lane)
	entries, err := os.ReadDir(filepath.Join(string(d), filepath.FromSlash(prefix)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, prefix+e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// ReadAnchor reads the anchor file called name.
func (d DirAnchors) ReadAnchor(_ context.Context, name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("%q is not an anchor's name", name)
	}
	return os.ReadFile(filepath.Join(string(d), filepath.FromSlash(name)))
}

// AnchorRangeReader lists only some anchors of a lane (S3Anchors, DirAnchors), for checks
// that cover part of a lane: a lane anchored for years has many.
type AnchorRangeReader interface {
	// AnchorNamesBetween lists the names of the lane's anchors of sequence numbers lo to hi
	// (both included), newest first.
	AnchorNamesBetween(ctx context.Context, dep string, lane int, lo, hi int64) ([]string, error)
}

// AnchorNamesBetween lists the lane's anchor files of sequence numbers lo to hi, newest first.
func (d DirAnchors) AnchorNamesBetween(ctx context.Context, dep string, lane int, lo, hi int64) ([]string, error) {
	all, err := d.AnchorNames(ctx, dep, lane)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range all {
		if seq, _, ok := parseAnchorName(n); !ok || (seq >= lo && seq <= hi) {
			out = append(out, n) // a name that does not parse is reported by the check
		}
	}
	return out, nil
}

// AnchorSeq is the sequence number an anchor's name gives (ok false for a name that is not an
// anchor's).
func AnchorSeq(name string) (seq int64, ok bool) {
	seq, _, ok = parseAnchorName(name)
	return seq, ok
}
