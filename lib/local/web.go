package local

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// WebPrefix is where the web app (web/, built into web/dist) is served on every host the API
// answers on: the portal on the API's host, the console on each deployment's host, as
// CloudFront serves it in AWS. The API has no route under it.
const WebPrefix = "/app/"

// ContentSecurityPolicy is the web app's policy: its own scripts, styles and API only, no
// inline code, no other origin, never framed. template.yaml's response headers policy says
// the same (TestWebHeadersMatchTemplate).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// WebHeaders sets the security headers of every web app answer (template.yaml's WebHeaders
// sends the same in AWS: TestWebHosting).
func WebHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

// withWeb serves the built web app from dir under WebPrefix (index.html for the app's own
// routes, so that a reload of /app/console/policies works), and everything else with api.
func withWeb(api http.Handler, dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			http.Redirect(w, r, WebPrefix, http.StatusFound)
			return
		case r.URL.Path+"/" == WebPrefix:
			http.Redirect(w, r, WebPrefix, http.StatusMovedPermanently)
			return
		case !strings.HasPrefix(r.URL.Path, WebPrefix):
			api.ServeHTTP(w, r)
			return
		}
		WebHeaders(w.Header())
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rel := strings.TrimPrefix(path.Clean(r.URL.Path), strings.TrimSuffix(WebPrefix, "/"))
		if strings.HasPrefix(rel, "/assets/") {
			// Names carry their content's hash: they never change.
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			r2 := r.Clone(r.Context())
			r2.URL.Path = rel
			files.ServeHTTP(w, r2)
			return
		}
		index := filepath.Join(dir, "index.html")
		if _, err := os.Stat(index); err != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("The web app is not built: run `make web` (make run builds it when it is missing).\n"))
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFile(w, r, index)
	})
}
