package policy

import (
	"slices"
	"time"
)

// Conflicts returns the ids of the enabled policies in existing that are at the candidate's
// priority with the opposite action and could match one request together with it. The
// caller refuses to save a candidate that conflicts: Deny would win such a tie at evaluation,
// which is safe but rarely what the administrator meant.
//
// Overlap is judged from the policies alone:
//   - What overlaps when both name a same certificate id or a same group; Who overlaps when
//     both name a same user id or a same role. Overlap through membership (a certificate
//     listed by id in one policy and a member of a group listed in the other, a user holding
//     a role the other lists) is not seen: memberships change after the policy is saved, and
//     evaluation still resolves such a tie to Deny.
//   - Where is assumed to overlap: whether two regular expressions share a match is not
//     worth deciding here.
//   - When overlaps unless the validity windows are disjoint, or both schedules use the same
//     time zone and no window of one shares a day and a time of day with a window of the
//     other. Schedules in different zones are assumed to overlap.
//
// A candidate that is disabled or has an unknown action conflicts with nothing. An existing
// policy with the candidate's id is the candidate's previous version and is skipped.
func Conflicts(existing []Policy, candidate Policy) []string {
	if !candidate.Enabled || candidate.Action != Allow && candidate.Action != Deny {
		return nil
	}
	var ids []string
	for i := range existing {
		e := &existing[i]
		if !e.Enabled || e.ID == candidate.ID || e.Priority != candidate.Priority ||
			e.Action != Allow && e.Action != Deny || e.Action == candidate.Action {
			continue
		}
		if !shares(e.What.Certificates, candidate.What.Certificates) && !shares(e.What.Groups, candidate.What.Groups) {
			continue
		}
		if !shares(e.Who.Users, candidate.Who.Users) && !shares(e.Who.Roles, candidate.Who.Roles) {
			continue
		}
		if !whenOverlaps(&e.When, &candidate.When) {
			continue
		}
		ids = append(ids, e.ID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func shares(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// whenOverlaps reports whether two schedules could both hold at one instant; when unsure it
// says yes.
func whenOverlaps(a, b *Schedule) bool {
	if before(a.NotAfter, b.NotBefore) || before(b.NotAfter, a.NotBefore) {
		return false
	}
	if len(a.Windows) == 0 || len(b.Windows) == 0 || a.TimeZone != b.TimeZone {
		return true
	}
	for i := range a.Windows {
		for j := range b.Windows {
			if windowsOverlap(&a.Windows[i], &b.Windows[j]) {
				return true
			}
		}
	}
	return false
}

// before reports whether end is set, start is set and end < start: validity windows are
// inclusive at both ends.
func before(end, start time.Time) bool {
	return !end.IsZero() && !start.IsZero() && end.Before(start)
}

func windowsOverlap(a, b *Window) bool {
	af, ok1 := parseClock(a.From)
	at, ok2 := parseClock(a.To)
	bf, ok3 := parseClock(b.From)
	bt, ok4 := parseClock(b.To)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return true // not validated: assume the worst
	}
	if af >= bt || bf >= at {
		return false
	}
	for _, d := range a.Days {
		if slices.Contains(b.Days, d) {
			return true
		}
	}
	return false
}
