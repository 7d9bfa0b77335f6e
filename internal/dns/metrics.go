package dns

import (
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the DNS server, registered on the registry given to New.
type Metrics struct {
	requests    *prometheus.CounterVec
	duration    prometheus.Histogram
	programming prometheus.Histogram
	synced      prometheus.Gauge
	apiUp       prometheus.Gauge
	services    prometheus.Gauge
	relists     *prometheus.CounterVec
	slowRefused prometheus.Counter
	// counters caches requests' children for the common label values, so
	// a query does not hash its labels: [tcp][rcode][qtype].
	counters [2][16][256]atomic.Pointer[prometheus.Counter]
}

// newMetrics makes the metrics; unsynced says how long the data has not
// followed the API.
func newMetrics(reg prometheus.Registerer, unsynced func() time.Duration) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "svcnet", Subsystem: "dns", Name: "requests_total",
			Help: "DNS requests by query type, transport and response code."}, []string{"type", "proto", "rcode"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "svcnet", Subsystem: "dns", Name: "request_duration_seconds",
			Help: "Time to answer a request, from parsed query to written reply.", Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12)}),
		programming: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "svcnet", Subsystem: "dns", Name: "programming_duration_seconds",
			Help:    "From an EndpointSlice's endpoints.kubernetes.io/last-change-trigger-time to the moment DNS answers from it.",
			Buckets: prometheus.ExponentialBuckets(1e-3, 2, 16)}),
		synced:   prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "svcnet", Subsystem: "dns", Name: "synced", Help: "1 once the first sync is done."}),
		apiUp:    prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "svcnet", Subsystem: "dns", Name: "api_reachable", Help: "1 while the API answers; 0 means DNS answers from the last state it saw."}),
		services: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "svcnet", Subsystem: "dns", Name: "services", Help: "Services in the answer index."}),
		relists: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "svcnet", Subsystem: "dns", Name: "relists_total",
			Help: "Full lists after the first, by kind (a watch the API could not resume, e.g. after compaction)."}, []string{"kind"}),
		slowRefused: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "svcnet", Subsystem: "dns", Name: "slow_queries_refused_total",
			Help: "UDP queries answered REFUSED because MaxSlowQueries were already waiting (e.g. on an upstream)."}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.programming, m.synced, m.apiUp, m.services, m.relists, m.slowRefused,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "svcnet", Subsystem: "dns", Name: "unsynced_seconds",
				Help: "How long the answers have not followed the API (some kind without an open watch); 0 while in step."},
				func() float64 { return unsynced().Seconds() }))
	}
	return m
}

func (m *Metrics) observe(qtype uint16, tcp bool, rcode int, start time.Time) {
	m.duration.Observe(time.Since(start).Seconds())
	t := 0
	if tcp {
		t = 1
	}
	if qtype < 256 && rcode >= 0 && rcode < 16 {
		slot := &m.counters[t][rcode][qtype]
		if c := slot.Load(); c != nil {
			(*c).Inc()
			return
		}
		c := m.counter(qtype, tcp, rcode)
		slot.Store(&c)
		c.Inc()
		return
	}
	m.counter(qtype, tcp, rcode).Inc()
}

func (m *Metrics) counter(qtype uint16, tcp bool, rcode int) prometheus.Counter {
	proto := "udp"
	if tcp {
		proto = "tcp"
	}
	t, ok := mdns.TypeToString[qtype]
	if !ok {
		t = "TYPE" + strconv.Itoa(int(qtype))
	}
	return m.requests.WithLabelValues(t, proto, mdns.RcodeToString[rcode])
}

// HealthHandler answers /health: the process serves.
func (s *Server) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("OK")) })
}

// ReadyHandler answers /ready: 503 until the first sync, then 200, as
// CoreDNS's ready plugin. Once synced the DNS keeps answering from the last
// state it saw when the API goes away (better than no answers), and /ready
// says for how long it has not followed the API (as the
// svcnet_dns_unsynced_seconds metric does).
func (s *Server) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if s.draining.Load() {
			http.Error(w, "shutting down (lame duck)", http.StatusServiceUnavailable)
			return
		}
		if !s.snap.Load().Synced {
			http.Error(w, "not synced", http.StatusServiceUnavailable)
			return
		}
		if d := s.inStep.unsyncedFor(); d > 0 {
			fmt.Fprintf(w, "OK, answering from what it last saw: not in step with the API for %s\n", d.Round(time.Second))
			return
		}
		_, _ = w.Write([]byte("OK"))
	})
}
