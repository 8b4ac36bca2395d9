// Package updates is the software updates of deployments: the operator's releases, the
// running code's data versions, each deployment's maintenance window, and the runs that take
// a deployment to a release by running the release's data migrations in bounded, resumable
// batches (the updater function drives them; lib/api/updates and the operator API show and
// start them). It has no HTTP: the edge maps its errors.
package updates

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opensignum/signum/lib/fault"
)

// Code is what the running code is: its version and the data versions it serves. A release
// whose data version the code cannot serve cannot be applied until the code that serves it
// is deployed, so that old and new data coexist only where the code reads both.
type Code struct {
	Version string
	Serves  []int
}

// Running is the code of this build: version 1 data (free-text certificate labels) and
// version 2 data (certificate groups, after the groups migration of release 0.2.0).
var Running = Code{Version: "0.2.0", Serves: []int{1, 2}}

// CanServe reports whether the code serves data version v.
func (c Code) CanServe(v int) bool { return slices.Contains(c.Serves, v) }

// DataVersionOf is a deployment's data version: 1 for one stored before data versions were
// recorded.
func DataVersionOf(v int) int { return max(v, 1) }

// Release is a software release the operator published.
type Release struct {
	Version string
	Notes   string
	// MinFrom is the oldest version a deployment may update from to this release.
	MinFrom string
	// DataVersion is the data version a deployment has once the release's migrations ran.
	DataVersion int
	// Migrations are the names of the release's data migrations, run in this order.
	Migrations  []string
	PublishedAt time.Time
	PublishedBy string
}

// Version is a semantic version's MAJOR.MINOR.PATCH (no pre-release or build: releases
// of a service are ordered by these alone).
type Version [3]int

// ParseVersion reads "1.2.3".
func ParseVersion(s string) (Version, error) {
	var v Version
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("%q is not MAJOR.MINOR.PATCH", fault.Clip(s, 40))
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 99999 || (len(p) > 1 && p[0] == '0') {
			return v, fmt.Errorf("%q is not MAJOR.MINOR.PATCH", fault.Clip(s, 40))
		}
		v[i] = n
	}
	return v, nil
}

// Compare is -1, 0 or 1 as v is older than, the same as or newer than w.
func (v Version) Compare(w Version) int { return slices.Compare(v[:], w[:]) }

// compareVersions compares two version strings; an unparsable one is the oldest.
func compareVersions(a, b string) int {
	va, ea := ParseVersion(a)
	vb, eb := ParseVersion(b)
	switch {
	case ea != nil && eb != nil:
		return strings.Compare(a, b)
	case ea != nil:
		return -1
	case eb != nil:
		return 1
	}
	return va.Compare(vb)
}

// Older reports whether version a is older than b.
func Older(a, b string) bool { return compareVersions(a, b) < 0 }

// ValidRelease checks a release as the operator sent it against the registered migrations;
// every problem is reported at once as a field problem.
func ValidRelease(r Release, known Registry) error {
	var bad fault.Fields
	if _, err := ParseVersion(r.Version); err != nil {
		bad.Add("version", "%s", err)
	}
	if _, err := ParseVersion(r.MinFrom); err != nil {
		bad.Add("minFrom", "%s", err)
	} else if Older(r.Version, r.MinFrom) {
		bad.Add("minFrom", "must not be newer than the release itself")
	}
	if r.DataVersion < 1 || r.DataVersion > 1000 {
		bad.Add("dataVersion", "must be between 1 and 1000")
	}
	if len(r.Notes) > 8000 {
		bad.Add("notes", "at most 8000 characters")
	}
	if len(r.Migrations) > 20 {
		bad.Add("migrations", "at most 20")
	}
	seen := map[string]bool{}
	for _, m := range r.Migrations {
		switch {
		case seen[m]:
			bad.Add("migrations", "%q is named twice", fault.Clip(m, 64))
		case !known.Has(m):
			bad.Add("migrations", "%q is not a known migration (known: %s)", fault.Clip(m, 64), strings.Join(known.Names(), ", "))
		}
		seen[m] = true
	}
	return bad.Err()
}

// ValidDataVersion checks r's data version against the published releases: data versions
// never go down from an older release to a newer one, so that no update lowers a
// deployment's data version.
func ValidDataVersion(r Release, published []Release) error {
	var bad fault.Fields
	for _, p := range published {
		switch {
		case Older(p.Version, r.Version) && p.DataVersion > r.DataVersion:
			bad.Add("dataVersion", "must be at least %d, the data version of the older release %s", p.DataVersion, p.Version)
			return bad.Err()
		case Older(r.Version, p.Version) && p.DataVersion < r.DataVersion:
			bad.Add("dataVersion", "must be at most %d, the data version of the newer release %s", p.DataVersion, p.Version)
			return bad.Err()
		}
	}
	return nil
}

// Steps are the migrations a deployment on version from runs to reach target: those of
// every release newer than from up to target, in version order, each once (migrations are
// idempotent, and a later release naming one again adds nothing). Whatever path MinFrom
// allows, no release's migrations are skipped. rs must be sorted oldest first.
func Steps(rs []Release, from, target string) []string {
	var out []string
	for _, r := range rs {
		if Older(from, r.Version) && !Older(target, r.Version) {
			for _, m := range r.Migrations {
				if !slices.Contains(out, m) {
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// SortReleases orders releases oldest first.
func SortReleases(rs []Release) {
	slices.SortFunc(rs, func(a, b Release) int { return compareVersions(a.Version, b.Version) })
}

// Path is the shortest chain of releases that takes a deployment on version from to target:
// each step's MinFrom at most the version it starts from. It is nil when no chain reaches
// target (or target is not newer than from). rs must be sorted oldest first.
func Path(rs []Release, from, target string) []string {
	if !Older(from, target) {
		return nil
	}
	prev := map[string]string{}
	queue := []string{from}
	seen := map[string]bool{from: true}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, r := range rs {
			if seen[r.Version] || !Older(cur, r.Version) || Older(cur, r.MinFrom) || Older(target, r.Version) {
				continue
			}
			seen[r.Version], prev[r.Version] = true, cur
			if r.Version == target {
				var path []string
				for v := target; v != from; v = prev[v] {
					path = append([]string{v}, path...)
				}
				return path
			}
			queue = append(queue, r.Version)
		}
	}
	return nil
}
