package dns

import (
	"net/netip"
	"slices"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func namedSlice(name, service string, eps ...ep) *discoveryv1.EndpointSlice {
	s := slice(discoveryv1.AddressTypeIPv4, eps...)
	s.ObjectMeta = metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}}
	return s
}

// sliceStore is the store the DNS keeps slices in, recording which groups
// (Services) each call reported.
func sliceStore() (*recordStore[*sliceRecord], *[]string) {
	var got []string
	s := newRecordStore(toSliceRecord, func(r *sliceRecord) string { return r.ns + "/" + r.service }, sameSlice, func(g string) { got = append(got, g) })
	return s, &got
}

func TestRecordStoreReportsTouchedServices(t *testing.T) {
	a1 := ep{addr: "10.244.0.1", ready: ptr(true)}
	a2 := ep{addr: "10.244.0.2", ready: ptr(true)}
	tests := []struct {
		name string
		do   func(s *recordStore[*sliceRecord]) error
		want []string // groups reported by the last call, sorted
		web  int      // endpoints of ns/web afterwards
	}{
		{"add", func(s *recordStore[*sliceRecord]) error { return s.Add(namedSlice("web-2", "web", a2)) }, []string{"ns/web"}, 2},
		{"update in place", func(s *recordStore[*sliceRecord]) error { return s.Update(namedSlice("web-1", "web", a1, a2)) }, []string{"ns/web"}, 2},
		{"an update that changes nothing DNS reads", func(s *recordStore[*sliceRecord]) error {
			sl := namedSlice("web-1", "web", a1)
			sl.Annotations = map[string]string{"unrelated": "x"}
			return s.Update(sl)
		}, nil, 1},
		{"a relist of the same state", func(s *recordStore[*sliceRecord]) error { return s.Replace([]any{namedSlice("web-1", "web", a1)}, "9") }, nil, 1},
		{"relabel to another service", func(s *recordStore[*sliceRecord]) error { return s.Update(namedSlice("web-1", "api", a1)) }, []string{"ns/api", "ns/web"}, 0},
		{"delete", func(s *recordStore[*sliceRecord]) error { return s.Delete(namedSlice("web-1", "web")) }, []string{"ns/web"}, 0},
		{"delete of an unknown final state", func(s *recordStore[*sliceRecord]) error {
			return s.Delete(cache.DeletedFinalStateUnknown{Key: "ns/web-1", Obj: namedSlice("web-1", "web")})
		}, []string{"ns/web"}, 0},
		{"delete of what is not there", func(s *recordStore[*sliceRecord]) error { return s.Delete(namedSlice("nope", "web")) }, nil, 1},
		{"relist drops the missing and adds the new", func(s *recordStore[*sliceRecord]) error {
			return s.Replace([]any{namedSlice("db-1", "db", a2)}, "9")
		}, []string{"ns/db", "ns/web"}, 0},
		{"relist of staged records", func(s *recordStore[*sliceRecord]) error {
			r, _ := s.Transformer()(namedSlice("web-2", "web", a2))
			return s.Replace([]any{namedSlice("web-1", "web", a1), r}, "9")
		}, []string{"ns/web"}, 2},
		{"wrong type", func(s *recordStore[*sliceRecord]) error { return s.Add(&metav1.Status{}) }, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, got := sliceStore()
			if err := s.Add(namedSlice("web-1", "web", a1)); err != nil {
				t.Fatal(err)
			}
			*got = nil
			err := tc.do(s)
			if tc.name == "wrong type" && err == nil {
				t.Fatal("a Status was taken as a slice")
			}
			slices.Sort(*got)
			if !slices.Equal(*got, tc.want) {
				t.Errorf("reported %v, want %v", *got, tc.want)
			}
			n := 0
			for _, r := range s.inGroup("ns/web") {
				n += len(r.eps)
			}
			if n != tc.web {
				t.Errorf("ns/web has %d endpoints, want %d", n, tc.web)
			}
		})
	}
}

func TestRecordStoreSyncedOnFirstReplace(t *testing.T) {
	s, _ := sliceStore()
	relists := 0
	s.relisted = func(int) { relists++ }
	select {
	case <-s.synced:
		t.Fatal("synced before any list")
	default:
	}
	_ = s.Replace(nil, "1")
	if relists != 0 {
		t.Fatal("the first list counted as a relist")
	}
	_ = s.Replace(nil, "2") // a second list must not close twice
	if relists != 1 {
		t.Fatalf("relists = %d after a second list", relists)
	}
	select {
	case <-s.synced:
	default:
		t.Fatal("not synced after a list")
	}
}

// Two slices of one Service join sorted, an address in both counting once
// (from the slice first by name), hostnames kept, others dashed.
func TestWithEndpointsJoinsSlices(t *testing.T) {
	b := namedSlice("web-b", "web", ep{addr: "10.244.0.3", ready: ptr(true)}, ep{addr: "10.244.0.1", ready: ptr(false), hostname: "from-b"})
	a := namedSlice("web-a", "web", ep{addr: "10.244.0.1", ready: ptr(true), hostname: "from-a"}, ep{addr: "10.244.0.2"})
	s := BuildService(svc("web", "None"), []*discoveryv1.EndpointSlice{b, a})
	var got []string
	for _, e := range s.Endpoints {
		got = append(got, e.Addr.String()+" "+e.Label())
	}
	want := []string{"10.244.0.1 from-a", "10.244.0.2 10-244-0-2", "10.244.0.3 10-244-0-3"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if !s.Endpoints[0].Ready || !s.Endpoints[1].Ready {
		t.Fatalf("readiness lost: %+v", s.Endpoints)
	}
	one := BuildService(svc("web", "None"), []*discoveryv1.EndpointSlice{a})
	if len(one.Endpoints) != 2 || one.Endpoints[0].Addr != netip.MustParseAddr("10.244.0.1") {
		t.Fatalf("one slice: %+v", one.Endpoints)
	}
}

// In a relist the staging store gets the record already held for an
// unchanged object, a new one for a changed object.
func TestTransformerReusesUnchangedRecords(t *testing.T) {
	s, _ := sliceStore()
	a1 := ep{addr: "10.244.0.1", ready: ptr(true)}
	_ = s.Add(namedSlice("web-1", "web", a1))
	held, _ := s.get("ns/web-1")
	same, _ := s.Transformer()(namedSlice("web-1", "web", a1))
	if same != any(held) {
		t.Fatal("an unchanged object did not become the held record")
	}
	changed, _ := s.Transformer()(namedSlice("web-1", "web", ep{addr: "10.244.0.2", ready: ptr(true)}))
	if changed == any(held) {
		t.Fatal("a changed object became the held record")
	}
}

// A first list reports its changes before it says synced, so none lands
// after whoever waits for synced has started counting.
func TestReplaceReportsBeforeSynced(t *testing.T) {
	var late int
	var s *recordStore[*sliceRecord]
	s = newRecordStore(toSliceRecord, func(r *sliceRecord) string { return r.ns + "/" + r.service }, sameSlice, func(string) {
		select {
		case <-s.synced:
			late++
		default:
		}
	})
	_ = s.Replace([]any{namedSlice("a-1", "a"), namedSlice("b-1", "b"), namedSlice("c-1", "c")}, "1")
	if late != 0 {
		t.Fatalf("%d changes reported after synced", late)
	}
}
