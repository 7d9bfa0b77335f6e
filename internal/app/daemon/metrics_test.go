package daemon

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProfilingOnlyWhenAsked(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, profiling := range []bool{false, true} {
		m := NewMetricsServer("127.0.0.1:0", profiling, log)
		for path, want := range map[string]int{"/debug/pprof/": http.StatusNotFound, "/metrics": http.StatusOK} {
			if profiling && path == "/debug/pprof/" {
				want = http.StatusOK
			}
			rec := httptest.NewRecorder()
			m.Mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			if rec.Code != want {
				t.Errorf("profiling %v: %s answered %d, want %d", profiling, path, rec.Code, want)
			}
		}
	}
}
