package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opensignum/signum/lib/certificates"
	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// meterHour is the first hour the metering tests meter.
var meterHour = marketAt.Truncate(time.Hour)

// meterRecord is the pending record of a subscription's hour: n signatures.
func meterRecord(sub marketplace.Subscription, hour time.Time, n int64) marketplace.MeterRecord {
	customer := marketplace.AWSCustomer{AWSAccountID: sub.AWSAccountID, LicenseARN: sub.LicenseARN, ProductCode: sub.ProductCode}
	return marketplace.MeterRecord{SubscriptionID: sub.ID, DeploymentID: sub.DeploymentID, Marketplace: sub.Marketplace, Hour: hour,
		Status: marketplace.MeterPending, Records: []marketplace.UsageRecord{
			{Customer: customer, Plan: sub.Plan, Dimension: "signatures", Quantity: n, Hour: hour},
			{Customer: customer, Plan: sub.Plan, Dimension: "certificates", Quantity: 2, Hour: hour},
		}}
}

// meteredTo is sub with its metering cursor at hour, total signatures made by then.
func meteredTo(sub marketplace.Subscription, hour time.Time, total int64) marketplace.Subscription {
	sub.Metered = marketplace.MeterCursor{Hour: hour, Signatures: total, Month: time.Date(hour.Year(), hour.Month(), 1, 0, 0, 0, 0, time.UTC),
		MonthSignatures: total}
	return sub
}

// metered begins the hours of sub one after another, each counting i+1 signatures, and
// returns the subscription as the last one left it.
func (f *fixture) metered(sub marketplace.Subscription, hours int) marketplace.Subscription {
	f.t.Helper()
	for i := range hours {
		hour := meterHour.Add(time.Duration(i) * time.Hour)
		next, err := f.s.BeginMeterHour(context.Background(), sub, meteredTo(sub, hour, sub.Metered.Signatures+int64(i+1)), meterRecord(sub, hour, int64(i+1)), nil)
		must(f.t, err)
		sub = next
	}
	return sub
}

// recordAt reads the record of sub's hour for a case's after.
func (f *fixture) recordAt(t *testing.T, sub marketplace.Subscription, hour time.Time) (marketplace.MeterRecord, error) {
	t.Helper()
	return f.s.MeterRecordAt(context.Background(), marketplace.MeterRecord{SubscriptionID: sub.ID, Hour: hour})
}

// Pattern 51: begin an hour of metering: its record and the subscription's cursor in one
// transaction, an hour recorded once.
func TestBeginMeterHour(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dep, sub := f.subscribed()
	next := meterHour.Add(time.Hour)
	capped, uncapped := true, false

	begin := func(current func() marketplace.Subscription, hour time.Time, terms *store.DeploymentTerms) func(context.Context) (marketplace.Subscription, error) {
		return func(ctx context.Context) (marketplace.Subscription, error) {
			cur := current()
			return f.s.BeginMeterHour(ctx, cur, meteredTo(cur, hour, 7), meterRecord(cur, hour, 7), terms)
		}
	}
	asRead := func() marketplace.Subscription { return sub }
	asStored := func() marketplace.Subscription { return f.stored(f.t, sub.ID) }
	cursorAt := func(t *testing.T, hour time.Time, version int64) {
		t.Helper()
		got := f.stored(t, sub.ID)
		if !got.Metered.Hour.Equal(hour) || got.Version != version {
			t.Fatalf("cursor at %s (version %d), want %s (version %d)", got.Metered.Hour, got.Version, hour, version)
		}
	}
	deploymentCapped := func(t *testing.T, want bool, version int64) {
		t.Helper()
		d, err := f.s.GetDeployment(ctx, dep.ID)
		must(t, err)
		if d.SigningCapped != want || d.Version != version || d.Status != dep.Status || d.Plan != dep.Plan {
			t.Fatalf("deployment %+v, want capped %v at version %d", d, want, version)
		}
	}
	run(t, f, []contract[marketplace.Subscription]{
		{name: "ok/record-and-cursor", call: begin(asRead, meterHour, nil), want: func(t *testing.T, got marketplace.Subscription) {
			if got.Version != sub.Version+1 || !got.Metered.Hour.Equal(meterHour) || got.Metered.Signatures != 7 || !got.CreatedAt.Equal(sub.CreatedAt) {
				t.Fatalf("begun %+v", got)
			}
		}, after: func(t *testing.T) {
			rec, err := f.recordAt(t, sub, meterHour)
			must(t, err)
			if rec.Status != marketplace.MeterPending || len(rec.Records) != 2 || rec.Records[0].Quantity != 7 || rec.Records[0].Customer.LicenseARN != sub.LicenseARN ||
				!rec.Records[0].Hour.Equal(meterHour) || rec.CreatedAt.IsZero() || rec.DeploymentID != dep.ID || rec.Results != nil {
				t.Fatalf("record %+v", rec)
			}
			got := f.stored(t, sub.ID)
			if got.Version != sub.Version+1 || got.Metered.Signatures != 7 || got.Metered.MonthSignatures != 7 || !got.Metered.Month.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("subscription %+v", got)
			}
			deploymentCapped(t, false, dep.Version)
		}},
		{name: "fail/same-hour-again", call: begin(asStored, meterHour, nil), wantErr: store.ErrMeterHourTaken, after: func(t *testing.T) {
			cursorAt(t, meterHour, sub.Version+1)
		}},
		{name: "fail/stale-subscription", call: begin(asRead, next, &store.DeploymentTerms{Status: dep.Status, Plan: dep.Plan, SigningCapped: &capped}),
			wantErr: store.ErrStale, wantDetail: "changed since it was read", after: func(t *testing.T) {
				if _, err := f.recordAt(t, sub, next); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("the record of a stale run was written: %v", err)
				}
				cursorAt(t, meterHour, sub.Version+1)
				deploymentCapped(t, false, dep.Version)
			}},
		{name: "ok/with-the-deployment-terms", call: begin(asStored, next, &store.DeploymentTerms{Status: dep.Status, Plan: dep.Plan, SigningCapped: &capped}),
			want: succeeds[marketplace.Subscription], after: func(t *testing.T) {
				cursorAt(t, next, sub.Version+2)
				deploymentCapped(t, true, dep.Version+1)
				if _, err := f.recordAt(t, sub, next); err != nil {
					t.Fatalf("record: %v", err)
				}
			}},
		{name: "ok/uncapped-in-a-new-month", call: begin(asStored, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), &store.DeploymentTerms{Status: dep.Status, Plan: dep.Plan, SigningCapped: &uncapped}),
			want: succeeds[marketplace.Subscription], after: func(t *testing.T) {
				deploymentCapped(t, false, dep.Version+2)
			}},
	})
}

// Pattern 51: finish an hour with what the marketplace answered; read an hour's record.
func TestFinishMeterHour(t *testing.T) {
	f := newFixture(t)
	_, sub := f.subscribed()
	sub = f.metered(sub, 1)
	begun, err := f.recordAt(t, sub, meterHour)
	must(t, err)
	sentAt := meterHour.Add(time.Hour + 5*time.Minute)

	finish := func(status string, attempts int, hour time.Time) func(context.Context) (struct{}, error) {
		return only(func(ctx context.Context) error {
			rec := begun
			rec.Hour, rec.Status, rec.Attempts, rec.SentAt = hour, status, attempts, sentAt
			rec.Results = []marketplace.UsageResult{{Record: rec.Records[0], Status: "Success", ID: "mr-1", Accepted: true},
				{Record: rec.Records[1], Status: "CustomerNotSubscribed", Accepted: status == marketplace.MeterSent}}
			return f.s.FinishMeterHour(ctx, rec)
		})
	}
	answered := func(status string, attempts int) func(*testing.T) {
		return func(t *testing.T) {
			rec, err := f.recordAt(t, sub, meterHour)
			must(t, err)
			if rec.Status != status || rec.Attempts != attempts || !rec.SentAt.Equal(sentAt) || len(rec.Results) != 2 ||
				rec.Results[0].ID != "mr-1" || !rec.Results[0].Accepted || rec.Results[0].Record.Quantity != 1 ||
				len(rec.Records) != 2 || rec.Records[0].Quantity != 1 || !rec.CreatedAt.Equal(begun.CreatedAt) {
				t.Fatalf("record %+v", rec)
			}
		}
	}
	run(t, f, []contract[struct{}]{
		{name: "ok/sent", call: finish(marketplace.MeterSent, 1, meterHour), after: answered(marketplace.MeterSent, 1)},
		{name: "ok/answered-again", call: finish(marketplace.MeterRejected, 2, meterHour), after: answered(marketplace.MeterRejected, 2)},
		{name: "fail/not-begun", call: finish(marketplace.MeterSent, 1, meterHour.Add(time.Hour)), wantErr: store.ErrNotFound, after: func(t *testing.T) {
			if _, err := f.recordAt(t, sub, meterHour.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("finishing an hour not begun wrote its record: %v", err)
			}
		}},
	})

	at := func(subscriptionID string, hour time.Time) func(context.Context) (marketplace.MeterRecord, error) {
		return func(ctx context.Context) (marketplace.MeterRecord, error) {
			return f.s.MeterRecordAt(ctx, marketplace.MeterRecord{SubscriptionID: subscriptionID, Hour: hour})
		}
	}
	run(t, f, []contract[marketplace.MeterRecord]{
		{name: "ok/record-at", call: at(sub.ID, meterHour), want: func(t *testing.T, got marketplace.MeterRecord) {
			if got.SubscriptionID != sub.ID || !got.Hour.Equal(meterHour) || got.Marketplace != marketplace.AWS {
				t.Fatalf("record %+v", got)
			}
		}},
		{name: "ok/record-at-the-same-hour-elsewhere", call: at(sub.ID, meterHour.In(time.FixedZone("CET", 3600))), want: succeeds[marketplace.MeterRecord]},
		{name: "fail/record-at-another-hour", call: at(sub.ID, meterHour.Add(-time.Hour)), wantErr: store.ErrNotFound, wantDetail: "No metering record"},
		{name: "fail/record-of-another-subscription", call: at(tenant.NewID("sub_"), meterHour), wantErr: store.ErrNotFound},
	})
}

// Pattern 51: a subscription's metering records, newest first, page by page.
func TestListMeterRecords(t *testing.T) {
	f := newFixture(t)
	_, sub := f.subscribed()
	sub = f.metered(sub, 5)
	_, other := f.subscribed()
	other = f.metered(other, 1)
	var want []time.Time
	for i := 4; i >= 0; i-- {
		want = append(want, meterHour.Add(time.Duration(i)*time.Hour))
	}
	firstPage, err := f.s.ListMeterRecords(context.Background(), sub.ID, store.PageRequest{Limit: 2})
	must(t, err)

	walkHours := func(subscriptionID string, limit int, cursor string) func(context.Context) ([]time.Time, error) {
		return func(ctx context.Context) ([]time.Time, error) {
			var hours []time.Time
			for pages := 0; ; pages++ {
				page, err := f.s.ListMeterRecords(ctx, subscriptionID, store.PageRequest{Limit: limit, Cursor: cursor})
				if err != nil {
					return nil, err
				}
				if len(page.Items) > limit || pages > 10 {
					return nil, fmt.Errorf("page %d has %d items", pages, len(page.Items))
				}
				for _, r := range page.Items {
					if r.SubscriptionID != subscriptionID {
						return nil, fmt.Errorf("listed a record of %s", r.SubscriptionID)
					}
					hours = append(hours, r.Hour)
				}
				if page.Next == "" {
					return hours, nil
				}
				cursor = page.Next
			}
		}
	}
	are := func(want []time.Time) func(*testing.T, []time.Time) {
		return func(t *testing.T, got []time.Time) {
			if !slices.EqualFunc(got, want, time.Time.Equal) {
				t.Fatalf("listed %v, want %v", got, want)
			}
		}
	}
	run(t, f, []contract[[]time.Time]{
		{name: "ok/newest-first-in-pages-of-two", call: walkHours(sub.ID, 2, ""), want: are(want)},
		{name: "ok/one-page", call: walkHours(sub.ID, 10, ""), want: are(want)},
		{name: "ok/from-a-cursor", call: walkHours(sub.ID, 2, firstPage.Next), want: are(want[2:])},
		{name: "ok/another-subscription", call: walkHours(other.ID, 2, ""), want: are([]time.Time{meterHour})},
		{name: "ok/none", call: walkHours(tenant.NewID("sub_"), 2, ""), want: are(nil)},
		{name: "fail/tampered-cursor", call: walkHours(sub.ID, 2, firstPage.Next[:len(firstPage.Next)-4]), wantErr: store.ErrInvalidCursor},
		{name: "fail/cursor-of-another-subscription", call: walkHours(other.ID, 2, firstPage.Next), wantErr: store.ErrInvalidCursor},
	})
}

// Pattern 52: a deployment's signature total, the sum of the use counts the signer writes
// into its lanes' checkpoint items.
func TestSignatureTotal(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d, other, none := f.deployment(), f.deployment(), f.deployment()
	// count appends an event to lane of dep counting n signatures of cert with its checkpoint,
	// as the signer records a signed request.
	count := func(dep string, lane int, cert string, n int) {
		t.Helper()
		counted(t, f.s, dep, lane, store.Use{CertificateID: cert, N: n, At: eventsAt})
	}
	count(d.ID, 0, "crt_a", 2)
	count(d.ID, 1, "crt_a", 1)
	count(d.ID, 1, "crt_b", 4)
	count(d.ID, 3, "crt_b", 1)
	count(d.ID, 0, "crt_b", -1) // a signature counted before was not returned
	count(other.ID, 2, "crt_c", 3)
	// A lane item the signer checkpointed without counting anything.
	e, err := f.s.AppendEvent(ctx, decision(d.ID, 2))
	must(t, err)
	must(t, f.s.CheckpointEvents(ctx, nil, e))
	short := store.New(shortPages{f.tg.Clients.DynamoDB}, f.tg.Table, randomKey())

	total := func(s *store.Store, dep string) func(context.Context) (int64, error) {
		return func(ctx context.Context) (int64, error) { return s.SignatureTotal(ctx, dep) }
	}
	is := func(want int64) func(*testing.T, int64) {
		return func(t *testing.T, got int64) {
			if got != want {
				t.Fatalf("total %d, want %d", got, want)
			}
		}
	}
	run(t, f, []contract[int64]{
		{name: "ok/all-lanes-all-certificates", call: total(f.s, d.ID), want: is(7)},
		{name: "ok/follows-short-pages", call: total(short, d.ID), want: is(7)},
		{name: "ok/another-deployment", call: total(f.s, other.ID), want: is(3)},
		{name: "ok/no-signatures", call: total(f.s, none.ID), want: is(0)},
	})
	// The total agrees with the certificates' usage the console shows (pattern 29).
	cs := []certificates.Certificate{{ID: "crt_a"}, {ID: "crt_b"}}
	must(t, f.s.WithUsage(ctx, d.ID, cs))
	if cs[0].UsageCount+cs[1].UsageCount != 7 {
		t.Fatalf("usage %d + %d, want 7 in all", cs[0].UsageCount, cs[1].UsageCount)
	}
}

// Pattern 52: a deployment's certificates that are not deleted and its console users, for
// the metered dimensions.
func TestUsageCounts(t *testing.T) {
	f := newFixture(t)
	d, other, empty := seedUsage(t, f)
	short := store.New(shortPages{f.tg.Clients.DynamoDB}, f.tg.Table, randomKey())

	counts := func(s *store.Store, dep string) func(context.Context) ([2]int, error) {
		return func(ctx context.Context) ([2]int, error) {
			c, u, err := s.UsageCounts(ctx, dep)
			return [2]int{c, u}, err
		}
	}
	are := func(certificates, users int) func(*testing.T, [2]int) {
		return func(t *testing.T, got [2]int) {
			if got != [2]int{certificates, users} {
				t.Fatalf("counted %d certificates and %d users, want %d and %d", got[0], got[1], certificates, users)
			}
		}
	}
	run(t, f, []contract[[2]int]{
		{name: "ok/not-deleted-certificates-and-users", call: counts(f.s, d.ID), want: are(2, 2)},
		{name: "ok/follows-short-pages", call: counts(short, d.ID), want: are(2, 2)},
		{name: "ok/another-deployment", call: counts(f.s, other.ID), want: are(1, 1)},
		{name: "ok/none", call: counts(f.s, empty.ID), want: are(0, 0)},
	})
}
