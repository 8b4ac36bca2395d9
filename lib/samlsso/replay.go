package samlsso

import (
	"context"
	"sync"
	"time"
)

// MemoryReplay is a Replay in this process's memory, for tests and the single-process local
// stack only: Lambda instances do not share memory, so in AWS a replayed response would
// reach another instance that has not seen it. Production uses the store (see Replay).
type MemoryReplay struct {
	// Now is the clock that expires records; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	until map[string]time.Time
}

// Seen implements Replay.
func (m *MemoryReplay) Seen(_ context.Context, assertionID string, until time.Time) (bool, error) {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	t := now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.until == nil {
		m.until = map[string]time.Time{}
	}
	if u, ok := m.until[assertionID]; ok && t.Before(u) {
		return true, nil
	}
	// Drop expired records as we go, so that a long-running local stack stays small.
	for id, u := range m.until {
		if !t.Before(u) {
			delete(m.until, id)
		}
	}
	m.until[assertionID] = until
	return false, nil
}
