package oidcidp

// table is a map that keeps at most max entries, dropping the oldest insertion when full. The
// caller holds IdP.mu.
type table[V any] struct {
	max   int
	m     map[string]V
	order []string
}

func newTable[V any](max int) *table[V] {
	return &table[V]{max: max, m: map[string]V{}}
}

func (t *table[V]) put(k string, v V) {
	if _, ok := t.m[k]; !ok {
		t.order = append(t.order, k)
	}
	t.m[k] = v
	for len(t.m) > t.max && len(t.order) > 0 {
		delete(t.m, t.order[0])
		t.order = t.order[1:]
	}
	// Deleted keys stay in order until they reach its head; compact when they dominate.
	if len(t.order) > 2*t.max {
		live := t.order[:0]
		for _, k := range t.order {
			if _, ok := t.m[k]; ok {
				live = append(live, k)
			}
		}
		t.order = live
	}
}

func (t *table[V]) get(k string) (V, bool) {
	v, ok := t.m[k]
	return v, ok
}

// take returns and removes k: for codes and login requests, which are good once.
func (t *table[V]) take(k string) (V, bool) {
	v, ok := t.m[k]
	delete(t.m, k)
	return v, ok
}
