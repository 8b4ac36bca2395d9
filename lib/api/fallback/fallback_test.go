package fallback_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	signum "github.com/opensignum/signum"
	"github.com/opensignum/signum/lib/api/fallback"
	"github.com/opensignum/signum/lib/apigw"
	"github.com/opensignum/signum/lib/function"
)

// TestFallbackOnTemplate: the real template's fallback answers 405 with the template's
// methods (HEAD on a GET route included) and 404 elsewhere.
func TestFallbackOnTemplate(t *testing.T) {
	env := function.Env{Log: function.NewLogger(io.Discard, "error")}
	h, err := fallback.Build(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	tpl, _ := apigw.ParseTemplate(signum.Template)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"HEAD", "/health", 405, "GET"},
		{"POST", "/health", 405, "GET"},
		{"DELETE", "/operator/deployments", 405, strings.Join(tpl.Methods("/operator/deployments"), ", ")},
		{"GET", "/operator", 404, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status || rec.Header().Get("Allow") != c.allow || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d allow=%q %s", c.method, c.path, rec.Code, rec.Header().Get("Allow"), rec.Body)
		}
	}
}
