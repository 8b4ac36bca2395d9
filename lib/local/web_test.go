package local

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWebServing: the built web app is served under /app/ on every host, with its security
// headers: an asset with its hash in its name is cached for good; any other path under /app/
// (the app's own routes) answers index.html, so that a reload works; / leads to the app;
// everything else is the API's; only GET and HEAD are served; an app that is not built says
// how to build it.
func TestWebServing(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html><title>app</title>"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "assets", "index-abc123.js"), []byte("console.log(1)"), 0o644))
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	h := withWeb(api, dir)
	do := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "http://demo.localhost:8080"+path, nil))
		return rec
	}

	for _, path := range []string{"/app/", "/app/console/policies", "/app/portal/deployments/dep_x/settings"} {
		rec := do("GET", path)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<title>app</title>") {
			t.Errorf("%s: %d %q, want the app's index.html", path, rec.Code, rec.Body.String())
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != ContentSecurityPolicy || strings.Contains(got, "unsafe-inline") {
			t.Errorf("%s: CSP %q", path, got)
		}
		if rec.Header().Get("Cache-Control") != "no-cache" || rec.Header().Get("X-Frame-Options") != "DENY" || rec.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, rec.Header())
		}
	}
	if rec := do("GET", "/app/assets/index-abc123.js"); rec.Code != 200 || rec.Body.String() != "console.log(1)" ||
		!strings.Contains(rec.Header().Get("Cache-Control"), "immutable") || rec.Header().Get("Content-Security-Policy") == "" {
		t.Errorf("asset: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	if rec := do("GET", "/app/assets/missing.js"); rec.Code != 404 {
		t.Errorf("a missing asset: %d, want 404 (not index.html)", rec.Code)
	}
	if rec := do("GET", "/app/../etc/passwd"); rec.Code == 200 && !strings.Contains(rec.Body.String(), "<title>app</title>") {
		t.Errorf("a path outside the app answered %q", rec.Body.String())
	}
	if rec := do("GET", "/"); rec.Code != http.StatusFound || rec.Header().Get("Location") != WebPrefix {
		t.Errorf("/: %d %v", rec.Code, rec.Header())
	}
	for _, path := range []string{"/health", "/console/certificates", "/application"} {
		if rec := do("GET", path); rec.Code != 299 {
			t.Errorf("%s: %d, want the API's answer", path, rec.Code)
		}
	}
	if rec := do("POST", "/app/console/login"); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST under /app/: %d %v", rec.Code, rec.Header())
	}
	must(os.Remove(filepath.Join(dir, "index.html")))
	if rec := do("GET", "/app/console/login"); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "make web") {
		t.Errorf("not built: %d %q", rec.Code, rec.Body.String())
	}
}
