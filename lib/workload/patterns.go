package workload

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"sync"
)

type syntaxError = syntax.Error

// patterns caches compiled rule patterns: a domain's rules are checked on every token, and
// RE2 compilation costs more than matching. The cache is bounded by emptying it when full;
// the patterns of the domains in use come back at once.
var patterns = struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}{m: map[string]*regexp.Regexp{}}

const maxCachedPatterns = 4096

// compile returns p anchored at both ends: a rule's pattern matches the whole value.
func compile(p string) (*regexp.Regexp, error) {
	patterns.Lock()
	re, ok := patterns.m[p]
	patterns.Unlock()
	if ok {
		return re, nil
	}
	// The pattern must parse on its own before it is anchored: "x)|(.+" would otherwise
	// anchor as "^(?:x)|(.+)$", whose second branch is not anchored at the start.
	if _, err := syntax.Parse(p, syntax.Perl); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(`^(?:` + p + `)$`)
	if err != nil {
		return nil, err
	}
	patterns.Lock()
	if len(patterns.m) >= maxCachedPatterns {
		clear(patterns.m)
	}
	patterns.m[p] = re
	patterns.Unlock()
	return re, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
