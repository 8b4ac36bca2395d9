package devstack

import (
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	kmsdata "github.com/nsmithuk/local-kms/src/data"
	kmshandler "github.com/nsmithuk/local-kms/src/handler"
	"github.com/sirupsen/logrus"
)

// kmsHandler serves local-kms's JSON API the way its src.HandleRequest does, but with a
// logger of our own: local-kms's package logger writes a coloured line per call to stderr,
// which would bury the service's own JSON logs in `make run` and in test output.
func kmsHandler(db *kmsdata.Database) http.Handler {
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" || r.Method != http.MethodPost {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if !strings.Contains(r.Header.Get("Content-Type"), "json") {
			http.Error(w, "Only JSON based content types accepted", http.StatusUnsupportedMediaType)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		h := kmshandler.NewRequestHandler(r, quiet, db)
		// X-Amz-Target is "TrentService.<Operation>"; local-kms has one method per operation.
		target := strings.Split(r.Header.Get("X-Amz-Target"), ".")
		if len(target) == 2 {
			if m := reflect.ValueOf(h).MethodByName(target[1]); m.IsValid() {
				if out := m.Call(nil); len(out) == 1 {
					if resp, ok := out[0].Interface().(kmshandler.Response); ok {
						w.WriteHeader(resp.Code)
						_, _ = io.WriteString(w, resp.Body)
						return
					}
				}
			}
		}
		w.WriteHeader(http.StatusNotImplemented)
		fmt.Fprintf(w, "operation %q is not implemented by the KMS stand-in", r.Header.Get("X-Amz-Target"))
	})
}
