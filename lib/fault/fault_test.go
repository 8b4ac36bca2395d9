package fault_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/opensignum/signum/lib/fault"
)

func TestHasField(t *testing.T) {
	var bad fault.Fields
	bad.Add("name", "is required")
	wrapped := fmt.Errorf("create: %w", bad.Err())
	for name, c := range map[string]struct {
		err   error
		field string
		want  bool
	}{
		"ok/named":          {bad.Err(), "name", true},
		"ok/wrapped":        {wrapped, "name", true},
		"fail/other-field":  {wrapped, "email", false},
		"fail/not-fields":   {errors.New("name"), "name", false},
		"fail/nil":          {nil, "name", false},
		"fail/no-field-err": {fault.Fields{}.Err(), "name", false},
	} {
		if got := fault.HasField(c.err, c.field); got != c.want {
			t.Errorf("%s: HasField = %v", name, got)
		}
	}
}
