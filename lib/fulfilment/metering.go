package fulfilment

import (
	"strings"

	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/smithy-go"

	"time"

	"github.com/opensignum/signum/lib/fault"

	"github.com/opensignum/signum/lib/marketplace"
	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// MeterReport is what one metering run did.
type MeterReport struct {
	// Hour is the hour metered (its start).
	Hour time.Time `json:"hour"`
	// Subscriptions were looked at; Metered got a record for Hour in this run; Resent had a
	// record left unsent by an earlier run, sent now; Activated were Azure subscriptions
	// whose activation had failed before.
	Subscriptions int `json:"subscriptions"`
	Metered       int `json:"metered"`
	Resent        int `json:"resent"`
	Activated     int `json:"activated"`
	// Failed names the subscriptions whose metering failed (retried next run).
	Failed []string `json:"failed,omitempty"`
}

// Meter reports the usage of every registered subscription for the hour before now's hour:
// what the deployment used since the subscription's last record, in the dimensions of its
// plan. Each subscription-hour's record is computed once and stored with the subscription's
// cursor in one write before it is sent; a run that finds a record unsent (a crash, a
// marketplace error) sends the same record again, which the marketplaces count once. A
// cancelled subscription gets a final record, then no more. Signatures made between the
// hour's end and the run are counted in this hour's record: nothing is lost or counted twice.
func (s *Service) Meter(ctx context.Context, now time.Time) (MeterReport, error) {
	hour := now.UTC().Truncate(time.Hour).Add(-time.Hour)
	rep := MeterReport{Hour: hour}
	subs, err := store.All(ctx, s.Store.ListSubscriptions)
	if err != nil {
		return rep, err
	}
	for _, sub := range subs {
		// A cancelled subscription's final record is resent for two days at most.
		if sub.DeploymentID == "" || sub.Metered.Final && now.Sub(sub.EndedAt) > 48*time.Hour {
			continue
		}
		rep.Subscriptions++
		if err := s.meterOne(ctx, sub, hour, &rep); err != nil {
			s.log().ErrorContext(ctx, "metering failed", slog.String("subscription", sub.ID), slog.String("error", err.Error()))
			rep.Failed = append(rep.Failed, sub.ID)
		}
	}
	if len(rep.Failed) > 0 {
		return rep, fmt.Errorf("metering failed for %d of %d subscriptions", len(rep.Failed), rep.Subscriptions)
	}
	return rep, nil
}

func (s *Service) meterOne(ctx context.Context, sub marketplace.Subscription, hour time.Time, rep *MeterReport) error {
	return s.meterOnce(ctx, sub, hour, rep, true)
}

func (s *Service) meterOnce(ctx context.Context, sub marketplace.Subscription, hour time.Time, rep *MeterReport, retry bool) error {
	var failed []error
	if sub.Marketplace == marketplace.Azure && sub.ActivatedAt.IsZero() && sub.State != marketplace.StateCancelled {
		// An activation that fails does not hold up metering; it is tried again next run.
		if next, err := s.activate(ctx, sub); err != nil {
			failed = append(failed, fmt.Errorf("activate: %w", err))
		} else {
			sub = next
			rep.Activated++
		}
	}
	// Records that were never answered (a failed send, a crash) are sent again first; one
	// that cannot be sent does not stop the hours after it.
	if err := s.resendPending(ctx, sub, rep); err != nil {
		failed = append(failed, err)
	}
	if sub.Metered.Final || !sub.Metered.Hour.Before(hour) {
		return errors.Join(failed...)
	}
	dep, err := s.Store.GetDeployment(ctx, sub.DeploymentID)
	if err != nil {
		return err
	}
	total, err := s.Store.SignatureTotal(ctx, sub.DeploymentID)
	if err != nil {
		return err
	}
	certs, users, err := s.Store.UsageCounts(ctx, sub.DeploymentID)
	if err != nil {
		return err
	}
	next, rec, capped := usage(sub, dep, hour, total, certs, users)
	terms := termsOf(next)
	terms.SigningCapped = &capped
	var termsArg *store.DeploymentTerms
	if capped != dep.SigningCapped {
		termsArg = terms
	}
	if _, err := s.Store.BeginMeterHour(ctx, sub, next, rec, termsArg); err != nil {
		switch {
		case errors.Is(err, store.ErrMeterHourTaken):
			// Another run got there first; it sends the record, or the next run does.
			return errors.Join(failed...)
		case errors.Is(err, store.ErrStale) && retry:
			// An event changed the subscription since it was listed: read it again.
			fresh, gerr := s.Store.GetSubscription(ctx, sub.ID)
			if gerr != nil {
				return errors.Join(append(failed, gerr)...)
			}
			return errors.Join(append(failed, s.meterOnce(ctx, fresh, hour, rep, false))...)
		}
		return errors.Join(append(failed, err)...)
	}
	rep.Metered++
	return errors.Join(append(failed, s.send(ctx, rec))...)
}

// resendPending sends the subscription's unanswered records of the last day again.
func (s *Service) resendPending(ctx context.Context, sub marketplace.Subscription, rep *MeterReport) error {
	if sub.Metered.Hour.IsZero() {
		return nil
	}
	page, err := s.Store.ListMeterRecords(ctx, sub.ID, store.PageRequest{Limit: 24})
	if err != nil {
		return err
	}
	var failed []error
	for _, rec := range page.Items {
		if rec.Status != marketplace.MeterPending {
			continue
		}
		if err := s.send(ctx, rec); err != nil {
			failed = append(failed, err)
			continue
		}
		rep.Resent++
	}
	return errors.Join(failed...)
}

// usage is the record of hour for sub, given the deployment's signature total and counts
// now, the subscription with its cursor moved to hour, and whether signing is capped.
func usage(sub marketplace.Subscription, dep tenant.Deployment, hour time.Time, total int64, certs, users int) (marketplace.Subscription, marketplace.MeterRecord, bool) {
	plan, _ := tenant.PlanByID(sub.Plan)
	cur := sub.Metered
	delta := max(total-cur.Signatures, 0)
	month := time.Date(hour.Year(), hour.Month(), 1, 0, 0, 0, 0, time.UTC)
	before := cur.MonthSignatures
	if !cur.Month.Equal(month) {
		before = 0
	}
	after := before + delta
	included := int64(dep.Limits().SignaturesPerMonth)
	var overage int64
	if included > 0 {
		overage = max(after-included, 0) - max(before-included, 0)
	}
	next := sub
	// The cursor never moves back: a total that went down (signatures counted, then not
	// returned) bills nothing now, and the ones after it are not billed twice.
	next.Metered = marketplace.MeterCursor{Hour: hour, Signatures: max(total, cur.Signatures), Month: month, MonthSignatures: after,
		Final: sub.State == marketplace.StateCancelled}
	rec := marketplace.MeterRecord{SubscriptionID: sub.ID, DeploymentID: sub.DeploymentID, Marketplace: sub.Marketplace,
		Hour: hour, Status: marketplace.MeterPending, Final: next.Metered.Final}
	customer := customerOf(sub)
	for _, d := range plan.Dimensions {
		var q int64
		switch d {
		case tenant.DimensionSignatures:
			q = delta
		case tenant.DimensionSignaturesOverage:
			q = overage
		case tenant.DimensionCertificates:
			q = int64(certs)
		case tenant.DimensionUsers:
			q = int64(users)
		}
		// Azure bills only what is beyond the plan (its flat price covers the rest) and takes
		// no zero quantities; AWS takes a record of every dimension every hour, zeros too.
		if sub.Marketplace == marketplace.Azure && (d != tenant.DimensionSignaturesOverage || q == 0) {
			continue
		}
		if sub.Marketplace == marketplace.AWS && d == tenant.DimensionSignaturesOverage {
			continue
		}
		rec.Records = append(rec.Records, marketplace.UsageRecord{Customer: customer, AzureSubscriptionID: sub.AzureSubscriptionID,
			Plan: sub.Plan, Dimension: string(d), Quantity: q, Hour: hour})
	}
	if len(rec.Records) == 0 {
		rec.Status = marketplace.MeterSent // nothing to send: recorded so that the hour is accounted for
	}
	capped := plan.HardSignatureCap && included > 0 && after >= included
	return next, rec, capped
}

// send sends a begun record and records the answer. Records the marketplace refuses (the
// customer is no longer subscribed, the hour is too old) are recorded as rejected and not
// sent again; a failure to reach it leaves the record pending for the next run.
func (s *Service) send(ctx context.Context, rec marketplace.MeterRecord) error {
	if rec.Status != marketplace.MeterPending {
		return nil
	}
	rec.Attempts++
	var results []marketplace.UsageResult
	switch rec.Marketplace {
	case marketplace.AWS:
		if s.AWS == nil {
			return ErrNotConfigured
		}
		for i := 0; i < len(rec.Records); i += 25 {
			batch := rec.Records[i:min(i+25, len(rec.Records))]
			res, err := s.AWS.BatchMeterUsage(ctx, batch[0].Customer.ProductCode, batch)
			if err != nil {
				return s.sendFailed(ctx, rec, fmt.Errorf("batch meter usage: %w", err))
			}
			results = append(results, res...)
		}
	case marketplace.Azure:
		if s.Azure == nil {
			return ErrNotConfigured
		}
		for _, r := range rec.Records {
			res, err := s.Azure.PostUsage(ctx, r)
			if err != nil {
				return s.sendFailed(ctx, rec, fmt.Errorf("post usage event: %w", err))
			}
			results = append(results, res)
		}
	}
	rec.Results, rec.Status, rec.SentAt = results, marketplace.MeterSent, s.Now().UTC()
	unprocessed := false
	for _, r := range results {
		switch {
		case r.Status == marketplace.StatusUnprocessed:
			// AWS's own transient failure: the same records are sent again next run.
			unprocessed = true
		case !r.Accepted:
			rec.Status = marketplace.MeterRejected
		}
	}
	if len(results) < len(rec.Records) {
		rec.Status = marketplace.MeterRejected
	}
	if unprocessed {
		rec.Status = marketplace.MeterPending
		if err := s.Store.FinishMeterHour(ctx, rec); err != nil {
			return err
		}
		return fmt.Errorf("%s: AWS left records of %s unprocessed; they are sent again next run", rec.SubscriptionID, rec.Hour.Format(time.RFC3339))
	}
	return s.Store.FinishMeterHour(ctx, rec)
}

// sendFailed records a failed attempt. A marketplace that could not be reached (or
// throttled) leaves the record pending: the next run sends it again, unchanged. A refusal
// (the hour is too old, a dimension or customer it does not know) will not change: the
// record is rejected, with the reason, and the hours after it go on.
func (s *Service) sendFailed(ctx context.Context, rec marketplace.MeterRecord, err error) error {
	if refused(err) {
		rec.Status, rec.SentAt = marketplace.MeterRejected, s.Now().UTC()
		rec.Results = nil
		for _, r := range rec.Records {
			rec.Results = append(rec.Results, marketplace.UsageResult{Record: r, Status: "refused: " + fault.Clip(err.Error(), 200)})
		}
		s.log().WarnContext(ctx, "metering record refused", slog.String("subscription", rec.SubscriptionID), slog.String("error", err.Error()))
		return s.Store.FinishMeterHour(ctx, rec)
	}
	if ferr := s.Store.FinishMeterHour(ctx, rec); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// refused reports whether err is the marketplace refusing the request for good (a client
// fault of its API that is not throttling), rather than failing to answer it.
func refused(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorFault() == smithy.FaultClient && !errors.Is(err, marketplace.ErrUnavailable) &&
		!strings.Contains(api.ErrorCode(), "Throttl")
}
