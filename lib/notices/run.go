package notices

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/opensignum/signum/lib/store"
	"github.com/opensignum/signum/lib/tenant"
)

// Deployments lists every deployment ((*store.Store).ListDeployments).
type Deployments interface {
	ListDeployments(ctx context.Context, pr store.PageRequest) (store.Page[tenant.Deployment], error)
}

// Bounds of a run. A run syncs at most MaxPerRun deployments, the window moving each hour, so
// that with more deployments every one is synced every few hours; RunWorkers at once. A
// cancelled deployment is synced while it is recent (its cancellation raises its notice) and
// then left alone. MaxDeployments bounds the listing.
const (
	MaxPerRun       = 500
	RunWorkers      = 4
	MaxDeployments  = 100_000
	cancelledRecent = 48 * time.Hour
	maxRunErrors    = 5
)

// RunReport is what a run did, the function's answer (as the metering run's, in JSON).
type RunReport struct {
	// Deployments is how many deployments were due; Synced how many this run synced;
	// Skipped how many are left to later runs (more than MaxPerRun).
	Deployments int `json:"deployments"`
	Synced      int `json:"synced"`
	Skipped     int `json:"skipped"`
	Raised      int `json:"raised"`
	Cleared     int `json:"cleared"`
	Published   int `json:"published"`
	// Lost counts syncs another sync beat; Incomplete those whose health was partly unknown;
	// Failed those that failed (the run's error says why, for the first few).
	Lost       int `json:"lost"`
	Incomplete int `json:"incomplete"`
	Failed     int `json:"failed"`
}

// Run syncs the notices of the deployments due at at (a scheduled run's time): at most
// MaxPerRun of them, the window chosen by the hour of at.
func Run(ctx context.Context, s *Syncer, deps Deployments, at time.Time) (RunReport, error) {
	var due []string
	pr := store.PageRequest{Limit: 100}
	for listed := 0; listed < MaxDeployments; {
		p, err := deps.ListDeployments(ctx, pr)
		if err != nil {
			return RunReport{}, fmt.Errorf("notices: list deployments: %w", err)
		}
		for _, d := range p.Items {
			if d.Status != tenant.StatusCancelled || at.Sub(d.UpdatedAt) < cancelledRecent {
				due = append(due, d.ID)
			}
		}
		listed += len(p.Items)
		if p.Next == "" {
			break
		}
		pr.Cursor = p.Next
	}
	rep := RunReport{Deployments: len(due)}
	if len(due) > MaxPerRun {
		start := int(at.Unix()/3600) * MaxPerRun % len(due)
		due = append(due[start:], due[:start]...)[:MaxPerRun]
		rep.Skipped = rep.Deployments - MaxPerRun
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next = make(chan string)
	)
	for range min(RunWorkers, len(due)) {
		wg.Go(func() {
			for dep := range next {
				r, err := s.Sync(ctx, dep)
				mu.Lock()
				rep.Synced++
				rep.Raised += r.Raised
				rep.Cleared += r.Cleared
				rep.Published += r.Published
				if r.Lost {
					rep.Lost++
				}
				if r.Incomplete != nil {
					rep.Incomplete++
				}
				if err != nil {
					rep.Failed++
					if len(errs) < maxRunErrors {
						errs = append(errs, fmt.Errorf("deployment %s: %w", dep, err))
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, dep := range due {
		next <- dep
	}
	close(next)
	wg.Wait()
	return rep, errors.Join(errs...)
}
